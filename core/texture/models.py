"""Which network classes a TrainOptions.model name means (one module per model: psgan.py, dcgan.py)."""
from __future__ import annotations

import torch.nn as nn

from .dcgan import DCGANDiscriminator, DCGANGenerator
from .options import TrainOptions
from .psgan import PSGANDiscriminator, PSGANGenerator


def build_generator(options: TrainOptions, channels: int) -> nn.Module:
    if options.model == "psgan":
        return PSGANGenerator(channels, options.local_dim, options.global_dim, options.periodic_dim, options.width)
    if options.model == "dcgan":
        return DCGANGenerator(channels, options.patch)  # ngf=64 as in the paper
    raise ValueError(f"model {options.model!r} has no generator network")


def build_discriminator(options: TrainOptions, channels: int) -> nn.Module:
    if options.model == "psgan":
        return PSGANDiscriminator(channels, options.width, options.spectral_norm)
    if options.model == "dcgan":
        return DCGANDiscriminator(channels, options.patch)
    raise ValueError(f"model {options.model!r} has no discriminator network")
