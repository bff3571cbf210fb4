"""GAN-guided patch refinement (core.texture.guided): a GAN's layout, the exemplar's pixels; tiny sizes, few steps."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from core.errors import UserError
from core.protocol import GenerateRequest
from core.seams import seam_ratio
from core.texture import TrainOptions, generate, generate_maps, load_checkpoint, train
from core.texture.guided import OLD_CHECKPOINT_NOTE, layout_coordinates, refinable, refinement_note
from core.texture.samples import stones, stones_pbr

pytestmark = pytest.mark.usefixtures("one_torch_thread")
# 32-px exemplars: one pyramid level and 16-px patches keep each refinement near a second
TINY_PSGAN = dict(model="psgan", steps=2, patch=32, batch=2, width=8, preview_every=0)


@pytest.fixture(scope="module")
def psgan_model():
    return train(stones(32, seed=2), TrainOptions(**TINY_PSGAN))


def _pixels(img: np.ndarray) -> set:
    return {tuple(p) for p in img.reshape(-1, img.shape[-1]).round(6)}


def test_refined_gan_output_is_exemplar_pixels_and_tiles(psgan_model):
    assert refinable(psgan_model) and tuple(psgan_model.state["exemplar"].shape) == (3, 32, 32)
    ex = psgan_model.state["exemplar"].numpy().transpose(1, 2, 0)
    out = generate(psgan_model, 64, 64, seed=0)
    assert out.shape == (64, 64, 3)
    assert _pixels(out) <= _pixels(ex)  # crisp by construction: no blend, no GAN blur, the exemplar's hues
    # one wrap row/column of a tiny texture is a small sample: the mean over seeds is what meets the bar
    assert np.mean([seam_ratio(generate(psgan_model, 96, 96, seed=s)) for s in range(4)]) <= 1.1
    raw = generate(psgan_model, 64, 64, seed=0, raw=True)
    assert not _pixels(raw) <= _pixels(ex)  # the raw network output is its own (soft) pixels
    assert generate(psgan_model, 37, 21, seed=0, tileable=False).shape == (21, 37, 3)


def test_gan_seeds_give_different_layouts_and_refined_textures(psgan_model):
    a, b = generate(psgan_model, 48, 48, seed=0), generate(psgan_model, 48, 48, seed=1)
    assert np.array_equal(a, generate(psgan_model, 48, 48, seed=0))
    assert np.abs(a - b).mean() > 0.03
    ex = psgan_model.state["exemplar"]
    guides = [generate(psgan_model, 64, 64, seed=s, raw=True) for s in (0, 1)]
    c0, c1 = (layout_coordinates(g, ex, psgan_model.maps, seed=0) for g in guides)
    assert c0.shape == (64 * 64,) and int(c0.max()) < 32 * 32
    assert float((c0 != c1).float().mean()) > 0.5  # the GAN's layout (not the seed alone) moves the sources


def test_pbr_maps_read_the_same_coordinates():
    s = stones_pbr(32, seed=1)
    ids = (np.arange(32 * 32, dtype=np.float32) / (32 * 32)).reshape(32, 32, 1)  # one value per exemplar pixel
    ck = train([s["albedo"], s["roughness"], ids], TrainOptions(**TINY_PSGAN),
               map_names=["albedo", "roughness", "mask"])
    maps = dict((m.name, a) for m, a in generate_maps(ck, 48, 40, seed=4))
    src = np.rint(maps["mask"][..., 0] * 32 * 32).astype(int)  # the exemplar pixel each output pixel came from
    assert np.array_equal(maps["albedo"], s["albedo"].reshape(-1, 3)[src])
    assert np.array_equal(maps["roughness"], s["roughness"].reshape(-1, 1)[src])
    assert len(np.unique(src)) > 250  # many sources, not one copied block


def test_dcgan_refined_tiles_and_seeds_differ():
    ck = train(stones(32), TrainOptions(model="dcgan", steps=3, patch=32, batch=4, preview_every=0))
    a, b = (generate(ck, 48, 48, seed=s) for s in (0, 1))  # tileable: through the refinement's torus
    assert a.shape == (48, 48, 3) and np.abs(a - b).mean() > 0.03
    with pytest.raises(UserError, match="tileable"):
        generate(ck, 48, 48, seed=0, raw=True)  # the baseline's own output still cannot tile


def test_old_gan_checkpoint_gives_raw_output_with_a_note(psgan_model, tmp_path):
    back = load_checkpoint(psgan_model.save(tmp_path / "new.pt"))
    assert refinable(back) and torch.equal(back.state["exemplar"], psgan_model.state["exemplar"])
    assert refinement_note(back, raw=False) is None
    old = load_checkpoint(psgan_model.save(tmp_path / "new.pt"))
    del old.state["exemplar"]  # what psgan checkpoints held before refinement
    old.save(tmp_path / "old.pt")
    old = load_checkpoint(tmp_path / "old.pt")
    assert not refinable(old) and refinement_note(old, raw=False) == OLD_CHECKPOINT_NOTE
    assert np.array_equal(generate(old, 32, 32, seed=2), generate(back, 32, 32, seed=2, raw=True))


def test_cli_and_worker_request_expose_the_raw_output(psgan_model, tmp_path, capsys):
    from core.__main__ import main

    ck_path = psgan_model.save(tmp_path / "m.pt")
    for flag, refined in (([], True), (["--raw"], False)):
        out = tmp_path / f"t{len(flag)}.png"
        assert main(["texture", "generate", str(ck_path), "-o", str(out), "--size", "40x32", *flag]) == 0
        summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert summary["refined"] is refined and "notes" not in summary and out.is_file()
    req = dict(checkpoint=str(ck_path), width=32, height=32, output_dir=str(tmp_path))
    assert GenerateRequest.from_params(req).raw is False
    assert GenerateRequest.from_params(dict(req, raw=True)).raw is True
