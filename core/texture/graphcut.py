"""Graph-cut seams: move the borders between copied exemplar regions onto minimum-error cuts.

Seam relaxation (coherence.py) moves one border pixel at a time, so it cannot move a border across an area
where both regions look equally wrong: a border through a brick (one brick half one tint, half another)
costs the same a pixel to either side, and stays there. Graph-cut textures (Kwatra et al. 2003) instead
choose whole cuts: the cost of a border between two regions A and B at neighbouring pixels p, q is how
much A and B differ there, |A(p) - B(p)| + |A(q) - B(q)|, so the cheapest cut runs where the two regions
agree (along the mortar around the brick) however far that is from the current border.
Here every region, the pixels whose source is the output position plus one fixed offset, gets one
expansion move in turn (Boykov et al. 2001): the pixels in a band around it may switch to continuing it,
and a max-flow/min-cut over the band picks the set of switches with the least total border cost, plus a
price per pixel a region takes that grows with its size (lowering the border cost alone merges regions
into bigger verbatim copies). The max-flow is scipy's (a compiled Dinic solver; README: Extra packages).
Every pixel still holds an exemplar coordinate (crisp; every PBR map reads the same ones) and every neighbour
pair wraps around the output torus (still tileable)."""
from __future__ import annotations

import math

import cv2
import numpy as np
import torch
from scipy.sparse import csr_array
from scipy.sparse.csgraph import breadth_first_order, maximum_flow

# each pixel's right, lower and two lower diagonal neighbours: every 8-neighbour pair once (4-neighbours
# alone made minimum cuts prefer straight horizontal and vertical runs)
STEPS = ((0, 1), (1, 0), (1, 1), (1, -1))
UNITS = 1000.0  # integer capacities: this many units per typical border cost between unrelated pixels


class _Seams:
    """Border costs between candidate sources on the h×w output torus, for one exemplar."""

    def __init__(self, ex: torch.Tensor, weights: torch.Tensor) -> None:
        weighted = (ex * weights[:, None, None]).cpu().numpy().astype(np.float32)
        self.c, self.eh, self.ew = weighted.shape
        self.flat = weighted.reshape(self.c, -1).T.copy()  # (eh·ew)×C
        pick = np.random.default_rng(0).integers(0, len(self.flat), (2, 4096))
        # what two unrelated pixels differ by: the cost of a border half that runs outside the exemplar
        self.outside = float(np.linalg.norm(self.flat[pick[0]] - self.flat[pick[1]], axis=1).mean()) + 1e-6

    def _half(self, ay: np.ndarray, ax: np.ndarray, by: np.ndarray, bx: np.ndarray) -> np.ndarray:
        """|E[a] - E[b]| per pair; `outside` where either lies outside the exemplar."""
        inside = (ay >= 0) & (ay < self.eh) & (ax >= 0) & (ax < self.ew)
        inside &= (by >= 0) & (by < self.eh) & (bx >= 0) & (bx < self.ew)
        a = self.flat[np.clip(ay, 0, self.eh - 1) * self.ew + np.clip(ax, 0, self.ew - 1)]
        b = self.flat[np.clip(by, 0, self.eh - 1) * self.ew + np.clip(bx, 0, self.ew - 1)]
        return np.where(inside, np.linalg.norm(a - b, axis=1), self.outside)

    def cost(self, py, px, qy, qx, d: tuple[int, int]) -> np.ndarray:
        """Border cost between source p at a pixel and source q at its neighbour one step `d` further:
        0 where q continues p's region, else how much the two regions differ at both pixels, over the step's
        length (weighted so that cut costs approximate Euclidean border lengths)."""
        dy, dx = d
        same = (qy == py + dy) & (qx == px + dx)
        diff = self._half(py, px, qy - dy, qx - dx) + self._half(py + dy, px + dx, qy, qx)
        return np.where(same, 0.0, diff) / math.hypot(dy, dx)  # Boykov & Kolmogorov 2003: 8-neighbour lengths


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """`mask` grown by `radius` pixels (square), around the torus."""
    padded = np.pad(mask.astype(np.uint8), radius, mode="wrap")
    grown = cv2.dilate(padded, np.ones((2 * radius + 1, 2 * radius + 1), np.uint8))
    return grown[radius:-radius, radius:-radius].astype(bool)


