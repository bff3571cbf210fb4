"""Wrap-around (circular) padding, so that a tileable input gives a tileable output."""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch.nn as nn


@contextlib.contextmanager
def circular_padding(module: nn.Module, enabled: bool = True) -> Iterator[nn.Module]:
    """Temporarily switch every padded Conv2d in `module` to circular padding.

    Works on a shared, cached network (e.g. VGG) without copying it: the previous
    padding modes are restored on exit."""
    changed: list[tuple[nn.Conv2d, str]] = []
    if enabled:
        for m in module.modules():
            if isinstance(m, nn.Conv2d) and any(p > 0 for p in m.padding if isinstance(p, int)):
                changed.append((m, m.padding_mode))
                m.padding_mode = "circular"
    try:
        yield module
    finally:
        for m, mode in changed:
            m.padding_mode = mode
