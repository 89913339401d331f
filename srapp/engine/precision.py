"""Numeric precisions of a forward pass, and whether a device runs bfloat16 at full speed.

oneDNN has bfloat16 convolutions only for CPUs with AVX-512 (native with AVX512-BF16 or AMX,
emulated below that). On an AVX2-only CPU, such as the AMD EPYC of some of this project's machines,
autocast to bfloat16 falls back to PyTorch's reference ``slow_conv2d`` kernels.
On such a 2-core EPYC, ``python -m srapp.bench.precision`` measured RCAN (4x10x64, x4) on a 96x96
input at 1.08 s in float32 against 7.84 s in bf16, and a training step on 4 patches of 48x48 at
4.2 s against 33.9 s: there bf16 is only a loss.
"""

from __future__ import annotations

import contextlib

import torch

PRECISIONS = ("fp32", "bf16", "fp16")
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def autocast(precision: str, device_type: str) -> contextlib.AbstractContextManager:
    """Autocast to ``precision``'s dtype on ``device_type``; nothing for fp32."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type, dtype=AUTOCAST_DTYPES[precision])


def bf16_is_fast(device: torch.device) -> bool:
    """Whether bfloat16 autocast on ``device`` has fast kernels (oneDNN on a CPU, tensor cores on
    CUDA) rather than PyTorch's reference fallback."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":
        # The check PyTorch itself uses before choosing oneDNN's bfloat16 kernels.
        return torch.backends.mkldnn.is_available() and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return False


def slow_bf16_message(device: torch.device) -> str:
    return (f"bf16 has no fast kernels on this {device.type} (needs AVX-512 on a CPU, "
            "Ampere or newer on CUDA): it would run several times slower than fp32")
