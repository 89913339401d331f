"""What each attention buys: RCAN with every attention of the library (and none), one budget.

The option files come from one template, :func:`ablation_options`: the same small RCAN, data,
seed and schedule for every attention, so two files differ only in ``network_g.attention`` and
``name`` (the noise replicates also in ``manual_seed``). :func:`write_ablation_options` writes
them (``options/ablation/``): the twelve rows ``none`` and each of
:data:`srapp.attention.ATTENTION_NAMES` at seed 1, and ``none`` and ``ca`` again at seeds 2 and 3
for the noise estimate.

:func:`run_ablation` trains every file of a folder that has not finished (one ``srapp train
--auto_resume`` process each: a finished run is skipped, an interrupted one continues from its
newest training state), benchmarks each final model with srapp's protocol
(:func:`srapp.batch.benchmark` through an :class:`srapp.Upscaler`), measures its cost and writes
one JSON report. Per run: Y-PSNR / SSIM on the benchmark sets, LPIPS on Set5, training wall time,
s/iteration (median over the logged windows) and peak resident memory of the training process.
Per attention: parameters and GFLOPs (``torch.utils.flop_counter`` at a 128x128 input) added to
``none``, and the latency of one 128x128 upscale on srapp's default backend. The replicate seeds
give the noise: which differences from ``none`` exceed it.

    python experiments/ablation.py options options/ablation/
    python experiments/ablation.py run options/ablation/ --report docs/ablation.json --plot docs/ablation.png

Exit status of ``run``: 0 every run finished and was measured, 1 some run failed, 2 usage error.
Results and what they mean: docs/ATTENTION.md.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import math
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import yaml

from srapp import _compat  # noqa: F401  (before basicsr)
from srapp import locations
from srapp._atomic import atomic_write
from srapp.archs.rcan import RCAN_ATTENTIONS
from srapp.data import dataset_path
from srapp.engine.devices import cpu_name
from srapp.training import OptionsError
from srapp.training.option_files import load_yaml

NOISE_ATTENTIONS = ("none", "ca")
MAIN_SEED = 1
NOISE_SEEDS = (2, 3)
SCALE = 2
FLOPS_INPUT = 128  # side of the LR input that GFLOPs and latency are measured at
LPIPS_SETS = ("Set5",)
SRAPP_CHECKPOINT = "ablation_model.pth"  # the final model of a run, as an srapp checkpoint
SESSIONS_FILE = "ablation_sessions.json"  # wall time and peak memory of each training process
BENCHMARK_FILE = "ablation_benchmark.json"  # the final model's scores, kept so a rerun skips them


@dataclass(frozen=True)
class AblationData:
    """Where the ablation reads its images: folders relative to the root (the repository by
    default); ``${SRAPP_DATA}`` and dataset names go through :mod:`srapp.data`."""

    train_gt: str = "datasets/291_sub/HR_sub"
    train_lq: str = "datasets/291_sub/LR_bicubic/X2_sub"
    validation: str = "${SRAPP_DATA}/datasets/Set5"
    benchmarks: tuple[tuple[str, str], ...] = (("Set5", "Set5"), ("Set14", "Set14"), ("BSD100", "BSD100"))


@dataclass(frozen=True)
class AblationSchedule:
    """The one network and training budget of every run.

    RCAN 3 groups x 4 blocks x 32 features at x2, 400 iterations of 4 LR patches of 48x48, Adam
    at 1e-3 with a cosine decay to ``eta_min`` over ``total_iter``: a short schedule has to end
    annealed for its last weights to be a fair snapshot. Sized for the project's 2-core CPU (the
    whole set of runs in about 1.5 hours on a quiet machine); at this compute, small batches and
    the high learning rate train furthest (docs/ATTENTION.md). No EMA: over a few hundred
    iterations a moving average would mostly hold the random initial weights.
    """

    num_groups: int = 3
    num_blocks: int = 4
    channels: int = 32
    lq_size: int = 48
    batch_size: int = 4
    total_iter: int = 400
    lr: float = 1e-3
    eta_min: float = 1e-6
    print_freq: int = 10
    checkpoint_freq: int = 50
    val_freq: int = 200


DEFAULT_DATA = AblationData()
DEFAULT_SCHEDULE = AblationSchedule()


def run_name(attention: str, seed: int = MAIN_SEED) -> str:
    suffix = "" if seed == MAIN_SEED else f"_seed{seed}"
    return f"ablation_RCAN_x{SCALE}_{attention}{suffix}"


def ablation_options(
    attention: str, seed: int = MAIN_SEED, schedule: AblationSchedule = DEFAULT_SCHEDULE,
    data: AblationData = DEFAULT_DATA,
) -> dict[str, Any]:
    """The BasicSR options of the run of ``attention`` (``none`` or a library name) at ``seed``.

    Each attention keeps its paper defaults (no ``reduction`` is passed), as a user of the
    library would get it.
    """
    if attention not in RCAN_ATTENTIONS:
        raise ValueError(f"unknown attention {attention!r}; valid names: {', '.join(RCAN_ATTENTIONS)}")
    psnr = {"type": "calculate_psnr", "crop_border": SCALE, "test_y_channel": True}
    ssim = {"type": "calculate_ssim", "crop_border": SCALE, "test_y_channel": True}
    return {
        "name": run_name(attention, seed),
        "model_type": "SrappSRModel",
        "precision": "fp32",
        "channels_last": True,
        "scale": SCALE,
        "num_gpu": "auto",
        "manual_seed": seed,
        "datasets": {
            "train": {
                "name": "291", "type": "PairedImageDataset",
                "dataroot_gt": data.train_gt, "dataroot_lq": data.train_lq,
                "filename_tmpl": "{}", "io_backend": {"type": "disk"},
                "gt_size": schedule.lq_size * SCALE, "use_hflip": True, "use_rot": True, "use_shuffle": True,
                "num_worker_per_gpu": 0,  # loading runs in the training process: its memory is the whole cost
                "batch_size_per_gpu": schedule.batch_size,
                "dataset_enlarge_ratio": 100, "prefetch_mode": None, "pin_memory": False,
            },
            "val": {"name": "Set5", "type": "SrappBicubicPairedDataset", "dataroot_gt": data.validation,
                    "io_backend": {"type": "disk"}},
        },
        "network_g": {
            "type": "SrappRCAN", "scale": SCALE, "attention": attention,
            "num_groups": schedule.num_groups, "num_blocks": schedule.num_blocks, "channels": schedule.channels,
        },
        "path": {"pretrain_network_g": None, "strict_load_g": True, "resume_state": None},
        "train": {
            "ema_decay": 0,
            "optim_g": {"type": "Adam", "lr": schedule.lr, "weight_decay": 0, "betas": [0.9, 0.99]},
            "scheduler": {"type": "CosineAnnealingRestartLR", "periods": [schedule.total_iter],
                          "restart_weights": [1], "eta_min": schedule.eta_min},
            "total_iter": schedule.total_iter,
            "warmup_iter": -1,
            "pixel_opt": {"type": "L1Loss", "loss_weight": 1.0, "reduction": "mean"},
        },
        "val": {"val_freq": schedule.val_freq, "save_img": False, "metrics": {"psnr": psnr, "ssim": ssim}},
        "logger": {"print_freq": schedule.print_freq, "save_checkpoint_freq": schedule.checkpoint_freq,
                   "use_tb_logger": False, "wandb": {"project": None, "resume_id": None}},
    }


def ablation_runs() -> list[tuple[str, int]]:
    """``(attention, seed)`` of every run: each row at seed 1, then the noise replicates."""
    return [(name, MAIN_SEED) for name in RCAN_ATTENTIONS] + [
        (name, seed) for seed in NOISE_SEEDS for name in NOISE_ATTENTIONS
    ]


_HEADER = """\
# Attention ablation run {name}: generated by
#   python experiments/ablation.py options {folder}
# from ablation_options in experiments/ablation.py; edit the template there, not this file.
# See docs/ATTENTION.md.
"""


def write_ablation_options(
    folder: str | os.PathLike, schedule: AblationSchedule = DEFAULT_SCHEDULE, data: AblationData = DEFAULT_DATA,
) -> list[Path]:
    """Write the option file of every run of :func:`ablation_runs` into ``folder``."""
    folder = Path(folder)
    written = []
    for attention, seed in ablation_runs():
        options = ablation_options(attention, seed, schedule, data)
        path = folder / f"{options['name']}.yml"
        text = _HEADER.format(name=options["name"], folder=folder.as_posix()) + yaml.safe_dump(
            options, sort_keys=False, default_flow_style=False
        )
        with atomic_write(path) as handle:
            handle.write(text.encode("utf-8"))
        written.append(path)
    return written


# ------------------------------------------------------------------------------------------------
# Training
# ------------------------------------------------------------------------------------------------

_LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")
_LOG_ITER = re.compile(r"\[epoch:\s*\d+, iter:\s*([\d,]+), lr:")


def _read_json(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return default


def _write_json(path: Path, data: Any) -> None:
    with atomic_write(path) as handle:
        handle.write((json.dumps(data, indent=2) + "\n").encode("utf-8"))


def is_finished(experiment: Path) -> bool:
    """The run saved its final network (``net_g_latest.pth``, written once training ends) whole."""
    latest = experiment / "models" / "net_g_latest.pth"
    if not latest.is_file():
        return False
    try:
        torch.load(latest, map_location="cpu", weights_only=True)
    except Exception:  # cut short while saving: the run is resumed and saves it again
        return False
    return True


def _srapp_environment() -> dict[str, str]:
    """The environment of a training process: it imports this same srapp."""
    environment = dict(os.environ)
    package_parent = str(locations.PACKAGE_DIR.parent)
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [package_parent, environment.get("PYTHONPATH")]))
    return environment


def train_session(option_file: Path, root: Path, experiment: Path) -> int:
    """One ``srapp train --auto_resume`` process; its wall time and peak memory are appended to
    the experiment's :data:`SESSIONS_FILE`. Returns its exit status."""
    command = [sys.executable, "-m", "srapp.cli", "train", "-opt", str(option_file), "--auto_resume",
               "--root", str(root)]
    started = time.monotonic()
    process = subprocess.Popen(command, env=_srapp_environment())
    try:
        _, status, usage = os.wait4(process.pid, 0)
    except BaseException:  # Ctrl-C or SIGTERM of the command: stop the training too (it resumes later)
        process.terminate()
        process.wait()
        raise
    process.returncode = os.waitstatus_to_exitcode(status)
    experiment.mkdir(parents=True, exist_ok=True)
    sessions = _read_json(experiment / SESSIONS_FILE, [])
    sessions.append({
        "finished": datetime.datetime.now().isoformat(timespec="seconds"),
        "seconds": round(time.monotonic() - started, 1),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),  # Linux reports KiB
        "exit_status": process.returncode,
    })
    _write_json(experiment / SESSIONS_FILE, sessions)
    return process.returncode


