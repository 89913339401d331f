"""Running BasicSR's training and test pipelines on srapp's option files.

BasicSR's pipelines take their arguments from ``sys.argv`` and resolve nothing: dataset paths are
relative to the current directory, ``experiments/`` goes under the root path they are given, and
resuming needs CUDA (see :mod:`srapp.training.resume`). :func:`train` and :func:`evaluate` check
the option file first (:func:`srapp.training.option_files.validate_options`), then run the unchanged
BasicSR pipeline inside :func:`basicsr_session`, the one place where srapp changes BasicSR
behaviour, for the duration of the call only:

* ``sys.argv`` is the command line BasicSR's ``parse_options`` expects;
* ``parse_options`` is wrapped so relative paths in the YAML are taken relative to the root
  and ``${SRAPP_DATA}`` stands for the data folder (:func:`srapp.training.option_files.resolve_paths`);
* ``basicsr.train.load_resume_state`` is replaced by srapp's, which works without CUDA;
* the training loop's prefetcher yields no more batches once the model's wall-clock budget is spent
  (:mod:`srapp.training.time_budget`), so BasicSR ends the run as after its last iteration: it
  saves the latest weights and validates them;
* BasicSR's logger is set up afresh, so every run writes its own log file (BasicSR configures it
  once per process: a second run in the same process would log into the first run's file, and
  after any earlier ``get_root_logger()`` call, such as ``build_network``'s, into none at all).

The root (``experiments/``, ``results/``, ``tb_logger/`` and the base of relative paths) is the
repository root when srapp runs from a checkout, the current directory otherwise.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

from .. import _compat  # noqa: F401  (before basicsr)
from ..locations import working_root as default_root
from .registration import register_with_basicsr
from .option_files import resolve_paths, validate_options
from .resume import load_resume_state
from .time_budget import mark_run_start

LAUNCHERS = ("none", "pytorch", "slurm")


def _reset_basicsr_logger() -> None:
    """Close the handlers of BasicSR's logger and let the next ``get_root_logger`` set it up again."""
    from basicsr.utils import logger as basicsr_logger

    log = logging.getLogger("basicsr")
    for handler in list(log.handlers):
        log.removeHandler(handler)
        handler.close()
    basicsr_logger.initialized_logger.pop("basicsr", None)


class _UntilTimeIsUp:
    """A BasicSR prefetcher that yields nothing more once ``time_is_up()``: the epoch ends, and so
    does every later one, at once."""

    def __init__(self, prefetcher: Any, time_is_up: Callable[[], bool]) -> None:
        self.prefetcher, self.time_is_up = prefetcher, time_is_up

    def next(self) -> Any:
        return None if self.time_is_up() else self.prefetcher.next()

    def reset(self) -> None:
        if not self.time_is_up():
            self.prefetcher.reset()


@contextlib.contextmanager
def basicsr_session(argv: list[str], root: Path) -> Iterator[None]:
    """Let BasicSR's pipelines run with ``argv``, srapp's path resolution, resume loading and time budget."""
    import basicsr.test
    import basicsr.train
    from basicsr.utils.options import parse_options as basicsr_parse_options

    def parse_options(root_path: str, is_train: bool = True):
        opt, args = basicsr_parse_options(root_path, is_train)
        resolve_paths(opt, root)
        return opt, args

    built = []

    def build_model(opt: dict[str, Any]) -> Any:
        built.append(saved_build_model(opt))
        return built[-1]

    def time_is_up() -> bool:
        return bool(built) and bool(getattr(built[-1], "time_is_up", lambda: False)())

    names = ("parse_options", "load_resume_state", "build_model", "CPUPrefetcher", "CUDAPrefetcher")
    saved = (sys.argv, basicsr.test.parse_options, *(getattr(basicsr.train, name) for name in names))
    saved_build_model, cpu_prefetcher, cuda_prefetcher = saved[4:]
    sys.argv = list(argv)
    basicsr.train.parse_options = basicsr.test.parse_options = parse_options
    basicsr.train.load_resume_state = load_resume_state
    basicsr.train.build_model = build_model
    basicsr.train.CPUPrefetcher = lambda *args: _UntilTimeIsUp(cpu_prefetcher(*args), time_is_up)
    basicsr.train.CUDAPrefetcher = lambda *args: _UntilTimeIsUp(cuda_prefetcher(*args), time_is_up)
    _reset_basicsr_logger()
    mark_run_start()
    try:
        yield
    finally:
        _reset_basicsr_logger()  # closes this run's log file
        sys.argv, basicsr.test.parse_options = saved[:2]
        for name, value in zip(names, saved[2:]):
            setattr(basicsr.train, name, value)


def train(
    opt_path: str | os.PathLike,
    *,
    auto_resume: bool = False,
    launcher: str = "none",
    debug: bool = False,
    root: str | os.PathLike | None = None,
) -> Path:
    """Train with BasicSR's ``train_pipeline``; returns the experiment folder.

    ``auto_resume`` continues from the newest usable training state of the experiment (on CPU or
    GPU, whichever this machine has). ``launcher="pytorch"`` is for ``torchrun`` (one process per
    GPU, BasicSR's ``init_dist``). ``debug`` is BasicSR's debug mode (``debug_`` name prefix,
    validation and checkpoints every 8 iterations). Raises :class:`OptionsError` before anything
    runs when the option file has a problem.
    """
    import basicsr.train

    if launcher not in LAUNCHERS:
        raise ValueError(f"launcher must be one of {', '.join(LAUNCHERS)}, got {launcher!r}")
    register_with_basicsr()
    root = Path(root or default_root()).resolve()
    opt = validate_options(opt_path, root, is_train=True)
    argv = ["srapp train", "-opt", str(Path(opt_path).resolve()), "--launcher", launcher]
    argv += ["--auto_resume"] * auto_resume + ["--debug"] * debug
    with basicsr_session(argv, root):
        basicsr.train.train_pipeline(str(root))
    name = opt["name"]
    if debug and not name.startswith("debug"):
        name = f"debug_{name}"
    return root / "experiments" / name


def evaluate(opt_path: str | os.PathLike, root: str | os.PathLike | None = None) -> Path:
    """Run BasicSR's ``test_pipeline`` on a test option file; returns the results folder."""
    import basicsr.test

    register_with_basicsr()
    root = Path(root or default_root()).resolve()
    opt = validate_options(opt_path, root, is_train=False)
    with basicsr_session(["srapp evaluate", "-opt", str(Path(opt_path).resolve())], root):
        basicsr.test.test_pipeline(str(root))
    return root / "results" / opt["name"]
