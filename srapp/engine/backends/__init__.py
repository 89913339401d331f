"""What runs a network on a tile: PyTorch, or OpenVINO where it is faster.

A backend takes a ``(1, C, h, w)`` float32 tile in [0, 1] (C: the model's input channels) and
returns the network's ``(1, C', s*h, s*w)`` float32 output: torch tensors for torch, numpy arrays
for OpenVINO (``takes_numpy``), so a tile crosses between the libraries at most once each way. The
engine does tiling, blending and self-ensemble around it, so every feature works on every backend.
Each backend class states which precisions it runs fast on a device (``precision_support``);
:mod:`srapp.engine.precision` decides from that.

:func:`build_backend` decides once per :class:`srapp.Upscaler`, converting the network there:
``auto`` on a CPU is OpenVINO (:mod:`.openvino`) where it is installed and converts the network,
else torch with one note saying why; on CUDA, torch. ``openvino`` asked for explicitly needs a
CPU, OpenVINO and a network it converts (a UsageError otherwise). Precision ``auto`` on OpenVINO
runs int8 where the model's gate record and a race on this CPU allow it
(:func:`.auto_int8.auto_runs_int8`, asked once the network has converted).
"""

from __future__ import annotations

import contextlib
from typing import Protocol

import torch

from ...checkpoints import LoadedModel
from ...errors import UsageError
from ..kernels import openvino_missing_reason
from ..precision import AUTO, PrecisionSupport, ResolvedPrecision, resolve_precision, unsafe_precisions
from ..tiles import Tile
from ..tiling import ShapePolicy
from . import openvino
from .auto_int8 import auto_runs_int8
from .openvino import OpenVINOBackend
from .torch import TorchBackend

BACKENDS = (AUTO, "torch", "openvino")


class Backend(Protocol):
    name: str  # the backend that runs: "torch" or "openvino"
    precision: str  # the precision that runs: fp32, bf16, fp16 or int8
    device: torch.device
    shapes: ShapePolicy  # the tile shapes it wants (one that compiles per input shape wants few)
    takes_numpy: bool  # tiles in and out are numpy arrays (else torch tensors on ``device``)

    @staticmethod
    def precision_support(device: torch.device) -> PrecisionSupport:
        """What the backend computes fast on ``device``: the facts :mod:`srapp.engine.precision` decides on."""
        ...

    def __call__(self, x: Tile) -> Tile: ...

    def session(self) -> contextlib.AbstractContextManager:
        """Held around one image's tiles (e.g. a lock: some networks keep per-pass state)."""
        ...


def precision_supports(device: torch.device) -> list[PrecisionSupport]:
    """What each backend that can run on ``device`` here computes fast there."""
    supports = [TorchBackend.precision_support(device)]
    if device.type == "cpu" and openvino_missing_reason() is None:
        supports.append(OpenVINOBackend.precision_support(device))
    return supports


def _notes(warning: str | None) -> list[str]:
    return [warning] if warning else []


def build_backend(
    model: LoadedModel, requested: str, precision: str, device: torch.device, threads: int | None = None,
) -> tuple[Backend, list[str]]:
    """The backend that will run ``model`` on ``device`` (its network converted already), and
    notes about what differs from the request."""
    if requested not in BACKENDS:
        raise UsageError(f"unknown backend {requested!r}; choose one of {', '.join(BACKENDS)}")
    unsafe = unsafe_precisions(model.supports_fp16, model.supports_bf16)

    def resolved_for(support: PrecisionSupport) -> ResolvedPrecision:
        return resolve_precision(precision, device, support, unsafe, model.arch)

    def torch_backend() -> tuple[Backend, list[str]]:
        resolved = resolved_for(TorchBackend.precision_support(device))
        return TorchBackend(model.network, resolved.precision, device, threads), _notes(resolved.warning)

    if requested == "torch" and precision == "int8":
        raise UsageError("int8 runs on the openvino backend; use backend openvino or auto")
    if requested == "torch" or (requested == AUTO and device.type != "cpu"):
        return torch_backend()
    if device.type != "cpu":
        raise UsageError(f"the openvino backend runs on the CPU, not on {device}; use backend torch or auto")
    problem, graph = openvino_missing_reason(), openvino.GraphInput.of(model)
    if problem is None:
        try:
            openvino.convert(model.network, graph)
        except openvino.ConversionFailed as failure:
            problem = openvino.cannot_convert(model.arch, failure.reason)
    if problem is not None:
        if requested == "openvino":
            raise openvino.refusal(problem)
        backend, notes = torch_backend()
        return backend, [openvino.fallback_note(problem), *notes]
    support = OpenVINOBackend.precision_support(device)
    resolved = resolved_for(support)
    if precision == AUTO and support.int8_missing is None and auto_runs_int8(model.network, resolved.precision,
                                                                             threads):
        resolved = ResolvedPrecision("int8")
    return OpenVINOBackend(model.network, resolved.precision, threads, graph), _notes(resolved.warning)


__all__ = ["BACKENDS", "Backend", "build_backend", "precision_supports"]