def training_timing(experiment: Path) -> dict[str, float | None]:
    """Training wall time and s/iteration from BasicSR's logs of every session of a run.

    Wall time: first to last line of each log, summed (an interrupted session counts up to its
    last line). s/iteration: the median over the windows between consecutive iteration lines of
    one log, which leaves out the windows that also validated or saved.
    """
    wall = 0.0
    per_iteration: list[float] = []
    for log in sorted(experiment.glob("train_*.log")):
        stamps: list[datetime.datetime] = []
        iterations: list[tuple[datetime.datetime, int]] = []
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            match = _LOG_TIME.match(line)
            if not match:
                continue
            stamp = datetime.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f")
            stamps.append(stamp)
            iteration = _LOG_ITER.search(line)
            if iteration:
                iterations.append((stamp, int(iteration.group(1).replace(",", ""))))
        if stamps:
            wall += (stamps[-1] - stamps[0]).total_seconds()
        for (t0, i0), (t1, i1) in zip(iterations, iterations[1:]):
            if i1 > i0:
                per_iteration.append((t1 - t0).total_seconds() / (i1 - i0))
    return {"train_wall_s": round(wall, 1) if wall else None,
            "s_per_iter": round(statistics.median(per_iteration), 4) if per_iteration else None}


# ------------------------------------------------------------------------------------------------
# Measuring a trained model
# ------------------------------------------------------------------------------------------------


