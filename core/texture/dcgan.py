"""The seed baseline: DCGAN (Radford et al.) on random crops of the exemplar.

Generator: a noise vector -> transposed convolutions with batch norm and ReLU -> Tanh, one fixed-size patch.
Discriminator: strided convolutions with LeakyReLU and batch norm -> one logit (sigmoid inside the loss).
It cannot make tileable output; larger images are a grid of independent patches."""
from __future__ import annotations

import math

import torch
import torch.nn as nn

NZ = 100


class DCGANGenerator(nn.Module):
    def __init__(self, channels: int, patch: int = 64, width: int = 64) -> None:
        super().__init__()
        self.patch = patch
        n_up = int(math.log2(patch)) - 2  # 4×4 -> patch
        ch = width * 2 ** (n_up - 1)
        layers: list[nn.Module] = [nn.ConvTranspose2d(NZ, ch, 4, 1, 0, bias=False), nn.BatchNorm2d(ch), nn.ReLU(True)]
        for _ in range(n_up - 1):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(_init)

    def sample_latent(self, batch: int, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
        z = torch.randn(batch, NZ, 1, 1, generator=generator)
        return z.to(device or next(self.parameters()).device)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class DCGANDiscriminator(nn.Module):
    def __init__(self, channels: int, patch: int = 64, width: int = 64) -> None:
        super().__init__()
        n_down = int(math.log2(patch)) - 2  # patch -> 4×4
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        ch = width
        for _ in range(n_down - 1):
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch * 2), nn.LeakyReLU(0.2, True)]
            ch *= 2
        layers += [nn.Conv2d(ch, 1, 4, 1, 0, bias=False)]  # logit; the sigmoid lives in the loss
        self.net = nn.Sequential(*layers)
        self.apply(_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _init(m: nn.Module) -> None:
    # DCGAN paper: N(0, 0.02) weights, BN gamma N(1, 0.02)
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)
