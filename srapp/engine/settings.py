"""``UpscaleSettings``: every option of an upscale, its default and its check, written once.

``srapp.upscale``, :class:`srapp.Upscaler`, the command line and the web app all build one; their
defaults come from here (``DEFAULT_SETTINGS``), and a value that cannot work is refused here with
one message, whichever door it came through.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

from ..errors import UsageError
from .backends import BACKENDS
from .devices import AUTO
from .precision import check_precision

DEFAULT_MODEL = "rcan-x4"
PHOTO_MODEL = "rcan-x4-photo"  # the web app's default where it is shipped: trained on degraded photos
DEFAULT_TILE = 256  # tiles of a large input, in input pixels
DEFAULT_TILE_OVERLAP = 16
AUTO_TILE_PIXELS = 512 * 512  # tile=None: larger inputs are tiled, so memory stays bounded
MIN_TILE = 48  # out-of-memory retries stop here
# The most pixels of a result, or of any image made on the way to it (a network's output before
# ``outscale``): checked before any work, so no request can allocate past it. x4 of a 25-megapixel
# photo; 1.2 GB as 8-bit RGB.
DEFAULT_MAX_OUTPUT_PIXELS = 400_000_000


def _integer(name: str, value: Any, minimum: int, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise UsageError(f"{name} must be a whole number, got {value!r}")
    if value < minimum:
        raise UsageError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


@dataclass(frozen=True)
class UpscaleSettings:
    """How to upscale, independent of the image.

    ``scale``: required for bicubic; for a network it must equal the network's own (``None``: the
    network's). ``tile``: ``None`` runs inputs up to 512x512 whole and tiles larger ones by
    :data:`DEFAULT_TILE`; ``0`` always runs whole; ``N`` tiles by ``N`` input pixels, with
    ``tile_overlap`` pixels of shared context. ``precision``: ``auto`` (bf16 where it is fast, else
    fp32; int8 where a shipped model's gate allows it), ``fp32``, ``bf16``, ``fp16`` (CUDA only) or
    ``int8`` (CPU, OpenVINO); see :mod:`srapp.engine.precision`.
    ``backend``: what runs the network (``auto``: the fastest available, see
    :mod:`srapp.engine.backends`). ``device``: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
    ``self_ensemble``: the mean over the 8 flips/rotations (RCAN+/SAN+), 8x the work.
    ``outscale``: resize the result (MATLAB bicubic) to ``outscale`` times the input size.
    ``threads``: CPU threads for the network (``None``: torch's current setting).
    ``max_output_pixels``: an image whose result, or whose network output before ``outscale``,
    would have more pixels is refused before any work (:meth:`srapp.Upscaler.check_size`).
    """

    scale: int | None = None
    tile: int | None = None
    tile_overlap: int = DEFAULT_TILE_OVERLAP
    precision: str = AUTO
    backend: str = AUTO
    device: str = AUTO
    self_ensemble: bool = False
    outscale: float | None = None
    threads: int | None = None
    max_output_pixels: int = DEFAULT_MAX_OUTPUT_PIXELS

    def __post_init__(self) -> None:
        _integer("scale", self.scale, 1, allow_none=True)
        _integer("tile", self.tile, 0, allow_none=True)
        _integer("tile overlap", self.tile_overlap, 0)
        _integer("threads", self.threads, 1, allow_none=True)
        _integer("max output pixels", self.max_output_pixels, 1)
        check_precision(self.precision)
        if self.backend not in BACKENDS:
            raise UsageError(f"unknown backend {self.backend!r}; choose one of {', '.join(BACKENDS)}")
        if not isinstance(self.device, str):
            object.__setattr__(self, "device", str(self.device))
        if not isinstance(self.self_ensemble, bool):
            raise UsageError(f"self_ensemble must be true or false, got {self.self_ensemble!r}")
        if self.outscale is not None:
            if isinstance(self.outscale, bool) or not isinstance(self.outscale, Real) \
                    or not math.isfinite(self.outscale) or self.outscale <= 0:
                raise UsageError(f"outscale must be a positive finite number, got {self.outscale!r}")
            object.__setattr__(self, "outscale", float(self.outscale))

    def replace(self, **changes: Any) -> UpscaleSettings:
        """These settings with ``changes`` applied (and checked); unknown names are refused."""
        unknown = sorted(set(changes) - set(SETTING_NAMES))
        if unknown:
            raise UsageError(f"unknown setting {', '.join(unknown)}; settings: {', '.join(SETTING_NAMES)}")
        return dataclasses.replace(self, **changes)


def parse_whole_number(name: str, value: Any) -> int | None:
    """A whole-number setting as the command line and the web API receive it: text (``"4"``), an
    int, or a whole float (JSON clients send ``4.0``); None or blank text for unset. A fraction or
    other text is refused with the message :class:`UpscaleSettings` gives, so every door says the
    same; the range is UpscaleSettings' to check."""
    given = value
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            value = float(value.strip())
        except ValueError:
            raise UsageError(f"{name} must be a whole number, got {given!r}") from None
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise UsageError(f"{name} must be a whole number, got {given!r}")
    return int(value)


SETTING_NAMES = tuple(field.name for field in dataclasses.fields(UpscaleSettings))
DEFAULT_SETTINGS = UpscaleSettings()


def settings_from(settings: UpscaleSettings | None = None, **changes: Any) -> UpscaleSettings:
    """``settings`` (or the defaults) with keyword changes applied: the keyword form of the API."""
    return (settings or DEFAULT_SETTINGS).replace(**changes) if changes else (settings or DEFAULT_SETTINGS)
