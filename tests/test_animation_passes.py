"""Render passes as the animation engine reads them, on real Cycles renders at tiny sizes: the Vector
pass convention on a known motion, warping by it, the reliability mask, OCIO display colour and the
structure/index guidance maps."""
from __future__ import annotations

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from core.animation import display, frames, guidance, motion  # noqa: E402
from core.errors import UserError  # noqa: E402

pytestmark = pytest.mark.blender

PX_PER_UNIT = 10.0  # orthographic camera: 64 px across 6.4 units


def _render_exr(scene, frame: int, path) -> frames.Frame:
    from blender_addon import clip_render

    out = clip_render.render_frames(scene, [frame], str(path))
    return frames.read_frame(out[0])


@pytest.fixture(scope="module")
def known_motion(tmp_path_factory):
    """A square seen by an orthographic camera, moved by (+3, +2 up) px from frame 1 to 2 and by
    (+6, −4 up) px from frame 2 to 3. Returns the three frames."""
    from blender_addon.headless_demo import new_cycles_scene

    scene = new_cycles_scene((64, 48), samples=1)
    cam_data = bpy.data.cameras.new("Cam")
    cam_data.type, cam_data.ortho_scale = "ORTHO", 64 / PX_PER_UNIT
    cam = bpy.data.objects.new("Cam", cam_data)
    scene.collection.objects.link(cam)
    cam.location = (0.0, 0.0, 10.0)
    scene.camera = cam
    bpy.ops.mesh.primitive_plane_add(size=1.2)
    square = bpy.context.active_object
    square.pass_index = 5
    for f, (x, y) in [(1, (-0.3, -0.2)), (2, (0.0, 0.0)), (3, (0.6, -0.4))]:
        square.location = (x, y, 0.0)
        square.keyframe_insert("location", frame=f)
    folder = tmp_path_factory.mktemp("known")
    return [_render_exr(scene, f, folder) for f in (1, 2, 3)]


def _centroid(frame: frames.Frame) -> np.ndarray:
    ys, xs = np.nonzero(frame.object_index[..., 0] == 5)
    return np.array([xs.mean(), ys.mean()])  # (x right, y down) in array pixels


def test_vector_pass_convention_on_a_known_motion(known_motion):
    f1, f2, f3 = known_motion
    inside = f2.object_index[..., 0] == 5
    assert inside.sum() > 100
    # The object really moved as keyed (array coordinates: y down, so "2 px up" is −2 rows).
    assert np.allclose(_centroid(f2) - _centroid(f1), [3, -2], atol=0.25)
    assert np.allclose(_centroid(f3) - _centroid(f2), [6, 4], atol=0.25)
    # Raw channels: X,Y = previous − current (y up); Z,W = current − next (y up).
    raw = np.median(f2.vector[inside], axis=0)
    assert np.allclose(raw, [-3, -2, -6, 4], atol=0.05)
    # The helpers turn them into array-space flows that point where the object was / will be.
    prev = np.median(motion.flow_to_previous(f2.vector)[inside], axis=0)
    nxt = np.median(motion.flow_to_next(f2.vector)[inside], axis=0)
    assert np.allclose(prev, _centroid(f1) - _centroid(f2), atol=0.25)
    assert np.allclose(nxt, _centroid(f3) - _centroid(f2), atol=0.25)
    # The background does not move.
    assert np.abs(f2.vector[f2.depth[..., 0] >= frames.NO_GEOMETRY_DEPTH]).max() == 0


def test_warping_the_object_index_by_the_motion_lands_on_the_object(known_motion):
    f1, f2, _ = known_motion
    warped = motion.warp_previous(f1.object_index, f2.vector)[..., 0]
    mask = motion.reliability(f2.vector, f1.vector)
    ok = mask > 0
    assert 0.5 < ok.mean() < 1.0
    assert np.mean(np.abs(warped[ok] - f2.object_index[..., 0][ok]) < 0.01) > 0.99
    # Disoccluded background (where the square was in frame 1 but not in 2) is marked unreliable.
    uncovered = (f1.object_index[..., 0] == 5) & (f2.object_index[..., 0] != 5)
    assert uncovered.sum() > 10
    assert mask[uncovered].mean() < 0.1


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    from blender_addon import clip_render, demo_clip

    scene = demo_clip.build_clip_scene((64, 48), frames=8, samples=16)
    folder = tmp_path_factory.mktemp("clip")
    return [frames.read_frame(p) for p in clip_render.render_frames(scene, [1, 2, 3], str(folder))]


def test_warping_previous_frame_reproduces_the_next_on_reliable_pixels(clip):
    shown = [display.to_display(f.image)[..., :3] for f in clip]
    for t in (1, 2):
        mask = motion.reliability(clip[t].vector, clip[t - 1].vector)
        moving = (np.abs(clip[t].vector[..., :2]).sum(2) > 0.5) & (mask > 0)
        assert 0.6 < mask.mean() < 0.99 and moving.sum() > 50
        warped = motion.warp_previous(shown[t - 1], clip[t].vector)
        err_warped = np.abs(warped - shown[t]).mean(2)
        err_still = np.abs(shown[t - 1] - shown[t]).mean(2)
        # On moving reliable pixels the warp explains most of the change (what is left: noise, shading).
        assert err_warped[moving].mean() < 0.5 * err_still[moving].mean()
        assert err_warped[mask > 0].mean() < 0.03
        # Where the mask says "unreliable" the warp is far worse: the mask finds the disocclusions.
        assert err_warped[mask == 0].mean() > 3 * err_warped[mask > 0].mean()
        assert motion.flicker(shown[t], shown[t - 1], clip[t].vector, mask) == pytest.approx(
            float(err_warped[mask > 0].mean()), rel=1e-4)


