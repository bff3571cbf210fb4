"""Fully convolutional networks on a torus, evaluated at any exact size and in row strips.

A generator here is a list of ops over a periodic latent grid: 3×3 convolutions (wrap-around in both
directions) and bilinear resizes to an exact target size (also wrap-around). Because every op is local and
periodic, the output is a seamless tile of exactly the requested size, with no cropping, and a huge output
can be computed strip by strip (each strip gathers only the latent rows it depends on) with results equal to
a single pass.

Row ranges are kept in *unwrapped* integer coordinates: row t means row t mod h. A resize from h_in to
h_out maps output row t to input position (t + 0.5) * h_in / h_out - 0.5, which commutes with adding a
whole period, so the index arithmetic never needs special cases at the wrap."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


def size_chain(out_size: int, ups: int) -> list[int]:
    """Sizes from the latent grid up to the output: each level is ceil(next / 2)."""
    sizes = [out_size]
    for _ in range(ups):
        sizes.append(max(1, math.ceil(sizes[-1] / 2)))
    return sizes[::-1]


def _resize_taps(t0: int, n: int, h_in: int, h_out: int, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For output rows t0..t0+n-1: (lower input row, upper input row, weight of upper), unwrapped."""
    t = torch.arange(t0, t0 + n, dtype=torch.float64)
    s = (t + 0.5) * (h_in / h_out) - 0.5
    i0 = torch.floor(s)
    w = (s - i0).to(torch.float32)
    i0 = i0.to(torch.int64)
    return i0.to(device), (i0 + 1).to(device), w.to(device)


def resize_width(x: torch.Tensor, w_out: int) -> torch.Tensor:
    """Bilinear wrap-around resize of the last axis (always the full period)."""
    w_in = x.shape[-1]
    if w_in == w_out:
        return x
    i0, i1, w = _resize_taps(0, w_out, w_in, w_out, x.device)
    w = w.to(x.dtype)
    d = x.dim() - 1
    return x.index_select(d, i0 % w_in) * (1 - w) + x.index_select(d, i1 % w_in) * w


@dataclass
class _Span:
    start: int  # unwrapped first row
    length: int


class TorusGenerator(nn.Module):
    """Base for generators made of `self.ops`: ('conv', nn.Conv2d(padding=0), post_module) or ('up',)."""

    ops: list

    def run(self, z: torch.Tensor, out_h: int, out_w: int, row_start: int = 0, rows: int | None = None) -> torch.Tensor:
        """Evaluate on the torus of output size out_h×out_w, returning rows [row_start, row_start+rows).

        `z` is the full latent grid (h0×w0 = the first entry of the size chains)."""
        rows = out_h if rows is None else rows
        n_up = sum(1 for op in self.ops if op[0] == "up")
        hs, ws = size_chain(out_h, n_up), size_chain(out_w, n_up)
        if z.shape[-2:] != (hs[0], ws[0]):
            raise ValueError(f"latent grid {tuple(z.shape[-2:])} does not match output {out_h}x{out_w}")
        # Walk backwards to find which rows every op needs.
        spans: list[_Span] = []
        need = _Span(row_start, rows)
        level = n_up
        for op in reversed(self.ops):
            spans.append(need)
            if op[0] == "conv":
                k = op[1].kernel_size[0] // 2
                need = _Span(need.start - k, need.length + 2 * k)
            else:
                h_in, h_out = hs[level - 1], hs[level]
                i0, i1, _ = _resize_taps(need.start, need.length, h_in, h_out, "cpu")
                first, last = int(i0[0]), int(i1[-1])
                need = _Span(first, last - first + 1)
                level -= 1
        spans.reverse()
        idx = torch.arange(need.start, need.start + need.length, device=z.device) % hs[0]
        x = z.index_select(2, idx)
        cur_start = need.start
        level = 0
        for op, out_span in zip(self.ops, spans):
            if op[0] == "conv":
                conv, post = op[1], op[2]
                k = conv.kernel_size[1] // 2
                if k:
                    x = F.pad(x, (k, k, 0, 0), mode="circular")
                x = post(conv(x))
            else:
                h_in, h_out = hs[level], hs[level + 1]
                w_in, w_out = ws[level], ws[level + 1]
                if h_out == 2 * h_in and w_out == 2 * w_in:
                    # Fast path (all of training): library bilinear ×2 on a width-wrapped copy; output row t
                    # sits at local row t - 2*cur_start, and the span planning kept its taps inside x.
                    x = F.interpolate(F.pad(x, (1, 1, 0, 0), mode="circular"), scale_factor=2.0,
                                      mode="bilinear", align_corners=False)
                    j = out_span.start - 2 * cur_start
                    x = x[:, :, j:j + out_span.length, 2:2 + w_out]
                else:
                    i0, i1, w = _resize_taps(out_span.start, out_span.length, h_in, h_out, x.device)
                    w = w.view(1, 1, -1, 1).to(x.dtype)
                    x = x.index_select(2, i0 - cur_start) * (1 - w) + x.index_select(2, i1 - cur_start) * w
                    x = resize_width(x, w_out)
                level += 1
            cur_start = out_span.start
        return x
