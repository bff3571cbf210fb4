"""Colour handling for style transfer: luminance/chroma split and colour-statistics matching.

Arrays are float32 H×W×3 display-referred sRGB in 0..1."""
from __future__ import annotations

import numpy as np

# YIQ (NTSC) transform: Y is luminance, I/Q the chroma the content keeps in luminance mode.
_RGB2YIQ = np.array([[0.299, 0.587, 0.114],
                     [0.595716, -0.274453, -0.321263],
                     [0.211456, -0.522591, 0.311135]], dtype=np.float64)
_YIQ2RGB = np.linalg.inv(_RGB2YIQ)


def rgb_to_yiq(rgb: np.ndarray) -> np.ndarray:
    return (rgb.astype(np.float64) @ _RGB2YIQ.T).astype(np.float32)


def yiq_to_rgb(yiq: np.ndarray) -> np.ndarray:
    return (yiq.astype(np.float64) @ _YIQ2RGB.T).astype(np.float32)


def luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb_to_yiq(rgb)[..., 0]


def match_luminance(style_y: np.ndarray, content_y: np.ndarray) -> np.ndarray:
    """Shift/scale the style's luminance to the content's mean and spread (Gatys et al. 2016)."""
    s_mu, s_sd = float(style_y.mean()), float(style_y.std())
    c_mu, c_sd = float(content_y.mean()), float(content_y.std())
    return ((style_y - s_mu) * (c_sd / max(s_sd, 1e-6)) + c_mu).astype(np.float32)


def recombine_luminance(result_y: np.ndarray, content_rgb: np.ndarray) -> np.ndarray:
    """The stylised luminance with the content's own chroma (I, Q)."""
    yiq = rgb_to_yiq(content_rgb)
    yiq[..., 0] = result_y
    return np.clip(yiq_to_rgb(yiq), 0.0, 1.0)


def _sqrtm(cov: np.ndarray, inverse: bool = False) -> np.ndarray:
    vals, vecs = np.linalg.eigh(cov)
    vals = np.clip(vals, 1e-8, None)
    d = vals ** (-0.5 if inverse else 0.5)
    return (vecs * d) @ vecs.T


def match_color_histogram(source: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Recolour `source` so its colour mean and covariance equal `reference`'s.

    Symmetric matrix square roots keep hues oriented (an affine colour transfer as in
    Gatys et al., "Preserving color in neural artistic style transfer")."""
    src = source[..., :3].reshape(-1, 3).astype(np.float64)
    ref = reference[..., :3].reshape(-1, 3).astype(np.float64)
    mu_s, mu_r = src.mean(0), ref.mean(0)
    cov_s = np.cov(src, rowvar=False) + 1e-5 * np.eye(3)
    cov_r = np.cov(ref, rowvar=False) + 1e-5 * np.eye(3)
    a = _sqrtm(cov_r) @ _sqrtm(cov_s, inverse=True)
    out = (src - mu_s) @ a.T + mu_r
    return np.clip(out, 0.0, 1.0).reshape(source.shape[:-1] + (3,)).astype(np.float32)
