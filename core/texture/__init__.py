"""GAN texture synthesis from one exemplar: tileable textures (and whole PBR sets) of any size.

    ck = train(exemplar_or_maps, TrainOptions(steps=500), progress=cb, cancel=token, map_names=[...])
    ck.save("bricks.pt"); ck = load_checkpoint("bricks.pt")
    img = generate(ck, 1920, 1080, seed=3, tileable=True)
"""
from .checkpoint import Checkpoint, load_checkpoint
from .generation import generate, generate_maps
from .maps import MapInfo
from .options import TrainOptions
from .training import train

__all__ = ["train", "generate", "generate_maps", "TrainOptions", "Checkpoint", "load_checkpoint", "MapInfo"]
