"""Which network (or bicubic) a model name means, loaded once per process and device."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn

from ..checkpoints import (
    LoadedModel, describe, load_model, model_file, read_checkpoint, shipped_models, trained_for,
)
from ..checkpoints.loader import model_from_state

BICUBIC = "bicubic"
BICUBIC_MADE_FOR = "a baseline: interpolation only"

ModelInput = str | os.PathLike | nn.Module | LoadedModel


@dataclass(frozen=True)
class ModelInfo:
    """What ``srapp models`` lists for one model."""

    name: str
    arch: str
    scale: int | None  # None: any integer scale (bicubic)
    parameters: int
    path: Path | None
    made_for: str  # the inputs it is meant for


def _channels_last(loaded: LoadedModel, device: torch.device) -> LoadedModel:
    # about 1.25x faster fp32 convolutions on CPU, and what CUDA tensor cores want; outputs are unchanged
    loaded.network.to(device, memory_format=torch.channels_last).eval()
    return loaded


@lru_cache(maxsize=8)
def _cached_model(path: Path, modified: float, device: torch.device) -> LoadedModel:
    # ``modified`` is part of the key so a retrained file replaces the cached network.
    return _channels_last(load_model(path, device), device)


def _module_model(network: nn.Module) -> LoadedModel:
    """A module built in code: an srapp network describes itself; another module may carry ``scale``."""
    try:
        return describe(network)
    except TypeError:
        scale = getattr(network, "scale", None)
        return LoadedModel(network, type(network).__name__, None if scale is None else int(scale),
                           dict(getattr(network, "config", {})), "module")


def load_network(model: ModelInput, device: torch.device) -> LoadedModel:
    """The network a name, checkpoint path, module or loaded model stands for, in eval mode on
    ``device`` and in channels_last memory format.

    Names and paths are loaded once and cached; a module is moved and converted in place.
    """
    if isinstance(model, LoadedModel):
        return _channels_last(model, device)
    if isinstance(model, nn.Module):
        return _channels_last(_module_model(model), device)
    path = model_file(model, also=(BICUBIC,))
    return _cached_model(path, path.stat().st_mtime, device)


def available_models() -> list[ModelInfo]:
    """Bicubic and every shipped model, with architecture, scale and parameter count."""
    infos = [ModelInfo(BICUBIC, "MATLAB bicubic", None, 0, None, BICUBIC_MADE_FOR)]
    for name, path in shipped_models().items():
        loaded = model_from_state(read_checkpoint(path), str(path))
        infos.append(ModelInfo(name, type(loaded.network).__name__, loaded.scale, loaded.parameters, path,
                               trained_for(name)))
    return infos
