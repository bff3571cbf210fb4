"""What the worker runs: the Task record and one handler per job type (check_setup, stylize,
texture_train, texture_generate), each turning a validated request into engine calls and outputs.

A handler checks its task's CancelToken before it writes outputs, and returns the final result
body (outputs and info) that core.worker sends as the "result" event.
"""
from __future__ import annotations

import os
import platform
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional

import numpy as np

from . import __version__
from .atomic import check_output, write_set
from .errors import CancelToken, UserError
from .resources import check_memory
from .protocol import (GenerateRequest, ProtocolError, StylizeRequest, TrainRequest, load_array, npy_writer,
                       safe_name, save_array)

if TYPE_CHECKING:
    from .worker import Worker


@dataclass
class Task:
    """One accepted job as the worker holds it: queued, then running."""
    id: str
    type: str
    spec: Any  # a request spec from core.protocol (check_setup: its raw params)
    token: CancelToken


# --- task handlers ---------------------------------------------------------------------------

def _check_setup(worker: Worker, task: Task) -> dict:
    params = task.spec
    weights = params.get("weights")
    device_pref = params.get("device") or "auto"
    if weights is not None and not isinstance(weights, str):
        raise ProtocolError("params.weights must be a path string or null")
    if not isinstance(device_pref, str):
        raise UserError("params.device must be a string")
    import torch
    import torchvision

    from .device import pick_device

    info: dict[str, Any] = {
        "python": sys.executable,
        "python_version": platform.python_version(),
        "core_version": __version__,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "cuda_available": torch.cuda.is_available(),
        "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "mps_available": bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()),
        "platform": platform.platform(),
        "pid": os.getpid(),
    }
    try:
        info["device"] = str(pick_device(device_pref))
        info["device_error"] = None
    except UserError as exc:
        info["device"] = str(pick_device("auto"))
        info["device_error"] = str(exc)
    info.update(_find_weights(weights))
    return info


def _find_weights(weights: Optional[str]) -> dict:
    """Ask the VGG19 module where the weights are; never download here (check_setup must be quick)."""
    try:
        from .backbones import vgg19
    except ImportError as exc:
        return {"weights_found": False, "weights_path": None, "weights_message": f"VGG19 backbone not available: {exc}"}
    try:
        found = vgg19.find_weights(weights)
    except UserError as exc:
        return {"weights_found": False, "weights_path": None, "weights_message": str(exc)}
    if found is None:
        if weights:
            message = f"weights file '{weights}' does not exist"
        else:
            message = getattr(vgg19, "missing_weights_message", lambda: "VGG19 ImageNet weights not found")()
        return {"weights_found": False, "weights_path": None, "weights_message": message}
    return {"weights_found": True, "weights_path": str(found), "weights_message": f"VGG19 weights found at {found}"}


def _stylize(worker: Worker, task: Task) -> dict:
    spec: StylizeRequest = task.spec
    from . import style
    from .backbones import vgg19

    options = style.StyleOptions.from_dict(spec.options)
    content = load_array(spec.content, "content")
    styles = [load_array(p, "style") for p in spec.styles]
    masks = [load_array(p, "mask", mask=True) for p in spec.masks] if spec.masks else None
    check_output(spec.output, content.shape[0] * content.shape[1] * 16, "params.output")  # before compute
    reads = vgg19.weight_reads()
    res = style.stylize(content, styles[0] if len(styles) == 1 else styles, options, masks=masks,
                        progress=worker.progress_callback(task, spec.job_dir), cancel=task.token)
    task.token.check()
    image = np.asarray(res.image, dtype=np.float32)
    save_array(spec.output, image)
    h, w = image.shape[:2]
    return {
        "outputs": [{"path": str(spec.output), "name": "stylized", "kind": "color", "width": w, "height": h,
                     "channels": image.shape[2] if image.ndim == 3 else 1}],
        "info": {"losses": dict(res.losses or {}), "device": str(res.device), "backbone": res.backbone,
                 "steps": res.steps, "seconds": res.seconds, "notes": list(res.notes or []),
                 "weights_read": vgg19.weight_reads() > reads},  # False: the worker reused its loaded VGG19
    }


