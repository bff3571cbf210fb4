"""GAN-guided patch refinement: the GAN's output gives the layout and the seed's variation, the exemplar's
own patches give the crisp detail.

A GAN trained for a few CPU minutes gets the arrangement of a texture roughly right (where dark and light,
big and small things go, different for every seed) but renders it as soft colour blobs. Here its output is
read only at a coarse level of the pyramid (1/4 size by default, where it is as blurred as the exemplar is
there): every output patch, wrapping around the torus, finds its nearest exemplar patch, and every output
pixel takes its source from the best-matching patch that covers it. Those source coordinates, scaled back
to full resolution, replace the quilt as the start of patch optimisation (patches.synthesize(start=…)), so
the result is made of exemplar pixels (crisp, the exemplar's hues), tiles by construction (every index
wraps), and every map of a PBR set reads the same coordinates. The checkpoint carries the exemplar
(training.py stores it); checkpoints from before that can only give the GAN's raw output."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .checkpoint import Checkpoint
from .maps import MapInfo
from .patches import (PatchSettings, _Canvas, _Exemplar, _match, _occurrence_penalty, match_weights,
                      synthesize)

GAN_MODELS = ("psgan", "dcgan")
OLD_CHECKPOINT_NOTE = ("this GAN checkpoint predates patch refinement (it carries no exemplar): raw GAN output; "
                       "train it again for crisp, refined textures")


@dataclass(frozen=True)
class GuideSettings:
    level: int = 2  # read the GAN's layout at 1/2**level of full size (its blur is below that scale)
    patch: int = 8  # patch side at that level, pixels
    stride: int = 2  # output patch spacing at that level
    occurrence: float = 0.5  # weight of the over-use penalty: one flat region cannot take over the layout
    rounds: int = 2  # matching rounds (the penalty needs the previous round's use)
    pca_dims: int = 24  # patch descriptor size after PCA
    refine: PatchSettings = PatchSettings()  # the patch optimisation that follows


def refinable(ck: Checkpoint) -> bool:
    """Whether generate() refines this checkpoint's GAN output: a GAN checkpoint that carries its exemplar."""
    return ck.model in GAN_MODELS and isinstance(ck.state.get("exemplar"), torch.Tensor)


def refinement_note(ck: Checkpoint, raw: bool) -> str | None:
    """One line for the user when a GAN's output could not be refined (None when it was, or not a GAN)."""
    if ck.model in GAN_MODELS and not raw and not refinable(ck):
        return OLD_CHECKPOINT_NOTE
    return None


def generation_info(ck: Checkpoint, raw: bool) -> dict:
    """What a generate command or job reports about refinement: for GAN models whether the output was
    refined, plus a note when it could not be (empty for other models)."""
    if ck.model not in GAN_MODELS:
        return {}
    note = refinement_note(ck, raw)
    return {"refined": not raw and refinable(ck), **({"notes": [note]} if note else {})}


