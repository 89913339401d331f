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


# The CPU units that decide which kernels run fast, in PyTorch's own detection (cpuinfo, on every
# OS): the vector width from get_cpu_capability, and the int8 and bf16 dot-product and matrix units,
# which that string does not tell apart (an AVX-512 CPU may have neither, VNNI, AVX512-BF16 or AMX).
_CPU_UNITS = {"avx512_vnni": "_is_vnni_supported", "avx512_bf16": "_is_avx512_bf16_supported",
              "amx": "_is_amx_tile_supported"}


def cpu_features() -> list[str]:
    """The CPU's vector instruction set (``avx512``, ``avx2``, ...) and which of VNNI (int8),
    AVX512-BF16 and AMX it has, as PyTorch detects them."""
    features = [torch.backends.cpu.get_cpu_capability().lower()]
    for name, probe in _CPU_UNITS.items():
        detect = getattr(torch.cpu, probe, None)  # private in PyTorch: absent on some builds
        if detect is not None and detect():
            features.append(name)
    return features


def cpu_name() -> str:
    """The processor's model name (from Linux's /proc/cpuinfo), else what :mod:`platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_description(device: torch.device | None = None) -> str:
    """The machine a figure was measured on, for reports: the GPU when ``device`` is CUDA (else when
    one is visible), the CPU's model, cores, threads and the units of :func:`cpu_features`."""
    device = device or resolve_device(AUTO)
    cpu = (f"{cpu_name()}, {os.cpu_count()} cores, {torch.get_num_threads()} threads, "
           f"{' '.join(cpu_features())}")
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}; CPU {cpu}"
    return cpu