def _texture_train(worker: Worker, task: Task) -> dict:
    spec: TrainRequest = task.spec
    from . import texture

    options = texture.TrainOptions.from_dict(spec.options)
    exemplars = [load_array(p, "exemplar") for p in spec.exemplars]
    resume = worker.checkpoint(spec.resume) if spec.resume else None
    check_output(spec.checkpoint, 8 << 20, "params.checkpoint")  # before compute
    start = time.perf_counter()
    ckpt = texture.train(exemplars if len(exemplars) > 1 else exemplars[0], options,
                         progress=worker.progress_callback(task, spec.job_dir), cancel=task.token,
                         resume=resume, map_names=spec.map_names)
    task.token.check()
    ckpt.save(spec.checkpoint)  # atomic (temp file + rename) in the checkpoint's folder
    worker.remember_checkpoint(spec.checkpoint, ckpt)
    return {
        "outputs": [{"path": str(spec.checkpoint), "name": "checkpoint", "kind": "checkpoint"}],
        "info": {"seconds": round(time.perf_counter() - start, 3), "model": ckpt.options.model,
                 "steps": ckpt.step, "train_seconds": ckpt.train_seconds, "losses": dict(ckpt.losses),
                 "maps": [{"name": m.name, "kind": m.kind, "channels": m.channels} for m in ckpt.maps],
                 "exemplar_size": list(ckpt.exemplar_size)},
    }


def _texture_generate(worker: Worker, task: Task) -> dict:
    spec: GenerateRequest = task.spec
    from . import texture
    from .texture.guided import generation_info

    start = time.perf_counter()
    ckpt = worker.checkpoint(spec.checkpoint)
    task.token.check()
    check_output(spec.output_dir / ".atelier-probe.npy", spec.width * spec.height * ckpt.channels * 4,
                 "params.output_dir")  # before compute
    check_memory(texture.generation_memory(ckpt, spec.width, spec.height, spec.tileable),
                 f"params.width×height {spec.width}×{spec.height}", "ask for a smaller size (a tileable texture can be repeated)")
    maps = texture.generate_maps(ckpt, spec.width, spec.height, seed=spec.seed, tileable=spec.tileable,
                                 device=spec.device, check=task.token.check, raw=spec.raw)  # cancellable
    task.token.check()
    targets = []
    seen: set[str] = set()
    for info, arr in maps:
        base = safe_name(info.name)
        name, n = base, 2
        while name in seen:
            name, n = f"{base}_{n}", n + 1
        seen.add(name)
        path = spec.output_dir / f"{name}.npy"
        if (path.exists() or path.is_symlink()) and not spec.overwrite:
            raise UserError(f"params.output_dir: '{path}' already exists (send \"overwrite\": true to replace it)")
        targets.append((info, path, np.asarray(arr, dtype=np.float32)))
    write_set([(path, npy_writer(arr)) for _, path, arr in targets], "params.output_dir")  # all maps or none
    outputs = []
    for info, path, arr in targets:
        outputs.append({"path": str(path), "name": info.name, "kind": info.kind,
                        "channels": int(arr.shape[2]) if arr.ndim == 3 else 1,
                        "width": int(arr.shape[1]), "height": int(arr.shape[0])})
    info = {"seconds": round(time.perf_counter() - start, 3), "seed": spec.seed, "tileable": spec.tileable,
            "model": ckpt.options.model, "steps": ckpt.step,
            **generation_info(ckpt, spec.raw)}  # the add-on reports job notes
    return {"outputs": outputs, "info": info}


HANDLERS: dict[str, Callable[[Worker, Task], dict]] = {
    "check_setup": _check_setup,
    "stylize": _stylize,
    "texture_train": _texture_train,
    "texture_generate": _texture_generate,
    "animate": lambda worker, task: _animate(worker, task),
}


def _animate(worker: Worker, task: Task) -> dict:
    from .animation.job import run_animate_task
    return run_animate_task(worker, task)
