"""PSNR and SSIM with the conventions of the super-resolution literature (MATLAB's).

Both take HWC (or HW) numpy arrays, uint8 / uint16 / float in [0, 1], and name their conventions
in the signature: ``crop_border`` pixels are dropped from every side, ``y_channel`` scores the
BT.601 luma of MATLAB's ``rgb2ycbcr`` (rounded to the input's integer grid, as MATLAB returns an
image of the input's class). A single-channel image is its own Y.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..pixels import to_unit_float

_Y_WEIGHTS = np.array([65.481, 128.553, 24.966])  # BT.601 for RGB in [0, 1], Y in [16, 235]


def rgb_to_y(image: np.ndarray) -> np.ndarray:
    """MATLAB ``rgb2ycbcr`` luma on the 0..255 scale (``HW``), rounded like MATLAB for integer input.

    Single-channel input is returned as its own luma (scaled to 0..255).
    """
    unit = to_unit_float(image)
    if unit.ndim == 3 and unit.shape[2] == 1:
        unit = unit[:, :, 0]
    if unit.ndim == 2:
        return unit * 255.0
    if unit.shape[2] != 3:
        raise ValueError(f"rgb_to_y expects RGB or single-channel images, got {unit.shape[2]} channels")
    luma = 16.0 + unit @ _Y_WEIGHTS
    if image.dtype == np.uint8:
        return np.round(luma)
    if image.dtype == np.uint16:
        return np.round(luma * 257.0) / 257.0
    return luma


def _prepare(img: np.ndarray, ref: np.ndarray, crop_border: int, y_channel: bool) -> tuple[np.ndarray, np.ndarray]:
    """Both images on the 0..255 scale, ``HWC``, cropped."""
    if img.shape != ref.shape:
        raise ValueError(f"image and reference differ in shape: {img.shape} vs {ref.shape}")
    if crop_border < 0:
        raise ValueError(f"crop_border must be >= 0, got {crop_border}")
    if y_channel:
        a, b = rgb_to_y(img)[..., None], rgb_to_y(ref)[..., None]
    else:
        a, b = to_unit_float(img) * 255.0, to_unit_float(ref) * 255.0
        if a.ndim == 2:
            a, b = a[..., None], b[..., None]
    if crop_border:
        a, b = a[crop_border:-crop_border, crop_border:-crop_border], b[crop_border:-crop_border, crop_border:-crop_border]
    if a.size == 0:
        raise ValueError(f"nothing left to compare after cropping {crop_border} pixels from {img.shape}")
    return a, b


def psnr(img: np.ndarray, ref: np.ndarray, crop_border: int = 0, y_channel: bool = False) -> float:
    """Peak signal-to-noise ratio in dB, ``10 log10(255^2 / MSE)`` on the 0..255 scale (inf if equal)."""
    a, b = _prepare(img, ref, crop_border, y_channel)
    mse = np.mean((a - b) ** 2)
    return float("inf") if mse == 0 else float(10.0 * np.log10(255.0**2 / mse))


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    kernel = cv2.getGaussianKernel(size, sigma)
    return kernel @ kernel.T


def _ssim_single_channel(a: np.ndarray, b: np.ndarray) -> float:
    """Wang et al.'s ``ssim.m``: 11x11 Gaussian (sigma 1.5), K = (0.01, 0.03), L = 255, 'valid' maps."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    window = _gaussian_window()

    def blur(x: np.ndarray) -> np.ndarray:
        return cv2.filter2D(x, -1, window)[5:-5, 5:-5]  # keep the 'valid' part only

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(ssim_map.mean())


def ssim(img: np.ndarray, ref: np.ndarray, crop_border: int = 0, y_channel: bool = False) -> float:
    """Structural similarity, MATLAB style; the mean over channels for colour images."""
    a, b = _prepare(img, ref, crop_border, y_channel)
    if min(a.shape[:2]) < 11:
        raise ValueError(f"SSIM needs at least 11x11 pixels after cropping, got {a.shape[0]}x{a.shape[1]}")
    return float(np.mean([_ssim_single_channel(a[..., c], b[..., c]) for c in range(a.shape[2])]))
