"""Seam relaxation: move the seams between copied exemplar regions to where the two regions agree.

Patch optimisation (patches.py) leaves an output made of exemplar regions whose borders follow its patch
grid: a best-matching patch wins its whole square footprint, so the borders are straight, axis-aligned
steps that the eye reads as pasted rectangles. Here each output pixel may instead take the source its
neighbour implies (the neighbour's source shifted by the step between them, so the two continue one exemplar
region), whichever source's exemplar neighbourhood agrees best with the output around the pixel. Repeated
a few sweeps, a border pixel joins the region it continues best, so borders drift to where the regions look
alike (along mortar lines, through flat areas) like a minimum-error cut, and stray pixels join a region.
Left alone, that merges small regions into big ones until large areas of the output are verbatim copies
of the exemplar; a region size term makes regions beyond a given area cost more to keep or to join.
Every pixel still holds an exemplar coordinate (crisp; every PBR map reads the same ones) and every index
wraps around the output torus (still tileable)."""
from __future__ import annotations

import math

import torch

# The 8 neighbours whose sources a pixel may continue, and a 4-phase schedule: pixels of one phase are
# never neighbours, so no two pixels that judge each other change in the same step.
NEIGHBOURS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))
PHASES = ((0, 0), (1, 1), (0, 1), (1, 0))


def _window(radius: int) -> list[tuple[int, int, float]]:
    """Offsets of the neighbourhood compared around a pixel (not the pixel itself), Gaussian weighted."""
    sigma = max(1.0, radius / 1.5)
    return [(dy, dx, math.exp(-(dy * dy + dx * dx) / (2 * sigma * sigma)))
            for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1) if dy or dx]


def _cost(ex: torch.Tensor, out: torch.Tensor, oy: torch.Tensor, ox: torch.Tensor, sy: torch.Tensor,
          sx: torch.Tensor, window: list[tuple[int, int, float]], outside: float) -> torch.Tensor:
    """Disagreement between the output around pixels (oy, ox) and the exemplar around their candidate
    sources (sy, sx): weighted mean squared difference over the window; an offset that falls outside the
    exemplar costs `outside` (what two unrelated pixels differ by), so a region does not end in a straight
    seam along the exemplar's border when a neighbour region can continue there instead."""
    c, eh, ew = ex.shape
    _, h, w = out.shape
    flat, seen_flat = ex.reshape(c, -1), out.reshape(c, -1)
    total = torch.zeros(sy.shape, device=ex.device)
    norm = torch.zeros(sy.shape, device=ex.device)
    for dy, dx, g in window:
        y, x = sy + dy, sx + dx
        inside = (y >= 0) & (y < eh) & (x >= 0) & (x < ew)
        src = flat[:, y.clamp(0, eh - 1) * ew + x.clamp(0, ew - 1)]
        seen = seen_flat[:, (oy + dy) % h * w + (ox + dx) % w]  # the output at p + d, around the torus
        err = (src - seen).pow(2).sum(0)
        total += g * torch.where(inside, err, outside)
        norm += g
    return total / norm


def _region_size(sy: torch.Tensor, sx: torch.Tensor, area: float, weight: float) -> torch.Tensor:
    """Penalty of every pixel's region: weight × how far its area exceeds `area` (relative). A region is the
    pixels that continue one exemplar placement, i.e. share a source − position offset (modulo the torus)."""
    h, w = sy.shape
    label = ((sy - torch.arange(h, device=sy.device)[:, None]) % h) * w + (sx - torch.arange(w, device=sy.device)) % w
    size = torch.bincount(label.reshape(-1), minlength=h * w).float()
    return weight * (size[label] / area - 1.0).clamp_min(0)


def relax(coords: torch.Tensor, ex: torch.Tensor, weights: torch.Tensor, h: int, w: int, sweeps: int,
          radius: int = 3, region_area: float = 0.0, region_weight: float = 0.0) -> torch.Tensor:
    """Source coordinates (h·w indices into ex's pixels) after `sweeps` rounds of seam relaxation.
    `ex` is C×H×W, `weights` the per-channel matching weights. With region_weight > 0, a region larger than
    region_area pixels costs more to keep or join in proportion to its excess, so regions stay near that size
    (relaxation alone merges small regions into big ones: verbatim copies)."""
    weighted = ex * weights[:, None, None]
    c, eh, ew = weighted.shape
    window = _window(radius)
    outside = float(2 * weighted.reshape(c, -1).var(1).sum())  # E|a - b|² for two unrelated pixels
    coords = coords.view(h, w).clone()
    for _ in range(sweeps):
        for py, px in PHASES:
            sy, sx = coords // ew, coords % ew
            size_cost = (_region_size(sy, sx, region_area, outside * region_weight) if region_weight > 0
                         else torch.zeros_like(sy, dtype=weighted.dtype))
            here_y, here_x = sy[py::2, px::2], sx[py::2, px::2]
            cands = []
            for dy, dx in NEIGHBOURS:  # the neighbour at p + d continues its region at p: its source − d
                ny = torch.roll(sy, (-dy, -dx), (0, 1))[py::2, px::2] - dy
                nx = torch.roll(sx, (-dy, -dx), (0, 1))[py::2, px::2] - dx
                cands.append((ny, nx, torch.roll(size_cost, (-dy, -dx), (0, 1))[py::2, px::2]))
            # only pixels on a seam (a neighbour continues another region) have a choice to make
            active = torch.zeros_like(here_y, dtype=torch.bool)
            for ny, nx, _ in cands:
                active |= (ny != here_y) | (nx != here_x)
            pick = torch.nonzero(active.flatten()).squeeze(1)
            if len(pick) == 0:
                continue
            gw = here_y.shape[1]
            oy = pick // gw * 2 + py
            ox = pick % gw * 2 + px
            out = weighted.reshape(c, -1)[:, coords]  # C×h×w
            best_y, best_x = here_y.flatten()[pick], here_x.flatten()[pick]
            best_cost = (_cost(weighted, out, oy, ox, best_y, best_x, window, outside)
                         + size_cost[py::2, px::2].flatten()[pick])
            for ny, nx, sc in cands:
                ny, nx = ny.flatten()[pick], nx.flatten()[pick]
                valid = (ny >= 0) & (ny < eh) & (nx >= 0) & (nx < ew) & ((ny != best_y) | (nx != best_x))
                cost = (_cost(weighted, out, oy, ox, ny.clamp(0, eh - 1), nx.clamp(0, ew - 1), window, outside)
                        + sc.flatten()[pick])
                better = valid & (cost < best_cost - 1e-7)
                best_cost = torch.where(better, cost, best_cost)
                best_y, best_x = torch.where(better, ny, best_y), torch.where(better, nx, best_x)
            coords[oy, ox] = best_y * ew + best_x
    return coords.reshape(-1)