def _cut(sy: np.ndarray, sx: np.ndarray, free: np.ndarray, first: tuple[np.ndarray, np.ndarray],
         second: tuple[np.ndarray, np.ndarray], seams: _Seams, scale: float, join: float = 0.0) -> int:
    """One binary move, in place: every `free` pixel takes its `first` or its `second` candidate source
    (h×w arrays each), whichever set of choices has the least total border cost (a minimum cut; the other
    pixels keep theirs). Returns how many pixels changed their source."""
    h, w = sy.shape
    n = int(free.sum())
    if n == 0:
        return 0
    node = np.full((h, w), -1, np.int64)
    node[free] = np.arange(n)
    fixed = (sy, sx)  # what a pixel that is not free keeps
    cost0 = np.zeros(n)  # paid if the pixel takes its first candidate
    cost1 = np.zeros(n)  # paid if it takes its second
    rows, cols, caps = [], [], []

    def shifted(a: np.ndarray, d: tuple[int, int]) -> np.ndarray:  # a at each pixel's neighbour p + d
        return np.roll(a, (-d[0], -d[1]), (0, 1))

    for d in STEPS:
        fq = shifted(free, d)
        touched = free | fq
        fp_t, fq_t = free[touched], fq[touched]
        np_t, nq_t = node[touched], shifted(node, d)[touched]
        here = [tuple(a[touched] for a in c) for c in (first, second, fixed)]
        there = [tuple(shifted(a, d)[touched] for a in c) for c in (first, second, fixed)]
        only_p = fp_t & ~fq_t
        for k, acc in ((0, cost0), (1, cost1)):
            np.add.at(acc, np_t[only_p], seams.cost(*(a[only_p] for a in here[k]),
                                                    *(a[only_p] for a in there[2]), d))
        only_q = fq_t & ~fp_t
        for k, acc in ((0, cost0), (1, cost1)):
            np.add.at(acc, nq_t[only_q], seams.cost(*(a[only_q] for a in here[2]),
                                                    *(a[only_q] for a in there[k]), d))
        both = fp_t & fq_t
        ip, iq = np_t[both], nq_t[both]
        e = [[seams.cost(*(a[both] for a in here[i]), *(a[both] for a in there[j]), d) for j in (0, 1)]
             for i in (0, 1)]
        # E(xp, xq) = e00 + (e10 - e00) xp + (e11 - e10) xq + (e01 + e10 - e00 - e11)(1 - xp) xq
        for idx, lin in ((ip, e[1][0] - e[0][0]), (iq, e[1][1] - e[1][0])):
            np.add.at(cost1, idx, np.maximum(lin, 0))
            np.add.at(cost0, idx, np.maximum(-lin, 0))
        # < 0 only where a candidate pair crosses the torus's wrap edge: truncated, so the cut stays exact
        rows.append(ip)
        cols.append(iq)
        caps.append(np.maximum(e[0][1] + e[1][0] - e[0][0] - e[1][1], 0))
    cost1 += join  # what taking the second candidate costs on its own
    base = np.minimum(cost0, cost1)
    cost0, cost1 = cost0 - base, cost1 - base
    src, sink = n, n + 1
    ids = np.arange(n)
    # source side = first candidate: source→p is cut when p takes its second, p→sink when it takes its
    # first, p→q when p takes its first and q its second
    rows = np.concatenate([np.full(n, src), ids] + rows)
    cols = np.concatenate([ids, np.full(n, sink)] + cols)
    caps = np.rint(np.concatenate([cost1, cost0] + caps) * scale).astype(np.int64)
    keep = caps > 0
    graph = csr_array((np.minimum(caps[keep], 2 ** 30).astype(np.int32), (rows[keep], cols[keep])),
                      shape=(n + 2, n + 2))
    residual = (graph - maximum_flow(graph, src, sink).flow).tocsr()
    residual.data = (residual.data > 0).astype(np.int32)
    residual.eliminate_zeros()
    # of the minimum cuts, the one that changes least: a pixel takes its second candidate only if it can
    # still reach the sink (so ties keep the first, which is the current source for expansions)
    to_sink = np.zeros(n + 2, bool)
    to_sink[breadth_first_order(residual.T.tocsr(), sink, directed=True, return_predecessors=False)] = True
    take = np.zeros((h, w), bool)
    take[free] = to_sink[:n]
    new_y = np.where(take, second[0], np.where(free, first[0], sy))
    new_x = np.where(take, second[1], np.where(free, first[1], sx))
    changed = int(((new_y != sy) | (new_x != sx)).sum())
    sy[...], sx[...] = new_y, new_x
    return changed


