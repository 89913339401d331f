"""From a BasicSR training checkpoint to the self-describing file srapp ships in ``weights/``.

BasicSR saves ``{"params": state, "params_ema": state}`` with srapp's own parameter names; the
network's configuration lives only in the option file. :func:`export_weights` rebuilds the network
from the YAML's ``network_g``, loads the (EMA, when present) parameters and writes
``{"format": "srapp", "arch", "config", "params"}`` with :func:`srapp.save_checkpoint`, float16 by
default (half the size; loading casts back) or int8 weights (a quarter; the shipped models). The
result loads with :func:`srapp.load_model` and with BasicSR through ``SrappSRModel``; a float16 or
float32 file also through BasicSR's own ``load_network`` (``param_key_g: params``).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from .. import _compat  # noqa: F401  (before basicsr)
from ..checkpoints import save_checkpoint
from .option_files import OptionsError, load_yaml


def export_weights(
    checkpoint: str | os.PathLike,
    opt_path: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    dtype: torch.dtype | None = torch.float16,
    param_key: str = "params_ema",
) -> Path:
    """Write ``checkpoint`` (a BasicSR ``net_g_*.pth``) as an srapp checkpoint at ``out_path``.

    ``param_key`` falls back to ``params`` when the run kept no EMA copy; ``dtype=None`` keeps float32,
    ``torch.int8`` stores the weights as per-channel int8 (see :func:`srapp.save_checkpoint`).
    """
    from basicsr.utils.registry import ARCH_REGISTRY

    network = dict(load_yaml(opt_path).get("network_g") or {})
    arch_name = network.pop("type", None)
    if arch_name not in ("SrappRCAN", "SrappSAN"):
        raise OptionsError(f"{opt_path}: network_g.type: {arch_name!r} is not an srapp network (SrappRCAN, SrappSAN)")
    model = ARCH_REGISTRY.get(arch_name)(**network)
    saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
    state = saved.get(param_key, saved.get("params"))
    if state is None:
        raise ValueError(f"{checkpoint}: neither {param_key!r} nor 'params' in {sorted(saved)}")
    model.load_state_dict({key.removeprefix("module."): value for key, value in state.items()})
    return save_checkpoint(model, out_path, dtype=dtype)