def export_final_model(option_file: Path, experiment: Path) -> Path:
    """The run's final network as an srapp checkpoint (float32), which records its attention."""
    from srapp.training.checkpoint_to_srapp import export_weights

    out = experiment / SRAPP_CHECKPOINT
    latest = experiment / "models" / "net_g_latest.pth"
    if not out.is_file() or out.stat().st_mtime < latest.stat().st_mtime:
        export_weights(latest, option_file, out, dtype=None)
    return out


def benchmark_model(checkpoint: Path, benchmarks: dict[str, Path]) -> dict[str, dict[str, float | None]]:
    """Mean Y-PSNR / SSIM (and LPIPS on :data:`LPIPS_SETS`) on each HR folder, srapp's protocol,
    in float32 on the torch backend (the reference numerics, the same on every machine)."""
    from srapp.batch.benchmark import benchmark
    from srapp.engine.upscale import Upscaler

    upscaler = Upscaler(str(checkpoint), precision="fp32", backend="torch", device="cpu")
    scores = {}
    for name, folder in benchmarks.items():
        report = benchmark(upscaler, folder, with_lpips=name in LPIPS_SETS)
        if report.failed:
            errors = "; ".join(f"{r.input}: {r.error}" for r in report.images if r.error)
            raise RuntimeError(f"{checkpoint}: {report.failed} image(s) of {name} failed: {errors}")
        mean = report.mean()
        scores[name] = {metric: None if value is None else round(value, 4) for metric, value in mean.items()}
    return scores


