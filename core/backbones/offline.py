"""A feature extractor that needs no download: fixed-seed random filters on an image pyramid.

In the spirit of Ustyuzhaninov et al., "What does it take to generate natural textures?"
(ICLR 2017): the Gram statistics of many random, rectified filter responses at several spatial
scales already capture a texture well. Instead of one layer of very large filters we use the same
small filters on an anti-aliased image pyramid (octaves 1, 1/2, 1/4, 1/8), which covers 5..~60 px for a
fraction of the cost. Per octave `l` the network emits:

- ``c{l}``: rectified random 1×1 colour projections - the palette (style only);
- ``e{l}``: rectified random 5×5 filters whose kernels are zero-mean per input channel, so they
  answer to edges and texture, not to flat colour;
- ``s{l}``: a second random 3×3 layer on top of ``e{l}`` - co-occurrences of edges.

Content uses ``e2`` (quarter resolution edges): the subject's outlines stay in place while the
palette and fine texture are free to follow the style.

Same seed -> bit-identical filters on every machine (generated on the CPU with torch.Generator).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def _pad_index(n: int, pad: int, mode: str, device: torch.device) -> torch.Tensor:
    """Source indices of a padded axis for any pad width (torch's own padding refuses pads wider than
    the image, which wide dilated filters on a small coarse scale need)."""
    i = torch.arange(-pad, n + pad, device=device)
    if mode == "circular":
        return i % n
    if mode == "reflect" and n > 1:
        period = 2 * (n - 1)
        i = i % period
        return torch.where(i < n, i, period - i)
    return i.clamp(0, n - 1)  # replicate (and reflect of a 1-px axis)


def _conv_any_pad(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """`conv(x)` honouring conv.padding_mode (set per job by wrap/padding switches) at any pad width."""
    py, px = conv.padding
    if conv.padding_mode == "zeros":
        x = F.pad(x, (px, px, py, py))
    else:
        x = x.index_select(2, _pad_index(x.shape[2], py, conv.padding_mode, x.device))
        x = x.index_select(3, _pad_index(x.shape[3], px, conv.padding_mode, x.device))
    return F.conv2d(x, conv.weight, conv.bias, conv.stride, 0, conv.dilation, conv.groups)


class OfflineBackbone(nn.Module):
    """forward(x: B×3×H×W in 0..1) -> {"c0".."c3", "e0".."e3", "s0".."s3": feature maps}.

    H and W should be multiples of `align` (8) for the pyramid to be exact and wrap-safe.

    dilated=True (the style engine's variant): no decimation. Level l blurs the image à trous (binomial
    taps 2^(l-1) apart) and dilates its filters by 2^l, so every map stays at full resolution. A strided
    pyramid ties coarse features to a fixed 2^l-pixel grid; the optimiser then finds grid-aligned
    patterns cheapest and paints blocky concentric rectangles with the pyramid's period. Stride-free,
    the network is translation-equivariant and that grid has nowhere to come from. Costs ~2× the
    strided net per level, so it pays for larger receptive fields (levels=6: filters up to ~190 px)."""

    def __init__(self, seed: int = 0, levels: int = 4, colour_channels: int = 16,
                 edge_channels: int = 64, second_channels: int = 96, dilated: bool = False) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(int(seed))
        self.levels = levels
        self.dilated = dilated
        self.align = 1 if dilated else 2 ** (levels - 1)
        # Receptive-field radius of the deepest level: blur chain + 5×5 edge + 3×3 second, dilated.
        self.halo = (2 * (2 ** (levels - 1) - 1) + 3 * 2 ** (levels - 1)) if dilated else 4 * self.align
        self.colour = nn.ModuleList()
        self.edge = nn.ModuleList()
        self.second = nn.ModuleList()
        for lvl in range(levels):
            d = 2 ** lvl if dilated else 1
            colour = nn.Conv2d(3, colour_channels, 1)
            w = torch.randn(colour_channels, 3, 1, 1, generator=g)
            colour.weight.data = w / w.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
            colour.bias.data = 0.5 * torch.randn(colour_channels, generator=g)
            edge = nn.Conv2d(3, edge_channels, 5, padding=2 * d, dilation=d)
            w = torch.randn(edge_channels, 3, 5, 5, generator=g)
            w = w - w.mean(dim=(2, 3), keepdim=True)  # blind to flat colour
            edge.weight.data = w / w.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
            edge.bias.data = 0.1 * torch.randn(edge_channels, generator=g)
            second = nn.Conv2d(edge_channels, second_channels, 3, padding=d, dilation=d)
            w = torch.randn(second_channels, edge_channels, 3, 3, generator=g)
            second.weight.data = w / w.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
            second.bias.data = -0.2 * torch.rand(second_channels, generator=g)
            self.colour.append(colour)
            self.edge.append(edge)
            self.second.append(second)
        # Anti-aliased 2× downsampling ([1 3 3 1] binomial): plain 2×2 averaging leaves an 8 px block
        # grid in the gradients. A padded Conv2d, so circular_padding makes it wrap-around too.
        self.down = nn.Conv2d(3, 3, 4, stride=2, padding=1, groups=3, bias=False)
        k = torch.tensor([1.0, 3.0, 3.0, 1.0])
        self.down.weight.data = (k[:, None] * k[None, :] / 64.0).expand(3, 1, 4, 4).clone()
        # À trous blurs for the dilated variant: [1 4 6 4 1]/16 with taps 2^(l-1) apart before level l.
        self.blur = nn.ModuleList()
        if dilated:
            b = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0])
            for lvl in range(1, levels):
                d = 2 ** (lvl - 1)
                conv = nn.Conv2d(3, 3, 5, padding=2 * d, dilation=d, groups=3, bias=False)
                conv.weight.data = (b[:, None] * b[None, :] / 256.0).expand(3, 1, 5, 5).clone()
                self.blur.append(conv)
        self.content_layers = ("e2",)
        self.outline_layers = ("e1",)  # finer than the content layer, for the outline guidance
        self.style_layers = {}
        for lvl in range(levels):
            self.style_layers.update({f"c{lvl}": 0.5, f"e{lvl}": 1.0, f"s{lvl}": 1.0})
        self.eval()
        self.requires_grad_(False)

    def border_convs(self) -> list[nn.Conv2d]:
        """None: padding stays zeros, which here means a mid-grey border (the input is centred on grey).
        Replicate padding, on either variant, stopped masked styles from recolouring their regions
        (measured: red-minus-blue 0.19 with zeros, -0.01 with replicate; cause not pinned down)."""
        return []

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        img = (x - 0.5) * 4.0
        out: dict[str, torch.Tensor] = {}
        conv = _conv_any_pad if self.dilated else (lambda m, t: m(t))
        for lvl in range(self.levels):
            if lvl:
                img = conv(self.blur[lvl - 1], img) if self.dilated else self.down(img)
            out[f"c{lvl}"] = F.relu(self.colour[lvl](img))
            e = F.relu(conv(self.edge[lvl], img))
            out[f"e{lvl}"] = e
            out[f"s{lvl}"] = F.relu(conv(self.second[lvl], e))
        return out


_CACHE: dict[tuple, OfflineBackbone] = {}


# The style engine's offline network: stride-free, two more octaves (receptive field ~190 px instead
# of ~60), fewer channels per level to pay for full-resolution maps.
STYLE_VARIANT = dict(dilated=True, levels=6, edge_channels=48, second_channels=64)


def load_offline(seed: int = 0, device: torch.device | str = "cpu", variant: str = "pyramid") -> OfflineBackbone:
    """A cached OfflineBackbone on `device` (cheap to build, but a worker reuses it anyway).

    variant: "pyramid" (the strided network texture metrics use) or "style" (STYLE_VARIANT)."""
    key = (int(seed), str(device), variant)
    net = _CACHE.get(key)
    if net is None:
        kw = STYLE_VARIANT if variant == "style" else {}
        net = _CACHE[key] = OfflineBackbone(seed=seed, **kw).to(device)
    return net
