"""Patch-based texture optimisation on a torus (Kwatra et al. 2005): the default texture method.

The seed's layout is a quilt of whole exemplar blocks joined on minimum-error cuts (quilt.py), read at
the coarsest scale; then, coarse to fine over an image pyramid (per scale, 32-px patches before 16-px
ones), the output alternates two steps:
- match: every output patch (wrapping around the edges, on a grid shifted at random each round) finds its
  nearest exemplar patch; the distances are one matrix product per chunk, in a PCA space of the exemplar's
  patches, plus a penalty on exemplar regions used more than their share (Kaspar et al. 2015), which keeps
  a big flat region from taking over (wash-out) and keeps whole regions from being copied;
- vote: every output pixel gets the candidates the overlapping matched patches put there, and keeps the one
  from the best-matching patch (an average would blur and wash out thin features such as mortar lines).
That vote makes a best-matching patch win its whole square footprint, so the borders between copied
regions come out as straight steps (pasted rectangles); at the end of the finest level, seam relaxation
(coherence.py) lets each border pixel continue a neighbouring region instead, so borders settle where
the regions agree, while regions much larger than about 48×48 px lose ground to their neighbours (verbatim
copies of big exemplar areas). One pixel at a time cannot move a border across an area both regions get
equally wrong (a brick whose two halves come from differently tinted bricks), so after the last level
graph-cut seams (graphcut.py) move whole borders onto minimum-error cuts (along the mortar).
The state carried between rounds and scales is a *source coordinate* per output pixel, so the result is
made of exemplar pixels (crisp) and every map of a PBR set is read at the same coordinates (consistent
pixel for pixel). Every index wraps modulo the output size, so the output tiles by construction. The seed
draws the layout (the quilt, or with layout='shuffle' a random block shuffle), so seeds give different
textures of the same material."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import UserError
from .coherence import relax
from .graphcut import cut_seams
from .maps import MapInfo
from .quilt import quilt, quilt_block

MAX_PIXELS = 4096 * 4096
DIST_FLOATS = 1 << 24  # a distance matrix chunk holds at most this many floats (64 MB)
MIN_LEVEL_SIDE = 16  # the coarsest exemplar level keeps at least this many pixels per side


@dataclass(frozen=True)
class PatchSettings:
    patch: int = 16  # patch side of the last rounds at every scale but the coarsest, pixels
    large_patch: int = 32  # patch side of the first rounds there: keeps whole structures (bricks) coherent
    coarse_patch: int = 16  # patch side at the coarsest scale: large enough to carry the layout
    stride: int = 4  # output patch spacing; patch/stride squared votes per pixel
    levels: int = 3  # pyramid levels (the exemplar at full, 1/2, 1/4 size)
    iterations: tuple[int, ...] = (6, 4, 3)  # match+vote rounds per level, coarse to fine
    occurrence: float = 0.45  # weight of the over-use penalty (0: plain nearest neighbour); 0.6 shredded
    # the quilt's whole stones and brick columns into fragments
    pca_dims: int = 64  # patch descriptor size after PCA (32: stones seam 1.09 and style back at 0.41)
    resolve: str = "best"  # which candidate a pixel keeps: 'average' or 'best' (see _Canvas.resolve)
    match_average: bool = False  # match the vote's average (Kwatra) rather than the resolved pixels
    chunk: int = 2048  # query patches per distance matrix, at most; fewer for big exemplars (DIST_FLOATS)
    layout: str = "quilt"  # the seed's layout: 'quilt' (quilt.py, whole blocks on cuts) or 'shuffle'
    quilt_fraction: float = 0.625  # quilting block side, as a share of the exemplar's shorter side (80 px of
    # 128: two or more whole stones, long brick columns; 48 cut stones into pieces)
    refine_levels: int = 3  # after quilting, refine on this many of the finest levels (0: quilting alone)
    relax_sweeps: int = 4  # seam relaxation sweeps after the last level (coherence.py; 0: none): region
    # borders follow the texture instead of the patch grid
    relax_every_level: bool = False  # also at the end of every coarser level (its borders get upsampled); on
    # the bench, relaxing only the finest level gave brick's learned style .285 instead of .302
    relax_radius: int = 3  # half-side of the neighbourhood seam relaxation compares
    region_side: int = 48  # seam relaxation resists regions larger than this side squared (finest-level pixels)
    region_weight: float = 0.25  # how strongly (0: not at all; then relaxation merged grass and gravel into
    # regions big enough that 31-32 % of 32×32 windows were verbatim copies; 0.25: 23 %, style unchanged)
    cut_passes: int = 1  # graph-cut seam rounds after the last level's relaxation (graphcut.py; 0: none):
    # relaxation cannot move a border across a brick that both regions tint differently (demo brick: bricks
    # half one tint, half another, tone 0.012-0.014 vs the exemplar's 0.0067; with one round 0.007)
    cut_band: int = 16  # how far (pixels) one expansion move may move a region's border (8: tone 0.010)
    cut_min_region: int = 128  # regions smaller than this (pixels) get no expansion move of their own: 32 let
    # fragments grow first (stones swd 0.076 -> 0.085); they may still be taken over
    cut_growth: float = 0.1  # what a pixel pays to join a region, in border costs of unrelated pixels per
    # region_side² pixels the region already has (graphcut._expansions; 0: copy32 on gravel 0.32 -> 0.36,
    # stones 0.22 -> 0.33; on main with region_side 48: 0.08 and 0.2 both keep copy32 below main's)


def _pyramid(ex: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """Exemplar levels, finest first: area-averaged halvings."""
    out = [ex]
    for _ in range(levels - 1):
        h, w = out[-1].shape[-2:]
        out.append(F.interpolate(out[-1][None], size=(max(1, h // 2), max(1, w // 2)), mode="area")[0])
    return out


def _level_count(ex_hw: tuple[int, int], wanted: int, patch: int) -> int:
    n = 1
    while n < wanted and min(ex_hw) // 2 ** n >= max(MIN_LEVEL_SIDE, patch + 8):
        n += 1
    return n


def _positions(size: int, stride: int) -> torch.Tensor:
    """Patch corners spread evenly around a torus of `size`: spacing stride (or stride-1 where it must)."""
    n = max(1, math.ceil(size / stride))
    return torch.round(torch.arange(n, dtype=torch.float64) * (size / n)).long()


EXACT_PCA_SIDE = 1024  # descriptor sizes up to this get an exact eigendecomposition; larger, a randomised one


def _principal_axes(centred: torch.Tensor, k: int) -> torch.Tensor:
    """D×k: the k leading principal axes of the rows of `centred` (M×D, mean removed).
    Above EXACT_PCA_SIDE (32-px colour patches: D = 3072) the D×D covariance and its eigendecomposition
    cost seconds per level on a CPU; a randomised range finder (Halko et al. 2011: 64 extra columns, 4 power
    iterations) captures the same variance to within 1 % in a fifth of the time. Its random start comes from
    a fixed local generator, so a seed still gives the same texture."""
    d = centred.shape[1]
    k = min(k, d)
    if d <= EXACT_PCA_SIDE:
        _, vecs = torch.linalg.eigh(centred.T @ centred)
        return vecs[:, -k:].contiguous()
    gen = torch.Generator().manual_seed(0)
    q = torch.randn(d, min(d, k + 64), generator=gen).to(centred.device)
    for _ in range(4):
        q, _ = torch.linalg.qr(centred.T @ (centred @ q))
    small = centred @ q
    _, vecs = torch.linalg.eigh(small.T @ small)
    return (q @ vecs[:, -k:]).contiguous()


class _Exemplar:
    """One pyramid level of the exemplar: pixels, matching weights, patch descriptors and their PCA."""

    def __init__(self, img: torch.Tensor, weights: torch.Tensor, patch: int, pca_dims: int) -> None:
        self.img = img  # C×H×W
        self.c, self.h, self.w = img.shape
        self.flat = img.reshape(self.c, -1).T.contiguous()  # (H·W)×C
        self.patch = patch
        feats = F.unfold((img * weights[:, None, None])[None], patch)[0].T  # M×(C·p²), valid positions only
        self.ny, self.nx = self.h - patch + 1, self.w - patch + 1
        self.mean = feats.mean(0, keepdim=True)
        centred = feats - self.mean
        self.basis = _principal_axes(centred, pca_dims)  # D×k, largest components
        self.desc = centred @ self.basis  # M×k
        self.sq = (self.desc * self.desc).sum(1)
        self.weights = weights

    def describe(self, out: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
        """Descriptors of the output's patches at corners ys × xs, wrapping around the output's edges."""
        p = self.patch
        wrapped = F.pad((out * self.weights[:, None, None])[None], (0, p - 1, 0, p - 1), mode="circular")[0]
        rows = wrapped.index_select(1, (ys[:, None] + torch.arange(p, device=ys.device)).flatten())
        rows = rows.view(self.c, len(ys), p, -1)
        cols = rows.index_select(3, (xs[:, None] + torch.arange(p, device=xs.device)).flatten())
        cols = cols.view(self.c, len(ys), p, len(xs), p)  # C, iy, a, ix, b
        feats = cols.permute(1, 3, 0, 2, 4).reshape(len(ys) * len(xs), -1)
        return (feats - self.mean) @ self.basis


def _match(ex: _Exemplar, q: torch.Tensor, penalty: torch.Tensor | None, chunk: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Index of the nearest exemplar patch for every query row (plus a per-patch penalty) and its distance."""
    best_i, best_d = [], []
    chunk = max(64, min(chunk, DIST_FLOATS // max(1, ex.desc.shape[0])))
    for s in range(0, q.shape[0], chunk):
        qc = q[s:s + chunk]
        d = ex.sq[None] - 2.0 * qc @ ex.desc.T
        if penalty is not None:
            d = d + penalty[None]
        v, i = d.min(1)
        best_i.append(i)
        best_d.append((v + (qc * qc).sum(1)).clamp_min(0))
    return torch.cat(best_i), torch.cat(best_d)


def _occurrence_penalty(ex: _Exemplar, src: torch.Tensor, weight: float, scale: float) -> torch.Tensor:
    """Kaspar et al.'s occurrence penalty: how much more than its share each exemplar patch's pixels were
    used in the last round, so a big flat region cannot take over (wash-out) and fewer regions get copied."""
    cover = torch.bincount(src.reshape(-1), minlength=ex.h * ex.w).float().view(1, 1, ex.h, ex.w)
    expected = src.numel() / (ex.h * ex.w)
    per_patch = F.avg_pool2d(cover, ex.patch, stride=1).flatten()  # ny·nx, same order as the descriptors
    return weight * scale * (per_patch / expected - 1.0).clamp_min(0)


class _Canvas:
    """The output torus at one level: where every patch's pixels go, and where their sources come from."""

    def __init__(self, h: int, w: int, patch: int, stride: int, shift: tuple[int, int], device) -> None:
        self.h, self.w, self.patch = h, w, patch
        # a fresh grid offset every round, so patch boundaries (and the wrap edge) never line up as seams
        self.ys = ((_positions(h, stride) + shift[0]) % h).to(device)
        self.xs = ((_positions(w, stride) + shift[1]) % w).to(device)
        a = torch.arange(patch, device=device)
        ty = (self.ys[:, None, None, None] + a[None, None, :, None]) % h  # iy, ix, a, b
        tx = (self.xs[None, :, None, None] + a[None, None, None, :]) % w
        self.target = (ty * w + tx).reshape(len(self.ys) * len(self.xs), patch * patch)  # N×p² pixel index
        self.offset = (a[:, None], a[None, :])

    def sources(self, ex: _Exemplar, idx: torch.Tensor) -> torch.Tensor:
        """N×p² exemplar pixel index of every matched patch's pixels."""
        sy, sx = idx // ex.nx, idx % ex.nx
        a, b = self.offset
        return ((sy[:, None, None] + a) * ex.w + (sx[:, None, None] + b)).reshape(len(idx), -1)

    def vote(self, ex: _Exemplar, src: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """Weighted mean of the exemplar pixels each output pixel receives: C×H×W."""
        n = self.h * self.w
        w = weight[:, None].expand_as(src).reshape(-1)
        acc = torch.zeros(n, ex.c, device=src.device).index_add_(0, self.target.reshape(-1),
                                                                 ex.flat[src.reshape(-1)] * w[:, None])
        norm = torch.zeros(n, device=src.device).index_add_(0, self.target.reshape(-1), w)
        return (acc / norm.clamp_min(1e-12)[:, None]).T.reshape(ex.c, self.h, self.w)

    def resolve(self, ex: _Exemplar, src: torch.Tensor, average: torch.Tensor, dist: torch.Tensor,
                mode: str) -> torch.Tensor:
        """One source pixel per output pixel, H·W indices: among the candidates the overlapping patches
        offer, the one closest to the vote's average ('average') or the one of the best-matching patch
        ('best'; keeps thin features such as mortar lines that an average would wash out)."""
        t, s = self.target.reshape(-1), src.reshape(-1)
        if mode == "average":
            avg = average.reshape(ex.c, -1).T
            err = ((ex.flat[s] - avg[t]) * ex.weights).pow(2).sum(1)
        else:
            err = dist[:, None].expand_as(src).reshape(-1)
        n = self.h * self.w
        best = torch.full((n,), float("inf"), device=s.device).scatter_reduce(0, t, err, "amin")
        chosen = torch.full((n,), -1, dtype=torch.long, device=s.device)
        is_best = err <= best[t]
        return chosen.scatter_reduce(0, t[is_best], s[is_best], "amax")  # ties: a fixed, seed-independent pick


def _upsample_coords(coords: torch.Tensor, coarse: _Exemplar, fine: _Exemplar, ch: int, cw: int, fh: int,
                     fw: int) -> torch.Tensor:
    """Source coordinates at the next finer level: each coarse pixel's source, doubled, plus the sub-pixel."""
    cy, cx = coords // coarse.w, coords % coarse.w
    fy = torch.arange(fh, device=coords.device)
    fx = torch.arange(fw, device=coords.device)
    py = torch.clamp(fy * ch // fh, max=ch - 1)
    px = torch.clamp(fx * cw // fw, max=cw - 1)
    parent = py[:, None] * cw + px[None, :]
    sy = torch.clamp(cy[parent] * 2 + (fy % 2)[:, None], max=fine.h - 1)
    sx = torch.clamp(cx[parent] * 2 + (fx % 2)[None, :], max=fine.w - 1)
    return (sy * fine.w + sx).reshape(-1)


def _random_layout(ex: _Exemplar, h: int, w: int, block: int, gen: torch.Generator) -> torch.Tensor:
    """The seed's layout: the coarsest output as a shuffle of random exemplar blocks (source coordinates)."""
    by, bx = math.ceil(h / block), math.ceil(w / block)
    oy = torch.randint(0, ex.h - block + 1, (by, bx), generator=gen)
    ox = torch.randint(0, ex.w - block + 1, (by, bx), generator=gen)
    y, x = torch.arange(h), torch.arange(w)
    sy = oy[y // block][:, x // block] + (y % block)[:, None]
    sx = ox[y // block][:, x // block] + (x % block)[None, :]
    return (sy * ex.w + sx).reshape(-1)


def _coarsen_coords(fine: torch.Tensor, fine_hw: tuple[int, int], ex_hw: tuple[int, int], hw: tuple[int, int],
                    level_hw: tuple[int, int]) -> torch.Tensor:
    """Full-resolution source coordinates (output fine_hw, exemplar ex_hw) read at an h×w grid of output
    pixels and scaled to a coarser exemplar level (level_hw): that level's starting coordinates."""
    (fh, fw), (eh, ew), (h, w), (lh, lw) = fine_hw, ex_hw, hw, level_hw
    rows = torch.arange(h, device=fine.device) * fh // h
    cols = torch.arange(w, device=fine.device) * fw // w
    grid = fine.view(fh, fw)[rows][:, cols]
    sy = torch.clamp(grid // ew * lh // eh, max=lh - 1)
    sx = torch.clamp(grid % ew * lw // ew, max=lw - 1)
    return (sy * lw + sx).reshape(-1)


def match_weights(maps: Sequence[MapInfo], device) -> torch.Tensor:
    """Per-channel weights for matching: each map counts the same, colour maps twice (what the eye sees)."""
    parts = []
    for m in maps:
        share = (2.0 if m.kind == "color" else 1.0) / math.sqrt(m.channels)
        parts.append(torch.full((m.channels,), share))
    w = torch.cat(parts)
    return (w / w.max()).to(device)


# Calibrated with benchmarks/bench_texture_memory.py (peak RSS over the RSS before synthesis, 1 thread)
PER_PIXEL = 400  # bytes per output pixel independent of the channel count (patch/pixel indices)
PER_PIXEL_CHANNEL = 100  # bytes per output pixel and channel (gathered patches, votes)
EXEMPLAR_COPIES = 3  # copies of the exemplar's largest patch matrix alive at once (unfold, centring)


def memory_estimate(ex_hw: tuple[int, int], channels: int, width: int, height: int, tileable: bool = True,
                    settings: PatchSettings = PatchSettings()) -> int:
    """Bytes of peak memory synthesize() needs, so a job that cannot fit is refused before it starts."""
    margin = 0 if tileable else settings.patch * 2
    pixels = (width + margin) * (height + margin)
    p = min(max(settings.patch, settings.large_patch, settings.coarse_patch), max(1, min(ex_hw) - 2))
    patches_n = max(1, (ex_hw[0] - p + 1) * (ex_hw[1] - p + 1))
    exemplar = EXEMPLAR_COPIES * patches_n * channels * p * p * 4
    distances = 2 * 4 * min(DIST_FLOATS, settings.chunk * patches_n)
    return int(exemplar + distances + pixels * (PER_PIXEL + PER_PIXEL_CHANNEL * channels))


@torch.no_grad()
def synthesize(exemplar: torch.Tensor, maps: Sequence[MapInfo], width: int, height: int, seed: int,
               tileable: bool = True, settings: PatchSettings = PatchSettings(), device=None,
               check: Callable[[], None] | None = None, start: torch.Tensor | None = None) -> np.ndarray:
    """H×W×C float32 0..1 made of exemplar pixels; `exemplar` is C×H×W 0..1 (all maps stacked).
    `start`: height·width source coordinates (indices into the exemplar's H×W) that replace the seed's
    layout (quilt or shuffle), e.g. a GAN's layout (guided.py); refinement then runs as after quilting."""
    coords = source_coordinates(exemplar, maps, width, height, seed, tileable, settings, device, check, start)
    flat = exemplar.float().to(coords.device).reshape(exemplar.shape[0], -1).T
    return flat[coords.reshape(-1)].reshape(height, width, -1).cpu().numpy().astype(np.float32)


@torch.no_grad()
def source_coordinates(exemplar: torch.Tensor, maps: Sequence[MapInfo], width: int, height: int, seed: int,
                       tileable: bool = True, settings: PatchSettings = PatchSettings(), device=None,
                       check: Callable[[], None] | None = None, start: torch.Tensor | None = None) -> torch.Tensor:
    """height×width indices into the exemplar's H·W pixels: where each output pixel comes from (see
    synthesize for `start`)."""
    if width * height > MAX_PIXELS:
        raise UserError(f"size: patch synthesis is limited to {MAX_PIXELS} pixels ({width}x{height} asked); "
                        "generate a smaller tile and repeat it (it is seamless)")
    device = torch.device(device or "cpu")
    gen = torch.Generator().manual_seed(int(seed))
    margin = 0 if tileable else settings.patch * 2  # untiled: a larger torus, cropped, so edges do not match
    out_h, out_w = height + margin, width + margin
    ex_full = exemplar.float().to(device)
    if min(ex_full.shape[-2:]) < settings.patch + 2:
        raise UserError(f"exemplar: {ex_full.shape[-1]}x{ex_full.shape[-2]} is too small for patch synthesis; "
                        f"use at least {settings.patch + 2} px per side")
    weights = match_weights(maps, device)
    levels = _level_count(tuple(ex_full.shape[-2:]), settings.levels, max(settings.patch, settings.coarse_patch))
    pyramid = _pyramid(ex_full, levels)[::-1]  # coarsest first
    least = max(settings.patch, settings.large_patch, settings.coarse_patch)  # a torus holds its patches
    sizes = [(max(least, math.ceil(out_h / 2 ** k)), max(least, math.ceil(out_w / 2 ** k)))
             for k in range(levels)][::-1]
    iters = list(settings.iterations)
    while len(iters) < levels:
        iters.insert(0, iters[0])
    iters = iters[-levels:]
    coords, prev, prev_hw = None, None, None
    first = 0
    full_layout = start is not None or settings.layout == "quilt"  # laid out at full size, read at `first`
    if full_layout:
        if start is not None:  # on the (untiled: larger) torus, nearest resampled
            fine = _coarsen_coords(start.to(device), (height, width), tuple(ex_full.shape[-2:]), (out_h, out_w),
                                   tuple(ex_full.shape[-2:]))
        else:
            block = quilt_block(tuple(ex_full.shape[-2:]), settings.quilt_fraction)
            fine = quilt(ex_full.cpu(), weights.cpu(), out_h, out_w, block, max(2, block // 4), gen).to(device)
        first = max(0, levels - settings.refine_levels)
        if first == levels:
            fine = _settle_borders(fine, ex_full, weights, (out_h, out_w), (out_h, out_w), settings, finest=True)
            return _crop(fine, out_h, out_w, margin, height, width)
        coords = _coarsen_coords(fine, (out_h, out_w), tuple(ex_full.shape[-2:]), sizes[first],
                                 tuple(pyramid[first].shape[-2:]))
    for lvl, (img, (h, w)) in enumerate(zip(pyramid, sizes)):
        if lvl < first:
            continue
        if lvl == 0:
            plan = [settings.coarse_patch] * iters[0]
        else:
            large = math.ceil(iters[lvl] / 2) if settings.large_patch > settings.patch else 0
            plan = [settings.large_patch] * large + [settings.patch] * (iters[lvl] - large)
        plan = [p for p in plan if p <= min(img.shape[-2:]) - 2] or [settings.patch]
        exs = {p: _Exemplar(img, weights, p, settings.pca_dims) for p in sorted(set(plan))}
        ex = exs[plan[0]]
        if coords is None:
            coords = _random_layout(ex, h, w, plan[0], gen).to(device)
        elif not (lvl == first and full_layout):
            coords = _upsample_coords(coords, prev, ex, prev_hw[0], prev_hw[1], h, w)
        current = ex.flat[coords].T.reshape(ex.c, h, w)
        penalty, penalty_patch = None, None
        for patch in plan:
            if check is not None:
                check()
            ex = exs[patch]
            stride = max(1, settings.stride * patch // settings.patch)
            scale = float(ex.desc.var(0).sum()) * 2  # typical squared distance between two exemplar patches
            shift = tuple(int(v) for v in torch.randint(0, stride, (2,), generator=gen))
            canvas = _Canvas(h, w, patch, stride, shift, device)
            q = ex.describe(current if settings.match_average else ex.flat[coords].T.reshape(ex.c, h, w),
                            canvas.ys, canvas.xs)
            idx, dist = _match(ex, q, penalty if penalty_patch == patch else None, settings.chunk)
            src = canvas.sources(ex, idx)
            if settings.occurrence > 0:
                penalty, penalty_patch = _occurrence_penalty(ex, src, settings.occurrence, scale), patch
            # Kwatra's robust weights: |d|^(0.8-2), so outlier patches pull less on the average
            weight = (dist / scale + 1e-3).pow(-0.6)
            current = canvas.vote(ex, src, weight)
            coords = canvas.resolve(ex, src, current, dist, settings.resolve)
        coords = _settle_borders(coords, img, weights, (h, w), sizes[-1], settings, finest=lvl == levels - 1)
        prev, prev_hw = ex, (h, w)
    return _crop(coords, sizes[-1][0], sizes[-1][1], margin, height, width)


def _settle_borders(coords: torch.Tensor, img: torch.Tensor, weights: torch.Tensor, hw: tuple[int, int],
                    final_hw: tuple[int, int], settings: PatchSettings, finest: bool) -> torch.Tensor:
    """The end of a level (hw output pixels; final_hw at the finest): seam relaxation (coherence.py), with the
    region size scaled to this level, at the finest level or every level; then, at the finest, graph-cut
    seams (graphcut.py)."""
    (h, w), (fh, fw) = hw, final_hw
    if settings.relax_sweeps > 0 and (finest or settings.relax_every_level):
        area = settings.region_side ** 2 * (h * w) / (fh * fw)
        coords = relax(coords, img, weights, h, w, settings.relax_sweeps, settings.relax_radius, area,
                       settings.region_weight)
    if finest and settings.cut_passes > 0:
        coords = cut_seams(coords, img, weights, h, w, settings.cut_passes, settings.cut_band,
                           settings.cut_min_region, settings.cut_growth, settings.region_side ** 2)
    return coords


def _crop(coords: torch.Tensor, full_h: int, full_w: int, margin: int, height: int, width: int) -> torch.Tensor:
    """The height×width corner-offset crop of the full_h×full_w torus's coordinates (untiled: inside the margin)."""
    top, left = margin // 2, margin // 2
    return coords.view(full_h, full_w)[top:top + height, left:left + width]
