"""What the libraries installed here can compute, asked without building a backend.

The precision policy (:mod:`srapp.engine.precision`) and the backends (:mod:`srapp.engine.backends`)
both ask here, so neither imports the other: whether OpenVINO and NNCF are installed, whether
OpenVINO's CPU plugin computes bf16 (AVX512-BF16 or AMX; elsewhere it ignores the bf16 hint), and
whether PyTorch has fast bf16 kernels on a device.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import types
from typing import Any

import torch


def openvino_module() -> types.ModuleType:
    import openvino

    return openvino


def nncf_module() -> types.ModuleType:
    import nncf

    return nncf


def openvino_missing_reason() -> str | None:
    """Why OpenVINO cannot be used at all here, or None when it is installed."""
    try:
        openvino_module()
    except ImportError as error:
        return f"OpenVINO is not installed ({error})"
    return None


def nncf_missing_reason() -> str | None:
    """Why int8 networks cannot be made here (NNCF not installed), or None. Asked without importing
    NNCF (it brings scikit-learn and more): only a quantisation imports it."""
    if importlib.util.find_spec("nncf") is None:
        return "int8 needs NNCF (pip install nncf==3.4.0): it is not installed"
    return None


def nncf_version() -> str:
    """The installed NNCF's version, read from its metadata (no import)."""
    return importlib.metadata.version("nncf")


@functools.lru_cache(maxsize=1)
def openvino_core() -> Any:
    return openvino_module().Core()


def openvino_cpu_has_fast_bf16() -> bool:
    """Whether OpenVINO's CPU plugin computes in bf16 here."""
    return "BF16" in openvino_core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def torch_has_fast_bf16(device: torch.device) -> bool:
    """Whether PyTorch's bf16 on ``device`` runs fast kernels: oneDNN on a CPU, tensor cores on
    CUDA, rather than the reference fallback."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":
        # The check PyTorch itself uses before choosing oneDNN's bfloat16 kernels.
        return torch.backends.mkldnn.is_available() and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return False