def network_cost(network: torch.nn.Module, side: int = FLOPS_INPUT) -> dict[str, float]:
    """Parameters and GFLOPs of one forward pass at a ``side x side`` RGB input.

    ``torch.utils.flop_counter`` counts matrix products and convolutions (2 FLOPs per
    multiply-add), not elementwise work such as the gating products or a softmax.
    """
    from torch.utils.flop_counter import FlopCounterMode

    network = network.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        network(torch.rand(1, 3, side, side))
    return {"params": sum(p.numel() for p in network.parameters()),
            "gflops": round(counter.get_total_flops() / 1e9, 4)}


def measure_latency(checkpoints: dict[str, Path], side: int = FLOPS_INPUT, rounds: int = 5) -> dict[str, Any]:
    """Median seconds of one ``side x side`` upscale per model with srapp's default settings.

    The models take turns, round by round, so that a load change on the machine spreads over all
    of them instead of favouring one. Each timed upscale follows an untimed one of the same model:
    a backend that compiles per shape keeps a bounded number of compiled networks, and the timing
    is of a warm one.
    """
    from srapp.engine.upscale import Upscaler

    image = np.random.default_rng(0).integers(0, 256, (side, side, 3), dtype=np.uint8)
    upscalers = {name: Upscaler(str(path)) for name, path in checkpoints.items()}
    times: dict[str, list[float]] = {name: [] for name in upscalers}
    for _ in range(rounds):
        for name, upscaler in upscalers.items():
            upscaler(image)
            started = time.perf_counter()
            upscaler(image)
            times[name].append(time.perf_counter() - started)
    return {
        "backend": ", ".join(sorted({upscaler.backend for upscaler in upscalers.values()})),
        "precision": ", ".join(sorted({upscaler.precision for upscaler in upscalers.values()})),
        "threads": torch.get_num_threads(),
        "input": f"{side}x{side}", "rounds": rounds,
        "ms": {name: round(1000 * statistics.median(values), 2) for name, values in times.items()},
    }


