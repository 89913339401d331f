"""Training stages whose gains are never lost: a stage's exported weights replace a shipped file only
when they score better on the validation set, and every stage, promoted or not, is recorded.

A stage is one training run of an option file (``options/train/*.yml``) that warm-starts from the
shipped weights (``pretrain_network_g: weights/<model>.pth``) and runs one cosine cycle, in
iterations or in wall-clock time, here or on another machine. At its end (``stage`` trains and
promotes; ``promote`` takes an experiment folder trained elsewhere) its EMA weights are exported as
int8 (the shipped storage) and scored with srapp's benchmark protocol (Y-PSNR, crop = scale, fp32,
PyTorch backend) against the file they would replace; the file is swapped atomically only if the
PSNR improved, and the stage is appended to ``weights/training_history.json`` (the model card's
source for its stage table).

Each model is judged on the benchmark it is for (:func:`judged_on`): a photo model
(``NAME-photo``) on Set5 degraded at the ``medium`` level, and, while none is shipped, against the
bicubic-trained model it was fine-tuned from (``NAME``): it ships only when it beats its parent.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from .._atomic import atomic_write
from ..checkpoints.weights import PHOTO_SUFFIX, WEIGHTS_DIR
from ..errors import UsageError
from .curve import CURVE_FILE, Curve
from .checkpoint_to_srapp import export_weights
from .option_files import load_yaml

HISTORY_FILE = WEIGHTS_DIR / "training_history.json"


@dataclass(frozen=True)
class Promotion:
    before: float  # the target's score (-inf when there was no file)
    after: float  # the candidate's score
    promoted: bool


@dataclass(frozen=True)
class StageRecord:
    stage: str
    options: str
    target: str
    iterations: int
    seconds: float
    machine: str
    set5_before: float | None  # None: nothing was shipped yet (and no parent to beat)
    set5_after: float
    promoted: bool
    degradation: str | None = None  # the level Set5 was degraded at, None for clean bicubic
    compared_with: str | None = None  # the file set5_before scored: the target, or a new model's parent


@dataclass(frozen=True)
class Judgement:
    """How a candidate for ``target`` is scored: Set5 at ``degradation`` (None: clean bicubic),
    against ``baseline`` (the target itself, a new photo model's parent, or None)."""

    degradation: str | None
    baseline: Path | None


PHOTO_LEVEL = "medium"  # the benchmark photo models are made for


def judged_on(target: Path) -> Judgement:
    """The benchmark ``target`` is for, and the file a candidate must beat."""
    photo = target.stem.endswith(PHOTO_SUFFIX)
    if target.is_file():
        return Judgement(PHOTO_LEVEL if photo else None, target)
    parent = target.with_name(target.stem.removesuffix(PHOTO_SUFFIX) + target.suffix)
    return Judgement(PHOTO_LEVEL, parent if parent.is_file() else None) if photo else Judgement(None, None)


def promote_if_better(candidate: Path, target: Path, score: Callable[[Path], float],
                      baseline: Path | None = None) -> Promotion:
    """Replace ``target`` by ``candidate`` (atomically) only if ``score`` rates the candidate higher
    than ``baseline`` (default: the target; nothing to beat when neither file exists)."""
    baseline = baseline or target
    before = score(baseline) if baseline.is_file() else -math.inf
    after = score(candidate)
    promoted = after > before
    if promoted:
        with open(candidate, "rb") as source, atomic_write(target) as handle:
            shutil.copyfileobj(source, handle)
    return Promotion(before, after, promoted)


def set5_psnr(dataset: Path, degradation: str | None = None) -> Callable[[Path], float]:
    """The score a stage is judged by: :func:`srapp.batch.mean_psnr` of a checkpoint on ``dataset``
    (degraded at ``degradation``'s level, else clean bicubic)."""
    from ..batch import mean_psnr

    return lambda path: mean_psnr(path, dataset, degradation=degradation)


def append_history(record: StageRecord, history: Path = HISTORY_FILE) -> None:
    records = json.loads(history.read_text()) if history.is_file() else []
    records.append(asdict(record))
    with atomic_write(history) as handle:
        handle.write((json.dumps(records, indent=2) + "\n").encode())


def experiment_options(experiment: Path) -> Path:
    """The option file BasicSR copied into ``experiment`` when the run started."""
    found = sorted(Path(experiment).glob("*.yml"))
    if len(found) != 1:
        raise UsageError(f"{experiment}: expected the one option file BasicSR copies into an experiment folder, "
                         f"found {len(found)}")
    return found[0]


def promote_experiment(experiment: Path, target: Path, dataset: Path, history: Path = HISTORY_FILE) -> StageRecord:
    """Export the experiment's latest weights (the EMA copy when it kept one) as int8, replace ``target``
    with them only if they score better on the benchmark ``target`` is for (:func:`judged_on`, on
    ``dataset``), and append the stage to ``history``, promoted or not. The iterations, seconds and
    machine come from the run's scored curve (:mod:`srapp.training.curve`), wherever it trained."""
    experiment = Path(experiment)
    options = experiment_options(experiment)
    latest = experiment / "models" / "net_g_latest.pth"
    if not latest.is_file():
        raise UsageError(f"{experiment}: no net_g_latest.pth in models/: the run has not finished")
    curve_path = experiment / CURVE_FILE
    if curve_path.is_file():
        curve = Curve.read(curve_path)
        iterations, seconds, machine = curve.iterations, curve.seconds, curve.machine
    else:  # trained by BasicSR's own SRModel: the option file's length, no clock
        iterations, seconds, machine = int(load_yaml(options)["train"]["total_iter"]), 0.0, "unknown"
    candidate = export_weights(latest, options, experiment / f"{target.stem}_candidate.pth", dtype=torch.int8)
    judgement = judged_on(target)
    promotion = promote_if_better(candidate, target, set5_psnr(dataset, judgement.degradation), judgement.baseline)
    record = StageRecord(
        stage=str(load_yaml(options)["name"]), options=options.name, target=str(target), iterations=iterations,
        seconds=round(seconds, 1), machine=machine,
        set5_before=round(promotion.before, 4) if math.isfinite(promotion.before) else None,
        set5_after=round(promotion.after, 4), promoted=promotion.promoted, degradation=judgement.degradation,
        compared_with=None if judgement.baseline is None else str(judgement.baseline),
    )
    append_history(record, history)
    return record


def run_stage(opt_path: Path, target: Path, dataset: Path, history: Path = HISTORY_FILE) -> StageRecord:
    """Train the stage (resuming where a run stopped), then :func:`promote_experiment`."""
    from . import train

    return promote_experiment(train(opt_path, auto_resume=True), target, dataset, history)