def test_display_transform_matches_blenders(clip):
    from blender_addon import passes

    scene = bpy.context.scene
    scene.view_settings.view_transform = "AgX"
    scene.view_settings.look = "None"
    scene.view_settings.exposure = 0.0
    ours = display.to_display(clip[0].image, display.DisplaySettings(view="AgX"))
    blenders = passes.display_transform(scene, clip[0].image)
    assert np.abs(ours - blenders).max() < 1e-4
    std = display.to_display(np.full((8, 8, 3), 0.18, np.float32), display.DisplaySettings(view="Standard"))
    assert std[0, 0, 0] == pytest.approx(1.055 * 0.18 ** (1 / 2.4) - 0.055, abs=2e-3)  # sRGB encoding
    with pytest.raises(UserError, match="--view 'Nope'"):
        display.to_display(clip[0].image, display.DisplaySettings(view="Nope"))


def test_structure_edges_follow_silhouettes_not_texture(clip):
    f = clip[1]
    edges = guidance.structure_edges(f)
    ids = f.object_index[..., 0]
    boundary = np.zeros(ids.shape, bool)
    boundary[:, 1:] |= ids[:, 1:] != ids[:, :-1]
    boundary[1:, :] |= ids[1:, :] != ids[:-1, :]
    # Flat wall interior (brick texture, no geometry edges): weight stays low.
    import cv2

    near_boundary = cv2.dilate(boundary.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    wall = (ids == 1) & ~near_boundary
    assert wall.sum() > 200
    assert edges[boundary].mean() > 0.4 and edges[wall].mean() < 0.05
    weight = guidance.outline_weight_map(edges, 4.0)
    assert weight[wall].max() < 0.2 * 4.0 and weight.max() == pytest.approx(4.0)  # strength·edge, edges 0..1


def test_material_index_masks_and_depth_bands(clip):
    f = clip[0]
    masks = guidance.index_masks(f.material_index)
    assert {1, 2, 3} <= set(masks)
    assert np.allclose(sum(masks.values()), 1.0)
    # The red cube's material region equals its object's region.
    assert np.array_equal(masks[2] > 0, f.object_index[..., 0] == 2)
    world = f.background()
    assert world is not None and 0 < world.mean() < 0.5
    bands = guidance.depth_bands(f.depth, strength=1.0, bands=2)
    assert np.allclose(sum(b.mask for b in bands), 1.0, atol=1e-5)
    near, far = bands
    cube = f.object_index[..., 0] == 2
    assert near.mask[cube].mean() > far.mask[cube].mean()
    assert (near.stroke_scale, far.stroke_scale) == (2.0, 1.0)


def test_png_frames_with_npy_vectors(tmp_path, clip):
    from core.imageio import write_image

    png = tmp_path / "f_0002.png"
    write_image(png, display.to_display(clip[1].image)[..., :3])
    np.save(tmp_path / "v.npy", clip[1].vector)
    f = frames.read_frame(png, vectors=tmp_path / "v.npy")
    assert not f.linear and np.array_equal(f.vector, clip[1].vector)
    assert frames.frame_number(png, 0) == 2
    np.save(tmp_path / "bad.npy", clip[1].vector[:, :, :2])
    with pytest.raises(UserError, match="expected 48×64×4"):
        frames.read_frame(png, vectors=tmp_path / "bad.npy")
    with pytest.raises(UserError, match="not a readable OpenEXR"):
        (tmp_path / "x.exr").write_bytes(b"junk")
        frames.read_frame(tmp_path / "x.exr")


def test_two_view_layers_the_named_one_is_read_and_only_it_is_rendered(tmp_path):
    """A user's render of two view layers (one with more passes: AO, Emission, ...): the 'most passes'
    guess reads the other layer; --view-layer / the add-on's request name the right one. The add-on's
    own renders enable only the rendered layer (with two, Blender failed to save the second frame)."""
    from blender_addon import clip_render, compat, demo_clip

    scene = demo_clip.build_clip_scene((32, 24), frames=2, samples=1)
    rendered = clip_render.rendered_layer(scene).name
    extra = scene.view_layers.new("Extra")
    for name in ("use_pass_emit", "use_pass_ambient_occlusion", "use_pass_diffuse_color", "use_pass_mist",
                 "use_pass_z", "use_pass_normal", "use_pass_vector"):
        setattr(extra, name, True)
    for name in clip_render.PASS_SWITCHES:
        setattr(scene.view_layers[rendered], name, True)
    # As a user's F12 render saved as multilayer EXR: every enabled layer in one file.
    bpy.ops.render.render(write_still=False, scene=scene.name)
    compat.set_multilayer_exr(scene, compressed=False)
    users = str(tmp_path / "users_0001.exr")
    bpy.data.images["Render Result"].save_render(filepath=users, scene=scene)
    assert set(frames.read_exr_passes(users)) >= {rendered, "Extra"}
    assert frames.read_frame(users).material_index is None  # the guess took 'Extra'
    named = frames.read_frame(users, view_layer=rendered)
    assert named.material_index is not None and named.object_index is not None
    with pytest.raises(UserError, match="no view layer 'Nope'; it has Extra, "):
        frames.read_frame(users, view_layer="Nope")
    # The add-on's clip renderer: two frames, only the rendered layer in them, 'Extra' enabled again after.
    paths = clip_render.render_frames(scene, [1, 2], str(tmp_path / "clip"), view_layer=rendered)
    assert [set(frames.read_exr_passes(p)) for p in paths] == [{rendered}, {rendered}]
    assert extra.use