def _candidate(offset: tuple[int, int], rows: np.ndarray, cols: np.ndarray, h: int, w: int, seams: _Seams):
    """The source every pixel of the window rows × cols has as part of the region with this offset (taken
    modulo the output's h×w, so a region continues across the wrap edge) and where that lies in the exemplar."""
    cy = np.broadcast_to(rows[:, None] + offset[0], (len(rows), len(cols)))
    cx = np.broadcast_to(cols[None, :] + offset[1], (len(rows), len(cols)))
    cy, cx = np.where(cy >= seams.eh, cy - h, cy), np.where(cx >= seams.ew, cx - w, cx)
    return (cy, cx), (cy >= 0) & (cy < seams.eh) & (cx >= 0) & (cx < seams.ew)


def _span(used: np.ndarray, size: int, reach: int) -> np.ndarray:
    """Indices around a torus of `size` covering the sorted, distinct `used` ones plus `reach` either side:
    the shortest such run, or the whole torus in order when that is as long."""
    gaps = np.diff(np.append(used, used[0] + size))  # from each used index to the next, around the torus
    i = int(np.argmax(gaps))
    start = int(used[(i + 1) % len(used)])
    length = (int(used[i]) - start) % size + 1
    if length + 2 * reach >= size:
        return np.arange(size)
    return np.arange(start - reach, start + length + reach) % size


def _regions(sy: np.ndarray, sx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(offsets K×2, pixel count per offset, h×w index into them): the output's copied regions. Offsets
    are taken modulo the output's size: a region that continues across the wrap edge is one region."""
    h, w = sy.shape
    yy, xx = np.mgrid[0:h, 0:w]
    keys, index, counts = np.unique(np.stack([((sy - yy) % h).ravel(), ((sx - xx) % w).ravel()], 1), axis=0,
                                    return_inverse=True, return_counts=True)
    return keys, counts, index.reshape(h, w)


def _expansions(sy: np.ndarray, sx: np.ndarray, seams: _Seams, band: int, min_region: int, scale: float,
                growth: float, area: float) -> int:
    """One expansion move per region of at least `min_region` pixels, smallest first, in place: it may take
    over pixels within `band` of it. Every pixel it takes costs `growth` border costs of unrelated pixels
    per `area` pixels the region already has: without that, big regions swallowed their neighbours (32-px
    verbatim copies on stones 0.17 -> 0.31). Largest first raised copying on grass and gravel (0.29 ->
    0.33, 0.32 -> 0.34); smallest first with fragments of 32 px expanding raised stones' feature distance
    (0.075 -> 0.085). Returns how many pixels changed their source."""
    h, w = sy.shape
    keys, counts, label = _regions(sy, sx)
    pixels = np.argsort(label.ravel(), kind="stable")  # grouped by region
    first = np.concatenate([[0], np.cumsum(counts)])
    order = np.argsort(counts, kind="stable")
    order = order[counts[order] >= min_region]
    moved = 0
    for k in order:
        # the work stays inside a window around the region (margin: the band plus one fixed pixel), so a
        # big output's many regions cost their own size, not the output's each
        own = pixels[first[k]:first[k + 1]]
        rows, cols = _span(np.unique(own // w), h, band + 1), _span(np.unique(own % w), w, band + 1)
        window = np.ix_(rows, cols)
        wy, wx = sy[window], sx[window]
        cand, valid = _candidate((int(keys[k, 0]), int(keys[k, 1])), rows, cols, h, w, seams)
        region = (wy == cand[0]) & (wx == cand[1])
        if region.any():  # (earlier moves may have taken it all)
            free = _dilate(region, band) & valid & ~region
            join = growth * seams.outside * int(region.sum()) / area
            moved += _cut(wy, wx, free, (wy.copy(), wx.copy()), cand, seams, scale, join)
            sy[window], sx[window] = wy, wx
    return moved


def cut_seams(coords: torch.Tensor, ex: torch.Tensor, weights: torch.Tensor, h: int, w: int, passes: int,
              band: int, min_region: int, growth: float = 0.0, area: float = 1.0) -> torch.Tensor:
    """Source coordinates (h·w indices into ex's pixels) after `passes` rounds of expansion moves (see
    _expansions for `band`, `min_region`, `growth` and `area`). `ex` is C×H×W, `weights` the per-channel matching
    weights."""
    seams = _Seams(ex, weights)
    flat = coords.reshape(h, w).cpu().numpy()
    sy, sx = flat // seams.ew, flat % seams.ew
    scale = UNITS / seams.outside
    for _ in range(passes):
        if _expansions(sy, sx, seams, band, min_region, scale, growth, area) == 0:
            break
    return torch.from_numpy(sy * seams.ew + sx).reshape(-1).to(coords.device)
