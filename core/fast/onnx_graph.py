"""Runs a QDQ-quantized ONNX graph in torch: weights dequantized once, activations in float.

The Magenta networks ship as int8 ONNX files (QuantizeLinear/DequantizeLinear around each op).
Rebuilding them as a torch module lets them run on CUDA/MPS/CPU through core.device, at any input
size (the files pin 384×384; the graph itself is fully convolutional), with float activations.
`fake_quant=True` re-quantizes activations as onnxruntime does, to check the port against it.

Instance-normalisation statistics (GlobalAveragePool) can be recorded and replayed, so a large
image can run in tiles that all share the whole image's statistics."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import torch
import torch.nn.functional as F

# Every op the two Magenta graphs use; anything else is refused when the file is loaded.
SUPPORTED_OPS = {"Add", "Sub", "Mul", "Sqrt", "Reciprocal", "Relu", "Sigmoid", "Clip", "Conv", "Pad",
                 "Resize", "Reshape", "Transpose", "GlobalAveragePool", "QuantizeLinear", "DequantizeLinear"}


class GraphError(Exception):
    """The file is not a graph this runner understands (corrupt, or a different network)."""


@dataclass
class _Node:
    op: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, Any]


def _dequantize(q: np.ndarray, scale: np.ndarray, zero: np.ndarray, axis: int) -> np.ndarray:
    if scale.ndim == 1 and q.ndim > 1:  # per-channel along `axis`
        shape = [1] * q.ndim
        shape[axis] = -1
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    return ((q.astype(np.float64) - zero.astype(np.float64)) * scale.astype(np.float64)).astype(np.float32)


class QuantizedGraph:
    """An ONNX graph as a sequence of torch ops. Call with named NumPy-layout tensors (as the file
    declares them, e.g. NHWC); returns the graph's outputs in order."""

    def __init__(self, path: str, fake_quant: bool = False) -> None:
        try:
            import onnx
            from onnx import numpy_helper
            model = onnx.load(path)
        except Exception as exc:  # protobuf raises several types on a damaged file
            raise GraphError(f"cannot parse ONNX ({type(exc).__name__})") from None
        graph = model.graph
        raw = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        self.fake_quant = fake_quant
        self.input_names = [i.name for i in graph.input if i.name not in raw]
        self.output_names = [o.name for o in graph.output]
        self.consts: dict[str, torch.Tensor] = {}
        self.quant: dict[str, tuple[float, int, int, int]] = {}  # activation QuantizeLinear: scale, zero, lo, hi
        self.nodes: list[_Node] = []
        alias: dict[str, str] = {}
        for nd in graph.node:
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in nd.attribute}
            if nd.op_type not in SUPPORTED_OPS:
                raise GraphError(f"unsupported op {nd.op_type}")
            if nd.op_type == "DequantizeLinear" and nd.input[0] in raw:  # a weight: fold it now
                q, s, z = (raw[n] for n in nd.input[:3])
                raw[nd.output[0]] = _dequantize(q, s, z, int(attrs.get("axis", 1)))
                continue
            inputs = [alias.get(n, n) for n in nd.input]
            if nd.op_type in ("QuantizeLinear", "DequantizeLinear"):
                s, z = raw[nd.input[1]], raw[nd.input[2]]
                if s.size != 1:
                    raise GraphError("per-channel activation quantization is not supported")
                if not fake_quant:  # float activations: the pair is the identity, skip it
                    alias[nd.output[0]] = inputs[0]
                    continue
                info = np.iinfo(z.dtype)
                self.quant[nd.output[0]] = (float(s), int(z), int(info.min), int(info.max))
            self.nodes.append(_Node(nd.op_type, inputs, list(nd.output), attrs))
        self.output_names = [alias.get(n, n) for n in self.output_names]
        if not fake_quant:
            self._fuse_variances()
            self._fuse_scale_shift()
        used = {n for nd in self.nodes for n in nd.inputs}
        # After which node each activation is last read, so it can be freed (large images).
        last_use: dict[str, int] = {}
        for i, nd in enumerate(self.nodes):
            for n in nd.inputs:
                last_use[n] = i
        self.free_after: list[list[str]] = [[] for _ in self.nodes]
        for n, i in last_use.items():
            if n not in raw and n not in self.output_names:
                self.free_after[i].append(n)
        for name, arr in raw.items():
            if name in used:
                self.consts[name] = torch.from_numpy(np.ascontiguousarray(arr).astype(
                    np.float32 if arr.dtype.kind == "f" or arr.dtype in (np.int8, np.uint8) else arr.dtype))
        self.device = torch.device("cpu")
        # Activations' dtype and layout (see `to`); statistics and small per-channel tensors stay float32.
        self.dtype = torch.float32
        self.channels_last = False
        self._cast: dict[tuple[str, torch.dtype], torch.Tensor] = {}
        # Replay / record of GlobalAveragePool results (instance-norm statistics), in graph order.
        self.record: Optional[list[torch.Tensor]] = None
        self.replay: Optional[list[torch.Tensor]] = None

    def _fuse_variances(self) -> None:
        """Instance norm is exported as mean=GAP(x); d=x-mean; var=GAP(d*d): three full-size passes.
        Replace the Sub/Mul/GAP chain by one 'Variance' node over x (same value, same pool order)."""
        producer = {o: nd for nd in self.nodes for o in nd.outputs}
        readers: dict[str, int] = {}
        for nd in self.nodes:
            for n in set(nd.inputs):
                readers[n] = readers.get(n, 0) + 1
        dropped: set[int] = set()
        for nd in self.nodes:
            if nd.op != "GlobalAveragePool":
                continue
            square = producer.get(nd.inputs[0])
            if square is None or square.op != "Mul" or square.inputs[0] != square.inputs[1]:
                continue
            diff = producer.get(square.inputs[0])
            if diff is None or diff.op != "Sub" or readers.get(diff.outputs[0]) != 1 \
                    or readers.get(square.outputs[0]) != 1:
                continue
            x, mean = diff.inputs
            source = producer.get(mean)
            if source is not None and source.op == "Reshape":
                source = producer.get(source.inputs[0])
            if source is None or source.op != "GlobalAveragePool" or source.inputs[0] != x:
                continue
            nd.op, nd.inputs = "Variance", [x]
            dropped |= {id(diff), id(square)}
        self.nodes = [nd for nd in self.nodes if id(nd) not in dropped]

    def _fuse_scale_shift(self) -> None:
        """The normalisation's x*scale + shift (+ ReLU) as one 'ScaleShift' node: one pass over the
        image instead of three (torch.addcmul, then an in-place ReLU on its fresh output)."""
        producer = {o: nd for nd in self.nodes for o in nd.outputs}
        readers: dict[str, list[_Node]] = {}
        for nd in self.nodes:
            for n in set(nd.inputs):
                readers.setdefault(n, []).append(nd)
        dropped: set[int] = set()
        for add in self.nodes:
            if add.op != "Add":
                continue
            for side in (0, 1):
                mul = producer.get(add.inputs[side])
                if mul is None or mul.op != "Mul" or len(readers.get(mul.outputs[0], [])) != 1 \
                        or mul.outputs[0] in self.output_names:
                    continue
                # The scale is per-channel (derived from the statistics), the image is the other input.
                image, scale = mul.inputs
                if not _derived_from_pool(scale, producer):
                    image, scale = scale, image
                if not _derived_from_pool(scale, producer) or _derived_from_pool(image, producer):
                    continue
                add.op, add.inputs, add.attrs = "ScaleShift", [image, scale, add.inputs[1 - side]], {"relu": False}
                dropped.add(id(mul))
                after = readers.get(add.outputs[0], [])
                if len(after) == 1 and after[0].op == "Relu" and add.outputs[0] not in self.output_names:
                    relu = after[0]
                    add.attrs["relu"] = True
                    add.outputs = relu.outputs
                    dropped.add(id(relu))
                break
        self.nodes = [nd for nd in self.nodes if id(nd) not in dropped]

    def to(self, device: torch.device, dtype: torch.dtype = torch.float32,
           channels_last: bool = False) -> "QuantizedGraph":
        """Move the weights to `device`; image activations run in `dtype` (bfloat16 where the CPU has
        native bf16 matrix units) and, with channels_last, in NHWC memory (oneDNN's fast layout)."""
        if device != self.device:
            self.consts = {k: v.to(device) for k, v in self.consts.items()}
            self.device = device
        self.dtype, self.channels_last = dtype, channels_last
        self._cast = {}
        return self

    def _weight(self, name: str, dtype: torch.dtype) -> torch.Tensor:
        """A convolution weight in the activations' dtype and layout, converted once."""
        key = (name, dtype)
        if key not in self._cast:
            w = self.consts[name].to(dtype)
            if self.channels_last and w.dim() == 4:
                w = w.contiguous(memory_format=torch.channels_last)
            self._cast[key] = w
        return self._cast[key]

    # -- running ---------------------------------------------------------------------------------
    @torch.inference_mode()
    def __call__(self, **inputs: torch.Tensor) -> list[torch.Tensor]:
        env: dict[str, torch.Tensor] = dict(self.consts)
        for name in self.input_names:
            if name not in inputs:
                raise GraphError(f"missing input {name}")
            x = inputs[name].to(self.device, torch.float32)
            # Images (4-d, larger than a style vector) run in the activation dtype.
            env[name] = x.to(self.dtype) if x.dim() == 4 and x.shape[1] * x.shape[2] > 1 else x
        pool_index = 0
        for i, nd in enumerate(self.nodes):
            args = [env[n] if n else None for n in nd.inputs]
            if nd.op in ("GlobalAveragePool", "Variance"):
                if self.replay is not None:
                    out = self.replay[pool_index]
                else:
                    out = _channel_moment(args[0], nd.op == "Variance")
                if self.record is not None:
                    self.record.append(out)
                pool_index += 1
            else:
                out = self._op(nd, args)
            env[nd.outputs[0]] = out
            for n in self.free_after[i]:
                env.pop(n, None)
        return [env[n].float() for n in self.output_names]

    def _op(self, nd: _Node, a: list[Optional[torch.Tensor]]) -> torch.Tensor:
        op = nd.op
        if op == "QuantizeLinear":
            s, z, lo, hi = self.quant[nd.outputs[0]]
            return (torch.round(a[0] / s) + z).clamp(lo, hi)  # round-half-even, as ONNX specifies
        if op == "DequantizeLinear":
            s, z, _, _ = self.quant[nd.outputs[0]]
            return (a[0] - z) * s
        if op == "Conv":
            return self._conv(nd, a)
        if op == "ScaleShift":
            x = a[0]
            y = torch.addcmul(a[2].to(x.dtype), x, a[1].to(x.dtype))
            return y.relu_() if nd.attrs["relu"] else y
        if op in ("Add", "Sub", "Mul"):
            x, y = _common_dtype(a[0], a[1])
            return x + y if op == "Add" else x - y if op == "Sub" else x * y
        if op == "Sqrt":
            return torch.sqrt(a[0])
        if op == "Reciprocal":
            return torch.reciprocal(a[0])
        if op == "Relu":
            return torch.relu(a[0])
        if op == "Sigmoid":  # the output layer: float32, so 16-bit outputs keep their levels
            return torch.sigmoid(a[0].float())
        if op == "Clip":
            lo = float(a[1]) if len(a) > 1 and a[1] is not None else None
            hi = float(a[2]) if len(a) > 2 and a[2] is not None else None
            return a[0].clamp(lo, hi)
        if op == "Transpose":
            # Strided views take slow conv paths; an NHWC image permuted to NCHW already is channels_last.
            perm = list(nd.attrs["perm"])
            y = a[0].permute(*perm)
            into_nchw = self.channels_last and perm == [0, 3, 1, 2]
            return y.contiguous(memory_format=torch.channels_last if into_nchw else torch.contiguous_format)
        if op == "Reshape":
            shape = [int(v) for v in a[1].tolist()]
            shape = [a[0].shape[i] if v == 0 else v for i, v in enumerate(shape)]
            return a[0].reshape(shape)
        if op == "Pad":
            return self._pad(nd, a)
        if op == "Resize":
            return self._resize(nd, a)
        raise GraphError(f"unsupported op {op}")

    def _conv(self, nd: _Node, a: list[Optional[torch.Tensor]]) -> torch.Tensor:
        x = a[0]
        w = self._weight(nd.inputs[1], x.dtype)
        bias = self._weight(nd.inputs[2], x.dtype) if len(a) > 2 and a[2] is not None else None
        pads = list(nd.attrs.get("pads", [0, 0, 0, 0]))  # top, left, bottom, right
        if pads[0] != pads[2] or pads[1] != pads[3]:
            x = F.pad(x, (pads[1], pads[3], pads[0], pads[2]))
            pads = [0, 0, 0, 0]
        return F.conv2d(x, w, bias, stride=tuple(nd.attrs.get("strides", [1, 1])),
                        padding=(pads[0], pads[1]), dilation=tuple(nd.attrs.get("dilations", [1, 1])),
                        groups=int(nd.attrs.get("group", 1)))

    @staticmethod
    def _pad(nd: _Node, a: list[Optional[torch.Tensor]]) -> torch.Tensor:
        x = a[0]
        mode = nd.attrs.get("mode", b"constant")
        mode = {"constant": "constant", "reflect": "reflect", "edge": "replicate"}[
            mode.decode() if isinstance(mode, bytes) else mode]
        pads = [int(v) for v in a[1].tolist()]
        r = x.dim()
        padded = [d for d in range(r) if pads[d] or pads[d + r]]
        if not padded:
            return x
        if mode == "reflect" and r == 4 and set(padded) <= {2, 3} and not x.is_contiguous() \
                and x.is_contiguous(memory_format=torch.channels_last) \
                and max(pads[2], pads[6]) < x.shape[2] and max(pads[3], pads[7]) < x.shape[3]:
            return _reflect_pad_channels_last(x, pads[2], pads[6], pads[3], pads[7])
        # torch pads the trailing dims: move the padded ones last, pad, move back.
        order = [d for d in range(r) if d not in padded] + padded
        y = x.permute(*order)
        spec: list[int] = []
        for d in reversed(padded):
            spec += [pads[d], pads[d + r]]
        y = F.pad(y, spec, mode=mode)
        return y.permute(*np.argsort(order).tolist())

    @staticmethod
    def _resize(nd: _Node, a: list[Optional[torch.Tensor]]) -> torch.Tensor:
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in nd.attrs.items()}
        if attrs.get("mode") != "nearest" or attrs.get("coordinate_transformation_mode") != "asymmetric" \
                or attrs.get("nearest_mode", "round_prefer_floor") != "floor":
            raise GraphError("only nearest/asymmetric/floor Resize is supported")
        scales = [float(v) for v in a[2].tolist()]
        if scales[:2] != [1.0, 1.0] or scales[2] != scales[3] or not float(scales[2]).is_integer():
            raise GraphError(f"unsupported Resize scales {scales}")
        k = int(scales[2])
        # Integer nearest upsampling with floor alignment is torch's 'nearest' (a plain repeat).
        return a[0] if k == 1 else F.interpolate(a[0], scale_factor=k, mode="nearest")


