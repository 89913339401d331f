"""One sprint: train a recipe for a fixed wall time and leave its EMA weights, scored, in a folder.

The learning rate follows one cosine cycle in *time*, not iterations: ``progress = elapsed /
seconds`` from the end of the first step (which holds the compilation), so the cycle ends on
time whatever the machine's speed, and how many iterations that was is measured, not guessed.
Every ``eval_seconds`` the EMA weights are scored on the validation set (srapp's benchmark:
Y-PSNR, crop = scale, fp32, PyTorch) and written, int8 as shipped, to ``OUT/<name>.pth`` with the
curve so far in ``OUT/<name>.json``: a run stopped at any point leaves its latest weights and
figures. At the end the written int8 file itself is scored, so the report's final figure is the
one the file would ship with.

The network trains under autocast (``precision``) in channels-last; the loss (L1), the gradients,
Adam and the EMA copy stay float32. With ``compile``, each residual group is compiled (they are
one module class, so one compiled graph serves them all; compiling the whole network would take
minutes for the paper's 200 blocks); if compiling fails, the step is redone eagerly and the run
goes on eagerly, with the reason in the report.
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .._atomic import atomic_write
from ..archs import ARCHITECTURES
from ..batch import mean_psnr
from ..checkpoints import load_model, save_checkpoint
from ..engine.devices import machine_description, resolve_device
from ..engine.precision import autocast, resolve_precision
from ..errors import UsageError
from .patches import PatchSampler, load_pairs
from .recipe import THROUGHPUT_TOLERANCE, Recipe, recipe_from_dict

Log = Callable[[str], None]


@dataclass
class CurvePoint:
    iteration: int
    seconds: float  # since the end of the first step
    lr: float
    loss: float  # mean L1 since the previous point
    psnr: float | None  # validation Y-PSNR of the EMA weights (fp32); None: scoring failed


@dataclass
class SprintReport:
    recipe: dict[str, Any]
    recipe_file: str
    machine: str
    torch: str
    precision: str
    compiled: bool
    compile_note: str | None
    batch: int
    lr: float
    batch_probe: dict[int, float | None]  # patches/s of each candidate (None: out of memory)
    parameters: int
    first_step_seconds: float  # compilation included
    budget_seconds: float = 0.0  # the cosine cycle's length
    iterations: int = 0
    seconds: float = 0.0  # the cycle's wall time, scoring included
    scoring_seconds: float = 0.0  # of which scoring and writing checkpoints
    iterations_per_second: float = 0.0  # of training alone
    patches_per_second: float = 0.0
    peak_gpu_memory_gib: float | None = None
    curve: list[CurvePoint] = field(default_factory=list)
    init_psnr: float | None = None  # the starting weights, when the recipe warm-starts
    final_psnr_fp32: float | None = None  # EMA weights, float32
    final_psnr_int8: float | None = None  # the written file
    checkpoint: str = ""
    checkpoint_bytes: int = 0
    skipped_images: list[str] = field(default_factory=list)
    scoring_errors: list[str] = field(default_factory=list)

    def write(self, path: Path) -> None:
        with atomic_write(path) as handle:
            handle.write((json.dumps(asdict(self), indent=2) + "\n").encode())


def learning_rate(peak: float, floor: float, progress: float, iteration: int, warmup: int) -> float:
    """Cosine from ``peak`` at progress 0 to ``floor`` at 1, times a linear warm-up over the first
    ``warmup`` iterations."""
    cosine = floor + (peak - floor) * 0.5 * (1 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))
    return cosine * min(1.0, (iteration + 1) / warmup) if warmup > 0 else cosine


class ExponentialAverage:
    """EMA of a network's parameters, with the usual warm-up ``min(decay, (1 + t) / (10 + t))`` so
    that a short run from scratch is not dominated by its random start."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.model = copy.deepcopy(model).eval().requires_grad_(False)
        self.decay, self.updates = decay, 0
        self._source, self._target = list(model.parameters()), list(self.model.parameters())

    @torch.no_grad()
    def update(self) -> None:
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        torch._foreach_lerp_(self._target, self._source, 1 - decay)
        self.updates += 1


