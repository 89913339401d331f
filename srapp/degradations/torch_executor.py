"""Applying plans to batches of tensors on any device: the path for GPU training batches.

The same model as :mod:`.numpy_executor` (Real-ESRGAN, Wang et al., ICCVW 2021; see :mod:`.plan`),
written as Real-ESRNet's ``feed_data`` writes it, for ``N x 3 x H x W`` float RGB tensors in [0, 1]
with one plan per image. Each image runs through its own plan because plans resize to their own
intermediate sizes; every step is a batched torch operation on the images' device. Step by step:

* :func:`blur`: depthwise ``conv2d`` (correlation) after mirrored padding (``x[-1] = x[1]``) by
  index, which, unlike BasicSR's ``filter2D`` (``F.pad(mode='reflect')``), also pads images
  narrower than the kernel's radius, as OpenCV does: a 0.15x first resize of a small patch makes
  such images. Same taps, same borders: it matches :func:`.numpy_executor.blur` to float rounding.
* :func:`resize`: ``F.interpolate`` for ``bilinear`` and ``bicubic`` (``a = -0.75``, pixel
  centres, no antialiasing; OpenCV's to float rounding). ``area`` is the box-overlap average
  ``y = A_h x A_w^T`` with ``A[i, j] = |[i r, (i + 1) r) & [j, j + 1)| / r``, ``r = in / out``:
  OpenCV's ``INTER_AREA`` in both directions. (Real-ESRGAN's ``F.interpolate(mode='area')`` is
  adaptive average pooling over whole pixels, which differs from it for non-integer factors.)
* :func:`add_gaussian_noise`, :func:`add_poisson_noise`: the formulas of the NumPy path, drawn with
  a ``torch.Generator`` on the images' device seeded by ``plan.noise_seed``; the same distribution,
  not the same numbers as NumPy's generator.
* :func:`jpeg`: BasicSR's ``DiffJPEG`` (standard rounding), Real-ESRNet's JPEG: the IJG quality
  scaling, 4:2:0 chroma, 8x8 DCT in floating point; partial blocks are filled by repeating the
  edge, as libjpeg does (DiffJPEG alone pads with black). Not bit-exact with libjpeg (integer DCT,
  triangular chroma upsampling): at the same quality it loses about as much as OpenCV's encoder
  (mean error within about 10 %), but pixels differ by several levels on average and by tens at
  saturated colour edges.
* :class:`~.plan.Clean` plans: MATLAB's bicubic (srapp's :func:`~srapp.engine.resize.contributions`)
  as the matrices ``y = B_h x B_w^T``.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from .. import _compat  # noqa: F401  (before basicsr)
from basicsr.utils import DiffJPEG  # noqa: E402

from ..engine.resize import contributions  # noqa: E402
from .numpy_executor import LUMA  # noqa: E402
from .plan import Final, Noise, Plan, Stage, Steps, run_plan  # noqa: E402

_jpeg_module: DiffJPEG | None = None


@torch.no_grad()
def apply_torch(images: torch.Tensor, plans: Sequence[Plan], scale: int) -> torch.Tensor:
    """Degrade ``N x 3 x H x W`` float RGB images in [0, 1], image ``i`` by ``plans[i]``, to their
    ``N x 3 x H/scale x W/scale`` LR images on the 8-bit grid, on the images' device and dtype."""
    if images.ndim != 4 or images.shape[1] != 3 or not images.is_floating_point():
        raise ValueError(f"expected N x 3 x H x W float images in [0, 1], got {images.dtype} {tuple(images.shape)}")
    if len(plans) != images.shape[0]:
        raise ValueError(f"{images.shape[0]} images need as many plans, got {len(plans)}")
    return torch.cat([_apply_one(images[i : i + 1], plan, scale) for i, plan in enumerate(plans)])


