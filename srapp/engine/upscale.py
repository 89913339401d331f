"""``srapp.upscale`` and the reusable :class:`Upscaler` behind it (the CLI and web app use it too)."""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import nn

from ..errors import ImageError
from .image_io import read_image
from .models import BICUBIC, load_network, network_lock, network_scale, resolve_device
from .precision import PRECISIONS, autocast, bf16_is_fast, slow_bf16_message
from .resize import imresize
from .tiling import Progress, tiled_forward

AUTO_TILE_PIXELS = 512 * 512  # tile=None: larger inputs are tiled, so memory stays bounded
DEFAULT_TILE = 256
DEFAULT_TILE_OVERLAP = 16
MIN_TILE = 48

ImageInput = str | os.PathLike | np.ndarray
ModelInput = str | os.PathLike | nn.Module


def _is_out_of_memory(error: BaseException) -> bool:
    # CUDA raises torch.OutOfMemoryError; the CPU allocator raises a plain RuntimeError.
    return isinstance(error, torch.OutOfMemoryError) or (
        isinstance(error, RuntimeError) and "can't allocate memory" in str(error)
    )


def _dihedral(x: torch.Tensor, index: int) -> torch.Tensor:
    """The ``index``-th of the 8 flips/rotations of an NCHW batch (bit 0: flip W, 1: flip H, 2: transpose)."""
    if index & 1:
        x = x.flip(-1)
    if index & 2:
        x = x.flip(-2)
    if index & 4:
        x = x.transpose(-1, -2)
    return x


def _inverse_dihedral(x: torch.Tensor, index: int) -> torch.Tensor:
    if index & 4:
        x = x.transpose(-1, -2)
    if index & 2:
        x = x.flip(-2)
    if index & 1:
        x = x.flip(-1)
    return x


