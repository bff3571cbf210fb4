"""Texture synthesis from one exemplar (patch synthesis by default, or a GAN): tileable textures (and whole PBR sets) of any size.

    ck = train(exemplar_or_maps, TrainOptions(steps=500), progress=cb, cancel=token, map_names=[...])
    ck.save("bricks.pt"); ck = load_checkpoint("bricks.pt")
    img = generate(ck, 1920, 1080, seed=3, tileable=True)
"""
from .checkpoint import Checkpoint, load_checkpoint
from .generation import generate, generate_maps, generation_memory
from .maps import MapInfo
from .options import TrainOptions
from .training import train

__all__ = ["train", "generate", "generate_maps", "generation_memory", "TrainOptions", "Checkpoint", "load_checkpoint", "MapInfo"]
