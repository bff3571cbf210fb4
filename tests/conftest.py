"""Shared fixtures. Tests run on the CPU at tiny sizes, with real torch, real bpy and real subprocesses."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: takes more than a few seconds; still runs in CI")
    config.addinivalue_line("markers", "blender: needs bpy (real Blender as a module)")


@pytest.fixture(scope="session")
def random_vgg19_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised torchvision VGG19 saved exactly like the ImageNet file
    (a plain state dict, full model incl. classifier), so the real loading code runs."""
    import torch
    import torchvision

    path = tmp_path_factory.mktemp("weights") / "vgg19-random.pth"
    torch.manual_seed(0)
    model = torchvision.models.vgg19(weights=None)
    torch.save(model.state_dict(), path)
    del model
    return path


@pytest.fixture(scope="session")
def venv_python() -> str:
    """The interpreter the worker subprocess runs under (this one: tests run inside .venv)."""
    return sys.executable


@pytest.fixture()
def rng():
    import numpy as np

    return np.random.default_rng(0)


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a test module: the CI box has 2 cores shared with other jobs, where one
    thread is faster and steadier."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
