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

    def to(self, device: torch.device) -> "QuantizedGraph":
        if device != self.device:
            self.consts = {k: v.to(device) for k, v in self.consts.items()}
            self.device = device
        return self

    # -- running ---------------------------------------------------------------------------------
    @torch.no_grad()
    def __call__(self, **inputs: torch.Tensor) -> list[torch.Tensor]:
        env: dict[str, torch.Tensor] = dict(self.consts)
        for name in self.input_names:
            if name not in inputs:
                raise GraphError(f"missing input {name}")
            env[name] = inputs[name].to(self.device, torch.float32)
        pool_index = 0
        for i, nd in enumerate(self.nodes):
            args = [env[n] if n else None for n in nd.inputs]
            if nd.op in ("GlobalAveragePool", "Variance"):
                dims = tuple(range(2, args[0].dim()))
                if self.replay is not None:
                    out = self.replay[pool_index]
                elif nd.op == "Variance":
                    out = args[0].var(dim=dims, unbiased=False, keepdim=True)
                else:
                    out = args[0].mean(dim=dims, keepdim=True)
                if self.record is not None:
                    self.record.append(out)
                pool_index += 1
            else:
                out = self._op(nd, args)
            env[nd.outputs[0]] = out
            for n in self.free_after[i]:
                env.pop(n, None)
        return [env[n] for n in self.output_names]

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
        if op == "Add":
            return a[0] + a[1]
        if op == "Sub":
            return a[0] - a[1]
        if op == "Mul":
            return a[0] * a[1]
        if op == "Sqrt":
            return torch.sqrt(a[0])
        if op == "Reciprocal":
            return torch.reciprocal(a[0])
        if op == "Relu":
            return torch.relu(a[0])
        if op == "Sigmoid":
            return torch.sigmoid(a[0])
        if op == "Clip":
            lo = float(a[1]) if len(a) > 1 and a[1] is not None else None
            hi = float(a[2]) if len(a) > 2 and a[2] is not None else None
            return a[0].clamp(lo, hi)
        if op == "Transpose":
            return a[0].permute(*nd.attrs["perm"]).contiguous()  # strided views take slow conv paths
        if op == "Reshape":
            shape = [int(v) for v in a[1].tolist()]
            shape = [a[0].shape[i] if v == 0 else v for i, v in enumerate(shape)]
            return a[0].reshape(shape)
        if op == "Pad":
            return self._pad(nd, a)
        if op == "Resize":
            return self._resize(nd, a)
        raise GraphError(f"unsupported op {op}")

    @staticmethod
    def _conv(nd: _Node, a: list[Optional[torch.Tensor]]) -> torch.Tensor:
        x, w = a[0], a[1]
        bias = a[2] if len(a) > 2 else None
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
        # Integer nearest upsampling with floor alignment is a plain repeat.
        return a[0] if k == 1 else a[0].repeat_interleave(k, dim=2).repeat_interleave(k, dim=3)
