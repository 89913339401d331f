"""NIQE, the Natural Image Quality Evaluator, computed in strips of block rows.

Mittal, Soundararajan and Bovik, "Making a 'Completely Blind' Image Quality Analyzer", IEEE Signal
Processing Letters 20(3), 2013. The luma ``I`` is normalised locally (Eq. 1),
``Î = (I - μ) / (σ + 1)``, with ``μ`` and ``σ`` the mean and standard deviation under a 7x7
Gaussian window ('nearest' borders). Each 96x96 block of ``Î`` gives 18 features: the shape and
spread of a generalised Gaussian fitted to its values, and the asymmetric generalised Gaussian
fits (shape, mean, left and right spreads) of the products of horizontally, vertically and
diagonally adjacent values (Eqs. 2-8). The same 18 come from the 48x48 blocks of the image halved
by MATLAB's bicubic ``imresize``. A multivariate Gaussian ``(ν₂, Σ₂)`` fitted to all blocks' 36
features is compared with the one ``(ν₁, Σ₁)`` fitted to pristine natural images (Eq. 10):

    NIQE = sqrt((ν₁ - ν₂)ᵀ ((Σ₁ + Σ₂) / 2)⁺ (ν₁ - ν₂))

Lower means more natural-looking. NIQE needs no reference, and it is only a weak proxy for
quality: it rewards natural statistics, not fidelity to any ground truth.

Every feature belongs to one block, so the image is processed a few block rows at a time with
small halos (the Gaussian window's 3 rows, the resize's taps): memory is bounded by the strip,
not the image. The numbers are those of BasicSR 1.4.2's ``calculate_niqe(img, crop_border,
input_order='HWC', convert_to='y')``, which follows the official MATLAB release closely: the same
pristine parameters and block features (BasicSR's), the same float32 steps, and BasicSR's own
float32 luma and ``imresize`` rather than srapp's float64 ones. Last-bit differences matter here:
each generalised Gaussian shape is the argmin over a grid of step 0.001, so float64 instead of
float32 in the half-size image moves some blocks' shapes by a step and the score by up to about
1e-4 relative, and one pixel's luma rounded to the other side of k + 1/2 moved it by 1e-3 on a
290x390 image.

Conventions: ``image`` is RGB (srapp's order; BasicSR takes BGR) or gray, put on the 0..255
scale (uint16 divided by 257, floats in [0, 1] times 255); the luma is BasicSR's ``to_y_channel``
(MATLAB's ``rgb2ycbcr`` Y, computed in float32; a gray image is its own luma) rounded to whole
levels whatever the input depth, as MATLAB's 8-bit images are (the pristine model was fitted to
8-bit images). So ``niqe(rgb, c) == calculate_niqe(rgb[..., ::-1] / s, c)`` with ``s`` 1 for
uint8 and 257 for uint16. Alpha is ignored.
"""

from __future__ import annotations

import functools
import importlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from ..pixels import peak, split_planes

BLOCK = 96  # block side at full size; half size uses BLOCK // 2
FEATURES = 18  # per block and scale
_HALO = 3  # rows the 7x7 window reaches beyond a row
_RESIZE_TAPS = 4  # a half-size row reads full-size rows 2r - 3 .. 2r + 4
# BasicSR's float32 resize (one torch.mv per output column, over MKL) sums the last few (rows mod 4
# here; up to 16 allowed for) output rows of its input differently from the others; strips start
# on a multiple of this many full-size rows and end this many beyond the rows their kept outputs
# read, so every kept row is summed as in the whole-image resize, bit for bit (tested).
_RESIZE_ALIGN = 32
_STRIP_PIXELS = 1 << 20  # full-size pixels per strip by default


@dataclass(frozen=True)
class _BasicSR:
    """What NIQE borrows from BasicSR, imported on first use (``import srapp`` stays free of it)."""

    compute_feature: Callable[[np.ndarray], list[float]]
    to_y_channel: Callable[[np.ndarray], np.ndarray]
    imresize: Callable[..., Any]
    convolve: Callable[..., np.ndarray]
    mu_pristine: np.ndarray
    cov_pristine: np.ndarray
    window: np.ndarray


@functools.cache
def _basicsr() -> _BasicSR:
    importlib.import_module("srapp._compat")  # the torchvision alias BasicSR needs
    niqe_module: ModuleType = importlib.import_module("basicsr.metrics.niqe")
    metric_util: ModuleType = importlib.import_module("basicsr.metrics.metric_util")
    matlab: ModuleType = importlib.import_module("basicsr.utils.matlab_functions")
    from scipy.ndimage import convolve

    params = np.load(Path(niqe_module.__file__).with_name("niqe_pris_params.npz"))
    return _BasicSR(niqe_module.compute_feature, metric_util.to_y_channel, matlab.imresize, convolve,
                    params["mu_pris_param"], params["cov_pris_param"], params["gaussian_window"])


