"""The arithmetic the network runs in: a context factory for autocast (or none), chosen per device."""
from __future__ import annotations

import contextlib
from typing import Callable, ContextManager, Optional

import torch

Autocast = Callable[[], ContextManager]


def autocast_for(device: torch.device, half: Optional[bool]) -> Autocast:
    """float16 autocast on CUDA unless `half` is False; float32 elsewhere."""
    if device.type == "cuda" and (half is None or half):
        return lambda: torch.autocast("cuda", dtype=torch.float16)
    return contextlib.nullcontext
