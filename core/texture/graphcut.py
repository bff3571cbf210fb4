"""Graph-cut seams: move the borders between copied exemplar regions onto minimum-error cuts.

Seam relaxation (coherence.py) moves one border pixel at a time, so it cannot move a border across an area
where both regions look equally wrong: a border through a brick (one brick half one tint, half another)
costs the same a pixel to either side, and stays there. Graph-cut textures (Kwatra et al. 2003) instead
choose whole cuts: the cost of a border between two regions A and B at neighbouring pixels p, q is how
much A and B differ there, |A(p) - B(p)| + |A(q) - B(q)|, so the cheapest cut runs where the two regions
agree (along the mortar around the brick) however far that is from the current border.
Here every region, the pixels whose source is the output position plus one fixed offset, gets one
expansion move in turn (Boykov et al. 2001): the pixels in a band around it may switch to continuing it,
and a max-flow/min-cut over the band picks the set of switches with the least total border cost. Every
pixel still holds an exemplar coordinate (crisp; every PBR map reads the same ones) and every neighbour
pair wraps around the output torus (still tileable)."""
from __future__ import annotations

import cv2
import numpy as np
import torch
from scipy.sparse import csr_array
from scipy.sparse.csgraph import breadth_first_order, maximum_flow

STEPS = ((0, 1), (1, 0))  # each pixel's right and lower neighbour: every 4-neighbour pair once
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
        0 where q continues p's region, else how much the two regions differ at both pixels."""
        dy, dx = d
        same = (qy == py + dy) & (qx == px + dx)
        diff = self._half(py, px, qy - dy, qx - dx) + self._half(py + dy, px + dx, qy, qx)
        return np.where(same, 0.0, diff)


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """`mask` grown by `radius` pixels (square), around the torus."""
    padded = np.pad(mask.astype(np.uint8), radius, mode="wrap")
    grown = cv2.dilate(padded, np.ones((2 * radius + 1, 2 * radius + 1), np.uint8))
    return grown[radius:-radius, radius:-radius].astype(bool)