def build_network(recipe: Recipe, device: torch.device) -> nn.Module:
    """The recipe's network, from its ``init`` checkpoint when it names one (same architecture and
    configuration, or an error naming both)."""
    network = ARCHITECTURES[recipe.arch](**recipe.config)
    if recipe.init:
        loaded = load_model(recipe.init)
        if type(loaded.network) is not type(network) or dict(loaded.network.config) != dict(network.config):
            raise UsageError(f"{recipe.source}: init: {recipe.init} is a {type(loaded.network).__name__} "
                             f"{dict(loaded.network.config)}, not the recipe's {recipe.arch} {dict(network.config)}")
        network.load_state_dict(loaded.network.state_dict())
    network = network.to(device)
    return network.to(memory_format=torch.channels_last) if recipe.channels_last else network


COMPILE_BACKEND = "inductor"
FINISH_RESERVE_SECONDS = 30.0  # the last evaluation, the int8 file's score and the report


def compile_groups(network: nn.Module) -> None:
    for group in network.groups:
        group.compile(backend=COMPILE_BACKEND)


def uncompile_groups(network: nn.Module) -> None:
    torch._dynamo.reset()
    for group in network.groups:
        group._compiled_call_impl = None  # what nn.Module.compile set; the module runs eagerly again


class Trainer:
    """One optimiser step at a time on patches of ``sampler``."""

    def __init__(self, network: nn.Module, recipe: Recipe, precision: str, batch: int, device: torch.device) -> None:
        self.network, self.recipe, self.precision, self.batch, self.device = network, recipe, precision, batch, device
        self.optimizer = torch.optim.Adam(network.parameters(), lr=recipe.lr_for(batch), betas=recipe.betas,
                                          fused=device.type == "cuda")

    def step(self, sampler: PatchSampler, lr: float) -> torch.Tensor:
        lq, gt = sampler.sample(self.batch)
        if self.recipe.channels_last:
            lq = lq.contiguous(memory_format=torch.channels_last)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        with autocast(self.precision, self.device.type):
            output = self.network(lq)
        loss = F.l1_loss(output.float(), gt)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.detach()


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def probe_batches(network: nn.Module, recipe: Recipe, precision: str, sampler: PatchSampler,
                  device: torch.device, rounds: int = 3) -> tuple[int, dict[int, float | None]]:
    """Patches per second of each candidate batch (eager, on a copy of the network), and the
    smallest batch within :data:`THROUGHPUT_TOLERANCE` of the best: a larger batch takes fewer
    steps in the same time, so it must pay for itself in throughput."""
    if len(recipe.batch) == 1:
        return recipe.batch[0], {}
    throughput: dict[int, float | None] = {}
    for batch in recipe.batch:
        trainer = Trainer(copy.deepcopy(network), recipe, precision, batch, device)
        try:
            trainer.step(sampler, 0.0)  # warm-up: allocations, cuDNN's algorithm search
            synchronize(device)
            started = time.perf_counter()
            for _ in range(rounds):
                trainer.step(sampler, 0.0)
            synchronize(device)
            throughput[batch] = batch * rounds / (time.perf_counter() - started)
        except torch.OutOfMemoryError:
            throughput[batch] = None
        del trainer
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return smallest_sufficient_batch(throughput), throughput


def smallest_sufficient_batch(throughput: dict[int, float | None]) -> int:
    """The smallest batch whose patches/s reach :data:`THROUGHPUT_TOLERANCE` of the best (None:
    the batch did not fit in memory)."""
    measured = {batch: rate for batch, rate in throughput.items() if rate is not None}
    if not measured:
        raise UsageError(f"batch: no candidate fits in memory ({', '.join(map(str, throughput))})")
    best = max(measured.values())
    return min(batch for batch, rate in measured.items() if rate >= THROUGHPUT_TOLERANCE * best)


