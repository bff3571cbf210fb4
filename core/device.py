"""Device choice: CUDA, then MPS, then CPU, unless the user names one."""
from __future__ import annotations

import torch

from .errors import UserError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def pick_device(preference: str = "auto") -> torch.device:
    pref = (preference or "auto").lower()
    if pref not in DEVICE_CHOICES:
        raise UserError(f"--device: unknown device '{preference}'; use one of {', '.join(DEVICE_CHOICES)}")
    cuda_ok = torch.cuda.is_available()
    mps_ok = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if pref == "auto":
        return torch.device("cuda" if cuda_ok else "mps" if mps_ok else "cpu")
    if pref == "cuda" and not cuda_ok:
        raise UserError("--device cuda: no CUDA GPU is available to this torch build; use --device auto or cpu")
    if pref == "mps" and not mps_ok:
        raise UserError("--device mps: Apple MPS is not available here; use --device auto or cpu")
    return torch.device(pref)


def seed_everything(seed: int) -> torch.Generator:
    """Seed torch globally and return a CPU generator for explicit sampling."""
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
