"""What a model argument stands for, resolved in one place: a name (shipped, in the models folder,
or ``bicubic``), a checkpoint path, a state dict, a module or a descriptor. Files are loaded once
per process and device."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
import dataclasses
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..checkpoints import (
    LoadedModel, describe, load_model, model_file, model_from_state, read_checkpoint, shipped_models, trained_for,
)
from ..checkpoints.descriptor import PURPOSE_INTERPOLATION
from .._atomic import atomic_write
from ..checkpoints.weights import MODEL_SUFFIXES, looks_like_path, shipped_weights, user_models
from ..errors import CheckpointError, UsageError
from ..locations import models_dir

BICUBIC = "bicubic"
# The largest model file srapp accepts (``srapp models --add`` and the web app's upload; the web
# server's upload cap derives from it): the largest community models are about 0.5 GB.
MAX_MODEL_BYTES = 1 << 30
BICUBIC_MADE_FOR = "a baseline: interpolation only"
# Bicubic is a descriptor too: no network, any scale, MATLAB's imresize on the whole image.
BICUBIC_MODEL = LoadedModel(None, BICUBIC, None, {}, "built-in", BICUBIC, purpose=PURPOSE_INTERPOLATION)

ModelInput = str | os.PathLike | Mapping[str, Any] | nn.Module | LoadedModel


@dataclass(frozen=True)
class ModelInfo:
    """What ``srapp models`` and the web page list for one model."""

    name: str
    arch: str
    scale: int | None  # None: any integer scale (bicubic)
    parameter_count: int
    path: Path | None
    made_for: str  # the inputs it is meant for
    licence: str | None = None  # what its architecture's licence says, where stated
    problem: str | None = None  # why a file of the models folder does not load


def _channels_last(loaded: LoadedModel, device: torch.device) -> LoadedModel:
    # about 1.25x faster fp32 convolutions on CPU, and what CUDA tensor cores want; outputs are unchanged
    if loaded.network is not None:
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
    """The descriptor a name, checkpoint path, state dict, module or descriptor stands for, its
    network in eval mode on ``device`` and in channels_last memory format (bicubic: no network).

    Names and paths are loaded once and cached; a module is moved and converted in place.
    """
    if isinstance(model, LoadedModel):
        return _channels_last(model, device)
    if isinstance(model, nn.Module):
        return _channels_last(_module_model(model), device)
    if isinstance(model, Mapping):
        return _channels_last(load_model(model, device), device)
    if str(model) == BICUBIC:
        return BICUBIC_MODEL
    path = model_file(model, also=(BICUBIC,))
    return _cached_model(path, path.stat().st_mtime, device)


def model_name(model: ModelInput) -> str:
    """How a model argument is named in messages and file names."""
    if isinstance(model, LoadedModel):
        return Path(model.source).stem if model.source else model.arch
    if isinstance(model, nn.Module):
        return type(model).__name__
    if isinstance(model, Mapping):
        return "state dict"
    return Path(model).stem if looks_like_path(model) else str(model)


def describe_file(name: str, path: Path, made_for: str) -> ModelInfo:
    """A model file's listing; one that does not load is listed with the reason."""
    try:
        loaded = model_from_state(read_checkpoint(path), str(path))
    except CheckpointError as error:
        return ModelInfo(name, "?", None, 0, path, made_for, problem=error.reason)
    return ModelInfo(name, loaded.arch, loaded.scale, loaded.parameter_count, path,
                     made_for if loaded.purpose != "Restoration" else "restoration (x1)", loaded.licence)


def available_models(models_folder: Path | None = None) -> list[ModelInfo]:
    """Bicubic, every shipped model and every file of the models folder (``models_folder``,
    default :func:`srapp.locations.models_dir`), with architecture, scale, parameters and licence."""
    infos = [ModelInfo(BICUBIC, "MATLAB bicubic", None, 0, None, BICUBIC_MADE_FOR)]
    infos += [describe_file(name, path, trained_for(name)) for name, path in shipped_models().items()]
    infos += [describe_file(name, path, "your model") for name, path in user_models(models_folder).items()]
    return infos


def check_model_file(path: Path, max_bytes: int = MAX_MODEL_BYTES) -> None:
    """Refuse (:class:`CheckpointError` naming the file) what cannot be a model file to add: a
    suffix other than :data:`MODEL_SUFFIXES`, or more than ``max_bytes``, before it is read."""
    if path.suffix.lower() not in MODEL_SUFFIXES:
        raise CheckpointError(path, f"a model file ends in {', '.join(MODEL_SUFFIXES)}")
    try:
        size = path.stat().st_size
    except OSError as error:
        raise CheckpointError(path, f"cannot be read ({error.strerror or error})") from error
    if size > max_bytes:
        raise CheckpointError(path, f"{size / 1e6:.4g} MB is over the limit of {max_bytes / 1e6:.4g} MB for a model "
                              "file")


def add_model(source: str | os.PathLike, models_folder: Path | None = None, name: str | None = None,
              max_bytes: int = MAX_MODEL_BYTES) -> tuple[Path, LoadedModel]:
    """Validate a model file (:func:`check_model_file` with ``max_bytes``, then that it loads:
    srapp's layouts or spandrel's architectures, nothing pickled run) and copy it into the models
    folder (``models_folder``, default :func:`srapp.locations.models_dir`) as ``name`` (default:
    its own name). Returns the new file and its descriptor. A name that a shipped model or a file
    of the folder already has is refused: nothing there is written over."""
    source = Path(source)
    check_model_file(source, max_bytes)
    loaded = model_from_state(read_checkpoint(source), str(source))
    folder = models_dir() if models_folder is None else Path(models_folder)
    target = folder / (name or source.name)
    if target.stem in shipped_weights() or target.stem == BICUBIC:
        raise UsageError(f"{target.stem!r} is the name of a shipped model; give the file another name")
    taken = [path for path in folder.glob(f"{target.stem}.*") if path.suffix.lower() in MODEL_SUFFIXES] \
        if folder.is_dir() else []
    if taken:
        raise UsageError(f"{taken[0]}: the models folder already has a model named {target.stem!r}; nothing was "
                         "written over")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with open(source, "rb") as reading, atomic_write(target, replace=False) as writing:
            shutil.copyfileobj(reading, writing)
    except FileExistsError as error:
        raise UsageError(f"{target}: already exists; nothing was written over") from error
    except OSError as error:
        raise UsageError(f"{target}: cannot write to the models folder ({error.strerror or error})") from error
    return target, dataclasses.replace(loaded, source=str(target))
