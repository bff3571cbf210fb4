"""Image quilting on a torus (Efros & Freeman 2001): a seed's layout of whole exemplar blocks.

The output torus is covered by a grid of overlapping blocks in raster order. Each new block is an exemplar
window whose overlap with what is already placed (left, top, and at the last column/row also the wrapped
right/bottom neighbours) matches well: chosen at random (the seed) among the windows within a tolerance
of the best. It is then joined to its neighbours along a minimum-error cut through each overlap, so whole
structures (bricks, stones, mortar lines) survive and block edges follow the texture's own boundaries.
The result is a source coordinate per output pixel (every map of a PBR set reads the same ones); the
wrapped neighbours make it tile by construction. Patch optimisation (patches.py) then refines the cuts."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _grid(size: int, step: int) -> list[int]:
    """Block corners spread evenly around a torus of `size` (spacing step, or step±1 where it must)."""
    n = max(1, round(size / step))
    return [round(k * size / n) for k in range(n)] + [size]


def _window_ssd(ex: torch.Tensor, ex_sq: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Masked SSD between `target` (C×bh×bw, known where mask==1) and every bh×bw window of `ex`: ny×nx."""
    k = (target * mask)[None]
    cross = F.conv2d(ex[None], k)[0, 0]
    energy = F.conv2d(ex_sq[None], mask.expand_as(target)[None])[0, 0]
    return (energy - 2 * cross + (target * target * mask).sum()).clamp_min(0)


def _cut(err: torch.Tensor) -> torch.Tensor:
    """Minimum-error path down the rows of `err` (rows × width): the path's column per row (dynamic
    programming, steps of at most one column)."""
    rows, width = err.shape
    cost = err.clone()
    for r in range(1, rows):
        prev = cost[r - 1]
        left = torch.cat([prev.new_full((1,), float("inf")), prev[:-1]])
        right = torch.cat([prev[1:], prev.new_full((1,), float("inf"))])
        cost[r] += torch.minimum(prev, torch.minimum(left, right))
    path = torch.empty(rows, dtype=torch.long)
    path[-1] = int(cost[-1].argmin())
    for r in range(rows - 2, -1, -1):
        c = int(path[r + 1])
        lo, hi = max(0, c - 1), min(width, c + 2)
        path[r] = lo + int(cost[r, lo:hi].argmin())
    return path


def _seam_mask(diff: torch.Tensor, known: torch.Tensor, overlap: int) -> torch.Tensor:
    """Where the new block wins (bh×bw, 1 = new): behind a minimum-error cut through each overlap strip
    that is already filled (left, right, top, bottom)."""
    bh, bw = diff.shape
    keep_new = torch.ones(bh, bw)
    cols = torch.arange(bw)
    rows = torch.arange(bh)
    if overlap and bool(known[:, :overlap].all()):  # left strip: old pixels left of the cut
        path = _cut(diff[:, :overlap])
        keep_new *= (cols[None, :] >= path[:, None]).float()
    if overlap and bool(known[:, bw - overlap:].all()) and bw > 2 * overlap:  # wrapped right neighbour
        path = _cut(diff[:, bw - overlap:]) + bw - overlap
        keep_new *= (cols[None, :] <= path[:, None]).float()
    if overlap and bool(known[:overlap, :].all()):  # top strip
        path = _cut(diff[:overlap, :].T)
        keep_new *= (rows[:, None] >= path[None, :]).float()
    if overlap and bool(known[bh - overlap:, :].all()) and bh > 2 * overlap:  # wrapped bottom neighbour
        path = _cut(diff[bh - overlap:, :].T) + bh - overlap
        keep_new *= (rows[:, None] <= path[None, :]).float()
    return keep_new * known + (1 - known)  # unfilled pixels always take the new block


def quilt(ex: torch.Tensor, weights: torch.Tensor, h: int, w: int, block: int, overlap: int,
          gen: torch.Generator, tolerance: float = 0.1) -> torch.Tensor:
    """Source coordinates (H·W, indices into the exemplar's H×W) of a quilted h×w torus."""
    c, eh, ew = ex.shape
    block = min(block, eh, ew)
    overlap = min(overlap, block // 3)
    step = block - overlap
    weighted = ex * weights[:, None, None]
    ex_sq = weighted * weighted
    ys, xs = _grid(h, step), _grid(w, step)
    canvas = torch.zeros(c, h, w)
    filled = torch.zeros(h, w)
    coords = torch.zeros(h, w, dtype=torch.long)
    ex_index = torch.arange(eh * ew).view(eh, ew)
    for i in range(len(ys) - 1):
        for j in range(len(xs) - 1):
            bh = min(ys[i + 1] - ys[i] + overlap, eh)
            bw = min(xs[j + 1] - xs[j] + overlap, ew)
            rr = (torch.arange(bh) + ys[i]) % h
            cc = (torch.arange(bw) + xs[j]) % w
            target = canvas[:, rr][:, :, cc]
            known = filled[rr][:, cc]
            if bool(known.any()):
                ssd = _window_ssd(weighted, ex_sq, target, known)
                limit = ssd.min() * (1 + tolerance) + 1e-6 * known.sum()
                choices = torch.nonzero(ssd <= limit)
            else:
                choices = torch.nonzero(torch.ones(eh - bh + 1, ew - bw + 1))
            oy, ox = (int(v) for v in choices[int(torch.randint(len(choices), (1,), generator=gen))])
            patch = weighted[:, oy:oy + bh, ox:ox + bw]
            diff = ((patch - target) ** 2).sum(0)
            take = _seam_mask(diff, known, overlap) > 0.5
            src = ex_index[oy:oy + bh, ox:ox + bw]
            rows2d, cols2d = rr[:, None].expand(bh, bw)[take], cc[None, :].expand(bh, bw)[take]
            canvas[:, rows2d, cols2d] = patch[:, take]
            coords[rows2d, cols2d] = src[take]
            filled[rows2d, cols2d] = 1
    # a random turn of the torus: the block grid (and its first, cut-free corner) lands anywhere
    shift = [int(torch.randint(n, (1,), generator=gen)) for n in (h, w)]
    return torch.roll(coords, shift, (0, 1)).reshape(-1)


def quilt_block(ex_hw: tuple[int, int], fraction: float = 0.25, least: int = 8) -> int:
    """Block side for an exemplar: a fraction of its shorter side (whole structures fit in a block)."""
    return max(least, int(math.floor(min(ex_hw) * fraction)))
