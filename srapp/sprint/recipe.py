"""What a sprint trains, and how: one YAML file in ``options/sprint/``, checked before anything runs.

::

    name: rcan_x4_paper
    arch: RCAN                      # srapp.archs.ARCHITECTURES
    config: {scale: 4, num_groups: 10, num_blocks: 20, channels: 64, reduction: 16}
    init: ~                         # an srapp checkpoint of the same network to start from
    train_sets: [T91, BSD200]       # folders of the pack (srapp pack-images)
    validation_set: Set5
    seconds: 420                    # wall time of the cosine cycle, from the first finished step
    batch: [16, 32, 64]             # one size, or candidates: the smallest within 10% of the best throughput
    patch: 48                       # LR patch side (HR: patch x scale)
    lr: 2.0e-4                      # at batch 16; scaled by sqrt(batch / 16)
    min_lr: 1.0e-7
    betas: [0.9, 0.99]
    warmup_iterations: 100
    ema_decay: 0.999
    precision: bf16                 # srapp.engine.precision: slow bf16 runs fp32, with a warning
    channels_last: true
    compile: true                   # torch.compile of each residual group (they share one compiled graph)
    eval_seconds: 60                # Set5 of the EMA weights (and a checkpoint) this often
    seed: 10

Every key has the default shown (``name``, ``arch`` and ``config`` excepted); an unknown key, a
wrong type or an impossible value is an error naming the file and the key.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..archs import ARCHITECTURES
from ..engine.precision import check_precision
from ..errors import UsageError

BATCH_REFERENCE = 16  # the batch ``lr`` is given for
THROUGHPUT_TOLERANCE = 0.9  # a larger batch must beat this fraction of the best throughput to be chosen


@dataclass(frozen=True)
class Recipe:
    name: str
    arch: str
    config: dict[str, Any]
    init: str | None = None
    train_sets: tuple[str, ...] = ("T91", "BSD200")
    validation_set: str = "Set5"
    seconds: float = 420.0
    batch: tuple[int, ...] = (16, 32, 64)
    patch: int = 48
    lr: float = 2e-4
    min_lr: float = 1e-7
    betas: tuple[float, float] = (0.9, 0.99)
    warmup_iterations: int = 100
    ema_decay: float = 0.999
    precision: str = "bf16"
    channels_last: bool = True
    compile: bool = True
    eval_seconds: float = 60.0
    seed: int = 10
    source: str = field(default="", compare=False)  # the file it was read from

    @property
    def scale(self) -> int:
        return int(self.config["scale"])

    def lr_for(self, batch: int) -> float:
        """The peak learning rate at ``batch``: Adam's square-root scaling from the reference batch."""
        return self.lr * (batch / BATCH_REFERENCE) ** 0.5

    def as_dict(self) -> dict[str, Any]:
        """The recipe as its file states it (lists, not tuples): ``recipe_from_dict`` reads it back."""
        values = dataclasses.asdict(self)
        values.pop("source")
        return {key: list(value) if isinstance(value, tuple) else value for key, value in values.items()}


_REQUIRED = ("name", "arch", "config")
_FIELDS = {f.name: f for f in dataclasses.fields(Recipe) if f.name != "source"}


def _problem(path: Path | str, key: str, message: str) -> UsageError:
    return UsageError(f"{path}: {key}: {message}")


def _coerce(path: Path | str, key: str, value: Any) -> Any:
    """``value`` in the type of the field ``key``, or a UsageError naming both."""
    default = _FIELDS[key].default
    if key == "batch":
        sizes = value if isinstance(value, list) else [value]
        if not sizes or not all(isinstance(size, int) and not isinstance(size, bool) and size > 0 for size in sizes):
            raise _problem(path, key, f"expected a positive integer or a list of them, got {value!r}")
        return tuple(sorted(set(sizes)))
    if key == "train_sets":
        if not (isinstance(value, list) and value and all(isinstance(name, str) for name in value)):
            raise _problem(path, key, f"expected a list of pack folder names, got {value!r}")
        return tuple(value)
    if key == "betas":
        if not (isinstance(value, list) and len(value) == 2 and all(isinstance(b, (int, float)) for b in value)):
            raise _problem(path, key, f"expected two numbers, got {value!r}")
        return (float(value[0]), float(value[1]))
    if key == "init":
        if value is not None and not isinstance(value, str):
            raise _problem(path, key, f"expected a checkpoint path or ~, got {value!r}")
        return value
    if key == "config":
        if not isinstance(value, dict) or "scale" not in value:
            raise _problem(path, key, f"expected the network's arguments, scale included, got {value!r}")
        return dict(value)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise _problem(path, key, f"expected true or false, got {value!r}")
        return value
    if isinstance(default, (int, float)) and not isinstance(default, bool):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _problem(path, key, f"expected a number, got {value!r}")
        if isinstance(default, int) and not float(value).is_integer():
            raise _problem(path, key, f"expected an integer, got {value!r}")
        return type(default)(value)
    if not isinstance(value, str):
        raise _problem(path, key, f"expected a string, got {value!r}")
    return value


def recipe_from_dict(values: dict[str, Any], source: str = "<recipe>") -> Recipe:
    """A checked :class:`Recipe`: every problem is a UsageError naming ``source`` and the key."""
    if not isinstance(values, dict):
        raise UsageError(f"{source}: expected a mapping of recipe keys, got {type(values).__name__}")
    for key in values:
        if key not in _FIELDS:
            raise _problem(source, key, f"unknown key (known: {', '.join(_FIELDS)})")
    for key in _REQUIRED:
        if key not in values:
            raise _problem(source, key, "missing")
    checked = {key: _coerce(source, key, value) for key, value in values.items()}
    if checked["arch"] not in ARCHITECTURES:
        raise _problem(source, "arch", f"unknown architecture {checked['arch']!r} ({', '.join(ARCHITECTURES)})")
    try:
        check_precision(checked.get("precision", Recipe.precision))
    except UsageError as error:
        raise _problem(source, "precision", str(error)) from error
    for key in ("seconds", "patch", "lr", "eval_seconds"):
        if key in checked and checked[key] <= 0:
            raise _problem(source, key, f"must be positive, got {checked[key]}")
    if not 0 <= checked.get("ema_decay", Recipe.ema_decay) < 1:
        raise _problem(source, "ema_decay", "must be in [0, 1)")
    try:
        ARCHITECTURES[checked["arch"]](**checked["config"])
    except (TypeError, ValueError) as error:
        raise _problem(source, "config", f"{checked['arch']} refuses it: {error}") from error
    return Recipe(**checked, source=source)


def load_recipe(path: str | os.PathLike) -> Recipe:
    """Read and check a recipe file (see the module docstring)."""
    path = Path(path)
    try:
        values = yaml.safe_load(path.read_text())
    except OSError as error:
        raise UsageError(f"{path}: cannot read the recipe: {error.strerror or error}") from error
    except yaml.YAMLError as error:
        raise UsageError(f"{path}: not valid YAML: {error}") from error
    return recipe_from_dict(values, str(path))
