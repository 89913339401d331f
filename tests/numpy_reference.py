"""NumPy building blocks for the tests' independent reference implementations."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn


def npy(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().double().numpy()


def sigmoid(v: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-v))


def relu(v: np.ndarray) -> np.ndarray:
    return np.maximum(v, 0.0)


def randomise_bn(bn: nn.BatchNorm2d, generator: torch.Generator) -> None:
    """Random affine and running statistics, so eval-mode BN is not the identity."""
    n = bn.num_features
    with torch.no_grad():
        bn.weight.copy_(torch.rand(n, generator=generator, dtype=torch.float64) + 0.5)
        bn.bias.copy_(torch.randn(n, generator=generator, dtype=torch.float64) * 0.3)
        bn.running_mean.copy_(torch.randn(n, generator=generator, dtype=torch.float64) * 0.3)
        bn.running_var.copy_(torch.rand(n, generator=generator, dtype=torch.float64) + 0.5)


def bn_eval(v: np.ndarray, bn: nn.BatchNorm2d, axis: int = 1) -> np.ndarray:
    """Eval-mode batch norm written out: (v - mean) / sqrt(var + eps) * weight + bias along ``axis``."""
    shape = [1] * v.ndim
    shape[axis] = -1
    mean = npy(bn.running_mean).reshape(shape)
    var = npy(bn.running_var).reshape(shape)
    return (v - mean) / np.sqrt(var + bn.eps) * npy(bn.weight).reshape(shape) + npy(bn.bias).reshape(shape)


def cubic_reference(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel, ``a = -0.5`` (MATLAB's ``cubic``)."""
    absx = np.abs(x)
    absx2, absx3 = absx**2, absx**3
    near = (1.5 * absx3 - 2.5 * absx2 + 1.0) * (absx <= 1)
    far = (-0.5 * absx3 + 2.5 * absx2 - 4.0 * absx + 2.0) * ((absx > 1) & (absx <= 2))
    return near + far


def contributions_reference(
    in_length: int, out_length: int, scale: float, antialias: bool
) -> tuple[np.ndarray, np.ndarray]:
    """MATLAB's per-output input indices (0-based, mirrored) and weights, computed for all outputs at once."""
    kernel_width = 4.0
    if scale < 1 and antialias:
        kernel = lambda x: scale * cubic_reference(scale * x)  # noqa: E731
        kernel_width /= scale
    else:
        kernel = cubic_reference
    outputs = np.arange(1, out_length + 1, dtype=np.float64)
    centres = outputs / scale + 0.5 * (1.0 - 1.0 / scale)
    left = np.floor(centres - kernel_width / 2.0)
    taps = int(math.ceil(kernel_width)) + 2
    indices = left[:, None] + np.arange(taps)[None, :]
    weights = kernel(centres[:, None] - indices)
    weights /= weights.sum(axis=1, keepdims=True)
    used = np.any(weights != 0, axis=0)
    indices, weights = indices[:, used], weights[:, used]
    mirror = np.concatenate([np.arange(in_length), np.arange(in_length - 1, -1, -1)])
    return mirror[np.mod(indices.astype(np.int64) - 1, 2 * in_length)], weights


def _resize_axis_reference(image: np.ndarray, axis: int, out_length: int, scale: float, antialias: bool) -> np.ndarray:
    indices, weights = contributions_reference(image.shape[axis], out_length, scale, antialias)
    gathered = np.take(image, indices, axis=axis)  # axis becomes (out, taps)
    shape = [1] * gathered.ndim
    shape[axis], shape[axis + 1] = weights.shape
    return (gathered * weights.reshape(shape)).sum(axis=axis + 1)


def imresize_reference(
    image: np.ndarray,
    scale: float | None = None,
    output_shape: tuple[int, int] | None = None,
    antialias: bool = True,
) -> np.ndarray:
    """Whole-image MATLAB ``imresize(..., 'bicubic')``: both passes over the full image in float64,
    with the gathered ``(out, taps)`` intermediate; integer images rounded and clipped, floats returned unclipped."""
    height, width = image.shape[:2]
    if output_shape is None:
        scales = (float(scale), float(scale))
        output_shape = (math.ceil(height * scale), math.ceil(width * scale))
    else:
        scales = (output_shape[0] / height, output_shape[1] / width)
    result = image.astype(np.float64)
    for axis in sorted((0, 1), key=lambda a: scales[a]):  # smaller scale first, rows on a tie
        result = _resize_axis_reference(result, axis, output_shape[axis], scales[axis], antialias)
    if np.issubdtype(image.dtype, np.integer):
        info = np.iinfo(image.dtype)
        return np.clip(np.round(result), info.min, info.max).astype(image.dtype)
    return result