def _channel_moment(x: torch.Tensor, variance: bool) -> torch.Tensor:
    """Per-channel mean or (biased) variance over the spatial dims, as float32 N×C×1×1.

    The variance is E[x²] - E[x]² from float32 sums: vectorised reductions, ~40× faster than torch's
    var on the CPU (benchmarks/bench_fast.py --profile), within 1e-6 relative of float64 here and
    1e-4 where the mean is 7× the standard deviation. Channels-last tensors are summed as an
    (pixels × channels) matrix: torch's reductions over strided spatial dims are slow."""
    n, c = x.shape[:2]
    if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        flat, axis = x.permute(0, 2, 3, 1).reshape(n, -1, c), 1
    else:
        flat, axis = x.reshape(n, c, -1), 2
    count = flat.shape[axis]
    if flat.dtype == torch.float32 and axis == 2:
        mean = flat.sum(axis) / count
        square = torch.linalg.vector_norm(flat, dim=axis).square_() / count if variance else None
    else:
        wide = flat.float()  # a copy: bfloat16, or float32 channels-last (vector_norm is slow there)
        mean = wide.sum(axis) / count
        square = (wide.square_() if wide is not flat else wide.square()).sum(axis) / count if variance else None
    out = (square - mean * mean).clamp_min_(0.0) if variance else mean
    return out.reshape(n, c, *([1] * (x.dim() - 2)))


