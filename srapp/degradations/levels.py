"""Named, fixed evaluation levels: ``light``, ``medium``, ``heavy``.

Each level is a :class:`~.distribution.DegradationConfig` narrower than the training distribution
(Real-ESRGAN's, Wang et al., ICCVW 2021). ``degrade(hr, scale, level, seed)`` draws the plan with
``numpy.random.default_rng(seed)`` (``LEVELS[level].sample(rng)``) and applies it on the CPU path
(OpenCV filtering and resizing, NumPy noise, libjpeg at integer qualities), so an image of an
evaluation set, degraded with its own seed (:func:`image_seed` of its file name), gets the same LR
bytes on every run. Over a set, the
images spread over the level's ranges rather than all sharing one plan. Ranges are inclusive;
``U(a, b)`` is uniform; sigmas are in pixels of the image the step sees; noise sigma is on the
0-255 scale; kernel sizes are 7, 9, ..., 21 with equal probability.

``light``: a good camera's photo, saved again for the web.
    First stage: isotropic Gaussian blur, sigma ~ U(0.2, 1.0); no resize; colour or (p = 0.4)
    luminance Gaussian noise, sigma ~ U(0, 2); JPEG quality ~ U{85..95}.
    Second stage: no blur; area reduction to the LR size; Gaussian noise, sigma ~ U(0, 1).
    Final: no sinc; JPEG ~ U{85..95}, before or after the (identity) final resize, p = 1/2 each.

``medium``: a typical phone or web photo: optics, demosaicking and noise reduction leave a slightly
soft, sometimes directional blur; residual sensor noise is mild; the camera saves a high-quality
JPEG, a web service or messenger resizes it and re-encodes it at a middling quality, and sharpening
or resampling leaves ringing halos.
    First stage: Real-ESRGAN's kernel mixture (Gaussian 0.45, anisotropic 0.25, generalised 0.12 +
    0.03, plateau 0.12 + 0.03; no sinc), sigma ~ U(0.2, 1.5), betag in [0.5, 4], betap in [1, 2];
    resize up / down / keep 0.2 / 0.7 / 0.1 by U(1, 1.2) / U(0.5, 1), mode area, bilinear or
    bicubic; Gaussian noise (p = 0.5) sigma ~ U(1, 10) or Poisson scale ~ U(0.05, 1), luminance-only
    with p = 0.4; JPEG ~ U{70..95}.
    Second stage: blur with p = 0.5 (same mixture), sigma ~ U(0.2, 1.0); resize up / down / keep
    0.3 / 0.4 / 0.3 by U(1, 1.1) / U(0.6, 1) of the LR size; Gaussian sigma ~ U(1, 5) or Poisson
    scale ~ U(0.05, 0.5), luminance-only with p = 0.4.
    Final: sinc filter with p = 0.5 (omega_c ~ U(pi/3, pi)); JPEG ~ U{60..90}; both orders.

``heavy``: an old, low-light or many-times re-shared photo: the upper half of the published ranges.
    First stage: the published kernel mixture with sinc p = 0.1, sigma ~ U(1, 3); published resize
    (0.2 / 0.7 / 0.1 by U(1, 1.5) / U(0.15, 1)); Gaussian sigma ~ U(10, 30) or Poisson scale
    ~ U(1, 3), luminance-only with p = 0.4; JPEG ~ U{30..60}.
    Second stage: blur with p = 0.8, sigma ~ U(0.5, 1.5), sinc p = 0.1; published resize
    (0.3 / 0.4 / 0.3 by U(1, 1.2) / U(0.3, 1)); Gaussian sigma ~ U(5, 25) or Poisson scale
    ~ U(0.5, 2.5), luminance-only with p = 0.4.
    Final: sinc with p = 0.8; JPEG ~ U{30..60}; both orders.

No level mixes in clean pairs or asks for sharpened targets. The bytes depend only on the seed and
the software (NumPy's generator streams, OpenCV, libjpeg); a different CPU could, in principle,
move a value across a rounding boundary in OpenCV's or NumPy's vectorised float code.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from pathlib import PurePath
from types import MappingProxyType

import numpy as np

from ..pixels import mod_crop, to_rgb8
from .distribution import DegradationConfig, StageConfig
from .numpy_executor import apply_numpy, to_uint8

# no resize in the stage (resampling to the same size is the identity in every mode)
_KEEP = {"resize_probs": (0.0, 0.0, 1.0), "resize_modes": ("area",)}

LIGHT = DegradationConfig(
    first=StageConfig(
        kernel_shapes=("iso",), kernel_probs=(1.0,), sinc_prob=0.0, blur_sigma=(0.2, 1.0), **_KEEP,
        gaussian_noise_prob=1.0, noise_range=(0.0, 2.0), jpeg_range=(85, 95),
    ),
    second=StageConfig(
        blur_prob=0.0, **_KEEP, gaussian_noise_prob=1.0, noise_range=(0.0, 1.0), jpeg_range=(85, 95),
    ),
    final_sinc_prob=0.0,
    final_resize_modes=("area",),
    sharpen_target=False,
)

MEDIUM = DegradationConfig(
    first=StageConfig(
        sinc_prob=0.0, blur_sigma=(0.2, 1.5), resize_range=(0.5, 1.2),
        noise_range=(1.0, 10.0), poisson_scale_range=(0.05, 1.0), jpeg_range=(70, 95),
    ),
    second=StageConfig(
        blur_prob=0.5, sinc_prob=0.0, blur_sigma=(0.2, 1.0), resize_probs=(0.3, 0.4, 0.3),
        resize_range=(0.6, 1.1), noise_range=(1.0, 5.0), poisson_scale_range=(0.05, 0.5), jpeg_range=(60, 90),
    ),
    final_sinc_prob=0.5,
    sharpen_target=False,
)

HEAVY = DegradationConfig(
    first=StageConfig(
        blur_sigma=(1.0, 3.0), noise_range=(10.0, 30.0), poisson_scale_range=(1.0, 3.0), jpeg_range=(30, 60),
    ),
    second=StageConfig(
        blur_prob=0.8, blur_sigma=(0.5, 1.5), resize_probs=(0.3, 0.4, 0.3), resize_range=(0.3, 1.2),
        noise_range=(5.0, 25.0), poisson_scale_range=(0.5, 2.5), jpeg_range=(30, 60),
    ),
    final_sinc_prob=0.8,
    sharpen_target=False,
)

LEVELS: Mapping[str, DegradationConfig] = MappingProxyType({"light": LIGHT, "medium": MEDIUM, "heavy": HEAVY})


def degrade(hr: np.ndarray, scale: int, level: str = "medium", seed: int = 0) -> np.ndarray:
    """The ``level`` LR image of an ``H x W x 3`` uint8 RGB image: ``H/scale x W/scale x 3`` uint8,
    the same bytes for the same ``seed`` (use the image's index in its set). ``scale`` must divide
    ``H`` and ``W`` (mod-crop the HR image first)."""
    if level not in LEVELS:
        raise ValueError(f"unknown degradation level {level!r}; expected one of {tuple(LEVELS)}")
    if hr.dtype != np.uint8 or hr.ndim != 3 or hr.shape[2] != 3:
        raise ValueError(f"expected an H x W x 3 uint8 RGB image, got {hr.dtype} {hr.shape}")
    plan = LEVELS[level].sample(np.random.default_rng(seed))
    return to_uint8(apply_numpy(hr.astype(np.float32) / np.float32(255.0), plan, scale))


def evaluation_pair(image: np.ndarray, scale: int, level: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    """A benchmark image's ``(reference, LR)`` at ``level``: the image as 8-bit RGB, mod-cropped to
    ``scale``, and its degradation with the image's own seed (:func:`image_seed` of ``name``). What
    ``srapp benchmark --degradation`` scores and the degraded validation sets train against."""
    reference = mod_crop(to_rgb8(image), scale)
    return reference, degrade(reference, scale, level, image_seed(name))


def image_seed(name: str) -> int:
    """The seed of an evaluation image: CRC-32 of its file name, so an image gets the same LR in
    any set, order or folder (``srapp benchmark --degradation`` and the degraded validation sets)."""
    return zlib.crc32(PurePath(name).name.encode("utf-8", "surrogateescape"))