def _expand(sy: np.ndarray, sx: np.ndarray, offset: tuple[int, int], band: np.ndarray, seams: _Seams,
            scale: float) -> int:
    """One expansion move of the region with source = position + `offset`, in place: the pixels of `band`
    that switch to it (a minimum cut). Returns how many switched."""
    h, w = sy.shape
    yy, xx = np.mgrid[0:h, 0:w]
    cy, cx = yy + offset[0], xx + offset[1]
    free = band & (cy >= 0) & (cy < seams.eh) & (cx >= 0) & (cx < seams.ew)
    free &= (cy != sy) | (cx != sx)
    n = int(free.sum())
    if n == 0:
        return 0
    node = np.full((h, w), -1, np.int64)
    node[free] = np.arange(n)
    keep_cost = np.zeros(n)  # paid if the pixel keeps its source
    move_cost = np.zeros(n)  # paid if it switches
    rows, cols, caps = [], [], []
    for d in STEPS:
        q = (np.roll(sy, (-d[0], -d[1]), (0, 1)), np.roll(sx, (-d[0], -d[1]), (0, 1)))
        cq = (np.roll(cy, (-d[0], -d[1]), (0, 1)), np.roll(cx, (-d[0], -d[1]), (0, 1)))
        fq = np.roll(free, (-d[0], -d[1]), (0, 1))
        nq = np.roll(node, (-d[0], -d[1]), (0, 1))
        touched = free | fq
        ps, qs = (sy[touched], sx[touched]), (q[0][touched], q[1][touched])
        pc, qc = (cy[touched], cx[touched]), (cq[0][touched], cq[1][touched])
        a = seams.cost(*ps, *qs, d)  # both keep
        b = seams.cost(*ps, *qc, d)  # only q switches
        c = seams.cost(*pc, *qs, d)  # only p switches
        e = seams.cost(*pc, *qc, d)  # both switch
        fp_t, fq_t, np_t, nq_t = free[touched], fq[touched], node[touched], nq[touched]
        only_p = fp_t & ~fq_t
        np.add.at(keep_cost, np_t[only_p], a[only_p])
        np.add.at(move_cost, np_t[only_p], c[only_p])
        only_q = fq_t & ~fp_t
        np.add.at(keep_cost, nq_t[only_q], a[only_q])
        np.add.at(move_cost, nq_t[only_q], b[only_q])
        both = fp_t & fq_t
        a, b, c, e, ip, iq = a[both], b[both], c[both], e[both], np_t[both], nq_t[both]
        # E(xp, xq) = a + (c - a) xp + (e - c) xq + (b + c - a - e)(1 - xp) xq  (1 = switch)
        for idx, lin in ((ip, c - a), (iq, e - c)):
            np.add.at(move_cost, idx, np.maximum(lin, 0))
            np.add.at(keep_cost, idx, np.maximum(-lin, 0))
        pair = np.maximum(b + c - a - e, 0)  # < 0 only across the torus's wrap: truncated (stays submodular)
        rows.append(ip)
        cols.append(iq)
        caps.append(pair)
    base = np.minimum(keep_cost, move_cost)
    keep_cost, move_cost = keep_cost - base, move_cost - base
    src, sink = n, n + 1
    ids = np.arange(n)
    # source side = keep: a source→p edge is cut when p switches, p→sink when it keeps; p→q when p keeps
    # and q switches
    rows = np.concatenate([np.full(n, src), ids] + rows)
    cols = np.concatenate([ids, np.full(n, sink)] + cols)
    caps = np.concatenate([move_cost, keep_cost] + caps)
    caps = np.rint(caps * scale).astype(np.int64)
    keep = caps > 0
    graph = csr_array((np.minimum(caps[keep], 2 ** 30).astype(np.int32), (rows[keep], cols[keep])),
                      shape=(n + 2, n + 2))
    flow = maximum_flow(graph, src, sink).flow
    residual = (graph - flow).tocsr()
    residual.data = (residual.data > 0).astype(np.int32)
    residual.eliminate_zeros()
    kept = np.zeros(n + 2, bool)
    kept[breadth_first_order(residual, src, directed=True, return_predecessors=False)] = True
    switch = np.zeros((h, w), bool)
    switch[free] = ~kept[:n]
    sy[switch], sx[switch] = cy[switch], cx[switch]
    return int(switch.sum())


def cut_seams(coords: torch.Tensor, ex: torch.Tensor, weights: torch.Tensor, h: int, w: int, passes: int,
              band: int, min_region: int) -> torch.Tensor:
    """Source coordinates (h·w indices into ex's pixels) after `passes` rounds of expansion moves: every
    region of at least `min_region` pixels, largest first, may take over the pixels within `band` of it
    where that lowers the total border cost. `ex` is C×H×W, `weights` the per-channel matching weights."""
    seams = _Seams(ex, weights)
    ew = seams.ew
    flat = coords.reshape(h, w).cpu().numpy()
    sy, sx = flat // ew, flat % ew
    yy, xx = np.mgrid[0:h, 0:w]
    scale = UNITS / seams.outside
    for _ in range(passes):
        oy, ox = sy - yy, sx - xx
        keys, counts = np.unique(np.stack([oy.ravel(), ox.ravel()], 1), axis=0, return_counts=True)
        order = np.argsort(-counts, kind="stable")
        moved = 0
        for k in order[counts[order] >= min_region]:
            region = (sy - yy == keys[k, 0]) & (sx - xx == keys[k, 1])
            if region.any():
                moved += _expand(sy, sx, (int(keys[k, 0]), int(keys[k, 1])), _dilate(region, band), seams, scale)
        if moved == 0:
            break
    return torch.from_numpy(sy * ew + sx).reshape(-1).to(coords.device)
