"""Adversarial losses. D outputs logits; sigmoid(logit) = D(x), the probability that x is real.

minimax / nonsaturating (seed baseline):
    L_D = -E[log D(x)] - E[log(1 - D(G(z)))]
    L_G =  E[log(1 - D(G(z)))]        (minimax, saturates early in training)
    L_G = -E[log D(G(z))]             (nonsaturating, same fixed point, useful gradients)
hinge (default for psgan with spectral norm):
    L_D = E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))],   L_G = -E[D(G(z))]
softplus(v) = log(1 + e^v) gives the log-sigmoid terms without overflow."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def d_loss(kind: str, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    real_logits, fake_logits = real_logits.float(), fake_logits.float()
    if kind == "hinge":
        return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()
    if kind in ("minimax", "nonsaturating"):
        # -log sigmoid(r) = softplus(-r);  -log(1 - sigmoid(f)) = softplus(f)
        return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
    raise ValueError(f"unknown loss {kind!r}")


def g_loss(kind: str, fake_logits: torch.Tensor) -> torch.Tensor:
    fake_logits = fake_logits.float()
    if kind == "hinge":
        return -fake_logits.mean()
    if kind == "nonsaturating":
        return F.softplus(-fake_logits).mean()
    if kind == "minimax":
        return -F.softplus(fake_logits).mean()  # log(1 - sigmoid(f))
    raise ValueError(f"unknown loss {kind!r}")
