"""Which torch device a device name means: the one resolver for the engine, batch runs and the web app."""

from __future__ import annotations

import torch

from ..errors import UsageError

AUTO = "auto"


def resolve_device(device: str | torch.device = AUTO, local_rank: int | None = None) -> torch.device:
    """``"auto"`` is CUDA when available (under ``torchrun``, the GPU of ``local_rank``), else the CPU;
    anything else must name a usable device."""
    if str(device) == AUTO:
        if not torch.cuda.is_available():
            return torch.device("cpu")
        return torch.device("cuda", local_rank % torch.cuda.device_count()) if local_rank is not None \
            else torch.device("cuda")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise UsageError(f"unknown device {device!r} (use auto, cpu, cuda or cuda:N)") from error
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"device {device!r} requested but CUDA is not available here; use cpu")
    if resolved.type not in ("cpu", "cuda"):
        raise UsageError(f"unsupported device {device!r} (use auto, cpu, cuda or cuda:N)")
    return resolved


def device_names() -> list[str]:
    """The device names this machine offers: auto, cpu and each CUDA GPU."""
    names = [AUTO, "cpu"]
    if torch.cuda.is_available():
        names += [f"cuda:{index}" for index in range(torch.cuda.device_count())]
    return names
