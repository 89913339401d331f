"""Whether precision ``auto`` runs a network in int8 on OpenVINO: only a network whose gate
record (:mod:`.quantize`) is within :data:`srapp.engine.precision.INT8_GATE_DB`, and only where
int8 wins a short race against what ``auto`` would run otherwise on this CPU. Asked once the
network has converted (:func:`.openvino.convert`)."""

from __future__ import annotations

import contextlib
import hashlib
import json

import numpy as np
import torch
from torch import nn

from ..._atomic import atomic_write
from ..precision import int8_within_gate
from . import openvino as backend
from .quantize import RACE_MARGIN, RACE_SIDE, gate_for, machine_features, race

_RACES: dict[tuple, bool] = {}


def int8_is_faster(network: nn.Module, alternative: str, threads: int) -> bool:
    """Whether int8 runs ``network`` at least :data:`RACE_MARGIN` times faster than ``alternative``
    (fp32 or bf16) on this CPU with ``threads``: raced once at :data:`RACE_SIDE` a side, the answer
    kept in memory and in the disk cache (so per network, machine and thread count)."""
    state = backend._state(network)
    folder = backend.cache_dir()
    side = RACE_SIDE + (-RACE_SIDE) % backend.side_step(network)
    if state.fingerprint is None:
        state.fingerprint = backend.network_fingerprint(network)
    key = (state.fingerprint, alternative, threads, machine_features())
    if key in _RACES:
        return _RACES[key]
    name = hashlib.sha256(repr(key).encode()).hexdigest()[:16]
    path = None if folder is None else folder / "races" / f"{state.fingerprint}-{name}.json"
    with contextlib.suppress(OSError, ValueError, KeyError):
        if path is not None:
            _RACES[key] = bool(json.loads(path.read_text())["int8_faster"])
            return _RACES[key]
    shape = (1, 3, side, side)
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    int8 = backend.compiled_model(network, shape, "int8", threads)
    other = backend.compiled_model(network, shape, alternative, threads)
    int8_s, other_s = race(lambda: int8.run(x), lambda: other.run(x))
    faster = other_s >= RACE_MARGIN * int8_s
    _RACES[key] = faster
    if path is not None:
        with contextlib.suppress(OSError):
            path.parent.mkdir(exist_ok=True)
            with atomic_write(path) as handle:
                handle.write(json.dumps({"int8_s": int8_s, f"{alternative}_s": other_s, "int8_faster": faster,
                                         "threads": threads, "machine": key[3]}).encode())
    return faster


def auto_runs_int8(network: nn.Module, alternative: str, threads: int | None) -> bool:
    """Whether precision ``auto``, which would run ``alternative`` on OpenVINO, runs int8 instead
    (the caller knows int8 can run here): the network (converted) has one model for every side,
    its weights have a current gate record within :data:`srapp.engine.precision.INT8_GATE_DB`, and
    int8 is faster here (:func:`int8_is_faster`)."""
    record = gate_for(network)
    if record is None or not int8_within_gate(record.change_db) or not backend.converts_symbolically(network):
        return False
    return int8_is_faster(network, alternative, threads or torch.get_num_threads())


__all__ = ["auto_runs_int8", "int8_is_faster"]
