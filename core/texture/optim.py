"""No-training synthesis: optimise pixels until their feature statistics match the exemplar's.

The loss is a sliced Wasserstein distance (Heitz et al. 2021) between the random multi-scale features
(core.backbones.offline, seed 0) of the image being optimised and of the exemplar; every map of a PBR set
goes through the network and their features are concatenated, so cross-map correlations are matched too.
With `tileable`, every convolution of the feature network wraps around (core.wrap), so the optimised
image is seamless. Slow (a few hundred network passes per image) and limited to about a megapixel; it is
the comparison point and the choice when there is no time to train."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..backbones.offline import load_offline
from ..errors import UserError
from ..wrap import circular_padding
from .checkpoint import Checkpoint

MAX_PIXELS = 1 << 20
JITTER = 8  # the feature pyramid's coarsest pooling step
LAYERS = ("c0", "e0", "s0", "c1", "e1", "s1", "e2", "s2", "e3", "s3")


def _groups(x: torch.Tensor, maps) -> list[torch.Tensor]:
    """Stacked maps (B×ΣC×H×W) -> one 3-channel image per map for the RGB feature network."""
    out, c = [], 0
    for m in maps:
        part = x[:, c:c + m.channels]
        c += m.channels
        part = part[:, :3] if part.shape[1] >= 3 else part[:, :1].expand(-1, 3, -1, -1)
        out.append(part)
    return out


def _features(net, x: torch.Tensor, maps) -> dict[str, torch.Tensor]:
    feats = [net(g) for g in _groups(x, maps)]
    return {k: torch.cat([f[k] for f in feats], 1)[0].flatten(1).T for k in LAYERS}  # N×C per layer


def synthesize(ck: Checkpoint, width: int, height: int, seed: int, tileable: bool, device: torch.device,
               steps: int | None = None) -> np.ndarray:
    if width * height > MAX_PIXELS:
        raise UserError(f"size: the 'optim' model optimises every pixel and is limited to {MAX_PIXELS} pixels "
                        f"(got {width}x{height}); train the 'psgan' model for larger textures")
    steps = steps or ck.options.optim_steps
    net = load_offline(0, device)
    ex = ck.state["exemplar"].float()[None].to(device)
    gen = torch.Generator().manual_seed(int(seed))
    with circular_padding(net, True), torch.no_grad():
        targets = _features(net, ex, ck.maps)
    mean = ex.mean((2, 3), keepdim=True)
    pad = 0 if tileable else JITTER  # untiled: a slightly larger canvas, cropped at a random offset
    x = (mean.cpu() + 0.2 * torch.randn(1, ex.shape[1], height + pad, width + pad, generator=gen)).to(device)
    x = x.clamp(0, 1).requires_grad_(True)
    opt = torch.optim.Adam([x], lr=0.03)
    for _ in range(steps):
        # A fresh random shift every step: the feature pyramid pools on an 8-px grid, and without the
        # shift that grid (and the wrap edge on it) shows in the result.
        dy, dx = (int(v) for v in torch.randint(0, JITTER, (2,), generator=gen))
        if tileable:
            view = torch.roll(x, (dy, dx), (2, 3))
        else:
            view = x[:, :, dy:dy + height, dx:dx + width]
        with circular_padding(net, tileable):
            feats = _features(net, view, ck.maps)
        loss = 0.0
        for k in LAYERS:
            f, t = feats[k], targets[k]
            proj = torch.randn(f.shape[1], f.shape[1], generator=gen).to(device)
            proj = proj / proj.norm(dim=0, keepdim=True)
            pf, _ = torch.sort(f @ proj, 0)
            pt, _ = torch.sort(t @ proj, 0)
            if pt.shape[0] != pf.shape[0]:  # resample the exemplar's quantiles to this many samples
                pt = F.interpolate(pt.T[None], size=pf.shape[0], mode="linear", align_corners=True)[0].T
            loss = loss + ((pf - pt) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            x.clamp_(0, 1)
    out = x.detach()[0, :, pad // 2:pad // 2 + height, pad // 2:pad // 2 + width]
    return out.permute(1, 2, 0).cpu().numpy().astype(np.float32)
