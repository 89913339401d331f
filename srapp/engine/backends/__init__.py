"""What runs a network on a tile: PyTorch, or another runtime where it is faster.

A backend takes a ``(1, 3, h, w)`` float32 tensor in [0, 1] and returns the network's
``(1, 3, s*h, s*w)`` float32 output; the engine does tiling, blending and self-ensemble around
it, so every feature works on every backend. :func:`build_backend` resolves ``"auto"`` and the
precision (through :mod:`srapp.engine.precision`) once per :class:`srapp.Upscaler`.
"""

from __future__ import annotations

import contextlib
from typing import Protocol

import torch

from ...checkpoints import LoadedModel
from ...errors import UsageError
from ..precision import resolve_precision

BACKENDS = ("auto", "torch")


class Backend(Protocol):
    name: str  # the backend that runs: "torch", ...
    precision: str  # the precision that runs: fp32, bf16 or fp16
    device: torch.device

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...

    def session(self) -> contextlib.AbstractContextManager:
        """Held around one image's tiles (e.g. a lock: some networks keep per-pass state)."""
        ...


def build_backend(
    model: LoadedModel, requested: str, precision: str, device: torch.device, threads: int | None = None,
) -> tuple[Backend, list[str]]:
    """The backend for ``model`` on ``device``, and warnings about what differs from the request."""
    from .torch import TorchBackend

    if requested not in BACKENDS:
        raise UsageError(f"unknown backend {requested!r}; choose one of {', '.join(BACKENDS)}")
    resolved = resolve_precision(precision, device)
    warnings = [resolved.warning] if resolved.warning else []
    return TorchBackend(model.network, resolved.precision, device, threads), warnings


__all__ = ["BACKENDS", "Backend", "build_backend"]
