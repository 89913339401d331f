"""The model descriptor: one type for every network srapp runs, its own and foreign ones alike.

:func:`srapp.load_model` returns a :class:`LoadedModel` whatever the file held: srapp's RCAN and
SAN (their layouts say what the network is), any architecture of spandrel's registry (spandrel's
``ImageModelDescriptor`` says it), or bicubic interpolation (no network at all). The engine reads
from it what it needs to run the network well: the scale, the input and output channels, the
sizes the network accepts (:class:`SizeRequirements`), whether it may be tiled, and the precisions
it is safe in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

# How a network may be tiled (spandrel's ModelTiling): SUPPORTED: any tile; DISCOURAGED: it uses
# context from the whole image, so tiles change its output; INTERNAL: it tiles (or the like) itself.
TILING_SUPPORTED, TILING_DISCOURAGED, TILING_INTERNAL = "supported", "discouraged", "internal"
TILINGS = (TILING_SUPPORTED, TILING_DISCOURAGED, TILING_INTERNAL)

# What a network is for (spandrel's purposes, and bicubic's): srapp runs SR (scale >= 2) and
# restoration (scale 1); other purposes are refused when loaded.
PURPOSE_SR, PURPOSE_RESTORATION, PURPOSE_INTERPOLATION = "SR", "Restoration", "interpolation"


@dataclass(frozen=True)
class SizeRequirements:
    """The input sizes a network accepts: each side at least ``minimum`` and a multiple of
    ``multiple_of``; ``square``: height equal to width (spandrel's ``SizeRequirements``)."""

    minimum: int = 0
    multiple_of: int = 1
    square: bool = False

    def __post_init__(self) -> None:
        if self.minimum < 0 or self.multiple_of < 1:
            raise ValueError(f"size requirements need minimum >= 0 and multiple_of >= 1, got {self}")
        # the smallest admitted side is a multiple too, as spandrel rounds it
        object.__setattr__(self, "minimum", -(-self.minimum // self.multiple_of) * self.multiple_of)

    @property
    def none(self) -> bool:
        return self.minimum == 0 and self.multiple_of == 1 and not self.square

    def side(self, length: int) -> int:
        """The shortest admitted side of at least ``length`` pixels (ignoring ``square``)."""
        return -(-max(length, self.minimum) // self.multiple_of) * self.multiple_of

    def padded(self, height: int, width: int) -> tuple[int, int]:
        """The smallest admitted ``(height, width)`` that holds a ``height x width`` input."""
        height, width = self.side(height), self.side(width)
        return (max(height, width),) * 2 if self.square else (height, width)

    def admits(self, height: int, width: int) -> bool:
        return self.padded(height, width) == (height, width)


NO_REQUIREMENTS = SizeRequirements()


@dataclass(frozen=True)
class LoadedModel:
    """A network in eval mode with what is known about it. Calling it runs the network.

    ``arch``: the architecture (srapp's ``RCAN`` / ``SAN``, spandrel's id such as ``ESRGAN``, or
    ``bicubic``); ``scale``: its upscaling factor (None: bicubic, or a module that does not state
    it); ``config``: the constructor arguments srapp knows (spandrel's tags for foreign networks);
    ``layout``: how the checkpoint was stored (``srapp``, ``official-rcan``, ``spandrel``, ...);
    ``source``: the file or name it came from. ``input_channels`` / ``output_channels``: 1 (gray),
    3 (RGB) or 4 (RGBA). ``size_requirements``: the inputs the network itself accepts;
    ``export_requirements``: those its exported graph (OpenVINO) accepts, where stricter.
    ``tiling``: one of :data:`TILINGS`. ``supports_fp16`` / ``supports_bf16``: whether it computes
    correctly in those precisions (precision ``auto`` never picks one it does not support).
    ``licence``: the licence its architecture states, where that restricts its use or is known.
    ``purpose``: :data:`PURPOSE_SR`, :data:`PURPOSE_RESTORATION` (scale 1) or bicubic's.
    """

    network: nn.Module | None = field(repr=False)  # None: bicubic interpolation, no network
    arch: str
    scale: int | None
    config: dict[str, Any] = field(repr=False)
    layout: str
    source: str | None = None
    input_channels: int = 3
    output_channels: int = 3
    size_requirements: SizeRequirements = NO_REQUIREMENTS
    export_requirements: SizeRequirements | None = None
    tiling: str = TILING_SUPPORTED
    supports_fp16: bool = True
    supports_bf16: bool = True
    licence: str | None = None
    purpose: str = PURPOSE_SR

    @property
    def parameter_count(self) -> int:
        """The number of parameters of the network (0 for bicubic)."""
        return 0 if self.network is None else sum(p.numel() for p in self.network.parameters())

    @property
    def graph_requirements(self) -> SizeRequirements:
        """The sizes an exported graph of the network accepts."""
        return self.export_requirements or self.size_requirements

    @property
    def interpolation(self) -> bool:
        """Whether this is bicubic interpolation rather than a network."""
        return self.network is None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.network is None:
            raise TypeError(f"{self.arch} has no network to call; srapp.upscale runs it")
        return self.network(x)


__all__ = [
    "LoadedModel", "NO_REQUIREMENTS", "PURPOSE_INTERPOLATION", "PURPOSE_RESTORATION", "PURPOSE_SR",
    "SizeRequirements", "TILINGS", "TILING_DISCOURAGED", "TILING_INTERNAL", "TILING_SUPPORTED",
]
