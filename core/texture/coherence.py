"""Seam relaxation: move the seams between copied exemplar regions to where the two regions agree.

Patch optimisation (patches.py) leaves an output made of exemplar regions whose borders follow its patch
grid: a best-matching patch wins its whole square footprint, so the borders are straight, axis-aligned
steps that the eye reads as pasted rectangles. Here each output pixel may instead take the source its
neighbour implies (the neighbour's source shifted by the step between them, so the two continue one exemplar
region), whichever source's exemplar neighbourhood agrees best with the output around the pixel. Repeated
a few sweeps, a border pixel joins the region it continues best, so borders drift to where the regions look
alike (along mortar lines, through flat areas) like a minimum-error cut, and stray pixels join a region.
Every pixel still holds an exemplar coordinate (crisp; every PBR map reads the same ones) and every index
wraps around the output torus (still tileable)."""
from __future__ import annotations

import torch

# The 8 neighbours whose sources a pixel may continue, and a 4-phase schedule: pixels of one phase are
# never neighbours, so no two pixels that judge each other change in the same step.
NEIGHBOURS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))
PHASES = ((0, 0), (1, 1), (0, 1), (1, 0))


def _window(radius: int, device) -> list[tuple[int, int, float]]:
    """Offsets of the neighbourhood compared around a pixel (not the pixel itself), Gaussian weighted."""
    sigma = max(1.0, radius / 1.5)
    out = []
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            if dy or dx:
                out.append((dy, dx, float(torch.exp(torch.tensor(-(dy * dy + dx * dx) / (2 * sigma * sigma))))))
    return out


def _cost(ex: torch.Tensor, out: torch.Tensor, sy: torch.Tensor, sx: torch.Tensor, phase: tuple[int, int],
          window: list[tuple[int, int, float]]) -> torch.Tensor:
    """Disagreement between the output around each pixel of one phase (every second row and column from
    `phase`) and the exemplar around source (sy, sx): weighted mean squared difference over the window's
    offsets that fall inside the exemplar."""
    c, eh, ew = ex.shape
    flat = ex.reshape(c, -1)
    total = torch.zeros(sy.shape, device=ex.device)
    norm = torch.zeros(sy.shape, device=ex.device)
    py, px = phase
    for dy, dx, g in window:
        y, x = sy + dy, sx + dx
        inside = (y >= 0) & (y < eh) & (x >= 0) & (x < ew)
        src = flat[:, (y.clamp(0, eh - 1) * ew + x.clamp(0, ew - 1))]  # C×h/2×w/2
        seen = torch.roll(out, (-dy, -dx), (1, 2))[:, py::2, px::2]  # the output at p + d, around the torus
        err = (src - seen).pow(2).sum(0)
        total += torch.where(inside, g * err, torch.zeros_like(err))
        norm += inside.float() * g
    return total / norm.clamp_min(1e-6)


def relax(coords: torch.Tensor, ex: torch.Tensor, weights: torch.Tensor, h: int, w: int, sweeps: int,
          radius: int = 3) -> torch.Tensor:
    """Source coordinates (h·w indices into ex's pixels) after `sweeps` rounds of seam relaxation.
    `ex` is C×H×W, `weights` the per-channel matching weights."""
    weighted = ex * weights[:, None, None]
    c, eh, ew = weighted.shape
    window = _window(radius, ex.device)
    coords = coords.view(h, w).clone()
    for _ in range(sweeps):
        for py, px in PHASES:
            out = weighted.reshape(c, -1)[:, coords]  # C×h×w
            sy, sx = coords // ew, coords % ew
            here_y, here_x = sy[py::2, px::2], sx[py::2, px::2]
            best_cost = _cost(weighted, out, here_y, here_x, (py, px), window)
            best_y, best_x = here_y, here_x
            for dy, dx in NEIGHBOURS:
                # the neighbour at p + d continues its region at p: its source minus the step d
                ny = torch.roll(sy, (-dy, -dx), (0, 1))[py::2, px::2] - dy
                nx = torch.roll(sx, (-dy, -dx), (0, 1))[py::2, px::2] - dx
                valid = (ny >= 0) & (ny < eh) & (nx >= 0) & (nx < ew)
                ny, nx = ny.clamp(0, eh - 1), nx.clamp(0, ew - 1)
                cost = _cost(weighted, out, ny, nx, (py, px), window)
                better = valid & (cost < best_cost - 1e-7)
                best_cost = torch.where(better, cost, best_cost)
                best_y, best_x = torch.where(better, ny, best_y), torch.where(better, nx, best_x)
            coords[py::2, px::2] = best_y * ew + best_x
    return coords.reshape(-1)