def blur(images: torch.Tensor, kernel: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Correlate every channel of ``N x C x H x W`` images with one odd square ``kernel``."""
    kernel = torch.as_tensor(kernel, dtype=images.dtype, device=images.device)
    radius = kernel.shape[-1] // 2
    height, width = images.shape[-2:]
    padded = images.index_select(-2, _mirrored(height, radius, images.device))
    padded = padded.index_select(-1, _mirrored(width, radius, images.device))
    channels = images.shape[1]
    return F.conv2d(padded, kernel.expand(channels, 1, *kernel.shape), groups=channels)


def resize(images: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    """Resize ``N x C x H x W`` images to ``size = (height, width)`` with ``mode``."""
    if mode == "area":
        height, width = images.shape[-2:]
        return _separable(images, _area_weights(height, size[0]), _area_weights(width, size[1]))
    return F.interpolate(images, size=size, mode=mode, align_corners=False)


def add_gaussian_noise(images: torch.Tensor, sigma: float, gray: bool, generator: torch.Generator) -> torch.Tensor:
    """``clamp(x + sigma / 255 * n)``, ``n`` standard normal (one field for all channels if ``gray``)."""
    batch, channels, height, width = images.shape
    shape = (batch, 1 if gray else channels, height, width)
    noise = torch.randn(shape, generator=generator, device=images.device, dtype=images.dtype) * (sigma / 255.0)
    return torch.clamp(images + noise, 0.0, 1.0)


def add_poisson_noise(images: torch.Tensor, scale: float, gray: bool, generator: torch.Generator) -> torch.Tensor:
    """Shot noise of strength ``scale``: ``clamp(x + s (P(v x8) / v - x8))`` per image (see
    :func:`.numpy_executor.add_poisson_noise`)."""
    if gray:
        luma = torch.as_tensor(LUMA, dtype=images.dtype, device=images.device)
        source = torch.einsum("nchw,c->nhw", images, luma).unsqueeze(1)
    else:
        source = images
    levels = torch.clamp(torch.round(source * 255.0), 0, 255) / 255.0
    counts = torch.tensor(
        [2.0 ** np.ceil(np.log2(torch.unique(level).numel())) for level in levels],
        dtype=images.dtype, device=images.device,
    ).view(-1, 1, 1, 1)
    noise = torch.poisson(levels * counts, generator=generator) / counts - levels
    return torch.clamp(images + scale * noise, 0.0, 1.0)


@torch.no_grad()
def jpeg(images: torch.Tensor, quality: int) -> torch.Tensor:
    """JPEG at ``quality`` with BasicSR's ``DiffJPEG`` (inputs clamped to [0, 1] first, as Real-ESRNet)."""
    global _jpeg_module
    if _jpeg_module is None:
        _jpeg_module = DiffJPEG(differentiable=False)
    # DiffJPEG's quantisation tables are module-level parameters that all its instances share:
    # moving one instance moves them for every other, so one instance follows the images instead
    module = _jpeg_module.to(images.device)
    # libjpeg fills partial 16 x 16 blocks by repeating the edge pixels; DiffJPEG pads with black,
    # which rings into the image at low qualities, so the blocks are filled here as libjpeg does
    height, width = images.shape[-2:]
    padded = F.pad(torch.clamp(images, 0.0, 1.0).float(), (0, -width % 16, 0, -height % 16), mode="replicate")
    return module(padded, quality=float(quality))[..., :height, :width].to(images.dtype)


def quantize(images: torch.Tensor) -> torch.Tensor:
    """The images on the 8-bit grid: ``clamp(round(255 x)) / 255``, as Real-ESRNet leaves its LR."""
    return torch.clamp(torch.round(images * 255.0), 0, 255) / 255.0


def _apply_one(image: torch.Tensor, plan: Plan, scale: int) -> torch.Tensor:
    height, width = image.shape[-2:]

    def clean(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        return _separable(image, _bicubic_weights(height, size[0]), _bicubic_weights(width, size[1]))

    steps = Steps(lambda seed: torch.Generator(device=image.device).manual_seed(seed), _stage, jpeg,
                  _resize_and_sinc, quantize, clean)
    return run_plan(image, height, width, plan, scale, steps)


def _stage(image: torch.Tensor, stage: Stage, size: tuple[int, int], generator: torch.Generator) -> torch.Tensor:
    out = image if stage.blur is None else blur(image, stage.blur.array())
    out = resize(out, size, stage.resize.mode)
    return _noise(out, stage.noise, generator)


def _noise(image: torch.Tensor, noise: Noise, generator: torch.Generator) -> torch.Tensor:
    if noise.kind == "gaussian":
        return add_gaussian_noise(image, noise.strength, noise.gray, generator)
    return add_poisson_noise(image, noise.strength, noise.gray, generator)


def _resize_and_sinc(image: torch.Tensor, size: tuple[int, int], final: Final) -> torch.Tensor:
    out = resize(image, size, final.mode)
    return out if final.sinc is None else blur(out, final.sinc.array())


def _mirrored(length: int, radius: int, device: torch.device) -> torch.Tensor:
    """Indices of ``range(-radius, length + radius)`` mirrored into the image (period ``2 length - 2``),
    OpenCV's ``BORDER_REFLECT_101`` however wide the border."""
    positions = np.arange(-radius, length + radius)
    if length == 1:
        return torch.zeros(len(positions), dtype=torch.long, device=device)
    period = 2 * length - 2
    positions = np.mod(positions, period)
    return torch.as_tensor(np.where(positions < length, positions, period - positions), device=device)


@lru_cache(maxsize=256)
def _area_weights(in_length: int, out_length: int) -> np.ndarray:
    ratio = in_length / out_length
    edges = np.arange(out_length + 1) * ratio
    start, stop = edges[:-1, None], edges[1:, None]
    pixels = np.arange(in_length)[None, :]
    return np.clip(np.minimum(stop, pixels + 1) - np.maximum(start, pixels), 0.0, None) / ratio


@lru_cache(maxsize=64)
def _bicubic_weights(in_length: int, out_length: int) -> np.ndarray:
    indices, weights = contributions(in_length, out_length, out_length / in_length)
    matrix = np.zeros((out_length, in_length))
    np.add.at(matrix, (np.arange(out_length)[:, None], indices), weights)
    return matrix


def _separable(images: torch.Tensor, rows: np.ndarray, columns: np.ndarray) -> torch.Tensor:
    """``rows @ image @ columns^T`` per channel: a separable resampling given as two weight matrices."""
    rows_t = torch.as_tensor(rows, dtype=images.dtype, device=images.device)
    columns_t = torch.as_tensor(columns, dtype=images.dtype, device=images.device)
    return rows_t @ images @ columns_t.T