# ------------------------------------------------------------------------------------------------
# The set of runs and its report
# ------------------------------------------------------------------------------------------------


@dataclass
class Run:
    """One option file of the ablation and where its results go."""

    option_file: Path
    name: str
    attention: str
    seed: int
    total_iter: int
    experiment: Path


def read_runs(folder: Path, root: Path) -> list[Run]:
    """The ablation runs of a folder of option files: seed 1 first, attentions in the order of
    :data:`RCAN_ATTENTIONS`, then the other seeds."""
    files = sorted(folder.glob("*.yml"))
    if not files:
        raise ValueError(f"{folder}: no option files (*.yml)")
    runs = []
    for path in files:
        opt = load_yaml(path)
        try:
            runs.append(Run(path, opt["name"], opt["network_g"]["attention"], int(opt["manual_seed"]),
                            int(opt["train"]["total_iter"]), root / "experiments" / opt["name"]))
        except (KeyError, TypeError) as error:
            raise ValueError(f"{path}: not an ablation option file (no {error})") from error
    order = {name: index for index, name in enumerate(RCAN_ATTENTIONS)}
    return sorted(runs, key=lambda run: (run.seed != MAIN_SEED, run.seed, order.get(run.attention, len(order)),
                                         run.name))


def noise_estimate(runs: list[dict[str, Any]], sets: list[str]) -> dict[str, Any]:
    """Seed-to-seed standard deviation of each set's Y-PSNR, pooled over the attentions that were
    trained at several seeds (sample variances, averaged with their degrees of freedom)."""
    by_attention: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        if run.get("benchmarks"):
            by_attention.setdefault(run["attention"], []).append(run)
    replicated = {name: group for name, group in by_attention.items() if len(group) > 1}
    result: dict[str, Any] = {"attentions": sorted(replicated), "psnr_std": {}, "psnr_by_seed": {}}
    for name, group in replicated.items():
        result["psnr_by_seed"][name] = {
            s: {str(run["seed"]): run["benchmarks"][s]["psnr"] for run in group} for s in sets
        }
    for s in sets:
        squares, freedom = 0.0, 0
        for group in replicated.values():
            values = [run["benchmarks"][s]["psnr"] for run in group]
            mean = sum(values) / len(values)
            squares += sum((v - mean) ** 2 for v in values)
            freedom += len(values) - 1
        result["psnr_std"][s] = round(math.sqrt(squares / freedom), 4) if freedom else None
    return result


def summarise(runs: list[dict[str, Any]], costs: dict[str, dict[str, float]], latency: dict[str, Any],
              noise: dict[str, Any], sets: list[str]) -> list[dict[str, Any]]:
    """One row per attention: means over its seeds, costs added to ``none``, and for each set
    whether the PSNR difference from ``none`` exceeds twice its standard error from the seed noise."""
    order = {name: index for index, name in enumerate(RCAN_ATTENTIONS)}
    groups: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        if run.get("benchmarks"):
            groups.setdefault(run["attention"], []).append(run)
    base = costs.get("none")
    rows = []
    for name in sorted(groups, key=lambda n: order.get(n, len(order))):
        group = groups[name]
        row: dict[str, Any] = {"attention": name, "seeds": sorted(run["seed"] for run in group)}
        for s in sets:
            for metric in ("psnr", "ssim", "lpips"):
                values = [run["benchmarks"][s][metric] for run in group if run["benchmarks"][s][metric] is not None]
                if values:
                    row[f"{s}_{metric}"] = round(sum(values) / len(values), 4)
        cost = costs[name]
        row["params"], row["gflops"] = cost["params"], cost["gflops"]
        row["added_params"] = cost["params"] - base["params"] if base else None
        row["added_gflops"] = round(cost["gflops"] - base["gflops"], 4) if base else None
        row["latency_ms"] = latency["ms"].get(name)
        for key in ("s_per_iter", "cpu_s_per_iter", "peak_rss_mib", "train_wall_s"):
            values = [run[key] for run in group if run.get(key) is not None]
            row[key] = round(statistics.median(values), 4) if values else None
        if "none" in groups and name != "none":
            for s in sets:
                std = noise["psnr_std"].get(s)
                difference = row[f"{s}_psnr"] - groups_mean(groups["none"], s)
                row[f"{s}_psnr_vs_none"] = round(difference, 4)
                if std is not None:
                    error = std * math.sqrt(1 / len(group) + 1 / len(groups["none"]))
                    row[f"{s}_beyond_noise"] = abs(difference) > 2 * error
        rows.append(row)
    return rows


