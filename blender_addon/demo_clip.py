"""A short animated scene for the demo, tests and benchmarks: objects that move, turn and pass
behind one another in front of a textured wall, so the Vector pass has translation, rotation,
occlusion and disocclusion to describe."""
from __future__ import annotations

import math

import bpy

from . import pixels


def _use_nodes_of(idblock) -> None:
    from .headless_demo import _use_nodes
    _use_nodes(idblock)


def _material(name: str, rgb: tuple[float, float, float], index: int, texture=None) -> bpy.types.Material:
    m = bpy.data.materials.new(name)
    _use_nodes_of(m)
    nt = m.node_tree
    bsdf = next(n for n in nt.nodes if n.bl_idname == "ShaderNodeBsdfPrincipled")
    bsdf.inputs["Base Color"].default_value = (*rgb, 1.0)
    bsdf.inputs["Roughness"].default_value = 0.6
    if texture is not None:
        node = nt.nodes.new("ShaderNodeTexImage")
        node.image = texture
        nt.links.new(node.outputs["Color"], bsdf.inputs["Base Color"])
    m.pass_index = index
    return m


def _keyframes(ob: bpy.types.Object, path: str, values: list[tuple[int, tuple]]) -> None:
    for frame, value in values:
        setattr(ob, path, value)
        ob.keyframe_insert(path, frame=frame)


def build_clip_scene(resolution: tuple[int, int] = (96, 72), frames: int = 8, samples: int = 4,
                     world: tuple[float, float, float] = (0.5, 0.6, 0.8),
                     motion_frames: int = 0) -> bpy.types.Scene:
    """A fresh scene with frames 1..`frames`: a brick wall (material index 1), a red cube sliding
    left to right in front of a turning teal sphere (2 and 3), and sky-coloured world at the top.
    The motion spans `motion_frames` frames (default: the clip's own length; longer = gentler)."""
    from .headless_demo import brick_texture, new_cycles_scene  # the demo imports this module too

    scene = new_cycles_scene(resolution, samples)
    scene.frame_start, scene.frame_end = 1, frames
    w = bpy.data.worlds.new("Clip World")
    _use_nodes_of(w)
    bg = w.node_tree.nodes.get("Background")
    if bg is not None:
        bg.inputs["Color"].default_value = (*world, 1.0)
        bg.inputs["Strength"].default_value = 1.0
    scene.world = w

    bricks = pixels.write_new_image("Clip Bricks", brick_texture(128), kind="color")
    bpy.ops.mesh.primitive_plane_add(size=8, location=(0, 2.5, 0.6), rotation=(math.radians(90), 0, 0))
    wall = bpy.context.active_object
    wall.data.materials.append(_material("Clip Wall", (0.6, 0.5, 0.4), 1, bricks))
    wall.pass_index = 1
    bpy.ops.mesh.primitive_cube_add(size=1.4)
    cube = bpy.context.active_object
    cube.data.materials.append(_material("Clip Red", (0.8, 0.15, 0.1), 2))
    cube.pass_index = 2
    bpy.ops.mesh.primitive_uv_sphere_add(radius=1.0, segments=24, ring_count=12)
    sphere = bpy.context.active_object
    bpy.ops.object.shade_smooth()
    sphere.data.materials.append(_material("Clip Teal", (0.1, 0.5, 0.45), 3))
    sphere.pass_index = 3
    last = max(2, motion_frames or frames)
    _keyframes(cube, "location", [(1, (-2.0, -1.0, 0.2)), (last, (2.0, -1.0, 0.4))])
    _keyframes(cube, "rotation_euler", [(1, (0.0, 0.0, 0.0)), (last, (0.0, 0.0, math.radians(90)))])
    _keyframes(sphere, "location", [(1, (0.9, 0.5, 0.3)), (last, (-0.9, 0.5, 0.7))])
    _keyframes(sphere, "rotation_euler", [(1, (0.0, 0.0, 0.0)), (last, (0.0, 0.0, math.radians(60)))])

    cam_data = bpy.data.cameras.new("Clip Camera")
    cam = bpy.data.objects.new("Clip Camera", cam_data)
    scene.collection.objects.link(cam)
    cam.location = (0.0, -6.0, 1.4)
    cam.rotation_euler = (math.radians(84), 0.0, 0.0)
    cam_data.lens = 35
    scene.camera = cam
    sun_data = bpy.data.lights.new("Clip Sun", "SUN")
    sun_data.energy = 3.0
    sun = bpy.data.objects.new("Clip Sun", sun_data)
    scene.collection.objects.link(sun)
    sun.rotation_euler = (math.radians(50), math.radians(15), math.radians(20))
    return scene