def _reflect_pad_channels_last(x: torch.Tensor, top: int, bottom: int, left: int, right: int) -> torch.Tensor:
    """Reflect padding of the last two dims of a channels-last tensor (torch's kernel is ~5× slower
    on that layout): centre, then left/right columns, then whole top/bottom rows."""
    n, c, h, w = x.shape
    out = torch.empty((n, c, h + top + bottom, w + left + right), dtype=x.dtype, device=x.device,
                      memory_format=torch.channels_last)
    out[:, :, top:top + h, left:left + w] = x
    if left:
        out[:, :, top:top + h, :left] = x[:, :, :, 1:left + 1].flip(3)
    if right:
        out[:, :, top:top + h, left + w:] = x[:, :, :, w - right - 1:w - 1].flip(3)
    if top:
        out[:, :, :top] = out[:, :, top + 1:2 * top + 1].flip(2)
    if bottom:
        out[:, :, top + h:] = out[:, :, top + h - bottom - 1:top + h - 1].flip(2)
    return out


def _derived_from_pool(name: str, producer: dict[str, _Node], depth: int = 6) -> bool:
    """Whether a tensor is per-channel: computed from statistics through arithmetic only (an image
    always comes through a Conv, Pad or Resize, which stop the search)."""
    nd = producer.get(name)
    if nd is None or depth == 0:
        return False
    if nd.op in ("GlobalAveragePool", "Variance"):
        return True
    if nd.op not in ("Add", "Sub", "Mul", "Sqrt", "Reciprocal", "Reshape"):
        return False
    return any(_derived_from_pool(n, producer, depth - 1) for n in nd.inputs if n)


def _common_dtype(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Elementwise operands in one dtype: the smaller (per-channel) tensor takes the larger one's,
    so a bfloat16 image is never promoted to float32 by a float32 scale."""
    if x.dtype == y.dtype:
        return x, y
    if x.numel() >= y.numel():
        return x, y.to(x.dtype)
    return x.to(y.dtype), y