def groups_mean(group: list[dict[str, Any]], benchmark_set: str) -> float:
    values = [run["benchmarks"][benchmark_set]["psnr"] for run in group]
    return sum(values) / len(values)


def _train_and_measure(run: Run, root: Path, sets: dict[str, Path], log: Callable[[str], None]) -> dict[str, Any]:
    """Train ``run`` unless it finished, then its timing, memory and scores (the scores are
    computed once per final model and kept in :data:`BENCHMARK_FILE`)."""
    if not is_finished(run.experiment):
        log(f"training ({run.total_iter} iterations)")
        status = train_session(run.option_file, root, run.experiment)
        if status != 0 or not is_finished(run.experiment):
            raise RuntimeError(f"training exited with status {status} without its final model")
    sessions = _read_json(run.experiment / SESSIONS_FILE, [])
    peaks = [session["peak_rss_mib"] for session in sessions]
    cpu = [session.get("cpu_seconds") for session in sessions]
    checkpoint = export_final_model(run.option_file, run.experiment)
    cached = _read_json(run.experiment / BENCHMARK_FILE, {})
    folders = {name: str(path) for name, path in sets.items()}
    if cached.get("sets") != folders or cached.get("checkpoint_mtime") != checkpoint.stat().st_mtime:
        log("benchmarking")
        cached = {"sets": folders, "checkpoint_mtime": checkpoint.stat().st_mtime,
                  "scores": benchmark_model(checkpoint, sets)}
        _write_json(run.experiment / BENCHMARK_FILE, cached)
    return {
        **training_timing(run.experiment),
        # CPU time of the training processes (start-up and validation included) per iteration: the
        # cost that does not depend on what else the machine runs
        "cpu_s_per_iter": round(sum(cpu) / run.total_iter, 4) if cpu and None not in cpu else None,
        "peak_rss_mib": max(peaks) if peaks else None, "sessions": len(sessions),
        "benchmarks": cached["scores"], "checkpoint": str(checkpoint),
    }


def benchmark_folder(folder: str, root: Path) -> Path:
    """An HR folder to score on: ``folder`` relative to ``root`` where that is a folder, else a
    dataset name or path for :func:`srapp.data.dataset_path` (a UsageError naming the datasets found)."""
    beside = root / folder
    return beside if beside.is_dir() else dataset_path(folder)


