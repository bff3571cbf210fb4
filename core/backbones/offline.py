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


class OfflineBackbone(nn.Module):
    """forward(x: B×3×H×W in 0..1) -> {"c0".."c3", "e0".."e3", "s0".."s3": feature maps}.

    H and W should be multiples of `align` (8) for the pyramid to be exact and wrap-safe."""

    def __init__(self, seed: int = 0, levels: int = 4, colour_channels: int = 16,
                 edge_channels: int = 64, second_channels: int = 96) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(int(seed))
        self.levels = levels
        self.align = 2 ** (levels - 1)
        self.halo = 4 * self.align
        self.colour = nn.ModuleList()
        self.edge = nn.ModuleList()
        self.second = nn.ModuleList()
        for _ in range(levels):
            colour = nn.Conv2d(3, colour_channels, 1)
            w = torch.randn(colour_channels, 3, 1, 1, generator=g)
            colour.weight.data = w / w.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
            colour.bias.data = 0.5 * torch.randn(colour_channels, generator=g)
            edge = nn.Conv2d(3, edge_channels, 5, padding=2)
            w = torch.randn(edge_channels, 3, 5, 5, generator=g)
            w = w - w.mean(dim=(2, 3), keepdim=True)  # blind to flat colour
            edge.weight.data = w / w.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
            edge.bias.data = 0.1 * torch.randn(edge_channels, generator=g)
            second = nn.Conv2d(edge_channels, second_channels, 3, padding=1)
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
        self.content_layers = ("e2",)
        self.style_layers = {}
        for lvl in range(levels):
            self.style_layers.update({f"c{lvl}": 0.5, f"e{lvl}": 1.0, f"s{lvl}": 1.0})
        self.eval()
        self.requires_grad_(False)

    def input_convs(self) -> list[nn.Conv2d]:
        """None switch padding: the input is centred on mid-grey, so zero padding already means a grey
        border, and replicate padding (measured) weakened masked transfer at the borders."""
        return []

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        img = (x - 0.5) * 4.0
        out: dict[str, torch.Tensor] = {}
        for lvl in range(self.levels):
            if lvl:
                img = self.down(img)
            out[f"c{lvl}"] = F.relu(self.colour[lvl](img))
            e = F.relu(self.edge[lvl](img))
            out[f"e{lvl}"] = e
            out[f"s{lvl}"] = F.relu(self.second[lvl](e))
        return out


_CACHE: dict[tuple, OfflineBackbone] = {}


def load_offline(seed: int = 0, device: torch.device | str = "cpu") -> OfflineBackbone:
    """A cached OfflineBackbone on `device` (cheap to build, but a worker reuses it anyway)."""
    key = (int(seed), str(device))
    net = _CACHE.get(key)
    if net is None:
        net = _CACHE[key] = OfflineBackbone(seed=seed).to(device)
    return net
