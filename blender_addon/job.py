"""What one add-on job is: the Job record, where its results go, and its two failure outcomes.

A Job is one worker request plus what to do with its result. Scene objects are referenced by
name (``node_ref`` / ``resolve_node``) so a job survives undo and file reloads while it runs.
Life of a job:  requests.prepare_*()  ->  runner.submit()  ->  events  ->  results.apply_result()
->  runner.discard(). A failed or cancelled job creates nothing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import bpy


class JobError(RuntimeError):
    """The job failed; the message is the worker's (or ours), ready for the report area."""


class JobCancelled(RuntimeError):
    pass


@dataclass
class Preparing:
    """Yielded by a job generator while it prepares its next job over several timer ticks (e.g. one
    animation frame rendered per tick), so Blender's UI stays live in between; shows `message`."""
    message: str
    fraction: float = 0.0


@dataclass
class ResultSettings:
    """Where and how results are stored."""
    float_buffer: bool = False      # colour results as linearised float instead of 8-bit sRGB
    store: str = "PACK"             # 'PACK' into the .blend, or 'SAVE' next to it
    save_dir: Optional[str] = None  # for 'SAVE'; default: '<blend folder>/atelier'


@dataclass
class Job:
    """One worker request plus what to do with its result. Scene objects are referenced by name
    so a job survives undo and file reloads while it runs."""
    kind: str                                   # 'stylize' | 'texture_train' | 'texture_generate' | 'check_setup' | 'animate'
    params: dict[str, Any]
    folder: str                                 # per-job temp folder, deleted by runner.discard()
    source_name: str = ""
    style_name: str = ""
    node_ref: Optional[tuple[str, str, str]] = None   # ('MATERIAL'|'GROUP', owner name, node name)
    result: ResultSettings = field(default_factory=ResultSettings)
    # for training: where the checkpoint is kept, and the generate job to chain afterwards
    checkpoint_dest: Optional[str] = None
    then_generate: Optional[dict[str, Any]] = None
    frame_path: Optional[str] = None            # animation frame: write a PNG here instead of an image
    id: Optional[str] = None
    info: dict[str, Any] = field(default_factory=dict)   # result info of the finished job

    @property
    def label(self) -> str:
        what = {"stylize": "Stylize", "texture_train": "Train texture", "texture_generate": "Generate texture",
                "check_setup": "Check setup", "animate": "Stylize animation"}.get(self.kind, self.kind)
        return f"{what}: {self.source_name}" if self.source_name else what


def node_ref(node: bpy.types.Node) -> tuple[str, str, str]:
    """A name-based reference to a node in a material or node group."""
    tree = node.id_data
    for mat in bpy.data.materials:
        if mat.node_tree is not None and mat.node_tree == tree:
            return ("MATERIAL", mat.name, node.name)
    if tree.name in bpy.data.node_groups:
        return ("GROUP", tree.name, node.name)
    raise JobError(f"node '{node.name}' is not in a material or node group")


def resolve_node(ref: tuple[str, str, str]) -> bpy.types.Node:
    kind, owner, name = ref
    tree = None
    if kind == "MATERIAL" and owner in bpy.data.materials:
        tree = bpy.data.materials[owner].node_tree
    elif kind == "GROUP" and owner in bpy.data.node_groups:
        tree = bpy.data.node_groups[owner]
    node = tree.nodes.get(name) if tree is not None else None
    if node is None:
        raise JobError(f"the node '{name}' in '{owner}' no longer exists")
    return node


GAN_MODELS = ("psgan", "dcgan")  # texture models with a trained network (core refines their output with patches)


def texture_label(model: str, seed: int, raw: bool = False) -> str:
    """The name part of a generated texture: "GAN" only for the GAN models' results, else "Texture";
    a GAN's unrefined network output says "raw", so it is told apart from the refined one of the same seed."""
    if model not in GAN_MODELS:
        return f"Texture {seed}"
    return f"GAN {seed} raw" if raw else f"GAN {seed}"
