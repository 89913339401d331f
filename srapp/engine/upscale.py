"""``srapp.upscale`` and the reusable :class:`Upscaler` behind it (the CLI and web app use it too)."""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from ..checkpoints.descriptor import TILING_SUPPORTED, LoadedModel
from ..errors import Cancelled, ImageError, UsageError
from .backends import build_backend
from .devices import resolve_device
from ..pixels import (
    CHANNEL_COUNTS, INTEGER_DTYPES, Planes, merge_planes, quantise, split_planes, to_channels_first, to_rgb,
)
from ..io.header import ImageHeader
from ..io.image_io import read_image
from .model_catalog import ModelInput, load_network, model_name
from .precision import check_precision
from .resize import imresize
from .settings import (
    AUTO_TILE_PIXELS, DEFAULT_MODEL, DEFAULT_TILE, MIN_TILE, UpscaleSettings, settings_from,
)
from .tiles import Tile, concat_channels, flip, ones_channel, transpose_sides
from .tiling import Progress, ShapePolicy, tiled_forward

ImageInput = str | os.PathLike | np.ndarray


def _is_out_of_memory(error: BaseException) -> bool:
    # CUDA raises torch.OutOfMemoryError; the CPU allocator raises a plain RuntimeError; the
    # OpenVINO backend raises MemoryError.
    return isinstance(error, (torch.OutOfMemoryError, MemoryError)) or (
        isinstance(error, RuntimeError) and "can't allocate memory" in str(error)
    )


def _dihedral(x: Tile, index: int) -> Tile:
    """The ``index``-th of the 8 flips/rotations of an NCHW batch (bit 0: flip W, 1: flip H, 2: transpose)."""
    if index & 1:
        x = flip(x, -1)
    if index & 2:
        x = flip(x, -2)
    if index & 4:
        x = transpose_sides(x)
    return x


def _inverse_dihedral(x: Tile, index: int) -> Tile:
    if index & 4:
        x = transpose_sides(x)
    if index & 2:
        x = flip(x, -2)
    if index & 1:
        x = flip(x, -1)
    return x


def self_ensemble_forward(forward: Callable[[Tile], Tile], x: Tile) -> Tile:
    """Geometric self-ensemble (Lim et al., EDSR, 2017; RCAN+/SAN+): the mean of the outputs for the
    8 flips/rotations of the input, each mapped back: ``y = 1/8 sum_k T_k^-1 f(T_k x)`` (float32
    outputs, as every backend's)."""
    total = None
    for index in range(8):
        y = _inverse_dihedral(forward(_dihedral(x, index)), index)
        total = y if total is None else total + y
    return total / 8


def _check_array(image: np.ndarray) -> np.ndarray:
    if image.dtype not in INTEGER_DTYPES:
        raise ImageError(None, f"expected a uint8 or uint16 image array, got {image.dtype}")
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in CHANNEL_COUNTS)):
        raise ImageError(None, f"expected an HxW or HxWxC (C = 1, 2, 3 or 4) image array, got shape {image.shape}")
    if min(image.shape[:2]) < 1:
        raise ImageError(None, f"empty image array of shape {image.shape}")
    return image


def model_shapes(model: LoadedModel) -> ShapePolicy:
    """The tile shapes a model's size requirements ask for."""
    required = model.size_requirements
    return ShapePolicy(required.multiple_of, required.multiple_of, required.minimum, required.square)


def _check_channels(model: LoadedModel, name: str) -> None:
    """srapp feeds a network RGB (3), RGB and an opaque alpha (4), or each colour plane (1)."""
    channels = (model.input_channels, model.output_channels)
    if channels not in ((3, 3), (4, 4), (4, 3), (3, 4), (1, 1)):
        raise UsageError(f"{name}: a network of {channels[0]} input and {channels[1]} output channels; srapp runs "
                         "networks of 1 channel in and out (gray), or of 3 or 4 (RGB, RGBA)")


def channel_adapter(model: LoadedModel, forward: Callable[[Tile], Tile]) -> Callable[[Tile], Tile]:
    """``forward`` (the network's channels) as a map of the image's channels: a gray (1-channel)
    network runs on each plane of an RGB tile; an RGBA network gets an opaque alpha plane (srapp
    upscales the image's own alpha apart, as for every network) and gives its RGB planes."""
    wanted = model.input_channels

    def adapted(x: Tile) -> Tile:
        if x.shape[1] == wanted:
            y = forward(x)
        elif wanted == 1:
            y = concat_channels([forward(x[:, plane:plane + 1]) for plane in range(x.shape[1])])
        else:  # an RGBA network on RGB
            y = forward(concat_channels([x, ones_channel(x)]))
        return y[:, :x.shape[1]]

    return adapted


def _quantiser(dtype: np.dtype, gray: bool) -> Callable[[np.ndarray], np.ndarray]:
    """Float RGB rows in [0, 1] -> the output dtype, averaged back to one channel for gray input."""

    def finish(rows: np.ndarray) -> np.ndarray:
        return quantise(rows.mean(axis=2) if gray else rows, dtype)

    return finish


