"""PyTorch as a backend: the network in eval mode, channels_last, under autocast for bf16 / fp16."""

from __future__ import annotations

import contextlib
import threading

import torch
from torch import nn

from .. import kernels
from ..precision import PrecisionSupport, autocast
from ..tiling import ANY_SHAPE

_LOCKS: dict[int, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def network_lock(network: nn.Module) -> threading.Lock:
    """One lock per network: DIANet keeps per-pass state in its modules, so passes must not interleave."""
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(id(network), threading.Lock())


class TorchBackend:
    """Runs ``network`` (already on ``device``, channels_last) on tiles (torch tensors) in ``precision``."""

    name = "torch"
    shapes = ANY_SHAPE
    takes_numpy = False

    def __init__(self, network: nn.Module, precision: str, device: torch.device, threads: int | None = None) -> None:
        self.network, self.precision, self.device = network, precision, device
        if threads is not None:
            torch.set_num_threads(threads)

    @staticmethod
    def precision_support(device: torch.device) -> PrecisionSupport:
        """bf16 is fast where PyTorch has fast kernels for it on ``device`` (oneDNN on an AVX-512
        CPU, tensor cores on Ampere or newer; elsewhere its reference kernels run several times
        slower than fp32); int8 is OpenVINO's."""
        return PrecisionSupport(
            "torch", kernels.torch_has_fast_bf16(device),
            f"bf16 has no fast kernels on this {device.type} (needs AVX-512 on a CPU, Ampere or newer on CUDA): "
            "it would run several times slower than fp32",
            "int8 runs on the openvino backend only")

    def session(self) -> contextlib.AbstractContextManager:
        return network_lock(self.network)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), autocast(self.precision, self.device.type):
            return self.network(x).float()
