"""Pieces RCAN and SAN share: the RGB mean shift and the sub-pixel upsampler."""

from __future__ import annotations

import inspect
import math
from typing import Any, Mapping

import torch
from torch import nn

DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)
SUPPORTED_SCALES = (2, 3, 4, 8)


def constructor_config(cls: type, arguments: Mapping[str, Any], **normalised: Any) -> dict[str, Any]:
    """The configuration a network records for its checkpoints: every parameter of ``cls.__init__``
    with the value it was called with, read from the constructor's ``locals()``, so an argument
    added later cannot be left out of saved files. ``normalised`` replaces values the constructor
    normalises (e.g. a shorthand folded into another argument); tuples stay tuples."""
    names = [name for name in inspect.signature(cls.__init__).parameters if name != "self"]
    config = {name: arguments[name] for name in names}
    config.update(normalised)
    return {name: tuple(value) if isinstance(value, list) else value for name, value in config.items()}


def conv3x3(in_channels: int, out_channels: int) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, padding=1)


class MeanShift(nn.Module):
    """Maps RGB in [0, 1] to the networks' zero-mean [0, 255] range and back.

    ``normalise(x) = (x - mean) * img_range``, ``denormalise(y) = y / img_range + mean``: the
    ``sub_mean`` / ``add_mean`` layers of the official code (std = 1) for inputs in [0, 1].
    """

    def __init__(self, rgb_mean: tuple[float, float, float] = DIV2K_RGB_MEAN, img_range: float = 255.0) -> None:
        super().__init__()
        self.img_range = float(img_range)
        self.register_buffer("mean", torch.tensor(rgb_mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean.to(x.dtype)) * self.img_range

    def denormalise(self, y: torch.Tensor) -> torch.Tensor:
        return y / self.img_range + self.mean.to(y.dtype)


class Upsampler(nn.Sequential):
    """Sub-pixel upsampler: ``log2(s)`` x (conv3x3 to 4C, PixelShuffle(2)) for s = 2, 4, 8, or
    conv3x3 to 9C and PixelShuffle(3) for s = 3 (Shi et al., CVPR 2016)."""

    def __init__(self, scale: int, channels: int) -> None:
        if scale not in SUPPORTED_SCALES:
            raise ValueError(f"scale {scale} is not supported; supported scales: {SUPPORTED_SCALES}")
        layers: list[nn.Module] = []
        if scale == 3:
            layers += [conv3x3(channels, 9 * channels), nn.PixelShuffle(3)]
        else:
            for _ in range(int(math.log2(scale))):
                layers += [conv3x3(channels, 4 * channels), nn.PixelShuffle(2)]
        super().__init__(*layers)
