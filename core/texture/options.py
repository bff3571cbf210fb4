"""TrainOptions: the job spec for training a texture model, validated field by field."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Any, Mapping

from ..device import DEVICE_CHOICES
from ..errors import UserError

MODELS = ("patches", "psgan", "dcgan", "optim")
LOSSES = ("hinge", "nonsaturating", "minimax")
AUGMENT_OPS = ("translation", "cutout", "color")
PATCH_RANGE = (16, 1024)  # training crop sizes; an exemplar smaller than the low end cannot be trained on
DCGAN_PATCHES = (32, 64, 128, 256)


@dataclass
class TrainOptions:
    # 'patches': default; no training: generate() runs patch-based texture optimisation on a torus against
    #            the exemplar stored in the checkpoint (crisp, faithful, tileable, seeds give variations);
    # 'psgan': periodic spatial GAN (tileable by construction); generate() refines its soft output with the
    #          exemplar's patches (guided.py; the checkpoint carries the exemplar), raw=True skips that;
    # 'dcgan': the seed baseline (fixed-size patches; its raw output does not tile), refined the same way;
    # 'optim': no training; generate() optimises pixels against the exemplar's feature statistics.
    model: str = "patches"
    steps: int = 1500
    patch: int = 64
    batch: int = 8
    lr: float = 2e-4
    lr_d: float | None = None  # None: same as lr
    seed: int = 0
    device: str = "auto"
    loss: str | None = None  # None: 'hinge' for psgan, 'nonsaturating' (seed L_D/L_G) for dcgan
    spectral_norm: bool = True  # psgan discriminator
    ema: float = 0.995  # generator EMA decay; 0 disables
    augment: str = "translation,cutout"  # differentiable augmentation ops, '' for none
    mixed_precision: bool = True  # only ever used on a GPU
    preview_every: int = 50  # steps between preview images sent through the progress callback
    preview_size: int = 96
    # psgan shape
    local_dim: int = 16
    global_dim: int = 16
    periodic_dim: int = 4
    width: int = 32  # base channel count: generator stages use 4w, 4w, 2w, w, w/2; discriminator w..4w
    # optim (no-training) engine
    optim_steps: int = 200

    def resolved_loss(self) -> str:
        if self.loss:
            return self.loss
        return "nonsaturating" if self.model == "dcgan" else "hinge"

    def augment_ops(self) -> list[str]:
        return [p.strip() for p in self.augment.split(",") if p.strip()]

    def validate(self) -> "TrainOptions":
        def bad(name: str, why: str) -> UserError:
            return UserError(f"texture option '{name}': {why}")

        if self.model not in MODELS:
            raise bad("model", f"'{self.model}' is unknown; use one of {', '.join(MODELS)}")
        for name, lo, hi in (("steps", 1, 10_000_000), ("patch", *PATCH_RANGE), ("batch", 1, 1024),
                             ("seed", 0, 2**63 - 1), ("preview_every", 0, 10_000_000),
                             ("preview_size", 16, 1024), ("local_dim", 1, 256), ("global_dim", 0, 256),
                             ("periodic_dim", 0, 64), ("width", 8, 512), ("optim_steps", 1, 100_000)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int):
                raise bad(name, f"must be a whole number, got {v!r}")
            if not lo <= v <= hi:
                raise bad(name, f"{v} is out of range {lo}..{hi}")
        if self.model == "dcgan" and self.patch not in DCGAN_PATCHES:
            raise bad("patch", f"the dcgan baseline needs 32, 64, 128 or 256, got {self.patch}")
        for name in ("lr", "lr_d", "ema"):
            v = getattr(self, name)
            if v is None and name == "lr_d":
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise bad(name, f"must be a number, got {v!r}")
        if not 0 < self.lr <= 1:
            raise bad("lr", f"{self.lr} is out of range (0, 1]")
        if self.lr_d is not None and not 0 < self.lr_d <= 1:
            raise bad("lr_d", f"{self.lr_d} is out of range (0, 1]")
        if not 0 <= self.ema < 1:
            raise bad("ema", f"{self.ema} must be in [0, 1)")
        if self.device not in DEVICE_CHOICES:
            raise bad("device", f"'{self.device}' is unknown; use one of {', '.join(DEVICE_CHOICES)}")
        if self.loss is not None and self.loss not in LOSSES:
            raise bad("loss", f"'{self.loss}' is unknown; use one of {', '.join(LOSSES)}")
        if not isinstance(self.augment, str):
            raise bad("augment", "must be a comma-separated string")
        for op in self.augment_ops():
            if op not in AUGMENT_OPS:
                raise bad("augment", f"'{op}' is unknown; use any of {', '.join(AUGMENT_OPS)}")
        for name in ("spectral_norm", "mixed_precision"):
            if not isinstance(getattr(self, name), bool):
                raise bad(name, f"must be true or false, got {getattr(self, name)!r}")
        return self

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> "TrainOptions":
        """Build from a plain dict (JSON); unknown keys and bad values raise UserError naming the field."""
        d = dict(d or {})
        known = {f.name for f in fields(cls)}
        for key in d:
            if key not in known:
                raise UserError(f"texture option '{key}' is unknown; known: {', '.join(sorted(known))}")
        floats = {"lr", "lr_d", "ema"}
        for key in floats:  # JSON gives 1 for 1.0
            if isinstance(d.get(key), int) and not isinstance(d.get(key), bool):
                d[key] = float(d[key])
        return cls(**d).validate()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
