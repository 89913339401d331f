"""The one precision policy: which precisions a device offers, what ``"auto"`` means, and what
happens to bf16 where it is slow. The engine, training and the web app all ask here.

oneDNN has bfloat16 convolutions only for CPUs with AVX-512 (native with AVX512-BF16 or AMX,
emulated below that). On an AVX2-only CPU autocast to bfloat16 falls back to PyTorch's reference
``slow_conv2d`` kernels, several times slower than float32 for inference and training alike
(``benchmarks/precision.py``; figures in docs/PERFORMANCE.md). CUDA GPUs before Ampere have no bf16
tensor cores.
OpenVINO's CPU plugin runs bf16 only with AVX512-BF16 or AMX (it reports ``BF16`` among its
optimisation capabilities); elsewhere it ignores the bf16 hint and runs f32.

The policy (every question takes the :class:`PrecisionSupport` of the backend that runs, which
that backend states: its kernels decide; this module imports no backend):

* ``auto`` is bf16 where the device runs it fast (AVX-512 CPUs, Ampere or newer GPUs: every
  shipped model keeps its float32 Set5 PSNR there: docs/PERFORMANCE.md), float32
  elsewhere.
* ``bf16`` asked for where it is slow runs in float32, with a warning: an option file or a
  command line written for bf16 hardware must not run several times slower on another machine.
* ``fp16`` needs CUDA; on a CPU it is refused.
* A model whose architecture does not compute correctly in fp16 or bf16 (its descriptor's
  ``supports_fp16`` / ``supports_bf16``: spandrel states it for SwinIR, HAT, DAT, RCAN, ...) never
  gets that precision from ``auto``; asked for explicitly, it runs in float32 with a warning.
* ``int8`` runs on the CPU with OpenVINO (the network quantised by NNCF,
  :mod:`srapp.engine.backends.quantize`); with torch (OpenVINO missing, or unable to convert the
  network) or without NNCF it runs in float32, with a warning; on CUDA it is refused. ``auto`` on
  the OpenVINO backend runs int8 instead of what it would run otherwise only for a network whose
  measured Set5 change from fp32 to int8 (the gate record of a shipped model) is within
  :data:`INT8_GATE_DB`, and only where int8 is measured faster than that alternative on this CPU;
  a network without a record (a user's or a foreign model) gets int8 only when asked for.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterable
from dataclasses import dataclass

import torch

from ..errors import UsageError

AUTO = "auto"
PRECISIONS = (AUTO, "fp32", "bf16", "fp16", "int8")
INT8_GATE_DB = 0.05  # the most Set5 Y-PSNR a model may lose to int8 for auto to run it
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def autocast(precision: str, device_type: str) -> contextlib.AbstractContextManager:
    """Autocast to a resolved ``precision``'s dtype on ``device_type``; nothing for fp32."""
    if precision in ("fp32", "int8"):  # int8 is not torch's: its backend computes it
        return contextlib.nullcontext()
    return torch.autocast(device_type, dtype=AUTOCAST_DTYPES[precision])


@dataclass(frozen=True)
class PrecisionSupport:
    """What one backend computes fast on one device: the facts this policy decides on. Each backend
    states its own (``TorchBackend.precision_support``, ``OpenVINOBackend.precision_support``)."""

    backend: str  # "torch" or "openvino"
    bf16_fast: bool  # bf16 has fast kernels (else it would run several times slower than fp32, or as fp32)
    slow_bf16: str  # why bf16 is slow there, for the warning when it is
    int8_missing: str | None  # why int8 cannot run there, or None when it can


@dataclass(frozen=True)
class ResolvedPrecision:
    precision: str  # fp32, bf16, fp16 or int8: what actually runs
    warning: str | None = None  # why it differs from what was asked, when it does


def check_precision(requested: str, device: torch.device | None = None) -> str:
    """``requested`` when it is a precision that can run on ``device`` (when given), else a UsageError."""
    if requested not in PRECISIONS:
        raise UsageError(f"unknown precision {requested!r}; choose one of {', '.join(PRECISIONS)}")
    if device is not None and requested == "fp16" and device.type != "cuda":
        raise UsageError("fp16 needs a CUDA device; use fp32 or auto on a CPU")
    if device is not None and requested == "int8" and device.type != "cpu":
        raise UsageError(f"int8 runs on the CPU (with OpenVINO), not on {device}; use fp32, bf16, fp16 or auto")
    return requested


def unsafe_precisions(supports_fp16: bool, supports_bf16: bool) -> frozenset[str]:
    """The reduced precisions a model does not compute correctly in."""
    return frozenset(name for name, safe in (("fp16", supports_fp16), ("bf16", supports_bf16)) if not safe)


def int8_within_gate(change_db: float) -> bool:
    """Whether a model's measured Set5 change from fp32 to int8 lets ``auto`` run it in int8."""
    return change_db >= -INT8_GATE_DB


def resolve_precision(requested: str, device: torch.device, support: PrecisionSupport,
                      unsafe: Collection[str] = (), arch: str = "this model") -> ResolvedPrecision:
    """What ``requested`` (one of :data:`PRECISIONS`) runs as on ``device`` with the backend whose
    facts are ``support``, for a model (``arch``) that is not safe in the precisions ``unsafe``
    (``auto`` before the int8 gate, which needs the network: :func:`srapp.engine.backends.build_backend`)."""
    check_precision(requested, device)
    if requested == "int8":
        reason = support.int8_missing
        return ResolvedPrecision("int8") if reason is None else ResolvedPrecision("fp32", f"{reason}; running fp32")
    if requested == AUTO:
        return ResolvedPrecision("bf16" if support.bf16_fast and "bf16" not in unsafe else "fp32")
    if requested in unsafe:
        return ResolvedPrecision("fp32", f"{arch} does not support {requested} (its architecture computes wrongly "
                                 "in it); running in fp32")
    if requested == "bf16" and not support.bf16_fast:
        return ResolvedPrecision("fp32", f"{support.slow_bf16}; running in fp32")
    return ResolvedPrecision(requested)


def available_precisions(device: torch.device, supports: Iterable[PrecisionSupport]) -> list[str]:
    """The precisions worth offering on ``device``, whose backends state ``supports``: auto and
    fp32 always, bf16 where a backend runs it fast, fp16 on CUDA, int8 where a backend runs it."""
    supports = list(supports)
    offered = [AUTO, "fp32"]
    if any(support.bf16_fast for support in supports):
        offered.append("bf16")
    if device.type == "cuda":
        offered.append("fp16")
    if device.type == "cpu" and any(support.int8_missing is None for support in supports):
        offered.append("int8")
    return offered