def run_ablation(
    folder: str | os.PathLike,
    report_path: str | os.PathLike,
    root: str | os.PathLike | None = None,
    benchmarks: tuple[tuple[str, str], ...] = DEFAULT_DATA.benchmarks,
    latency_rounds: int = 5,
    plot_path: str | os.PathLike | None = None,
    log: Callable[[str], None] = functools.partial(print, flush=True),  # in order with the trainings' output
) -> dict[str, Any]:
    """Train what has not finished, benchmark what has, measure the costs, write the report.

    ``benchmarks``: ``(name, HR folder)`` pairs (:func:`benchmark_folder`).

    Resumable: a finished run is not trained again and its scores are read back from
    :data:`BENCHMARK_FILE`; an interrupted run continues from its newest training state. A run
    that fails is reported (``error``) and the others go on. Returns the report.
    """
    from srapp.checkpoints import load_model

    root = Path(root or locations.working_root()).resolve()
    runs = read_runs(Path(folder), root)
    sets = {name: benchmark_folder(folder, root) for name, folder in benchmarks}
    results: list[dict[str, Any]] = []
    for number, run in enumerate(runs, 1):
        result: dict[str, Any] = {"name": run.name, "attention": run.attention, "seed": run.seed,
                                  "total_iter": run.total_iter}
        results.append(result)
        prefix = f"[{number}/{len(runs)}] {run.name}:"
        try:
            result.update(_train_and_measure(run, root, sets, lambda message: log(f"{prefix} {message}")))
        except (RuntimeError, ValueError, OSError) as error:  # CheckpointError and ImageError are ValueErrors
            result["error"] = f"{type(error).__name__}: {error}"
            log(f"{prefix} failed: {result['error']}")
            continue
        scores = result["benchmarks"].items()
        log(f"{prefix} " + ", ".join(f"{name} {values['psnr']:.3f} dB" for name, values in scores))

    # Costs depend on the architecture only: one model per attention (the first seed).
    models = {}
    for result in results:
        if "checkpoint" in result:
            models.setdefault(result["attention"], Path(result["checkpoint"]))
    costs = {name: network_cost(load_model(path).network) for name, path in models.items()}
    log(f"measuring latency of {len(models)} models ({latency_rounds} rounds)")
    latency = measure_latency(models, rounds=latency_rounds) if models else {"ms": {}}
    set_names = list(sets)
    noise = noise_estimate(results, set_names)
    report = {
        "about": "RCAN x2 with each attention under one training budget; see docs/ATTENTION.md",
        "machine": {"platform": platform.platform(), "processor": cpu_name(),
                    "cpus": os.cpu_count(), "torch": torch.__version__, "torch_threads": torch.get_num_threads()},
        "option_folder": str(Path(folder)),
        "benchmark_sets": set_names,
        "latency": {key: value for key, value in latency.items() if key != "ms"},
        "noise": noise,
        "attentions": summarise(results, costs, latency, noise, set_names),
        "runs": [{key: value for key, value in result.items() if key != "checkpoint"} for result in results],
    }
    _write_json(Path(report_path), report)
    if plot_path is not None:
        plot_report(report, Path(plot_path))
    return report


def failed_runs(report: dict[str, Any]) -> list[str]:
    return [run["name"] for run in report["runs"] if "error" in run]


# ------------------------------------------------------------------------------------------------
# Presenting the report
# ------------------------------------------------------------------------------------------------


