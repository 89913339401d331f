"""srapp's own checkpoint file: self-describing (architecture and config inside), stored in
float32, float16 or per-channel int8.

``{"format": "srapp", "arch": "RCAN" | "SAN", "config": {...}, "params": {...}}``, plus for int8
``"int8_params"`` (the quantised weights) and ``"int8_scales"`` (one float32 scale per output
channel). BasicSR's ``load_network`` reads the float16 / float32 files directly
(``param_key_g: params``); srapp's ``SrappSRModel`` also reads int8 ones.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from .._atomic import atomic_write
from ..archs import ARCHITECTURES
from ..errors import CheckpointError

CHECKPOINT_FORMAT = "srapp"
# How an srapp checkpoint stores its weights: the dtype handed to save_checkpoint (None: float32).
STORAGE_DTYPES = {"fp32": None, "fp16": torch.float16, "int8": torch.int8}
INT8_MIN_ELEMENTS = 1024  # smaller tensors (biases, 1x1 attention convolutions) stay float16


def is_srapp_checkpoint(checkpoint: Mapping[str, Any]) -> bool:
    return checkpoint.get("format") == CHECKPOINT_FORMAT


def architecture_of(model: nn.Module) -> str:
    """The srapp architecture name of ``model`` (``"RCAN"`` or ``"SAN"``)."""
    arch = next((name for name, cls in ARCHITECTURES.items() if isinstance(model, cls)), None)
    if arch is None:
        raise TypeError(f"not an srapp network: {type(model).__name__}")
    return arch


def quantize_int8(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric per-output-channel int8: ``weight[c] ~ q[c] * scale[c]`` with
    ``scale[c] = max|weight[c]| / 127``, so every element is off by at most ``scale[c] / 2``."""
    rows = weight.detach().float().reshape(weight.shape[0], -1)
    scale = rows.abs().amax(dim=1).clamp_min(torch.finfo(torch.float32).tiny) / 127
    quantized = torch.round(rows / scale[:, None]).to(torch.int8)
    return quantized.reshape(weight.shape), scale


def dequantize_int8(quantized: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return (quantized.float().reshape(quantized.shape[0], -1) * scale.float()[:, None]).reshape(quantized.shape)


def srapp_params(checkpoint: Mapping[str, Any], origin: str | os.PathLike | None = None) -> dict[str, torch.Tensor]:
    """The state dict an srapp checkpoint stores, int8 weights dequantized to float32."""
    stored = {part: checkpoint.get(part, {}) for part in ("params", "int8_params", "int8_scales")}
    for part, tensors in stored.items():
        if not isinstance(tensors, Mapping) or not all(isinstance(value, torch.Tensor) for value in tensors.values()):
            raise CheckpointError(origin, f"srapp checkpoint whose {part} is not a mapping of tensors")
    params, scales = dict(stored["params"]), stored["int8_scales"]
    for key, quantized in stored["int8_params"].items():
        scale = scales.get(key)
        if scale is None or scale.numel() != quantized.shape[0]:
            raise CheckpointError(origin, f"int8 weight {key} lacks its {quantized.shape[0]} per-channel scales")
        if not torch.isfinite(scale).all():
            raise CheckpointError(origin, f"int8 weight {key} has NaN or infinite per-channel scales")
        params[key] = dequantize_int8(quantized, scale)
    return params


def srapp_contents(model: nn.Module, dtype: torch.dtype | None = None) -> dict[str, Any]:
    """What :func:`save_checkpoint` writes for ``model``."""
    arch = architecture_of(model)
    state = {key: value.detach().cpu().clone() for key, value in model.state_dict().items()}
    contents: dict[str, Any] = {"format": CHECKPOINT_FORMAT, "arch": arch, "config": dict(model.config)}
    if dtype == torch.int8:
        large = [key for key, value in state.items()
                 if value.is_floating_point() and value.dim() >= 2 and value.numel() >= INT8_MIN_ELEMENTS]
        quantized = {key: quantize_int8(state.pop(key)) for key in large}
        contents["int8_params"] = {key: q for key, (q, _) in quantized.items()}
        contents["int8_scales"] = {key: scale for key, (_, scale) in quantized.items()}
        dtype = torch.float16
    contents["params"] = {
        key: value.to(dtype) if dtype is not None and value.is_floating_point() else value for key, value in state.items()
    }
    return contents


def save_checkpoint(model: nn.Module | Any, path: str | os.PathLike, dtype: torch.dtype | None = None) -> Path:
    """Write srapp's self-describing checkpoint atomically (temp file + rename).

    ``dtype=torch.float16`` halves the file. ``dtype=torch.int8`` stores every weight of at least
    ``INT8_MIN_ELEMENTS`` elements as per-output-channel int8 (:func:`quantize_int8`, a quarter of
    float32) and the rest as float16. :func:`srapp.load_model` casts back to the model's dtype.
    ``model`` is an srapp network or what :func:`srapp.load_model` returned.
    """
    model = model if isinstance(model, nn.Module) else getattr(model, "network", model)
    try:
        contents = srapp_contents(model, dtype)
    except TypeError as error:
        raise TypeError(f"save_checkpoint takes an srapp network: {error}") from error
    path = Path(path)
    with atomic_write(path) as handle:
        torch.save(contents, handle)
    return path
