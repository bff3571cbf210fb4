"""The one place render passes are read.

Headless Blender gives no pixels for 'Render Result' and never computes a Viewer node, so passes
are dumped with ``save_render`` to a multilayer EXR (output settings restored afterwards) and read
back with the OpenImageIO module that ships inside Blender. The Combined pass is scene-linear;
``display_transform`` applies the scene's view transform with Blender's own OpenColorIO config so
the style network sees what the artist sees.

Arrays returned here are float32, rows top-down (EXR order), HxWxC.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field

import numpy as np

import bpy

from . import compat

# pass name in the EXR -> key used by the add-on
WANTED_PASSES = {"Combined": "combined", "Depth": "depth", "Normal": "normal", "Object Index": "object_index",
                 "IndexOB": "object_index"}  # 4.x names the Object Index pass 'IndexOB' in EXR files


class PassError(RuntimeError):
    """Passes could not be produced or read (message is meant for the user)."""


@dataclass
class RenderPasses:
    combined: np.ndarray                      # HxWx4 scene-linear RGBA
    extra: dict[str, np.ndarray] = field(default_factory=dict)  # depth HxWx1, normal HxWx3, object_index HxWx1

    @property
    def size(self) -> tuple[int, int]:
        return self.combined.shape[1], self.combined.shape[0]


def _blender_site_packages() -> str:
    root = bpy.utils.system_resource("PYTHON")
    ver = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    for cand in (os.path.join(root, "lib", ver, "site-packages"), os.path.join(root, "lib", "site-packages")):
        if os.path.isdir(cand):
            return cand
    return ""


def _import_bundled(name: str):
    """Import a module Blender bundles (OpenImageIO, PyOpenColorIO) without touching sys.path for good."""
    try:
        return __import__(name)
    except ImportError:
        pass
    site = _blender_site_packages()
    if not site:
        raise PassError(f"Blender's bundled {name} module was not found")
    sys.path.insert(0, site)
    try:
        return __import__(name)
    except ImportError as exc:
        raise PassError(f"Blender's bundled {name} could not be imported: {exc}") from exc
    finally:
        sys.path.remove(site)


def render_result_available() -> bool:
    # has_data and size stay empty for the Render Result from Python, even after a render
    return bpy.data.images.get("Render Result") is not None


def render_scene(scene: bpy.types.Scene) -> None:
    """Render the current frame in the foreground (like F12, but blocking). A failed render
    (e.g. denoising in a Blender built without OpenImageDenoise) is a PassError with Blender's line."""
    try:
        bpy.ops.render.render(write_still=False, scene=scene.name)
    except RuntimeError as exc:
        reason = str(exc).strip().splitlines()[0].removeprefix("Error: ") if str(exc).strip() else "unknown error"
        raise PassError(f"the render failed: {reason}") from None


_CHANNEL_ORDER = "RGBAXYZW"


def _group_channels(names: list[str]) -> dict[tuple[str, str], list[int]]:
    """'ViewLayer.Depth.Z' style channel names -> {(layer, pass): channel indices in R,G,B,A / X,Y,Z order}."""
    groups: dict[tuple[str, str], list[int]] = {}
    for c, name in enumerate(names):
        parts = name.split(".")
        if len(parts) >= 3:
            key = (".".join(parts[:-2]), parts[-2])
        else:
            key = ("", parts[0] if len(parts) == 2 else "Combined")
        groups.setdefault(key, []).append(c)
    order = lambda c: _CHANNEL_ORDER.find(names[c].split(".")[-1]) % 100  # noqa: E731 (unknown names last)
    return {k: sorted(v, key=order) for k, v in groups.items()}


