"""The loss terms the style objective is composed from, and the two ways to combine them.

    Sum(Scale(LayerApply(StyleLoss(gram), "relu3_1", stride), weight), ...)

reads like the formula (the composition follows crowsonkb/style-transfer-pytorch's
`Scale(LayerApply(loss, layer), weight)`; the code is our own). Every term works whole or in tiles:

- `stats(feats, window)`: pieces that add up over windows (tiles), e.g. Σ m·f fᵀ and Σ m;
- `value(stats)`: the loss from the whole image's summed pieces;
- `surrogate(feats, window, total)`: a window's expression whose gradient equals the loss's gradient
  through that window, given the whole image's pieces. For a loss linear in its pieces (content,
  TV, any per-pixel term) that is simply `value(stats(window))`, the default here.

Terms that read the image itself (`reads_image`) see `feats["input"]` and are evaluated on the whole
image even when the network runs in tiles (they are cheap). A new term — say a temporal loss against
a warped previous frame — is a `Term` subclass added to the formula in `objective.build_objective`.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

import torch

from . import losses
from .tiles import Window

Stats = Any  # a tensor, or a tuple of tensors/Stats: whatever adds up over tiles


def add_stats(a: Stats, b: Stats) -> Stats:
    """Sum of two windows' stats (same structure)."""
    if isinstance(a, tuple):
        return tuple(add_stats(x, y) for x, y in zip(a, b))
    return a + b


class Term:
    """One loss term; subclasses implement `stats` and `value` (and `surrogate` if not linear)."""

    reads_image = False

    def stats(self, feats: dict[str, torch.Tensor], window: Window) -> Stats:
        raise NotImplementedError

    def value(self, stats: Stats) -> torch.Tensor:
        raise NotImplementedError

    def surrogate(self, feats: dict[str, torch.Tensor], window: Window, total: Stats) -> torch.Tensor:
        return self.value(self.stats(feats, window))


class Sum(Term):
    """Σ of terms."""

    def __init__(self, terms: Sequence[Term]) -> None:
        self.terms = list(terms)
        self.reads_image = any(t.reads_image for t in self.terms)

    def stats(self, feats, window):
        return tuple(t.stats(feats, window) for t in self.terms)

    def value(self, stats):
        return sum(t.value(s) for t, s in zip(self.terms, stats))

    def surrogate(self, feats, window, total):
        return sum(t.surrogate(feats, window, s) for t, s in zip(self.terms, total))


class Scale(Term):
    """weight · term."""

    def __init__(self, term: Term, weight: float) -> None:
        self.term, self.weight = term, float(weight)
        self.reads_image = term.reads_image

    def stats(self, feats, window):
        return self.term.stats(feats, window)

    def value(self, stats):
        return self.weight * self.term.value(stats)

    def surrogate(self, feats, window, total):
        return self.weight * self.term.surrogate(feats, window, total)


class LayerApply(Term):
    """A feature-map loss applied to one layer's map (of the given stride), cropped to the window."""

    def __init__(self, loss: "FeatureLoss", layer: str, stride: int) -> None:
        self.loss, self.layer, self.stride = loss, layer, stride

    def stats(self, feats, window):
        return self.loss.stats(window.features(feats[self.layer], self.stride), window, self.stride)

    def value(self, stats):
        return self.loss.value(stats)

    def surrogate(self, feats, window, total):
        return self.loss.surrogate(window.features(feats[self.layer], self.stride), window, self.stride, total)


class FeatureLoss:
    """A loss on one feature map `f` (already cropped to the window)."""

    def stats(self, f: torch.Tensor, window: Window, stride: int) -> Stats:
        raise NotImplementedError

    def value(self, stats: Stats) -> torch.Tensor:
        raise NotImplementedError

    def surrogate(self, f: torch.Tensor, window: Window, stride: int, total: Stats) -> torch.Tensor:
        return self.value(self.stats(f, window, stride))


class ContentLoss(FeatureLoss):
    """Squared feature difference to the content's features, relative to their mean energy.

    `energy` and `count` are the whole target's, so tile pieces add up to the whole-image loss."""

    def __init__(self, target: torch.Tensor) -> None:
        self.target = target
        self.energy = (target.float() ** 2).mean()
        self.count = float(target.numel())

    def stats(self, f, window, stride):
        return ((f.float() - window.of_whole(self.target, stride).float()) ** 2).sum()

    def value(self, stats):
        return stats / (self.count * (self.energy + 1e-12))


class StyleLoss(FeatureLoss):
    """Squared Gram difference to a target Gram, relative to the target's energy; optionally only
    over a soft mask's region (`mask`: 1×1×h×w at the layer's resolution)."""

    def __init__(self, target: torch.Tensor, mask: Optional[torch.Tensor] = None) -> None:
        self.target, self.mask = target, mask

    def _mask(self, f: torch.Tensor, window: Window, stride: int) -> Optional[torch.Tensor]:
        if self.mask is None:
            return None
        return window.of_whole(self.mask, stride)[..., :f.shape[-2], :f.shape[-1]]

    def stats(self, f, window, stride):
        return losses.gram_sums(f, self._mask(f, window, stride))

    def value(self, stats):
        return losses.style_loss(losses.gram_from_sums(*stats), self.target)

    def surrogate(self, f, window, stride, total):
        # The loss is not linear in the Gram sums: a window's gradient is d loss/d G (whole image's
        # G, a constant here) contracted with its own sums.
        gram = losses.gram_from_sums(*total)
        coeff = losses.style_loss_grad_coeff(gram, self.target) / (total[1].clamp_min(1e-8) * gram.shape[0])
        own, _mass = losses.gram_sums(f, self._mask(f, window, stride))
        return (coeff.detach() * own).sum()


class TVLoss(Term):
    """Total variation of the image (mean squared neighbour difference), wrap-around when tileable."""

    reads_image = True

    def __init__(self, wrap: bool) -> None:
        self.wrap = wrap

    def stats(self, feats, window):
        return losses.tv_loss(feats["input"], self.wrap)

    def value(self, stats):
        return stats