def niqe(image: np.ndarray, crop_border: int = 0, *, block_rows: int | None = None) -> float | None:
    """Mittal et al. 2013's NIQE of ``image`` (lower is more natural; the math is in the module's
    docstring), or ``None`` where it is undefined.

    ``image`` is any srapp layout (gray, RGB, with or without alpha; uint8, uint16 or float in
    [0, 1]); ``crop_border`` pixels are dropped from every side first. The image is cut to whole
    96x96 blocks (the right and bottom remainders are not scored); with fewer than two blocks, or
    fewer than two blocks whose features are all defined (a flat image), there is no covariance
    to fit and the result is ``None``: images under 96 pixels on a side have no blocks at all.
    ``block_rows`` sets how many rows of blocks one strip holds (default: about a million
    pixels' worth); the result does not depend on it. See the module's docstring for the
    conventions: it equals BasicSR's ``calculate_niqe`` of the BGR image on the 0..255 scale.
    """
    if crop_border < 0:
        raise ValueError(f"crop_border must be >= 0, got {crop_border}")
    if block_rows is not None and block_rows < 1:
        raise ValueError(f"block_rows must be positive, got {block_rows}")
    colour = split_planes(image).colour
    if crop_border:
        colour = colour[crop_border:-crop_border, crop_border:-crop_border]
    rows, columns = colour.shape[0] // BLOCK, colour.shape[1] // BLOCK
    if rows * columns < 2:
        return None
    colour = colour[:rows * BLOCK, :columns * BLOCK]
    if block_rows is None:
        block_rows = max(1, _STRIP_PIXELS // (BLOCK * colour.shape[1]))
    basicsr = _basicsr()
    features = np.empty((rows, columns, 2 * FEATURES))
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        # a block without negative (or positive) values has undefined spreads: NaN features,
        # which the fit below leaves out as MATLAB's nanmean / nancov do
        warnings.simplefilter("ignore", RuntimeWarning)
        for first in range(0, rows, block_rows):
            last = min(rows, first + block_rows)
            features[first:last] = _strip_features(colour, first, last, basicsr)
    # BasicSR lists the blocks column by column; the same order keeps its sums' rounding
    return _distance(features.transpose(1, 0, 2).reshape(-1, 2 * FEATURES), basicsr)


def _luma(colour: np.ndarray, basicsr: _BasicSR) -> np.ndarray:
    """BasicSR's whole-level Y of RGB or gray rows, float32."""
    scaled = (colour / (peak(colour.dtype) / 255.0)).astype(np.float32)
    if scaled.ndim == 3:
        scaled = scaled[:, :, ::-1]
    return np.round(basicsr.to_y_channel(scaled).reshape(colour.shape[:2]))


def _normalised(luma: np.ndarray, basicsr: _BasicSR) -> np.ndarray:
    """Eq. 1: ``(I - μ) / (σ + 1)``, in float32 as BasicSR computes it."""
    mu = basicsr.convolve(luma, basicsr.window, mode="nearest")
    sigma = np.sqrt(np.abs(basicsr.convolve(np.square(luma), basicsr.window, mode="nearest") - np.square(mu)))
    return (luma - mu) / (sigma + 1)


def _block_features(normalised: np.ndarray, size: int, basicsr: _BasicSR) -> np.ndarray:
    """``(block rows, block columns, 18)`` from an image of whole ``size`` x ``size`` blocks."""
    rows, columns = normalised.shape[0] // size, normalised.shape[1] // size
    return np.array([[basicsr.compute_feature(normalised[r * size:(r + 1) * size, c * size:(c + 1) * size])
                      for c in range(columns)] for r in range(rows)], dtype=np.float64)


def _strip_features(colour: np.ndarray, first: int, last: int, basicsr: _BasicSR) -> np.ndarray:
    """Both scales' features of block rows ``[first, last)`` of ``colour`` (whole blocks only)."""
    height, half = colour.shape[0], colour.shape[0] // 2
    size = BLOCK // 2
    # half-size rows the window needs, then the full-size rows their resize reads
    half_lo, half_hi = max(0, first * size - _HALO), min(half, last * size + _HALO)
    lo = max(0, (2 * half_lo - _RESIZE_TAPS) // _RESIZE_ALIGN * _RESIZE_ALIGN)
    hi = 2 * half_hi + _RESIZE_TAPS + _RESIZE_ALIGN
    if hi >= height:
        hi = height  # the image's own last rows: grouped as in the whole-image resize
    luma = _luma(colour[lo:hi], basicsr)

    full_lo, full_hi = max(0, first * BLOCK - _HALO), min(height, last * BLOCK + _HALO)
    normalised = _normalised(luma[full_lo - lo:full_hi - lo], basicsr)
    top = first * BLOCK - full_lo
    full = _block_features(normalised[top:top + (last - first) * BLOCK], BLOCK, basicsr)

    halved = basicsr.imresize(luma / 255.0, scale=0.5, antialiasing=True) * 255.0
    normalised = _normalised(halved[half_lo - lo // 2:half_hi - lo // 2], basicsr)
    top = first * size - half_lo
    small = _block_features(normalised[top:top + (last - first) * size], size, basicsr)
    return np.concatenate([full, small], axis=2)


def _distance(features: np.ndarray, basicsr: _BasicSR) -> float | None:
    """Eq. 10 between the blocks' Gaussian fit and the pristine one; None without two complete blocks."""
    complete = features[~np.isnan(features).any(axis=1)]
    if len(complete) < 2:
        return None
    difference = basicsr.mu_pristine - np.nanmean(features, axis=0)
    pooled = np.linalg.pinv((basicsr.cov_pristine + np.cov(complete, rowvar=False)) / 2)
    return float(np.sqrt(np.squeeze(difference @ pooled @ difference.T)))