def _read_exr_numpy(path: str) -> dict[tuple[str, str], np.ndarray]:
    """Reader for the uncompressed scanline EXR files this module writes when Blender has no
    OpenImageIO module (PyPI bpy 4.2): single- or multi-part, HALF/FLOAT/UINT channels."""
    import struct

    with open(path, "rb") as fh:
        data = fh.read()
    if data[:4] != b"\x76\x2f\x31\x01":
        raise PassError(f"{path} is not an OpenEXR file")
    flags = struct.unpack_from("<I", data, 4)[0]
    multipart, tiled = bool(flags & 0x1000), bool(flags & 0x200)
    if tiled:
        raise PassError(f"{path}: tiled EXR files are not supported")
    pos = 8

    def cstr(p: int) -> tuple[str, int]:
        end = data.index(b"\0", p)
        return data[p:end].decode("latin-1"), end + 1

    headers = []
    while True:
        if data[pos] == 0:  # empty header: end of the header list (multi-part)
            pos += 1
            break
        attrs = {}
        while data[pos] != 0:
            name, pos = cstr(pos)
            kind, pos = cstr(pos)
            size = struct.unpack_from("<i", data, pos)[0]
            pos += 4
            attrs[name] = (kind, data[pos:pos + size])
            pos += size
        pos += 1
        headers.append(attrs)
        if not multipart:
            break
    parts = []
    for attrs in headers:
        if attrs["compression"][1][0] != 0:
            raise PassError(f"{path}: compressed EXR parts need OpenImageIO")
        raw = attrs["channels"][1]
        chans, p = [], 0
        while raw[p] != 0:
            end = raw.index(b"\0", p)
            name = raw[p:end].decode("latin-1")
            ptype = struct.unpack_from("<i", raw, end + 1)[0]
            chans.append((name, ptype))
            p = end + 1 + 16
        x0, y0, x1, y1 = struct.unpack("<4i", attrs["dataWindow"][1])
        w, h = x1 - x0 + 1, y1 - y0 + 1
        n_chunks = struct.unpack("<i", attrs["chunkCount"][1])[0] if "chunkCount" in attrs else h
        parts.append((chans, w, h, y0, n_chunks))
    offsets = []
    for chans, w, h, y0, n in parts:
        offsets.append(np.frombuffer(data, "<u8", n, pos))
        pos += 8 * n
    dtypes = {0: np.dtype("<u4"), 1: np.dtype("<f2"), 2: np.dtype("<f4")}
    out: dict[tuple[str, str], np.ndarray] = {}
    for index, ((chans, w, h, y0, _), offs) in enumerate(zip(parts, offsets)):
        planes = np.zeros((len(chans), h, w), np.float32)
        for off in offs:
            p = int(off) + (4 if multipart else 0)
            y, size = struct.unpack_from("<ii", data, p)
            p += 8
            row = y - y0
            for c, (_, ptype) in enumerate(chans):
                dt = dtypes[ptype]
                planes[c, row] = np.frombuffer(data, dt, w, p).astype(np.float32)
                p += dt.itemsize * w
        names = [n for n, _ in chans]
        for key, idx in _group_channels(names).items():
            out.setdefault(key, np.ascontiguousarray(np.moveaxis(planes[idx], 0, -1)))
    return out


def has_openimageio() -> bool:
    try:
        _import_bundled("OpenImageIO")
        return True
    except PassError:
        return False


def read_exr_passes(path: str) -> dict[tuple[str, str], np.ndarray]:
    """All passes of a multilayer EXR as {(view layer, pass name): HxWxC}. Each part is read by its
    own index (reading with the default subimage silently returns part 0 again). Without
    Blender's OpenImageIO module, the numpy reader handles the uncompressed files written then."""
    if not has_openimageio():
        return _read_exr_numpy(path)
    oiio = _import_bundled("OpenImageIO")
    inp = oiio.ImageInput.open(path)
    if inp is None:
        raise PassError(f"cannot open {path}: {oiio.geterror()}")
    out: dict[tuple[str, str], np.ndarray] = {}
    try:
        index = 0
        while inp.seek_subimage(index, 0):
            spec = inp.spec()
            data = inp.read_image(index, 0, 0, spec.nchannels, "float")
            if data is None:
                raise PassError(f"cannot read part {index} of {path}: {inp.geterror()}")
            data = np.asarray(data, dtype=np.float32).reshape(spec.height, spec.width, spec.nchannels)
            # channel names look like 'ViewLayer.Depth.Z': group them by pass
            for key, chans in _group_channels(list(spec.channelnames)).items():
                out.setdefault(key, np.ascontiguousarray(data[:, :, chans]))
            index += 1
    finally:
        inp.close()
    return out


def dump_and_read(scene: bpy.types.Scene, folder: str | None = None, view_layer: str | None = None) -> RenderPasses:
    """Write the last render's passes to a multilayer EXR and read them back (those of
    ``view_layer``, default: the window's view layer if the scene has it, else the first one). The
    scene's output settings are restored whatever happens; the EXR is deleted."""
    if not render_result_available():
        raise PassError("there is no render yet: render the scene first (or untick 'Use last render')")
    snapshot = compat.snapshot_output_settings(scene)
    own_folder = folder is None
    folder = folder or tempfile.mkdtemp(prefix="atelier-passes-")
    path = os.path.join(folder, "passes.exr")
    try:
        # Uncompressed is ~2.5x faster to write and read (measured at 2048²); the temp file is
        # ~36 bytes/pixel for four passes, so very large renders are compressed instead.
        r = scene.render
        pixels_out = (r.resolution_x * r.resolution_y * r.resolution_percentage ** 2) // 10000
        compat.set_multilayer_exr(scene, compressed=has_openimageio() and pixels_out > 4096 * 4096)
        try:
            bpy.data.images["Render Result"].save_render(filepath=path, scene=scene)
        except RuntimeError as exc:
            raise PassError(f"the last render could not be read ({exc}); render the scene again") from None
        raw = read_exr_passes(path)
    finally:
        compat.restore_output_settings(scene, snapshot)
        try:
            os.remove(path)
            if own_folder:
                os.rmdir(folder)
        except OSError:
            pass
    layers = list(dict.fromkeys(layer for layer, _ in raw))
    if view_layer is None:
        current = getattr(bpy.context, "view_layer", None)
        view_layer = current.name if current is not None and current.name in layers else (layers[0] if layers else "")
    by_pass = {name: arr for (layer, name), arr in raw.items() if layer == view_layer}
    if "Combined" not in by_pass:
        raise PassError(f"the render has no Combined pass for view layer '{view_layer}'")
    extra: dict[str, np.ndarray] = {}
    for name, key in WANTED_PASSES.items():
        if name != "Combined" and name in by_pass:
            extra.setdefault(key, by_pass[name])
    return RenderPasses(combined=by_pass["Combined"], extra=extra)