def _area(img: torch.Tensor, factor: int) -> torch.Tensor:
    """C×H×W shrunk by `factor` (area average), at least one pixel per side."""
    h, w = img.shape[-2:]
    return F.interpolate(img[None], size=(max(1, h // factor), max(1, w // factor)), mode="area")[0]


def _nearest_patches(guide: torch.Tensor, ex_img: torch.Tensor, weights: torch.Tensor, patch: int, stride: int,
                     occurrence: float, rounds: int, pca_dims: int, gen: torch.Generator) -> torch.Tensor:
    """Source coordinate (index into ex_img's H×W) per pixel of the torus `guide` (C×h×w): patch
    synthesis's own match and vote (patches.py), run on the guide instead of a layout of exemplar pixels."""
    ex = _Exemplar(ex_img, weights, patch, pca_dims)
    scale = float(ex.desc.var(0).sum()) * 2  # typical squared distance between two exemplar patches
    _, h, w = guide.shape
    penalty, chosen = None, None
    for _ in range(rounds):  # the over-use penalty needs the previous round's use
        shift = tuple(int(v) for v in torch.randint(0, stride, (2,), generator=gen))
        canvas = _Canvas(h, w, patch, stride, shift, guide.device)
        idx, dist = _match(ex, ex.describe(guide, canvas.ys, canvas.xs), penalty, PatchSettings.chunk)
        src = canvas.sources(ex, idx)
        if occurrence > 0:
            penalty = _occurrence_penalty(ex, src, occurrence, scale)
        chosen = canvas.resolve(ex, src, None, dist, "best")
    return chosen


def layout_coordinates(guide: np.ndarray, exemplar: torch.Tensor, maps: Sequence[MapInfo], seed: int,
                       settings: GuideSettings = GuideSettings()) -> torch.Tensor:
    """Full-resolution source coordinates (H·W indices into the exemplar's H×W) that follow the layout of
    `guide` (H×W×C 0..1, e.g. a GAN's output), matched on the torus at a coarse level."""
    h, w, _ = guide.shape
    c, eh, ew = exemplar.shape
    weights = match_weights(maps, "cpu")
    # the coarse level: the exemplar keeps room for a few patches, the guide at least one patch per side
    factor = 2 ** settings.level
    while factor > 1 and min(eh // factor, h // factor, w // factor) < settings.patch + 4:
        factor //= 2
    ex_c = _area(exemplar.float(), factor)
    g_c = _area(torch.from_numpy(np.ascontiguousarray(guide.transpose(2, 0, 1))).float(), factor)
    patch = max(2, min(settings.patch, min(ex_c.shape[-2:]) - 1, min(g_c.shape[-2:])))
    gen = torch.Generator().manual_seed(int(seed) + 7919)
    coarse = _nearest_patches(g_c, ex_c, weights, patch, settings.stride, settings.occurrence, settings.rounds,
                              settings.pca_dims, gen)
    ch, cw = g_c.shape[-2:]
    ceh, cew = ex_c.shape[-2:]
    fy, fx = torch.arange(h), torch.arange(w)
    py, px = torch.clamp(fy * ch // h, max=ch - 1), torch.clamp(fx * cw // w, max=cw - 1)
    parent = coarse.view(ch, cw)[py][:, px]
    # each coarse source pixel stands for a factor×factor block of the exemplar: keep the sub-pixel offset
    sy = torch.clamp((parent // cew) * eh // ceh + (fy % factor)[:, None], max=eh - 1)
    sx = torch.clamp((parent % cew) * ew // cew + (fx % factor)[None, :], max=ew - 1)
    return (sy * ew + sx).reshape(-1)


def refine(guide: np.ndarray, exemplar: torch.Tensor, maps: Sequence[MapInfo], seed: int, tileable: bool = True,
           settings: GuideSettings = GuideSettings(), device=None, check: Callable[[], None] | None = None,
           guide_tiles: bool = True) -> np.ndarray:
    """H×W×C float32 0..1 made of exemplar pixels, laid out like `guide` (H×W×C 0..1, all maps stacked);
    `exemplar` is the C×H×W stack the checkpoint carries. Every map reads the same source coordinates.
    `guide_tiles`: whether the guide wraps around; one that does not (dcgan) is turned half-way round the
    torus first, so its edge becomes an interior cut that refinement joins and the wrap edge is continuous."""
    h, w, _ = guide.shape
    if tileable and not guide_tiles:
        guide = np.roll(guide, (h // 2, w // 2), (0, 1))
    start = layout_coordinates(guide, exemplar, maps, seed, settings)
    return synthesize(exemplar, maps, w, h, seed, tileable, settings.refine, device=device, check=check,
                      start=start)


def raw_render_tileable(model: str, tileable: bool, refining: bool) -> bool:
    """Whether to ask the network itself for a tileable render: a refined output tiles through the
    refinement's torus, so the dcgan baseline (which cannot tile) still gives a layout to refine."""
    return tileable and not (refining and model == "dcgan")

