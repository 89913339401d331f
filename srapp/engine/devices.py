"""Which torch device a device name means: the one resolver for the engine, batch runs and the web app."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch

from ..errors import UsageError

AUTO = "auto"


def resolve_device(device: str | torch.device = AUTO, local_rank: int | None = None) -> torch.device:
    """``"auto"`` is CUDA when available (under ``torchrun``, the GPU of ``local_rank``), else the CPU;
    anything else must name a usable device.

    A GPU always comes back with its index (``"auto"`` and ``"cuda"`` are ``cuda:N`` of the current
    GPU), so one GPU has one name: callers key per-device state (the web app's device slots, model
    caches) by it, and ``cuda`` and ``cuda:0`` must not count as two devices."""
    if str(device) == AUTO:
        if not torch.cuda.is_available():
            return torch.device("cpu")
        return torch.device("cuda", local_rank % torch.cuda.device_count() if local_rank is not None
                            else torch.cuda.current_device())
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise UsageError(f"unknown device {device!r} (use auto, cpu, cuda or cuda:N)") from error
    if resolved.type not in ("cpu", "cuda"):
        raise UsageError(f"unsupported device {device!r} (use auto, cpu, cuda or cuda:N)")
    if resolved.type == "cpu":
        return torch.device("cpu")  # "cpu:0" is the same CPU
    if not torch.cuda.is_available():
        raise UsageError(f"device {device!r} requested but CUDA is not available here; use cpu")
    if resolved.index is None:
        return torch.device("cuda", torch.cuda.current_device())
    if resolved.index >= torch.cuda.device_count():
        raise UsageError(f"device {device!r} requested but this machine has {torch.cuda.device_count()} GPU(s) "
                         f"(cuda:0 to cuda:{torch.cuda.device_count() - 1})")
    return resolved


def device_names() -> list[str]:
    """The device names this machine offers: auto, cpu and each CUDA GPU."""
    names = [AUTO, "cpu"]
    if torch.cuda.is_available():
        names += [f"cuda:{index}" for index in range(torch.cuda.device_count())]
    return names


def _cpu_flags() -> set[str]:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return set()
    return {flag for line in lines if line.startswith("flags") for flag in line.split(":", 1)[1].split()}


def machine_description(device: torch.device | None = None) -> str:
    """The machine a figure was measured on, for reports: the GPU when ``device`` is CUDA (else when
    one is visible), the CPU's cores and threads, and whether it has AVX-512 and AMX bf16 units."""
    device = device or resolve_device(AUTO)
    features = [name for name in ("avx512f", "amx_bf16") if name in _cpu_flags()]
    cpu = f"{os.cpu_count()} cores, {torch.get_num_threads()} threads" + (
        f", {' '.join(features)}" if features else ", no AVX-512")
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}; CPU {cpu}"
    return f"{platform.processor() or platform.machine()}, {cpu}"
