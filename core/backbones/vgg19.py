"""torchvision's ImageNet VGG-19 as a style-transfer feature extractor.

- `LAYER_INDEX` is the one table mapping layer names (conv4_2, relu4_2, pool4...) to indices
  in `torchvision.models.vgg19().features`.
- Weights are torchvision's `VGG19_Weights.IMAGENET1K_V1`, found in the torch hub cache
  (`torch.hub.get_dir()/checkpoints/vgg19-dcbb9e9d.pth`), downloaded there on request with a
  progress bar and hash check, or taken from a torchvision-format state dict (`--weights FILE`).
- Only the feature layers up to the deepest one a job uses are built and kept in memory, and the
  loaded network is cached in-process so a long-lived worker does not reload it per job.
"""
from __future__ import annotations

import enum
import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import torch
import torch.nn as nn

from ..errors import UserError

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

# ImageNet statistics, RGB order, for inputs in 0..1.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Gatys et al. name Caffe blobs; Caffe's ReLUs are in place, so their "conv4_2" is the rectified
# response, i.e. torchvision's relu4_2.
CONTENT_LAYERS = ("relu4_2",)
STYLE_LAYERS = {"relu1_1": 1.0, "relu2_1": 1.0, "relu3_1": 1.0, "relu4_1": 1.0, "relu5_1": 1.0}


@dataclass(frozen=True)
class WeightsInfo:
    url: str
    filename: str
    sha256_prefix: str
    size_mb: int


class VGG19_Weights(enum.Enum):
    """Weights this module can load (mirrors torchvision.models.VGG19_Weights)."""

    IMAGENET1K_V1 = WeightsInfo(
        url="https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
        filename="vgg19-dcbb9e9d.pth",
        sha256_prefix="dcbb9e9d",
        size_mb=548,
    )

    DEFAULT = IMAGENET1K_V1


def default_weights_path() -> Path:
    """Where torchvision itself caches the ImageNet VGG-19 file."""
    return Path(torch.hub.get_dir()) / "checkpoints" / VGG19_Weights.IMAGENET1K_V1.value.filename


def find_weights(weights_file: str | os.PathLike | None = None) -> Path | None:
    """The weights file that would be used, or None. Never downloads (for "Check setup")."""
    if weights_file:
        p = Path(weights_file).expanduser()
        return p if p.is_file() else None
    p = default_weights_path()
    return p if p.is_file() else None


def missing_weights_message() -> str:
    info = VGG19_Weights.IMAGENET1K_V1.value
    return (f"VGG19 weights not found at {default_weights_path()}; run 'python -m core weights --download' "
            f"(needs internet, {info.size_mb} MB from {info.url}), or pass --weights FILE with a torchvision "
            f"VGG19 state dict, or use --backbone offline")


def download_weights(progress: bool = True) -> Path:
    """Download the ImageNet weights into the torch hub cache, checking the sha256 prefix."""
    info = VGG19_Weights.IMAGENET1K_V1.value
    dst = default_weights_path()
    if dst.is_file():
        return dst
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        # Writes to a temp file and moves it into place only when the hash matches.
        torch.hub.download_url_to_file(info.url, str(dst), hash_prefix=info.sha256_prefix, progress=progress)
    except RuntimeError as exc:  # hash mismatch
        raise UserError(f"downloaded VGG19 weights failed the hash check ({exc}); try again") from None
    except OSError as exc:
        raise UserError(f"could not download VGG19 weights from {info.url} ({exc}); check the internet connection, "
                        f"or fetch that file by other means and save it as {dst}, or pass --weights FILE, "
                        f"or use --backbone offline") from None
    return dst


_HASH_OK: dict[tuple[str, int, int], bool] = {}


def _check_hash(path: Path) -> None:
    """The standard cache file must match torchvision's published hash prefix (checked once per process)."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _HASH_OK:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 22), b""):
                h.update(chunk)
        _HASH_OK[key] = h.hexdigest().startswith(VGG19_Weights.IMAGENET1K_V1.value.sha256_prefix)
    if not _HASH_OK[key]:
        raise UserError(f"VGG19 weights '{path}' fail the hash check (corrupt download?); delete the file and run "
                        f"'python -m core weights --download'")


def _load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        try:
            sd = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:  # legacy (non-zip) files cannot be memory-mapped
            sd = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling refused, truncated, not a torch file...
        raise UserError(f"weights '{path}': not a loadable torchvision state dict ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    if not isinstance(sd, dict):
        raise UserError(f"weights '{path}': expected a state dict (a dict of tensors), got {type(sd).__name__}")
    return sd


class VGG19Features(nn.Module):
    """VGG-19 feature stack truncated after the deepest requested layer.

    forward(x: B×3×H×W in 0..1 RGB) -> {layer name: feature map}. ImageNet normalisation is applied inside.
    """

    align = 16  # conv5_x sees the image through four 2×2 pools
    halo = 96   # context a tile needs for its features to match the whole-image ones closely

    def __init__(self, taps: Iterable[str], state_dict: dict[str, torch.Tensor] | None = None) -> None:
        super().__init__()
        taps = tuple(dict.fromkeys(taps))
        unknown = [t for t in taps if t not in LAYER_INDEX]
        if unknown:
            raise ValueError(f"unknown VGG19 layers {unknown}; known: {', '.join(LAYER_INDEX)}")
        self.taps = taps
        self.content_layers = tuple(t for t in CONTENT_LAYERS if t in taps)
        self.style_layers = {t: w for t, w in STYLE_LAYERS.items() if t in taps}
        last = max(LAYER_INDEX[t] for t in taps)
        layers: list[nn.Module] = []
        in_ch = 3
        for item in _PLAN:
            if len(layers) > last:
                break
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
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
        if sd and all(k.startswith("module.") for k in sd):  # saved from DataParallel
            sd = {k[len("module."):]: v for k, v in sd.items()}
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

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        out: dict[str, torch.Tensor] = {}
        for i, layer in enumerate(self.features):
            h = layer(h)
            if i in self._by_index:
                out[self._by_index[i]] = h
        return out


_CACHE: dict[tuple, VGG19Features] = {}
_CACHE_LOCK = threading.Lock()


def load_vgg19(taps: Iterable[str] | None = None, weights_file: str | os.PathLike | None = None,
               device: torch.device | str = "cpu", allow_download: bool = False) -> VGG19Features:
    """A VGG19Features with the given taps (default: Gatys content+style layers), weights loaded.

    The standard cache file is hash-checked; `weights_file` must be a torchvision-format state dict.
    Cached in-process by (file, taps, device): repeated jobs reuse the loaded network."""
    taps = tuple(taps) if taps else CONTENT_LAYERS + tuple(STYLE_LAYERS)
    if weights_file:
        path = Path(weights_file).expanduser()
        if not path.is_file():
            raise UserError(f"--weights '{path}': file not found")
    else:
        path = find_weights()
        if path is None:
            if not allow_download:
                raise UserError(missing_weights_message())
            path = download_weights(progress=True)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, taps, str(device))
    with _CACHE_LOCK:
        net = _CACHE.get(key)
        if net is None:
            if not weights_file:
                _check_hash(path)
            sd = _load_state_dict(path)
            net = VGG19Features(taps, sd).to(device)
            del sd
            # One network per device/file is plenty for a worker; drop stale ones.
            for k in [k for k in _CACHE if k[0] != key[0] or k[4] != key[4]]:
                del _CACHE[k]
            _CACHE[key] = net
    return net


def clear_cache() -> None:
    with _CACHE_LOCK:
        _CACHE.clear()
