"""The shipped weights and the user's models folder: which names exist, which file each is, and
what kind of network it holds.

One registry for everyone: the model loader resolves names through it, the engine lists its
models from it, and the LPIPS metric finds its backbone in it. ``SRAPP_WEIGHTS_DIR`` points it at
another folder. The models folder (:func:`srapp.locations.models_dir`: ``$SRAPP_MODELS`` or a
per-user data folder) holds the model files a user brings (``srapp models --add``); each is named
by its file's stem, after the shipped models, whose names it cannot take.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import CheckpointError
from ..locations import models_dir, weights_dir

WEIGHTS_DIR = weights_dir()
LPIPS_BACKBONE = "lpips_alexnet"  # metric weights live beside the SR models but are not one
METRIC_WEIGHTS = (LPIPS_BACKBONE,)
WEIGHTS_SUFFIX = ".pth"
MODEL_SUFFIXES = (".pth", ".pt", ".ckpt", ".safetensors")  # the model files a models folder may hold


@dataclass(frozen=True)
class ShippedWeights:
    name: str
    path: Path
    kind: str  # "sr" (a super-resolution network) or "metric"


# What a shipped model learned to undo, by its name: "-photo" models were trained on degraded
# photos (srapp.degradations), the others on clean images reduced by MATLAB bicubic.
PHOTO_SUFFIX = "-photo"
FOR_PHOTOS = "photos: JPEG, noise, blur"
FOR_BICUBIC = "clean images reduced by bicubic"


def trained_for(name: str) -> str:
    """The inputs a shipped model is made for, as ``srapp models`` and the web app describe it."""
    return FOR_PHOTOS if name.endswith(PHOTO_SUFFIX) else FOR_BICUBIC


def shipped_weights() -> dict[str, ShippedWeights]:
    """Every file of the weights folder by name (the file's stem), SR models and metric weights."""
    if not WEIGHTS_DIR.is_dir():
        return {}
    return {
        path.stem: ShippedWeights(path.stem, path, "metric" if path.stem in METRIC_WEIGHTS else "sr")
        for path in sorted(WEIGHTS_DIR.glob(f"*{WEIGHTS_SUFFIX}"))
    }


def shipped_models() -> dict[str, Path]:
    """Name -> file of every shipped super-resolution model (metric weights excluded)."""
    return {name: entry.path for name, entry in shipped_weights().items() if entry.kind == "sr"}


def user_models(folder: Path | None = None) -> dict[str, Path]:
    """Name -> file of every model file in the models folder (``folder``, default
    :func:`srapp.locations.models_dir`), except those whose names a shipped model has."""
    folder = models_dir() if folder is None else Path(folder)
    if not folder.is_dir():
        return {}
    shipped = shipped_weights()
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() in MODEL_SUFFIXES and path.is_file() and path.stem not in shipped:
            found.setdefault(path.stem, path)
    return found


def metric_weights_path(name: str) -> Path:
    """Where the metric weights ``name`` (e.g. :data:`LPIPS_BACKBONE`) are read from."""
    return WEIGHTS_DIR / f"{name}{WEIGHTS_SUFFIX}"


def looks_like_path(source: str | os.PathLike) -> bool:
    """Whether ``source`` is written as a file path rather than a bare model name."""
    return isinstance(source, os.PathLike) or any(mark in str(source) for mark in ("/", "\\", "."))


def model_file(source: str | os.PathLike, also: tuple[str, ...] = (), models_folder: Path | None = None) -> Path:
    """The checkpoint file a model name (shipped, or in the models folder: ``models_folder``,
    default :func:`srapp.locations.models_dir`) or a path stands for.

    A bare name that is neither a model nor a file is refused, listing the names (and ``also``:
    names the caller handles itself, such as ``bicubic``).
    """
    shipped = shipped_models()
    if str(source) in shipped:
        return shipped[str(source)]
    path = Path(source)
    if path.is_file():
        return path.resolve()
    if looks_like_path(source):
        raise CheckpointError(path, "no such checkpoint file")
    folder = models_dir() if models_folder is None else Path(models_folder)
    mine = user_models(folder)
    if str(source) in mine:
        return mine[str(source)]
    names = ", ".join([*also, *shipped]) or "none installed"
    listed = f"{folder}: {', '.join(mine)}" if mine else f"{folder}: none"
    raise CheckpointError(None, f"{str(source)!r} is neither a shipped model ({names}), nor a model of the "
                          f"models folder ({listed}), nor a checkpoint file")
