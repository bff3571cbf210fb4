"""The render-pass terms inside the style objective, whole and tiled: the temporal term pulls reliable
pixels to the warped previous frame and leaves unreliable ones free; the content weight map keeps
weighted pixels closer to the content; the start image is used."""
from __future__ import annotations

import numpy as np
import pytest

from core.animation.terms import FrameGuides
from core.style import StyleOptions, stylize


def _images():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:40, 0:48].astype(np.float32)
    content = np.stack([xx / 48, yy / 40, 0.5 + 0.4 * np.sin(xx / 3)], -1).astype(np.float32)
    style = rng.random((32, 32, 3)).astype(np.float32)
    return content, style


@pytest.mark.parametrize("tile", [None, 32])
def test_temporal_term_holds_reliable_pixels_only(tile):
    content, style = _images()
    target = np.full_like(content, 0.5)
    weight = np.zeros(content.shape[:2], np.float32)
    weight[:, :24] = 2000.0  # left half reliable
    opts = StyleOptions(steps=15, backbone="offline", method="gatys", style_weight=10.0, tv_weight=0.0,
                        lr=0.05, tile_size=tile, preview_every=0)
    guides = FrameGuides(init=target.copy(), temporal_target=target, temporal_weight=weight)
    res = stylize(content, style, opts, guides=guides)
    assert "temporal" in res.losses
    left = np.abs(res.image[:, :24] - 0.5).mean()
    right = np.abs(res.image[:, 24:] - 0.5).mean()
    assert left < 0.02 and right > 3 * left
    # The start image is used: the free half began at 0.5 and moved, but less than the full distance.
    free = stylize(content, style, opts).image
    assert np.abs(free[:, 24:] - res.image[:, 24:]).mean() > 0.01


def test_content_weight_keeps_weighted_pixels_closer_to_content():
    content, style = _images()
    weight = np.ones(content.shape[:2], np.float32)
    weight[:, 24:] = 20.0
    opts = StyleOptions(steps=15, backbone="offline", method="gatys", style_weight=30.0, tv_weight=0.0,
                        lr=0.05, preview_every=0)
    plain = stylize(content, style, opts).image
    guided = stylize(content, style, opts, guides=FrameGuides(content_weight=weight)).image
    gain_right = np.abs(plain[:, 28:] - content[:, 28:]).mean() - np.abs(guided[:, 28:] - content[:, 28:]).mean()
    gain_left = np.abs(plain[:, :20] - content[:, :20]).mean() - np.abs(guided[:, :20] - content[:, :20]).mean()
    assert gain_right > 0.05 * np.abs(plain[:, 28:] - content[:, 28:]).mean()
    assert gain_right > 2 * abs(gain_left), (gain_right, gain_left)