def display_transform(scene: bpy.types.Scene, linear_rgba: np.ndarray) -> np.ndarray:
    """Scene-linear Rec.709 -> the scene's display and view (AgX, Filmic, Standard...), with its
    look, exposure and gamma. Returns display-referred RGBA clipped to 0..1 (alpha untouched)."""
    try:
        ocio = _import_bundled("PyOpenColorIO")
    except PassError:
        return _display_via_save_render(scene, linear_rgba)
    config_path = os.path.join(bpy.utils.system_resource("DATAFILES"), "colormanagement", "config.ocio")
    config = ocio.Config.CreateFromFile(config_path)
    view_settings = scene.view_settings
    display = scene.display_settings.display_device
    view = view_settings.view_transform
    transform = ocio.DisplayViewTransform(src="Linear Rec.709", display=display, view=view)
    look = view_settings.look
    if look and look != "None":
        names = {l.getName() for l in config.getLooks()}
        look_name = look if look in names else f"{view} - {look}"
        if look_name in names:
            pipeline = ocio.LegacyViewingPipeline()
            pipeline.setDisplayViewTransform(transform)
            pipeline.setLooksOverrideEnabled(True)
            pipeline.setLooksOverride(look_name)
            processor = pipeline.getProcessor(config)
        else:
            processor = config.getProcessor(transform)
    else:
        processor = config.getProcessor(transform)
    rgba = np.array(linear_rgba, dtype=np.float32, copy=True)
    if rgba.shape[2] == 3:
        rgba = np.concatenate([rgba, np.ones_like(rgba[:, :, :1])], axis=2)
    if view_settings.exposure:
        rgba[:, :, :3] *= np.float32(2.0 ** view_settings.exposure)
    processor.getDefaultCPUProcessor().applyRGBA(rgba)
    if view_settings.gamma != 1.0:
        rgba[:, :, :3] = np.power(np.clip(rgba[:, :, :3], 0, None), 1.0 / view_settings.gamma)
    return np.clip(rgba, 0.0, 1.0)


def _display_via_save_render(scene: bpy.types.Scene, linear_rgba: np.ndarray) -> np.ndarray:
    """Fallback without PyOpenColorIO (PyPI bpy 4.2): let Blender apply the view transform by
    save_render-ing a temporary float image to a 16-bit PNG and reading it back."""
    from . import pixels

    rgba = pixels.to_rgba(linear_rgba)
    h, w = rgba.shape[:2]
    folder = tempfile.mkdtemp(prefix="atelier-view-")
    path = os.path.join(folder, "display.png")
    src = bpy.data.images.new("atelier-view-tmp", w, h, alpha=True, float_buffer=True)
    shown = None
    snapshot = compat.snapshot_output_settings(scene)
    try:
        src.pixels.foreach_set(np.ascontiguousarray(rgba[::-1]).ravel())
        compat.set_png(scene, bits=8)  # 8-bit loads back as the encoded values; 16-bit would be linearised
        src.save_render(filepath=path, scene=scene)
        shown = bpy.data.images.load(path, check_existing=False)
        out = pixels.image_array(shown)
    finally:
        compat.restore_output_settings(scene, snapshot)
        bpy.data.images.remove(src)
        if shown is not None:
            bpy.data.images.remove(shown)
        shutil.rmtree(folder, ignore_errors=True)
    out[:, :, 3] = rgba[:, :, 3]
    return np.clip(out, 0.0, 1.0)


def object_index_masks(object_index: np.ndarray, max_masks: int = 8) -> list[tuple[int, np.ndarray]]:
    """One HxW 0/1 mask per object index present (index 0, the default, included), largest first."""
    idx = np.rint(object_index[:, :, 0]).astype(np.int64)
    values, counts = np.unique(idx, return_counts=True)
    order = np.argsort(-counts)[:max_masks]
    return [(int(values[i]), (idx == values[i]).astype(np.float32)) for i in order]
