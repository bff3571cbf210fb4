"""The arithmetic the network runs in: float32, bfloat16 or float16 autocast, and loss scaling for float16.

Both losses are normalised by pixel count, so per-pixel gradients shrink as 1/N: at render sizes most
of them lie below float16's smallest normal (6.1e-5) and many below its smallest subnormal, where they
flush to zero. bfloat16 has float32's exponent range, so it is the default wherever the device supports
it. Where only float16 is fast, the loss is multiplied by `loss_scale` (about the pixel count, so
per-pixel gradients are O(1)) before backpropagation and the gradient divided by it afterwards; on an
overflow the scale is halved and the step recomputed, as torch.amp's GradScaler does.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, ContextManager, Optional

import torch

Autocast = Callable[[], ContextManager]
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@dataclass(frozen=True)
class Precision:
    """What the network computes in (dtype None: float32, no autocast) and whether to scale the loss."""

    device_type: str
    dtype: Optional[torch.dtype]

    @property
    def name(self) -> str:
        return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]

    @property
    def needs_loss_scale(self) -> bool:
        return self.dtype == torch.float16

    def autocast(self) -> ContextManager:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)


def bf16_supported(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu"  # CPU autocast runs bf16 (used by tests; slower than fp32 on most CPUs)


def choose_precision(device: torch.device, precision: str = "auto", half: Optional[bool] = None) -> Precision:
    """`precision` 'auto': bf16 on a CUDA GPU that supports it, else fp16 with loss scaling on CUDA,
    fp32 elsewhere. `half` (older option): False forces fp32, True asks for a half type."""
    if precision == "auto":
        if half is False or device.type != "cuda":
            return Precision(device.type, None)
        return Precision(device.type, torch.bfloat16 if bf16_supported(device) else torch.float16)
    dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    return Precision(device.type, dtype)


def autocast_for(device: torch.device, half: Optional[bool]) -> Autocast:
    """The autocast context factory of `choose_precision(device, 'auto', half)`."""
    return choose_precision(device, "auto", half).autocast