def self_ensemble_forward(forward: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Geometric self-ensemble (Lim et al., EDSR, 2017; RCAN+/SAN+): the mean of the outputs for the
    8 flips/rotations of the input, each mapped back: ``y = 1/8 sum_k T_k^-1 f(T_k x)``."""
    total = None
    for index in range(8):
        y = _inverse_dihedral(forward(_dihedral(x, index)).float(), index)
        total = y if total is None else total + y
    return total / 8


def _as_image(image: ImageInput) -> np.ndarray:
    if isinstance(image, (str, os.PathLike)):
        return read_image(image)
    if not isinstance(image, np.ndarray):
        raise ImageError(None, f"expected an image path or a numpy array, got {type(image).__name__}")
    if image.dtype not in (np.uint8, np.uint16):
        raise ImageError(None, f"expected a uint8 or uint16 image array, got {image.dtype}")
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (1, 3, 4))):
        raise ImageError(None, f"expected an HxW or HxWxC (C = 1, 3 or 4) image array, got shape {image.shape}")
    if min(image.shape[:2]) < 1:
        raise ImageError(None, f"empty image array of shape {image.shape}")
    return image


def _quantiser(dtype: np.dtype, gray: bool) -> Callable[[np.ndarray], np.ndarray]:
    """Float RGB rows in [0, 1] -> the output dtype, averaged back to one channel for gray input."""
    peak = np.iinfo(dtype).max

    def quantise(rows: np.ndarray) -> np.ndarray:
        if gray:
            rows = rows.mean(axis=2)
        return np.round(np.clip(rows, 0.0, 1.0) * peak).astype(dtype)

    return quantise


class Upscaler:
    """A model with its settings, ready to upscale many images.

    ``model``: a shipped model name, ``"bicubic"``, a checkpoint path or an ``nn.Module``.
    ``scale``: required for bicubic; for a network it must equal the network's own scale.
    ``tile``: ``None`` runs inputs up to 512x512 whole and tiles larger ones by 256 pixels;
    ``0`` always runs whole; ``N`` tiles by ``N`` input pixels with ``tile_overlap`` pixels of
    shared context. A tile that does not fit in memory is retried with smaller tiles.
    ``precision``: ``fp32`` (exact), ``bf16`` (autocast, CPU and CUDA) or ``fp16`` (CUDA only).
    ``self_ensemble``: average over the 8 flips/rotations (RCAN+/SAN+), 8x the work.
    ``outscale``: resize the result (MATLAB bicubic) to ``outscale`` times the input size.

    A module passed as ``model`` is used in place: moved to ``device``, put in eval mode and
    converted to channels_last (outputs are unchanged; convolutions run faster).
    """

    def __init__(
        self,
        model: ModelInput = "rcan-x4",
        *,
        scale: int | None = None,
        tile: int | None = None,
        tile_overlap: int = DEFAULT_TILE_OVERLAP,
        precision: str = "fp32",
        device: str | torch.device = "auto",
        self_ensemble: bool = False,
        outscale: float | None = None,
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
        if tile is not None and tile < 0:
            raise ValueError(f"tile must be >= 0 (0: whole image), got {tile}")
        if tile_overlap < 0:
            raise ValueError(f"tile overlap must be >= 0, got {tile_overlap}")
        if outscale is not None and not outscale > 0:
            raise ValueError(f"outscale must be positive, got {outscale}")
        self.device = resolve_device(device)
        if precision == "fp16" and self.device.type != "cuda":
            raise ValueError("fp16 needs a CUDA device; use fp32 on CPU")
        self.precision, self.tile, self.tile_overlap = precision, tile, tile_overlap
        self.self_ensemble, self.outscale = self_ensemble, outscale
        self.name = type(model).__name__ if isinstance(model, nn.Module) else str(model)
        if self.name == BICUBIC:
            if scale is None and outscale is None:
                raise ValueError("bicubic needs a scale")
            self.network, self.scale = None, scale
            return
        self.network = load_network(model, self.device)
        own_scale = network_scale(self.network)
        if own_scale is None and scale is None:
            raise ValueError(f"{self.name}: the network does not state its scale; pass scale")
        if own_scale is not None and scale is not None and scale != own_scale:
            raise ValueError(
                f"model {self.name} upscales x{own_scale}, not x{scale}; use outscale for other factors"
            )
        self.scale = own_scale or scale
        if precision == "bf16" and not bf16_is_fast(self.device):  # only networks run under autocast
            warnings.warn(f"{slow_bf16_message(self.device)}; use fp32", stacklevel=2)

    @property
    def final_scale(self) -> float:
        return self.outscale if self.outscale is not None else float(self.scale)

    def output_shape(self, height: int, width: int) -> tuple[int, int]:
        if self.outscale is None:
            return height * self.scale, width * self.scale
        return max(1, round(height * self.outscale)), max(1, round(width * self.outscale))

    def __call__(self, image: ImageInput, progress: Progress | None = None) -> np.ndarray:
        """Upscale one image (a path or an HWC RGB array); the result keeps its dtype and channels."""
        pixels = _as_image(image)
        height, width = pixels.shape[:2]
        shape = self.output_shape(height, width)
        if self.network is None:
            result = imresize(pixels, output_shape=shape)
            if progress is not None:
                progress(1, 1)
            return result
        squeezed = pixels.ndim == 3 and pixels.shape[2] == 1
        planes = pixels[:, :, 0] if squeezed else pixels
        gray = planes.ndim == 2
        colour = np.repeat(planes[:, :, None], 3, axis=2) if gray else planes[:, :, :3]
        finish = _quantiser(pixels.dtype, gray) if self.outscale is None else None
        result = self._run_network(colour, progress, finish)
        if self.outscale is not None:
            result = imresize(result, output_shape=shape, finish=_quantiser(pixels.dtype, gray))
        if planes.ndim == 3 and planes.shape[2] == 4:
            alpha = imresize(planes[:, :, 3], output_shape=shape)
            result = np.dstack([result, alpha])
        return result[:, :, None] if squeezed else result

    def _autocast(self) -> contextlib.AbstractContextManager:
        return autocast(self.precision, self.device.type)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous(memory_format=torch.channels_last)
        with self._autocast():
            if self.self_ensemble:
                return self_ensemble_forward(self.network, x)
            return self.network(x).float()

    def _tile_sizes(self, height: int, width: int) -> Iterator[int]:
        """The tile to try first, then smaller ones after each out-of-memory failure."""
        if self.tile == 0 or (self.tile is None and height * width <= AUTO_TILE_PIXELS):
            tile = max(height, width)
        else:
            tile = self.tile or DEFAULT_TILE
        yield tile
        while tile > MIN_TILE:
            tile = max(MIN_TILE, min(tile, DEFAULT_TILE * 2) // 2)
            yield tile

    def _run_network(
        self,
        image: np.ndarray,
        progress: Progress | None,
        finish: Callable[[np.ndarray], np.ndarray] | None,
    ) -> np.ndarray:
        peak = float(np.iinfo(image.dtype).max)
        x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).to(self.device)
        x = (x.float() / peak).unsqueeze(0)
        height, width = image.shape[:2]
        with network_lock(self.network), torch.inference_mode():
            for tile in self._tile_sizes(height, width):
                overlap = min(self.tile_overlap, max(0, tile // 2 - 1))
                try:
                    return tiled_forward(self._forward, x, self.scale, tile, overlap, progress, finish)
                except Exception as error:  # noqa: BLE001 (only out-of-memory errors are retried)
                    if not _is_out_of_memory(error) or tile <= MIN_TILE:
                        raise
                    if self.device.type == "cuda":
                        torch.cuda.empty_cache()
        raise AssertionError("unreachable: the last tile size re-raises")


def upscale(
    image: ImageInput,
    model: ModelInput = "rcan-x4",
    *,
    scale: int | None = None,
    tile: int | None = None,
    tile_overlap: int = DEFAULT_TILE_OVERLAP,
    precision: str = "fp32",
    device: str | torch.device = "auto",
    self_ensemble: bool = False,
    outscale: float | None = None,
    progress: Progress | None = None,
) -> np.ndarray:
    """Upscale one image with a shipped model, bicubic, a checkpoint or a module (see :class:`Upscaler`).

    ``image``: a path (EXIF orientation applied) or an HWC RGB numpy array, uint8 or uint16, with 1,
    3 or 4 channels. The result has the input's dtype and channels (alpha upscaled bicubically).
    Networks are loaded once per process and reused.
    """
    upscaler = Upscaler(
        model, scale=scale, tile=tile, tile_overlap=tile_overlap, precision=precision, device=device,
        self_ensemble=self_ensemble, outscale=outscale,
    )
    return upscaler(image, progress)


__all__ = ["DEFAULT_TILE", "DEFAULT_TILE_OVERLAP", "PRECISIONS", "Upscaler", "upscale"]
