"""Training against a wall-clock budget: a learning rate that follows one cosine cycle in time.

``train: scheduler:`` of an option file with ``model_type: SrappSRModel`` (BasicSR 1.4.2 builds only
its own three schedulers; the model builds this one)::

    scheduler:
      type: CosineAnnealingTimeLR
      seconds: 300              # length of the cycle, in training time
      eta_min: !!float 1e-7     # the rate at its end
      finish_within: 570        # optional: end the run within this many seconds of its start
    total_iter: 1000000         # an upper bound only: the cycle ends the run

The rate goes from the optimizer's ``lr`` to ``eta_min`` as ``elapsed / seconds`` goes from 0 to 1,
``elapsed`` counting from the end of the first iteration (BasicSR steps schedulers from the second
on; the first holds cuDNN's algorithm search and compilation), so the cycle ends on time whatever
the machine's speed, and how many iterations that was is measured, not guessed. When the cycle is
over, srapp's session ends BasicSR's training loop (:func:`srapp.training.train.basicsr_session`),
which then saves the latest weights and validates them as after its last iteration.

``finish_within`` is for a machine lent for a fixed time: when loading the data and starting took
longer than planned, the cycle is shortened, so it still ends annealed, :data:`FINISH_RESERVE_SECONDS`
before the limit (the final save and validation). The run's start is when srapp's
:func:`srapp.training.train` begins.

A resumed run goes on from the training time its state recorded: a run stopped and resumed anneals
as one uninterrupted run would.
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch
from torch.optim.lr_scheduler import LRScheduler

SCHEDULER_NAME = "CosineAnnealingTimeLR"
FINISH_RESERVE_SECONDS = 30.0

_run_started: float | None = None


def mark_run_start() -> None:
    """Record the start of a training run (what ``finish_within`` counts from)."""
    global _run_started
    _run_started = time.monotonic()


def seconds_since_run_start() -> float:
    return 0.0 if _run_started is None else time.monotonic() - _run_started


class CosineAnnealingTimeLR(LRScheduler):
    """Cosine annealing over ``seconds`` of wall-clock training time (see the module docstring)."""

    def __init__(self, optimizer: torch.optim.Optimizer, seconds: float, eta_min: float = 0.0,
                 finish_within: float | None = None, last_epoch: int = -1) -> None:
        if seconds <= 0:
            raise ValueError(f"{SCHEDULER_NAME}: seconds must be positive, got {seconds}")
        if finish_within is not None and finish_within <= FINISH_RESERVE_SECONDS:
            raise ValueError(f"{SCHEDULER_NAME}: finish_within must exceed the {FINISH_RESERVE_SECONDS:.0f} s "
                             f"kept for the final save and validation, got {finish_within}")
        self.seconds, self.eta_min, self.finish_within = float(seconds), float(eta_min), finish_within
        self.trained = 0.0  # training seconds of earlier runs of this experiment (a resumed state's)
        self.cycle = self.seconds  # the cycle's length: ``seconds``, or less to meet ``finish_within``
        self._clock_started: float | None = None
        super().__init__(optimizer, last_epoch)

    def elapsed(self) -> float:
        """Training seconds so far, earlier runs of a resumed experiment included; the clock stops at
        the end of the cycle (the final save and validation are not training)."""
        running = 0.0 if self._clock_started is None else time.monotonic() - self._clock_started
        return min(self.trained + running, max(self.cycle, self.trained))

    @property
    def spent(self) -> bool:
        return self._clock_started is not None and self.elapsed() >= self.cycle

    def _start_clock(self) -> None:
        self._clock_started = time.monotonic()
        if self.finish_within is not None:
            left = self.finish_within - FINISH_RESERVE_SECONDS - seconds_since_run_start()
            self.cycle = max(min(self.seconds, self.trained + left), self.trained + 1.0)

    def step(self, epoch: int | None = None) -> None:
        if self._clock_started is None and self.last_epoch >= 0:  # not the step LRScheduler makes at creation
            self._start_clock()
        super().step(epoch)

    def get_lr(self) -> list[float]:
        progress = min(self.elapsed() / self.cycle, 1.0)
        factor = 0.5 * (1 + math.cos(math.pi * progress))
        return [self.eta_min + (base - self.eta_min) * factor for base in self.base_lrs]

    def state_dict(self) -> dict[str, Any]:
        state = {key: value for key, value in super().state_dict().items() if key != "_clock_started"}
        state["trained"] = self.elapsed()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Training time and steps from ``state_dict``; the cycle as this run's options state it."""
        configured = self.seconds, self.eta_min, self.finish_within
        super().load_state_dict(state_dict)
        self.seconds, self.eta_min, self.finish_within = configured
        self.cycle, self._clock_started = self.seconds, None