def _score(report: SprintReport, model: nn.Module | Path, folder: Path, device: torch.device, log: Log) -> float | None:
    """:func:`srapp.batch.mean_psnr`, or None with the error recorded and logged: a sprint runs once, on
    a machine this code is not tested on, and its weights matter more than its own scores (they
    are scored again where they are promoted)."""
    try:
        return round(mean_psnr(model, folder, str(device)), 4)
    except Exception as error:  # noqa: BLE001 (any failure of scoring must leave the training going)
        message = f"scoring {model if isinstance(model, Path) else 'the EMA weights'} failed: {type(error).__name__}: {error}"
        report.scoring_errors.append(message[:500])
        log(f"sprint: {message}")
        return None


def _dB(value: float | None) -> str:
    return "(not scored)" if value is None else f"{value:.4f} dB"


def run_sprint(recipe: Recipe, pack: Path, out: Path, *, seconds: float | None = None, batch: int | None = None,
               finish_within: float | None = None, device: str = "auto", log: Log = print) -> SprintReport:
    """Train ``recipe`` on the pack's ``train_sets`` for ``seconds`` (default: the recipe's), scoring
    on its ``validation_set``; write ``OUT/<name>.pth`` (int8) and ``OUT/<name>.json`` (the report).
    ``seconds`` and ``batch`` override the recipe's, for a dry run of it on a slow machine.

    ``finish_within``: the whole call must end within this many seconds of its start (a lent
    machine's command limit). When loading, probing and compiling took longer than planned, the
    cycle is shortened to end :data:`FINISH_RESERVE_SECONDS` before that, so it still ends annealed.
    """
    called = time.perf_counter()
    changes = {key: value for key, value in (("seconds", seconds), ("batch", batch)) if value is not None}
    if changes:
        recipe = recipe_from_dict({**recipe.as_dict(), **changes}, recipe.source)
    budget = recipe.seconds
    torch_device = resolve_device(device)
    torch.backends.cudnn.benchmark = True  # one input shape for the whole run
    torch.manual_seed(recipe.seed)
    resolved = resolve_precision(recipe.precision, torch_device)
    if resolved.warning:
        log(f"sprint: {resolved.warning}")
    validation = pack / recipe.validation_set
    if not validation.is_dir():
        raise UsageError(f"{validation}: no validation set {recipe.validation_set!r} in the pack")
    pairs, skipped = load_pairs([pack / name for name in recipe.train_sets], recipe.scale, recipe.patch)
    sampler = PatchSampler(pairs, recipe.scale, recipe.patch, torch_device, seed=recipe.seed)
    log(f"sprint: {len(sampler)} training images ({len(skipped)} skipped) on {torch_device}, {resolved.precision}")
    network = build_network(recipe, torch_device)
    out.mkdir(parents=True, exist_ok=True)
    checkpoint, report_path = out / f"{recipe.name}.pth", out / f"{recipe.name}.json"

    batch, probe = probe_batches(network, recipe, resolved.precision, sampler, torch_device)
    if probe:
        log("sprint: patches/s by batch: " + ", ".join(f"{b}: {r:.0f}" if r else f"{b}: out of memory"
                                                      for b, r in probe.items()) + f" -> batch {batch}")
    trainer = Trainer(network, recipe, resolved.precision, batch, torch_device)
    average = ExponentialAverage(network, recipe.ema_decay)
    report = SprintReport(
        recipe=recipe.as_dict(), recipe_file=recipe.source, machine=machine_description(torch_device), torch=torch.__version__,
        precision=resolved.precision, compiled=recipe.compile, compile_note=None, batch=batch,
        lr=recipe.lr_for(batch), batch_probe=probe, parameters=sum(p.numel() for p in network.parameters()),
        first_step_seconds=0.0, checkpoint=checkpoint.name, skipped_images=skipped,
    )
    if recipe.init:
        report.init_psnr = _score(report, average.model, validation, torch_device, log)
        log(f"sprint: {recipe.init} scores {_dB(report.init_psnr)} on {recipe.validation_set}")

    peak, warmup = report.lr, recipe.warmup_iterations
    if recipe.compile:
        compile_groups(network)
    started = time.perf_counter()
    try:
        loss = trainer.step(sampler, learning_rate(peak, recipe.min_lr, 0.0, 0, warmup))
    except Exception as error:  # noqa: BLE001 (dynamo and inductor raise many types)
        if not recipe.compile:
            raise
        report.compiled, report.compile_note = False, f"{type(error).__name__}: {str(error)[:300]}"
        log(f"sprint: compiling failed ({report.compile_note}); training eagerly")
        uncompile_groups(network)
        loss = trainer.step(sampler, learning_rate(peak, recipe.min_lr, 0.0, 0, warmup))
    average.update()
    synchronize(torch_device)
    report.first_step_seconds = round(time.perf_counter() - started, 2)
    log(f"sprint: first step {report.first_step_seconds:.1f} s (compiled: {report.compiled}); "
        f"training at batch {batch}, lr {peak:.2e}")

    t0 = time.perf_counter()
    if finish_within is not None:
        left = finish_within - (t0 - called) - FINISH_RESERVE_SECONDS
        if left < budget:
            log(f"sprint: {left:.0f} s left before the {finish_within:.0f} s limit: the cycle is shortened from {budget:.0f} s")
            budget = max(left, 1.0)
    report.budget_seconds = round(budget, 2)
    iteration, losses = 1, [loss]
    next_eval = recipe.eval_seconds
    while (elapsed := time.perf_counter() - t0) < budget:
        lr = learning_rate(peak, recipe.min_lr, elapsed / budget, iteration, warmup)
        losses.append(trainer.step(sampler, lr))
        average.update()
        iteration += 1
        if elapsed >= next_eval:
            scoring = time.perf_counter()
            _record(report, average, recipe, validation, checkpoint, report_path, iteration, elapsed, lr, losses,
                    torch_device, log)
            report.scoring_seconds = round(report.scoring_seconds + time.perf_counter() - scoring, 2)
            losses, next_eval = [], elapsed + recipe.eval_seconds
    synchronize(torch_device)
    report.seconds = round(time.perf_counter() - t0, 2)
    report.iterations = iteration
    training_seconds = max(report.seconds - report.scoring_seconds, 1e-9)
    report.iterations_per_second = round(iteration / training_seconds, 3)
    report.patches_per_second = round(iteration * batch / training_seconds, 1)
    if torch_device.type == "cuda":
        report.peak_gpu_memory_gib = round(torch.cuda.max_memory_allocated(torch_device) / 2**30, 2)
    if losses:  # else the cycle ended on an evaluation: those weights are scored and written already
        _record(report, average, recipe, validation, checkpoint, report_path, iteration, report.seconds,
                recipe.min_lr, losses, torch_device, log)
    report.final_psnr_fp32 = report.curve[-1].psnr
    report.final_psnr_int8 = _score(report, checkpoint, validation, torch_device, log)
    report.checkpoint_bytes = checkpoint.stat().st_size
    report.write(report_path)
    log(f"sprint: {iteration} iterations in {report.seconds:.0f} s; {recipe.validation_set} "
        f"{_dB(report.final_psnr_fp32)} (fp32), {_dB(report.final_psnr_int8)} ({checkpoint.name}, int8, "
        f"{report.checkpoint_bytes / 2**20:.1f} MiB)")
    return report


def _record(report: SprintReport, average: ExponentialAverage, recipe: Recipe, validation: Path, checkpoint: Path,
            report_path: Path, iteration: int, elapsed: float, lr: float, losses: list[torch.Tensor],
            device: torch.device, log: Log) -> None:
    """Score the EMA weights, write them and the report so far; ``losses`` are the steps' since the
    previous point, at least one (a point without a step would repeat the previous one, lossless)."""
    loss = float(torch.stack(losses).mean())
    save_checkpoint(average.model, checkpoint, dtype=torch.int8)
    psnr = _score(report, average.model, validation, device, log)
    report.curve.append(CurvePoint(iteration, round(elapsed, 2), lr, round(loss, 6), psnr))
    report.iterations = iteration
    report.write(report_path)
    log(f"sprint: iteration {iteration}, {elapsed:.0f} s, lr {lr:.2e}, L1 {loss:.5f}, "
        f"{recipe.validation_set} {_dB(psnr)}")
