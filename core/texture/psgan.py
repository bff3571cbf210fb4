"""Periodic spatial GAN (SGAN/PSGAN family): one fully convolutional model for any output size.

The latent grid has three kinds of channels: local (i.i.d. per cell: variation), global (one vector per
image, broadcast: the overall look) and periodic (plane waves whose wave vectors a small MLP derives from
the global vector: regular structure such as bricks or weave). For a tileable output the wave numbers are
rounded to whole cycles over the latent torus, and every layer wraps around, so the result tiles by
construction."""
from __future__ import annotations

import math

import torch
import torch.nn as nn
from torch.nn.utils import spectral_norm as _sn

from .torus import TorusGenerator, size_chain

UPSAMPLES = 4  # one latent cell = 16 output pixels


class PSGANGenerator(TorusGenerator):
    def __init__(self, channels: int, local_dim: int = 16, global_dim: int = 16, periodic_dim: int = 4,
                 width: int = 64) -> None:
        super().__init__()
        self.local_dim, self.global_dim, self.periodic_dim = local_dim, global_dim, periodic_dim
        in_dim = local_dim + global_dim + periodic_dim
        widths = [width * 4, width * 4, width * 2, width, max(8, width // 2)]
        self.convs = nn.ModuleList()
        self.posts = nn.ModuleList()
        self.ops = []

        def conv(cin: int, cout: int, post: nn.Module) -> None:
            c = nn.Conv2d(cin, cout, 3, padding=0)
            self.convs.append(c)
            self.posts.append(post)
            self.ops.append(("conv", c, post))

        conv(in_dim, widths[0], nn.Sequential(nn.BatchNorm2d(widths[0]), nn.ReLU()))
        for i in range(UPSAMPLES):
            self.ops.append(("up",))
            conv(widths[i], widths[i + 1], nn.Sequential(nn.BatchNorm2d(widths[i + 1]), nn.ReLU()))
        conv(widths[-1], channels, nn.Tanh())
        if periodic_dim:
            hidden = 64
            self.wave_mlp = nn.Sequential(nn.Linear(max(1, global_dim), hidden), nn.ReLU(),
                                          nn.Linear(hidden, 2 * periodic_dim))

    # ---- latents -------------------------------------------------------------------------------------
    def sample_latent(self, batch: int, h0: int, w0: int, generator: torch.Generator | None = None,
                      device=None, quantise: bool = False) -> torch.Tensor:
        """Latent grid B×D×h0×w0. Randomness is drawn on the CPU from `generator` (reproducible anywhere)."""
        local = torch.randn(batch, self.local_dim, h0, w0, generator=generator)
        glob = torch.randn(batch, self.global_dim, generator=generator)
        phase = torch.rand(batch, self.periodic_dim, generator=generator) * (2 * math.pi)
        device = device or next(self.parameters()).device
        local, glob, phase = local.to(device), glob.to(device), phase.to(device)
        parts = [local, glob[:, :, None, None].expand(-1, -1, h0, w0)]
        if self.periodic_dim:
            parts.append(self.periodic(glob, phase, h0, w0, quantise))
        return torch.cat(parts, 1)

    def wave_vectors(self, glob: torch.Tensor) -> torch.Tensor:
        """B×P×2 wave numbers (cycles per latent cell, |k| < 0.5) for (y, x)."""
        inp = glob if self.global_dim else torch.zeros(glob.shape[0], 1, device=glob.device)
        k = 0.5 * torch.tanh(self.wave_mlp(inp))
        return k.view(-1, self.periodic_dim, 2)

    def periodic(self, glob: torch.Tensor, phase: torch.Tensor, h0: int, w0: int, quantise: bool) -> torch.Tensor:
        k = self.wave_vectors(glob)
        ky, kx = k[..., 0], k[..., 1]
        if quantise:  # whole cycles over the torus: the waves wrap seamlessly
            ky = torch.round(ky * h0) / h0
            kx = torch.round(kx * w0) / w0
        y = torch.arange(h0, device=glob.device, dtype=glob.dtype).view(1, 1, h0, 1)
        x = torch.arange(w0, device=glob.device, dtype=glob.dtype).view(1, 1, 1, w0)
        arg = 2 * math.pi * (ky[..., None, None] * y + kx[..., None, None] * x) + phase[..., None, None]
        return torch.sin(arg)

    @staticmethod
    def latent_size(out_h: int, out_w: int) -> tuple[int, int]:
        return size_chain(out_h, UPSAMPLES)[0], size_chain(out_w, UPSAMPLES)[0]

    def forward(self, z: torch.Tensor, out_h: int | None = None, out_w: int | None = None) -> torch.Tensor:
        out_h = out_h or z.shape[2] * 2 ** UPSAMPLES
        out_w = out_w or z.shape[3] * 2 ** UPSAMPLES
        return self.run(z, out_h, out_w)


class PSGANDiscriminator(nn.Module):
    """Fully convolutional patch discriminator: a map of logits, one per receptive field."""

    def __init__(self, channels: int, width: int = 64, spectral_norm: bool = True) -> None:
        super().__init__()
        wrap = _sn if spectral_norm else (lambda m: m)
        w = width
        self.net = nn.Sequential(
            wrap(nn.Conv2d(channels, w, 4, 2, 1)), nn.LeakyReLU(0.2),
            wrap(nn.Conv2d(w, w * 2, 4, 2, 1)), nn.LeakyReLU(0.2),
            wrap(nn.Conv2d(w * 2, w * 4, 4, 2, 1)), nn.LeakyReLU(0.2),
            wrap(nn.Conv2d(w * 4, w * 4, 3, 1, 1)), nn.LeakyReLU(0.2),
            wrap(nn.Conv2d(w * 4, 1, 3, 1, 1)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
