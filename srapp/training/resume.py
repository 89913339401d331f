"""Finding and loading BasicSR training states, on machines with or without CUDA.

BasicSR 1.4.2's own ``load_resume_state`` is replaced by :func:`load_resume_state` because:

* it maps every tensor with ``storage.cuda(torch.cuda.current_device())``, which fails on a
  machine without CUDA (and gains nothing on one with CUDA: ``Optimizer.load_state_dict`` moves
  the state to the parameters' device anyway). Here states are loaded to the CPU;
* it leaves ``weights_only`` to ``torch.load``'s default, which PyTorch 2.6 turned from unsafe
  pickle loading to ``True``. srapp asks for ``weights_only=True`` explicitly: a training state
  holds only tensors, numbers, lists, tuples, dicts and the ``collections.Counter`` of
  ``MultiStepRestartLR``'s milestones, all on PyTorch's allow-list, so a state file can never run
  code, whatever the PyTorch release's default;
* ``--auto_resume`` looks for ``experiments/NAME`` relative to the current directory instead of
  under the root the run writes to, and takes the newest ``.state`` file even when a run killed
  while saving left it truncated. Here the newest state that loads, and whose network files
  exist, is the one resumed from.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

import torch

logger = logging.getLogger("basicsr")


def load_training_state(path: str | os.PathLike) -> dict[str, Any]:
    """A ``{epoch, iter, optimizers, schedulers}`` state, its tensors on the CPU."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or not {"iter", "epoch", "optimizers", "schedulers"} <= state.keys():
        raise ValueError(f"{path}: not a BasicSR training state")
    return state


def _network_labels(opt: dict[str, Any]) -> list[str]:
    """``g`` for ``network_g`` etc.: the ``net_{label}_{iter}.pth`` files a resume needs."""
    return [key.removeprefix("network_") for key in opt if key.startswith("network_")]


def latest_training_state(opt: dict[str, Any]) -> tuple[Path, dict[str, Any]] | None:
    """The newest usable state under ``opt['path']['training_states']``, loaded; None if none.

    A state is usable when it loads and the network files saved with it exist (BasicSR writes
    the networks first, so a complete state implies complete networks).
    """
    folder = Path(opt["path"]["training_states"])
    candidates = [p for p in folder.glob("*.state") if re.fullmatch(r"\d+", p.stem)] if folder.is_dir() else []
    models = Path(opt["path"]["models"])
    for path in sorted(candidates, key=lambda p: int(p.stem), reverse=True):
        missing = [f"net_{label}_{path.stem}.pth" for label in _network_labels(opt)
                   if not (models / f"net_{label}_{path.stem}.pth").is_file()]
        if missing:
            logger.warning(f"Skipping training state {path}: missing {', '.join(missing)} in {models}")
            continue
        try:
            return path, load_training_state(path)
        except Exception as error:  # a truncated or foreign file: fall back to the previous state
            logger.warning(f"Skipping unreadable training state {path}: {type(error).__name__}: {error}")
    return None


def load_resume_state(opt: dict[str, Any]) -> dict[str, Any] | None:
    """Drop-in for ``basicsr.train.load_resume_state``: the state to resume from, or None.

    With ``--auto_resume`` the newest usable state of this experiment is taken (and recorded in
    ``opt['path']['resume_state']``); otherwise ``path: resume_state`` from the YAML, if any.
    BasicSR's ``check_resume`` then points ``pretrain_network_*`` at the matching network files.
    """
    from basicsr.utils import check_resume

    if opt.get("auto_resume"):
        found = latest_training_state(opt)
        if found is None:
            return None
        path, state = found
        opt["path"]["resume_state"] = str(path)
    elif opt["path"].get("resume_state"):
        state = load_training_state(opt["path"]["resume_state"])
    else:
        return None
    check_resume(opt, state["iter"])
    return state
