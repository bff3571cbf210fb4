"""The one place that knows how Blender versions differ (4.2 LTS through 5.0).

Blender 5.0 moved the compositor from ``scene.node_tree`` to ``scene.compositing_node_group``,
replaced the Composite node with a Group Output node, and split the output format into
``image_settings.media_type`` + ``file_format``. Everything else in the add-on goes through here.
"""
from __future__ import annotations

from typing import Any

import bpy

IS_5 = bpy.app.version >= (5, 0, 0)


# ---------------------------------------------------------------- compositor

def compositor_tree(scene: bpy.types.Scene) -> bpy.types.NodeTree | None:
    """The scene's compositor node tree, or None when it has none. Never creates one."""
    if IS_5:
        return getattr(scene, "compositing_node_group", None)
    if not getattr(scene, "use_nodes", False):
        return None
    return getattr(scene, "node_tree", None)


def compositor_output_nodes(tree: bpy.types.NodeTree | None) -> list[bpy.types.Node]:
    """The node(s) whose input becomes the final image: Composite (4.x) or Group Output (5.0)."""
    if tree is None:
        return []
    wanted = "NodeGroupOutput" if IS_5 else "CompositorNodeComposite"
    return [n for n in tree.nodes if n.bl_idname == wanted]


def compositor_fingerprint(scene: bpy.types.Scene) -> tuple:
    """A plain-data summary of the compositor (tree, nodes, links, simple input values) used to
    prove that nothing was changed. Equal fingerprints mean an untouched setup."""
    tree = compositor_tree(scene)
    if tree is None:
        return ("no-compositor", bool(getattr(scene, "use_nodes", False)))
    nodes = []
    for n in sorted(tree.nodes, key=lambda n: n.name):
        values = []
        for s in n.inputs:
            v = getattr(s, "default_value", None)
            if v is not None and not isinstance(v, (bool, int, float, str)):
                try:
                    v = tuple(v)
                except TypeError:
                    v = repr(v)
            values.append((s.identifier, v))
        nodes.append((n.name, n.bl_idname, n.mute, tuple(values)))
    links = sorted((l.from_node.name, l.from_socket.identifier, l.to_node.name, l.to_socket.identifier)
                   for l in tree.links)
    return (tree.name, tuple(nodes), tuple(links))


# ---------------------------------------------------------------- output settings

_RENDER_FIELDS = ("filepath", "use_file_extension", "use_overwrite", "use_placeholder")
# media_type must be restored before file_format (5.0 validates one against the other)
_FIRST = ("media_type", "file_format", "color_mode", "color_depth")


def _image_settings_values(settings: Any) -> dict[str, Any]:
    values = {}
    for prop in settings.bl_rna.properties:
        if prop.is_readonly or prop.type in ("POINTER", "COLLECTION") or prop.identifier == "rna_type":
            continue
        values[prop.identifier] = getattr(settings, prop.identifier)
    return values


def snapshot_output_settings(scene: bpy.types.Scene) -> dict[str, Any]:
    """Everything about the scene's output that reading passes touches."""
    return {
        "image_settings": _image_settings_values(scene.render.image_settings),
        "render": {f: getattr(scene.render, f) for f in _RENDER_FIELDS if hasattr(scene.render, f)},
    }


def restore_output_settings(scene: bpy.types.Scene, snapshot: dict[str, Any]) -> None:
    settings = scene.render.image_settings
    values = snapshot["image_settings"]
    ordered = [k for k in _FIRST if k in values] + [k for k in values if k not in _FIRST]
    for key in ordered:
        try:
            if getattr(settings, key) != values[key]:
                setattr(settings, key, values[key])
        except (TypeError, AttributeError, ValueError):
            pass  # a value only valid for another format (e.g. EXR codec for PNG): irrelevant after the format
    for key, value in snapshot["render"].items():
        setattr(scene.render, key, value)


def set_multilayer_exr(scene: bpy.types.Scene, compressed: bool = True) -> None:
    """Output: multilayer OpenEXR, 32-bit float, every pass of the view layer in one file
    (uncompressed when the reader has no OpenImageIO)."""
    settings = scene.render.image_settings
    if IS_5:
        settings.media_type = "MULTI_LAYER_IMAGE"
    else:
        settings.file_format = "OPEN_EXR_MULTILAYER"
    settings.color_depth = "32"
    settings.exr_codec = "ZIP" if compressed else "NONE"


def set_png(scene: bpy.types.Scene, bits: int = 8) -> None:
    """Output: RGBA PNG (8 or 16 bits)."""
    settings = scene.render.image_settings
    if IS_5:
        settings.media_type = "IMAGE"
    settings.file_format = "PNG"
    settings.color_mode = "RGBA"
    settings.color_depth = str(bits)


# ---------------------------------------------------------------- small differences

def extension_user_dir(package: str, subdir: str) -> str | None:
    """Writable per-user folder for this add-on (extensions only; None for a legacy add-on)."""
    fn = getattr(bpy.utils, "extension_path_user", None)
    if fn is None or not package.startswith("bl_ext."):
        return None
    try:
        return fn(package, path=subdir, create=True)
    except (ValueError, TypeError):
        return None
