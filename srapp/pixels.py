"""The pixel chores every part of srapp shares, written once: unit floats, the split of an image
into its colour and alpha planes and back, three-channel RGB for the networks and the metrics,
tensors, and the mod-crop of the SR protocol.

Image arrays are ``HxW`` (gray), ``HxWx1`` (gray), ``HxWx2`` (gray + alpha), ``HxWx3`` (RGB) or
``HxWx4`` (RGBA), ``uint8`` or ``uint16``; float arrays are taken to be in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

INTEGER_DTYPES = (np.uint8, np.uint16)
CHANNEL_COUNTS = (1, 2, 3, 4)


def peak(dtype: np.dtype) -> float:
    """The value of white: 255 for uint8, 65535 for uint16, 1 for floats."""
    dtype = np.dtype(dtype)
    return float(np.iinfo(dtype).max) if np.issubdtype(dtype, np.integer) else 1.0


def to_unit_float(image: np.ndarray, dtype: type = np.float64) -> np.ndarray:
    """``image`` in [0, 1] as ``dtype``: integers divided by their peak, floats taken as they are."""
    if image.dtype in INTEGER_DTYPES:
        return image.astype(dtype) / peak(image.dtype)
    if np.issubdtype(image.dtype, np.floating):
        return image.astype(dtype, copy=False)
    raise TypeError(f"unsupported image dtype {image.dtype}; use uint8, uint16 or float in [0, 1]")


def quantise(unit: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Floats in [0, 1] to ``dtype`` (clipped, rounded to the nearest level)."""
    return np.round(np.clip(unit, 0.0, 1.0) * peak(dtype)).astype(dtype)


@dataclass(frozen=True)
class Planes:
    """An image taken apart: ``colour`` is ``HxW`` (gray) or ``HxWx3`` (RGB), ``alpha`` ``HxW`` or
    ``None``; ``squeezed`` remembers an ``HxWx1`` layout."""

    colour: np.ndarray
    alpha: np.ndarray | None = None
    squeezed: bool = False

    @property
    def gray(self) -> bool:
        return self.colour.ndim == 2


def split_planes(image: np.ndarray) -> Planes:
    """The colour and alpha planes of any supported layout."""
    if image.ndim == 2:
        return Planes(image)
    if image.ndim != 3 or image.shape[2] not in CHANNEL_COUNTS:
        raise ValueError(f"expected an HxW or HxWxC (C = 1, 2, 3 or 4) image, got shape {image.shape}")
    channels = image.shape[2]
    if channels == 1:
        return Planes(image[:, :, 0], squeezed=True)
    if channels == 2:
        return Planes(image[:, :, 0], image[:, :, 1])
    if channels == 3:
        return Planes(image)
    return Planes(image[:, :, :3], image[:, :, 3])


def merge_planes(planes: Planes) -> np.ndarray:
    """The inverse of :func:`split_planes` (for planes of any size, e.g. after upscaling)."""
    if planes.alpha is not None:
        return np.dstack([planes.colour, planes.alpha])
    return planes.colour[:, :, None] if planes.squeezed else planes.colour


def to_rgb(image: np.ndarray) -> np.ndarray:
    """Three channels, as the networks and the metrics take them: gray replicated, alpha dropped."""
    colour = split_planes(image).colour
    return np.repeat(colour[:, :, None], 3, axis=2) if colour.ndim == 2 else colour


def to_rgb8(image: np.ndarray) -> np.ndarray:
    """:func:`to_rgb` in 8 bits (16-bit values rounded), contiguous: what BasicSR's loaders read."""
    rgb = to_rgb(image)
    if rgb.dtype == np.uint16:
        rgb = np.round(rgb / 257.0).astype(np.uint8)
    return np.ascontiguousarray(rgb)


def to_channels_first(image: np.ndarray) -> np.ndarray:
    """``HxWxC`` integer or unit-float image -> ``CxHxW`` float32 array in [0, 1]."""
    channels_first = np.ascontiguousarray(image.transpose(2, 0, 1))  # reorder the small integers, not floats
    return to_unit_float(channels_first, np.float32)


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """``HxWxC`` integer or unit-float image -> ``CxHxW`` float32 tensor in [0, 1]."""
    return torch.from_numpy(to_channels_first(image))


def mod_crop(image: np.ndarray, scale: int) -> np.ndarray:
    """The top-left part whose height and width are multiples of ``scale`` (the SR protocol's HR crop)."""
    height, width = image.shape[0] - image.shape[0] % scale, image.shape[1] - image.shape[1] % scale
    return image[:height, :width]