def markdown_table(report: dict[str, Any]) -> str:
    """The report's rows as a Markdown table (PSNR in dB, its difference from ``none``, and *
    where that difference exceeds twice its standard error from the seed noise)."""
    sets = report["benchmark_sets"]

    def number(value: Any, digits: int) -> str:
        return "-" if value is None else f"{value:,.{digits}f}"

    header = ["attention", "seeds"] + [f"{s} PSNR / SSIM" for s in sets] + [
        f"LPIPS {LPIPS_SETS[0]}", "+params", "+GFLOPs", "latency ms", "s/iter", "CPU s/iter", "peak MiB",
        "train min"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in report["attentions"]:
        cells = [f"`{row['attention']}`", ",".join(map(str, row["seeds"]))]
        for s in sets:
            cell = f"{number(row.get(f'{s}_psnr'), 3)} / {number(row.get(f'{s}_ssim'), 4)}"
            if f"{s}_psnr_vs_none" in row:
                mark = "*" if row.get(f"{s}_beyond_noise") else ""
                cell += f" ({row[f'{s}_psnr_vs_none']:+.3f}{mark})"
            cells.append(cell)
        cells += [number(row.get(f"{LPIPS_SETS[0]}_lpips"), 4), number(row["added_params"], 0),
                  number(row["added_gflops"], 3), number(row["latency_ms"], 1), number(row["s_per_iter"], 3),
                  number(row["cpu_s_per_iter"], 3), number(row["peak_rss_mib"], 0),
                  number(None if row["train_wall_s"] is None else row["train_wall_s"] / 60, 1)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_report(report: dict[str, Any], path: Path, benchmark_set: str | None = None) -> Path:
    """PSNR on one set (the last, BSD100 by default) against added GFLOPs and against latency,
    two panels, with the noise band (+-2 std of a single run) around ``none``; a PNG."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    from matplotlib import pyplot

    benchmark_set = benchmark_set or report["benchmark_sets"][-1]
    key = f"{benchmark_set}_psnr"
    rows = [row for row in report["attentions"] if row.get(key) is not None]
    none = next((row[key] for row in rows if row["attention"] == "none"), None)
    std = report["noise"]["psnr_std"].get(benchmark_set)
    figure, panels = pyplot.subplots(1, 2, figsize=(11.2, 4.7), sharey=True, layout="constrained")
    figure.suptitle(f"RCAN x2 3x4x32, {report['runs'][0]['total_iter']} iterations: {benchmark_set} Y-PSNR "
                    "against added cost (band: none +-2 std of the seed noise)")
    for axes, (cost, label) in zip(panels, (("added_gflops", "added GFLOPs at 128x128 (vs none)"),
                                            ("latency_ms", "latency of a 128x128 upscale, ms"))):
        if none is not None and std:
            axes.axhspan(none - 2 * std, none + 2 * std, color="#e1e8f5", zorder=0)
        for row in rows:
            if row.get(cost) is None:
                continue
            colour = "#c82828" if row["attention"] == "none" else "#1e46a0"
            axes.scatter(row[cost], row[key], color=colour, zorder=2)
            axes.annotate(row["attention"], (row[cost], row[key]), xytext=(5, 3), textcoords="offset points",
                          color=colour, fontsize=9)
        axes.set_xlabel(label)
        axes.grid(alpha=0.3)
    panels[0].set_ylabel(f"{benchmark_set} Y-PSNR, dB")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as handle:
        figure.savefig(handle, format="png", dpi=100)
    pyplot.close(figure)
    return path


def benchmark_set(text: str) -> tuple[str, str]:
    name, separator, folder = text.partition("=")
    if not (name and separator and folder):
        raise argparse.ArgumentTypeError(f"expected NAME=FOLDER, got {text!r}")
    return name, folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python experiments/ablation.py", description=__doc__.splitlines()[0])
    tools = parser.add_subparsers(dest="tool", required=True)
    options = tools.add_parser("options", help="write the ablation's option files from their template")
    options.add_argument("folder", type=Path, help="where to write them (options/ablation/)")
    run = tools.add_parser(
        "run", help="train, benchmark and measure every run of the ablation (resumable)",
        description="Exit status: 0 every run finished and was measured, 1 some run failed, 2 usage error.")
    run.add_argument("folder", type=Path, help="folder of ablation option files (options/ablation/)")
    run.add_argument("--report", required=True, type=Path, help="the JSON report to write")
    run.add_argument("--plot", type=Path, help="also draw PSNR against added cost into this PNG")
    run.add_argument("--root", type=Path, help="base of relative paths and of experiments/ (default: repository root)")
    run.add_argument("--benchmark", action="append", type=benchmark_set, metavar="NAME=FOLDER",
                     help="an HR folder to score on, relative to the root; repeat for several "
                     f"(default: {' '.join(f'{n}={p}' for n, p in DEFAULT_DATA.benchmarks)})")
    run.add_argument("--latency-rounds", type=int, default=5, help="timed upscales per model (default: 5)")
    args = parser.parse_args(argv)
    try:
        if args.tool == "options":
            for path in write_ablation_options(args.folder):
                print(path)
            return 0
        # SIGTERM unwinds like Ctrl-C, so the running training process is stopped with the command.
        previous = signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
        try:
            report = run_ablation(args.folder, args.report, root=args.root,
                                  benchmarks=tuple(args.benchmark or DEFAULT_DATA.benchmarks),
                                  latency_rounds=args.latency_rounds, plot_path=args.plot)
        finally:
            signal.signal(signal.SIGTERM, previous)
    except (OptionsError, ValueError, OSError) as error:
        print(f"ablation: error: {error}", file=sys.stderr)
        return 2
    print(markdown_table(report))
    failed = failed_runs(report)
    if failed:
        print(f"ablation: {len(failed)} run(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
