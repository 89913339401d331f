"""What runs a network on a tile: PyTorch, or OpenVINO where it is faster.

A backend takes a ``(1, C, h, w)`` float32 tensor in [0, 1] (C: the model's input channels) and
returns the network's ``(1, C', s*h, s*w)`` float32 output; the engine does tiling, blending and self-ensemble around
it, so every feature works on every backend. :func:`build_backend` resolves the backend and the
precision (through :mod:`srapp.engine.precision`, asked for the backend that runs) once per
:class:`srapp.Upscaler`.

``auto``: on a CPU, OpenVINO (:mod:`.openvino`) where it is installed and converts the network,
else torch with one warning saying why; on CUDA, torch. ``openvino`` asked for explicitly needs a
CPU and OpenVINO, and a network it converts (a UsageError otherwise). Precision ``auto`` on
OpenVINO runs int8 where the model's gate record and a race on this CPU allow it
(:func:`.auto_int8.auto_runs_int8`).
"""

from __future__ import annotations

import contextlib
from typing import Protocol

import torch

from ...checkpoints import LoadedModel
from ...errors import UsageError
from ..kernels import openvino_missing_reason
from ..precision import AUTO, ResolvedPrecision, resolve_precision, unsafe_precisions
from ..tiling import ShapePolicy
from .auto_int8 import auto_runs_int8

BACKENDS = (AUTO, "torch", "openvino")


class Backend(Protocol):
    name: str  # the backend that runs: "torch" or "openvino"
    precision: str  # the precision that runs: fp32, bf16 or fp16
    device: torch.device
    shapes: ShapePolicy  # the tile shapes it wants (one that compiles per input shape wants few)

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...

    def session(self) -> contextlib.AbstractContextManager:
        """Held around one image's tiles (e.g. a lock: some networks keep per-pass state)."""
        ...


def _notes(warning: str | None) -> list[str]:
    return [warning] if warning else []


def build_backend(
    model: LoadedModel, requested: str, precision: str, device: torch.device, threads: int | None = None,
) -> tuple[Backend, list[str]]:
    """The backend for ``model`` on ``device``, and warnings about what differs from the request."""
    from .torch import TorchBackend

    if requested not in BACKENDS:
        raise UsageError(f"unknown backend {requested!r}; choose one of {', '.join(BACKENDS)}")

    unsafe = unsafe_precisions(model.supports_fp16, model.supports_bf16)

    def torch_backend() -> tuple[Backend, list[str]]:
        resolved = resolve_precision(precision, device, unsafe=unsafe, arch=model.arch)
        return TorchBackend(model.network, resolved.precision, device, threads), _notes(resolved.warning)

    if requested == "torch" and precision == "int8":
        raise UsageError("int8 runs on the openvino backend; use backend openvino or auto")
    if requested == "torch" or (requested == AUTO and device.type != "cpu"):
        return torch_backend()
    if device.type != "cpu":
        raise UsageError(f"the openvino backend runs on the CPU, not on {device}; use backend torch or auto")
    from . import openvino

    problem = openvino_missing_reason()
    if problem is None and (failure := openvino.known_failure(model.network, model.arch)) is not None:
        problem = openvino.cannot_convert(model.arch, failure)
    if problem is not None:
        if requested == "openvino":
            raise openvino.refusal(problem)
        backend, notes = torch_backend()
        return backend, [openvino.fallback_note(problem), *notes]
    resolved = resolve_precision(precision, device, backend="openvino", unsafe=unsafe, arch=model.arch)
    if precision == AUTO:
        if auto_runs_int8(model.network, resolved.precision, threads):
            resolved = ResolvedPrecision("int8")
    fallback = torch_backend if requested == AUTO else None
    return openvino.OpenVINOBackend(model.network, resolved.precision, threads, fallback, openvino.GraphInput.of(model)), \
        _notes(resolved.warning)


__all__ = ["BACKENDS", "Backend", "build_backend"]
