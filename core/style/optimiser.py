"""One scale's optimisation: Adam or L-BFGS steps on the image, the iterate average, and the Adam
state carried from one scale to the next.

- Adam's moments are resampled with the image when the scale changes (crowsonkb's warm start), so a
  new scale does not begin with per-pixel sign noise.
- The output is an exponential moving average of the iterates (bias-corrected, decay ~0.99): Adam at
  a fixed step size keeps jittering around the optimum; the average does not (crowsonkb).
- Adam iterates are clamped to 0..1 after each step (a box constraint); L-BFGS iterates are not
  (clamping breaks its curvature history), only its result is.
- Terms with a closed-form proximal step (the temporal term) are applied after each Adam step in
  Adam's own metric (proximal Adam), not through the gradient.
"""
from __future__ import annotations

from typing import Callable, Optional

import torch

from .resample import resize

Evaluate = Callable[[torch.Tensor], tuple[float, dict[str, float], torch.Tensor]]
Prox = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x, per-element step size) -> x


class IterateAverage:
    """Bias-corrected exponential moving average of the iterates (as Adam averages gradients)."""

    def __init__(self, decay: float) -> None:
        self.decay, self.value, self.weight = decay, None, 0.0

    def update(self, x: torch.Tensor) -> None:
        if self.value is None:
            self.value = torch.zeros_like(x)
        self.value.mul_(self.decay).add_(x, alpha=1.0 - self.decay)
        self.weight = self.weight * self.decay + (1.0 - self.decay)

    def get(self) -> torch.Tensor:
        assert self.value is not None
        return self.value / self.weight


class ScaleRun:
    """Steps at one working size. `carried`: Adam state from the previous scale (see `carry`)."""

    def __init__(self, evaluate: Evaluate, x: torch.Tensor, optimizer: str, lr: float, average: float,
                 carried: Optional[dict] = None, prox: Optional[Prox] = None) -> None:
        self.evaluate, self.optimizer_name = evaluate, optimizer
        self.prox = prox if optimizer == "adam" else None
        self.param = x.detach().clone().contiguous().requires_grad_(True)
        if optimizer == "adam":
            self.opt: torch.optim.Optimizer = torch.optim.Adam([self.param], lr=lr)
            if carried is not None:
                self.opt.state[self.param] = carried
        else:
            self.opt = torch.optim.LBFGS([self.param], lr=1.0, max_iter=1, history_size=20,
                                         tolerance_grad=0.0, tolerance_change=0.0)
        self.average = IterateAverage(average) if average > 0 else None
        self.total, self.parts = float("nan"), {}
        self.best = (float("inf"), None, {})

    def _closure(self) -> torch.Tensor:
        total, parts, grad = self.evaluate(self.param.detach())
        self.total, self.parts = total, parts
        if total < self.best[0]:  # L-BFGS without line search can overshoot late on
            self.best = (total, self.param.detach().clone(), parts)
        self.param.grad = grad
        return torch.tensor(total)

    def step(self) -> None:
        self.opt.zero_grad(set_to_none=True)
        if self.optimizer_name == "adam":
            self._closure()
            self.opt.step()
            with torch.no_grad():
                self.param.clamp_(0, 1)
                if self.prox is not None:
                    self.param.copy_(self.prox(self.param, self._adam_step_size()))
        else:
            self.opt.step(self._closure)
        if self.average is not None:
            self.average.update(self.param.detach())

    def _adam_step_size(self) -> torch.Tensor:
        """Adam's per-element step size lr / (√v̂ + ε): the metric its step is a gradient step in."""
        group = self.opt.param_groups[0]
        state = self.opt.state[self.param]
        t = float(state["step"])
        v_hat = state["exp_avg_sq"] / (1.0 - group["betas"][1] ** t)
        return group["lr"] / (v_hat.sqrt() + group["eps"])

    def current(self) -> torch.Tensor:
        """What this scale would hand on now: the average if kept, else the iterate (clamped)."""
        x = self.average.get() if self.average is not None else self.param.detach()
        return x.clamp(0, 1)

    def result(self) -> tuple[torch.Tensor, float, dict[str, float]]:
        """(image, loss, parts) at the end of the scale. Loss values are those of the last iterate
        (the average is not re-evaluated: it would cost a step)."""
        if self.optimizer_name == "lbfgs" and self.average is None and self.best[1] is not None \
                and self.best[0] < self.total:
            return self.best[1].clamp(0, 1), self.best[0], self.best[2]
        return self.current(), self.total, self.parts

    def carry(self, hw: tuple[int, int], wrap: bool) -> Optional[dict]:
        """Adam's state resampled to the next working size (None for L-BFGS).

        The losses are per-pixel means, so per-pixel gradients shrink by r = old/new pixel count at the
        next scale; the moments are rescaled by r and r² so Adam's step m/√v starts where it was.
        (crowsonkb resamples without rescaling; this is our departure.)"""
        if self.optimizer_name != "adam":
            return None
        state = self.opt.state.get(self.param)
        if not state:
            return None
        r = self.param.shape[-2] * self.param.shape[-1] / float(hw[0] * hw[1])
        return {"step": state["step"].clone() if torch.is_tensor(state["step"]) else state["step"],
                "exp_avg": resize(state["exp_avg"], hw, wrap) * r,
                "exp_avg_sq": resize(state["exp_avg_sq"], hw, wrap).clamp_min(0) * (r * r)}
