"""Applying a plan on a CPU with NumPy and OpenCV: the path for data-loader workers and evaluation.

One ``H x W x 3`` RGB image, float in [0, 1], becomes its ``H/scale x W/scale x 3`` float32 LR
image on the 8-bit grid (``k / 255``), following Real-ESRGAN's model (Wang et al., ICCVW 2021;
see :mod:`.plan`). Each step is a public function of plain arrays:

* :func:`blur`: ``cv2.filter2D`` (correlation) with mirrored borders (``BORDER_REFLECT_101``:
  ``x[-1] = x[1]``), as Real-ESRGAN's dataset and BasicSR's ``filter2D`` pad.
* :func:`resize`: ``cv2.resize`` without antialiasing; ``area`` is the box-overlap average
  (each output pixel averages the input over its footprint), ``bilinear`` and ``bicubic``
  (``a = -0.75``) sample at pixel centres.
* :func:`add_gaussian_noise`: ``y = clip(x + sigma / 255 * n)``, ``n ~ N(0, 1)`` per pixel and
  channel, or one field for all channels when ``gray``.
* :func:`add_poisson_noise`: shot noise as BasicSR and scikit-image make it. With ``v`` the
  number of distinct 8-bit levels of the image (its luminance when ``gray``) rounded up to a
  power of two and ``x8`` the image rounded to 8 bits, ``y = clip(x + s (P(v x8) / v - x8))``,
  ``P`` Poisson; the added noise has mean 0 and variance ``s^2 x8 / v``.
* :func:`jpeg`: OpenCV's (libjpeg's) encoder and decoder at an integer quality; deterministic.

The noise fields come from ``numpy.random.default_rng(plan.noise_seed)``, so a plan gives the
same bytes on every run.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..engine.resize import imresize
from .plan import Final, Noise, Plan, Stage, Steps, run_plan

LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601, the weights of OpenCV's and torchvision's gray
_INTERPOLATION = {"area": cv2.INTER_AREA, "bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC}


def apply_numpy(image: np.ndarray, plan: Plan, scale: int) -> np.ndarray:
    """Degrade one ``H x W x 3`` float RGB image in [0, 1] by ``plan`` to its ``H/scale x W/scale``
    float32 LR image on the 8-bit grid. ``scale`` must divide ``H`` and ``W``."""
    if image.ndim != 3 or image.shape[2] != 3 or not np.issubdtype(image.dtype, np.floating):
        raise ValueError(f"expected an H x W x 3 float image in [0, 1], got {image.dtype} {image.shape}")
    return run_plan(image.astype(np.float32, copy=False), *image.shape[:2], plan, scale, _STEPS)


def blur(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Correlate each channel with ``kernel`` (odd square), borders mirrored without repeating the edge."""
    return cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REFLECT_101)


def resize(image: np.ndarray, size: tuple[int, int], mode: str) -> np.ndarray:
    """Resize to ``size = (height, width)`` with ``mode`` (``area``, ``bilinear`` or ``bicubic``)."""
    return cv2.resize(image, (size[1], size[0]), interpolation=_INTERPOLATION[mode])


def add_gaussian_noise(image: np.ndarray, sigma: float, gray: bool, rng: np.random.Generator) -> np.ndarray:
    """``clip(image + sigma / 255 * n)`` with ``n`` standard normal (one field for all channels if ``gray``)."""
    shape = (*image.shape[:2], 1) if gray else image.shape
    noise = rng.standard_normal(shape, dtype=np.float32) * np.float32(sigma / 255.0)
    return np.clip(image + noise, 0.0, 1.0)


def add_poisson_noise(image: np.ndarray, scale: float, gray: bool, rng: np.random.Generator) -> np.ndarray:
    """Shot noise of strength ``scale`` (the module docstring states the formula)."""
    source = (image @ LUMA)[..., None] if gray else image
    levels = np.clip(np.round(source * 255.0), 0, 255) / 255.0
    # as many photon-count steps as the image has distinct 8-bit levels, rounded up to a power of two
    counts = 2.0 ** np.ceil(np.log2(len(np.unique(levels))))
    noise = rng.poisson(levels * counts) / counts - levels
    return np.clip(image + (scale * noise).astype(np.float32), 0.0, 1.0)


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """Encode the RGB image (rounded to 8 bits) as JPEG at ``quality`` with OpenCV and decode it."""
    pixels = cv2.cvtColor(to_uint8(image), cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError(f"OpenCV could not encode a {pixels.shape} image as JPEG")
    decoded = cv2.cvtColor(cv2.imdecode(encoded, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return decoded.astype(np.float32) / np.float32(255.0)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """``clip(round(255 x))`` as ``uint8`` (ties to even, as ``torch.round`` and OpenCV's ``convertTo``)."""
    return np.clip(np.round(image * 255.0), 0, 255).astype(np.uint8)


def quantize(image: np.ndarray) -> np.ndarray:
    """The float32 image on the 8-bit grid, as Real-ESRGAN leaves its LR images."""
    return to_uint8(image).astype(np.float32) / np.float32(255.0)


def _stage(image: np.ndarray, stage: Stage, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    out = image if stage.blur is None else blur(image, stage.blur.array())
    out = resize(out, size, stage.resize.mode)
    return _noise(out, stage.noise, rng)


def _noise(image: np.ndarray, noise: Noise, rng: np.random.Generator) -> np.ndarray:
    if noise.kind == "gaussian":
        return add_gaussian_noise(image, noise.strength, noise.gray, rng)
    return add_poisson_noise(image, noise.strength, noise.gray, rng)


def _resize_and_sinc(image: np.ndarray, size: tuple[int, int], final: Final) -> np.ndarray:
    out = resize(image, size, final.mode)
    return out if final.sinc is None else blur(out, final.sinc.array())


_STEPS = Steps(np.random.default_rng, _stage, jpeg, _resize_and_sinc, quantize,
               lambda image, size: imresize(image, output_shape=size))