class Upscaler:
    """A model with its settings, ready to upscale many images.

    ``model``: a model name (shipped, in the models folder, or ``"bicubic"``), a checkpoint path
    (srapp's layouts, or any architecture spandrel knows), a state dict, an ``nn.Module`` or what
    :func:`srapp.load_model` returned, all resolved by :func:`srapp.engine.model_catalog.load_network`.
    The model's descriptor decides how it runs: tiles follow its size requirements, a model that
    discourages tiling runs whole where the image is within the whole-image bound (tiled, with a
    warning, beyond it), a gray (1-channel) network runs on each colour plane, an RGBA one gets an
    opaque alpha, and precision ``auto`` never picks a precision the architecture is not safe in.
    ``settings`` (:class:`UpscaleSettings`, defaults when omitted) and keyword changes to them
    (``Upscaler("rcan-x4", tile=128)``) say how; see
    :class:`UpscaleSettings` for each option. ``backend`` and ``precision`` tell what runs, decided
    (and the network converted for OpenVINO) when the upscaler is made. A module passed as ``model`` is used in place: moved to the device, put in eval
    mode and converted to channels_last (outputs are unchanged; convolutions run faster).
    """

    def __init__(self, model: ModelInput = DEFAULT_MODEL, settings: UpscaleSettings | None = None,
                 **changes: Any) -> None:
        self.settings = settings = settings_from(settings, **changes)
        self.device = resolve_device(settings.device)
        check_precision(settings.precision, self.device)  # refuse what cannot run before any loading
        self.tile, self.tile_overlap = settings.tile, settings.tile_overlap
        self.self_ensemble, self.outscale = settings.self_ensemble, settings.outscale
        self.name = model_name(model)
        self.model = load_network(model, self.device)
        if self.model.interpolation:
            if settings.scale is None and settings.outscale is None:
                raise UsageError(f"{self.name} needs a scale")
            self.backend_runner, self.scale = None, settings.scale
            return
        _check_channels(self.model, self.name)
        own_scale = self.model.scale
        if own_scale is None and settings.scale is None:
            raise UsageError(f"{self.name}: the network does not state its scale; pass scale")
        if own_scale is not None and settings.scale is not None and settings.scale != own_scale:
            raise UsageError(
                f"model {self.name} upscales x{own_scale}, not x{settings.scale}; use outscale for other factors"
            )
        self.scale = own_scale or settings.scale
        self.backend_runner, notes = build_backend(
            self.model, settings.backend, settings.precision, self.device, settings.threads,
        )
        for note in notes:
            warnings.warn(note, stacklevel=2)
        self._network_forward = channel_adapter(self.model, self.backend_runner)

    @property
    def backend(self) -> str:
        return "numpy" if self.backend_runner is None else self.backend_runner.name

    @property
    def precision(self) -> str:
        return "fp64" if self.backend_runner is None else self.backend_runner.precision  # bicubic: float64

    @property
    def network(self) -> nn.Module | None:
        return self.model.network

    @property
    def final_scale(self) -> float:
        return self.outscale if self.outscale is not None else float(self.scale)

    def output_shape(self, height: int, width: int) -> tuple[int, int]:
        if self.outscale is None:
            return height * self.scale, width * self.scale
        return max(1, round(height * self.outscale)), max(1, round(width * self.outscale))

    def check_size(self, height: int, width: int, source: str | os.PathLike | None = None) -> tuple[int, int]:
        """The result's ``(height, width)`` for a ``height x width`` input, or ImageError (naming
        ``source``) when the result, or the network's output before ``outscale``, would have more
        than ``max_output_pixels`` pixels. Every allocation of a run is bounded by these images
        (tiles and strips are smaller), so this check, made before any work, bounds them all."""
        shape = self.output_shape(height, width)
        made = [shape] if self.network is None or self.outscale is None else [
            (height * self.scale, width * self.scale), shape]
        limit = self.settings.max_output_pixels
        for made_height, made_width in made:
            if made_height * made_width > limit:
                what = "the result" if (made_height, made_width) == shape else f"the network's x{self.scale} output"
                raise ImageError(source, f"{width}x{height} upscaled x{self.final_scale:g} makes {what} "
                                 f"{made_width}x{made_height} ({made_height * made_width / 1e6:.4g} megapixels), "
                                 f"over the limit of {limit / 1e6:.4g} megapixels of output")
        return shape

    def check_header(self, header: ImageHeader) -> None:
        """:meth:`check_size` on an image's header, before it is decoded (``read_image``'s ``check``)."""
        width, height = header.upright_size
        self.check_size(height, width, header.path)

    def _image(self, image: ImageInput) -> np.ndarray:
        """The pixels of a path (its size checked from the header before decoding) or an array."""
        if isinstance(image, (str, os.PathLike)):
            return read_image(image, check=self.check_header)
        if not isinstance(image, np.ndarray):
            raise ImageError(None, f"expected an image path or a numpy array, got {type(image).__name__}")
        pixels = _check_array(image)
        self.check_size(*pixels.shape[:2])
        return pixels

    def __call__(
        self, image: ImageInput, progress: Progress | None = None, cancel: threading.Event | None = None,
    ) -> np.ndarray:
        """Upscale one image (a path or an HW / HWC array: gray, gray+alpha, RGB, RGBA); the result
        keeps its dtype and channels (the network sees gray as RGB; alpha is resized bicubically).

        ``progress(done, total)`` is called after each tile; setting ``cancel`` stops the run
        before its next tile with :class:`srapp.errors.Cancelled`.
        """
        if cancel is not None and cancel.is_set():
            raise Cancelled("cancelled")
        pixels = self._image(image)
        shape = self.output_shape(*pixels.shape[:2])
        if self.model.interpolation:
            result = imresize(pixels, output_shape=shape)
            if progress is not None:
                progress(1, 1)
            return result
        planes = split_planes(pixels)
        quantiser = _quantiser(pixels.dtype, planes.gray)
        # a gray network takes a gray image as it is; other networks see gray as RGB
        colour = planes.colour[:, :, None] if planes.gray and self.model.input_channels == 1 else to_rgb(planes.colour)
        result = self._run_network(colour, progress, quantiser if self.outscale is None else None, cancel)
        if self.outscale is not None:
            result = imresize(result, output_shape=shape, finish=quantiser)
        alpha = None if planes.alpha is None else imresize(planes.alpha, output_shape=shape)
        return merge_planes(Planes(result, alpha, planes.squeezed))

    def run_unit(self, image: np.ndarray, progress: Progress | None = None,
                 cancel: threading.Event | None = None) -> np.ndarray:
        """The network's float32 output, clipped to [0, 1], for an ``HxWxC`` float image in [0, 1]
        (C = 3, or 1 for a gray network), tiled and run as :meth:`__call__` runs it before
        quantising: what the tests compare with other implementations."""
        if self.model.interpolation:
            raise UsageError(f"{self.name} has no network; call the upscaler on an image")
        if image.ndim != 3 or not np.issubdtype(image.dtype, np.floating):
            raise ImageError(None, f"expected an HxWxC float image in [0, 1], got {image.dtype} of shape {image.shape}")
        self.check_size(*image.shape[:2])
        return self._run_network(image, progress, lambda rows: np.clip(rows, 0.0, 1.0), cancel)

    def _forward(self, x: Tile) -> Tile:
        if self.self_ensemble:
            return self_ensemble_forward(self._network_forward, x)
        return self._network_forward(x)

    def _tiling_note(self, height: int, width: int, tile: int) -> str:
        why = ("uses context from the whole image" if self.model.tiling != "internal"
               else "tiles the image itself")
        bound = "" if self.tile else (f", over the {AUTO_TILE_PIXELS / 1e6:.3g}-megapixel bound of a whole-image run "
                                      "(memory stays bounded by the tile)")
        return (f"{self.name}: {self.model.arch} {why}, so tiles may change its output; the {width}x{height} image "
                f"is tiled by {tile}{bound}")

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
        cancel: threading.Event | None = None,
    ) -> np.ndarray:
        height, width = image.shape[:2]
        x = to_channels_first(image)[None]  # what a numpy backend takes: no tile changes library
        if not self.backend_runner.takes_numpy:
            x = torch.from_numpy(x).to(self.device)
        with self.backend_runner.session(), torch.inference_mode():
            shapes = self.backend_runner.shapes.combined(model_shapes(self.model))
            for tile in self._tile_sizes(height, width):
                overlap = min(self.tile_overlap, max(0, tile // 2 - 1))
                if tile < max(height, width) and self.model.tiling != TILING_SUPPORTED:
                    warnings.warn(self._tiling_note(height, width, tile), stacklevel=3)
                try:
                    return tiled_forward(self._forward, x, scale=self.scale, tile=tile, overlap=overlap,
                                         progress=progress, finish=finish, cancel=cancel, shapes=shapes)
                except Exception as error:  # noqa: BLE001 (only out-of-memory errors are retried)
                    if not _is_out_of_memory(error) or tile <= MIN_TILE:
                        raise
                    if self.device.type == "cuda":
                        torch.cuda.empty_cache()
        raise AssertionError("unreachable: the last tile size re-raises")


def upscale(
    image: ImageInput,
    model: ModelInput = DEFAULT_MODEL,
    settings: UpscaleSettings | None = None,
    *,
    progress: Progress | None = None,
    **changes: Any,
) -> np.ndarray:
    """Upscale one image with a shipped model, bicubic, a checkpoint or a module (see :class:`Upscaler`
    and :class:`UpscaleSettings`; keyword changes to the settings are accepted as for ``Upscaler``).

    ``image``: a path (EXIF orientation applied) or an HWC RGB numpy array, uint8 or uint16, with 1,
    2 (gray+alpha), 3 or 4 channels. The result has the input's dtype and channels (alpha upscaled bicubically).
    Networks are loaded once per process and reused.
    """
    return Upscaler(model, settings, **changes)(image, progress)


__all__ = ["Upscaler", "upscale"]
