"""Texture model checkpoints: tensors plus JSON metadata, loaded as data only.

File layout (a torch zip archive holding only tensors, strings and numbers):
    {"format": "neural-atelier-texture", "version": 1, "meta": JSON string, "state": {name: state_dict}}
meta: model, options (TrainOptions), maps (MapInfo list), exemplar sha256 and size, step, train seconds.
`torch.load(weights_only=True)` refuses any pickled object other than tensors and plain containers, so a
checkpoint from an untrusted source cannot run code."""
from __future__ import annotations

import json
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..atomic import write_atomically
from ..errors import UserError
from .maps import KINDS, MapInfo
from .options import TrainOptions

FORMAT = "neural-atelier-texture"
VERSION = 1


@dataclass
class Checkpoint:
    options: TrainOptions
    maps: list[MapInfo]
    exemplar_sha256: str
    exemplar_size: tuple[int, int]  # (width, height)
    step: int
    state: dict[str, Any]  # name -> state dict (or tensor); 'generator' is what generate() uses
    train_seconds: float = 0.0
    losses: dict[str, float] = field(default_factory=dict)
    runtime: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)  # caches; never saved

    @property
    def model(self) -> str:
        return self.options.model

    @property
    def channels(self) -> int:
        return sum(m.channels for m in self.maps)

    def meta(self) -> dict[str, Any]:
        return {
            "model": self.options.model,
            "options": self.options.to_dict(),
            "maps": [{"name": m.name, "kind": m.kind, "channels": m.channels} for m in self.maps],
            "exemplar_sha256": self.exemplar_sha256,
            "exemplar_size": list(self.exemplar_size),
            "step": self.step,
            "train_seconds": self.train_seconds,
            "losses": self.losses,
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Write atomically: a temp file in the same folder, then rename. Never leaves a partial file."""
        p = Path(path)
        if not p.parent.exists():
            raise UserError(f"checkpoint '{p}': folder '{p.parent}' does not exist")
        payload = {"format": FORMAT, "version": VERSION, "meta": json.dumps(self.meta()), "state": self.state}
        return write_atomically(p, lambda fh: torch.save(payload, fh))


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Load a checkpoint as data only. UserError (naming the file) if missing, unsafe, corrupt or foreign."""
    p = Path(path)
    label = f"checkpoint '{p}'"
    if not p.is_file():
        raise UserError(f"{label}: file not found")
    try:
        payload = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        msg = str(exc)
        if "Weights only load failed" in msg or "Unsupported global" in msg or "not an allowed" in msg:
            raise UserError(f"{label}: refused: it contains pickled objects other than tensors "
                            "(possibly malicious code); only load checkpoints made by Neural Atelier") from None
        raise UserError(f"{label}: not a readable checkpoint (corrupt or truncated?)") from None
    except Exception as exc:  # noqa: BLE001 - any decode failure means a damaged file
        raise UserError(f"{label}: not a readable checkpoint (corrupt or truncated?): {type(exc).__name__}") from None
    return _from_payload(payload, label)


def _from_payload(payload: Any, label: str) -> Checkpoint:
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise UserError(f"{label}: not a Neural Atelier texture checkpoint")
    version = payload.get("version")
    if not isinstance(version, int) or version > VERSION or version < 1:
        raise UserError(f"{label}: format version {version!r} is not supported (this build reads up to {VERSION}); "
                        "update Neural Atelier")
    try:
        meta = json.loads(payload["meta"])
        options = TrainOptions.from_dict(meta["options"])
        maps = [MapInfo(name=str(m["name"]), kind=str(m["kind"]), channels=int(m["channels"])) for m in meta["maps"]]
        state = payload["state"]
        ck = Checkpoint(options=options, maps=maps, exemplar_sha256=str(meta["exemplar_sha256"]),
                        exemplar_size=(int(meta["exemplar_size"][0]), int(meta["exemplar_size"][1])),
                        step=int(meta["step"]), state=state, train_seconds=float(meta.get("train_seconds", 0.0)),
                        losses={str(k): float(v) for k, v in dict(meta.get("losses", {})).items()})
    except UserError as exc:
        raise UserError(f"{label}: bad metadata: {exc}") from None
    except (KeyError, TypeError, ValueError, IndexError, json.JSONDecodeError) as exc:
        raise UserError(f"{label}: damaged metadata ({type(exc).__name__}: {exc})") from None
    if not maps or any(m.kind not in KINDS or not 1 <= m.channels <= 4 for m in maps):
        raise UserError(f"{label}: damaged metadata (map list)")
    if not isinstance(state, dict) or "generator" not in state:
        raise UserError(f"{label}: no generator weights inside")
    return ck

