"""PSNR and SSIM with the conventions of the super-resolution literature (MATLAB's).

Both take HWC (or HW) numpy arrays, uint8 / uint16 / float in [0, 1], and name their conventions
in the signature: ``crop_border`` pixels are dropped from every side, ``y_channel`` scores the
BT.601 luma of MATLAB's ``rgb2ycbcr`` (rounded to the input's integer grid, as MATLAB returns an
image of the input's class). A single-channel image is its own Y. Both are computed a strip of rows
at a time (SSIM's strips overlap by its window), summing in float64: the value is the whole image's.
"""

from __future__ import annotations

from typing import Iterator

import cv2
import numpy as np

from ..pixels import to_unit_float

_Y_WEIGHTS = np.array([65.481, 128.553, 24.966])  # BT.601 for RGB in [0, 1], Y in [16, 235]
# Both metrics work a strip of rows at a time, so their float working memory is bounded by a strip of
# about this many pixels, not by the image (a whole 16 MP pair in float64 costs gigabytes).
STRIP_PIXELS = 1 << 19


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


def _cropped_size(img: np.ndarray, ref: np.ndarray, crop_border: int) -> tuple[int, int]:
    """Height and width left once ``crop_border`` pixels are dropped from every side."""
    if img.shape != ref.shape:
        raise ValueError(f"image and reference differ in shape: {img.shape} vs {ref.shape}")
    if crop_border < 0:
        raise ValueError(f"crop_border must be >= 0, got {crop_border}")
    height, width = (max(0, side - 2 * crop_border) for side in img.shape[:2])
    if height == 0 or width == 0:
        raise ValueError(f"nothing left to compare after cropping {crop_border} pixels from {img.shape}")
    return height, width


def _rows(image: np.ndarray, crop_border: int, y_channel: bool, start: int, stop: int) -> np.ndarray:
    """Rows ``start:stop`` of the cropped ``image`` on the 0..255 scale, ``HWC``."""
    part = image[crop_border + start : crop_border + stop, crop_border : image.shape[1] - crop_border]
    if y_channel:
        return rgb_to_y(part)[..., None]
    scaled = to_unit_float(part) * 255.0
    return scaled[..., None] if scaled.ndim == 2 else scaled


def _strips(height: int, width: int, halo: int) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` row ranges of at most about :data:`STRIP_PIXELS` pixels whose outputs cover the
    ``height - halo`` output rows once each; an output row needs its input row and the ``halo`` below."""
    outputs = height - halo
    step = max(1, STRIP_PIXELS // width - halo)
    for start in range(0, outputs, step):
        yield start, min(start + step, outputs) + halo


def psnr(img: np.ndarray, ref: np.ndarray, crop_border: int = 0, y_channel: bool = False) -> float:
    """Peak signal-to-noise ratio in dB, ``10 log10(255^2 / MSE)`` on the 0..255 scale (inf if equal)."""
    height, width = _cropped_size(img, ref, crop_border)
    squared_error, count = 0.0, 0
    for start, stop in _strips(height, width, halo=0):
        a, b = (_rows(image, crop_border, y_channel, start, stop) for image in (img, ref))
        squared_error += float(np.sum((a - b) ** 2))
        count += a.size
    mse = squared_error / count
    return float("inf") if mse == 0 else float(10.0 * np.log10(255.0**2 / mse))


_SSIM_WINDOW = 11


def _ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Wang et al.'s ``ssim.m`` map: 11x11 Gaussian (sigma 1.5), K = (0.01, 0.03), L = 255, 'valid' part."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    kernel = cv2.getGaussianKernel(_SSIM_WINDOW, 1.5)
    half = _SSIM_WINDOW // 2
    inner = np.s_[half:-half, half:-half]

    def blur(x: np.ndarray) -> np.ndarray:
        return cv2.sepFilter2D(x, -1, kernel, kernel)[inner]  # the Gaussian window is separable

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    return ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))


def ssim(img: np.ndarray, ref: np.ndarray, crop_border: int = 0, y_channel: bool = False) -> float:
    """Structural similarity, MATLAB style; the mean over channels for colour images."""
    height, width = _cropped_size(img, ref, crop_border)
    if min(height, width) < _SSIM_WINDOW:
        raise ValueError(f"SSIM needs at least 11x11 pixels after cropping, got {height}x{width}")
    total, count = 0.0, 0
    for start, stop in _strips(height, width, halo=_SSIM_WINDOW - 1):
        a, b = (_rows(image, crop_border, y_channel, start, stop) for image in (img, ref))
        for channel in range(a.shape[2]):
            # every channel's map has as many pixels, so the mean of all is the mean of the channel means
            ssim_map = _ssim_map(np.ascontiguousarray(a[..., channel]), np.ascontiguousarray(b[..., channel]))
            total += float(ssim_map.sum())
            count += ssim_map.size
    return total / count
