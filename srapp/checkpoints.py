"""``load_model``: one loader for srapp, BasicSR and the official RCAN / SAN checkpoints.

The layout is detected from the keys, renamed to srapp's module names, and the network's
configuration (groups, blocks, features, reduction, scale) is read off the tensors. The file is
checked whole before anything is loaded: a partial match fails naming the missing and
unexpected keys.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from ._atomic import atomic_write
from .archs import ARCHITECTURES
from .attention.soca import OFFICIAL_WINDOW

CHECKPOINT_FORMAT = "srapp"
INT8_MIN_ELEMENTS = 1024  # smaller tensors (biases, 1x1 attention convolutions) stay float16
METRIC_WEIGHTS_PREFIX = "lpips"  # weights/ also holds the LPIPS backbone, which is not an SR model
WEIGHTS_DIR = Path(os.environ.get("SRAPP_WEIGHTS_DIR", Path(__file__).resolve().parent.parent / "weights"))


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded; the message names the source and the problem."""


# (pattern, replacement) pairs per layout; keys matching `ignored` are known to be unused there.
_BASICSR_RCAN = [
    (r"^conv_first\.", "head."),
    (r"^body\.(\d+)\.residual_group\.(\d+)\.rcab\.0\.", r"groups.\1.blocks.\2.conv1."),
    (r"^body\.(\d+)\.residual_group\.(\d+)\.rcab\.2\.", r"groups.\1.blocks.\2.conv2."),
    (r"^body\.(\d+)\.residual_group\.(\d+)\.rcab\.3\.attention\.1\.", r"groups.\1.blocks.\2.attention.fc_reduce."),
    (r"^body\.(\d+)\.residual_group\.(\d+)\.rcab\.3\.attention\.3\.", r"groups.\1.blocks.\2.attention.fc_expand."),
    (r"^body\.(\d+)\.conv\.", r"groups.\1.conv."),
    (r"^conv_after_body\.", "body_conv."),
    (r"^upsample\.(\d+)\.", r"upsampler.\1."),
    (r"^conv_last\.", "tail."),
]
_OFFICIAL_RCAN = [
    (r"^head\.0\.", "head."),
    (r"^body\.(\d+)\.body\.(\d+)\.body\.0\.", r"groups.\1.blocks.\2.conv1."),
    (r"^body\.(\d+)\.body\.(\d+)\.body\.2\.", r"groups.\1.blocks.\2.conv2."),
    (r"^body\.(\d+)\.body\.(\d+)\.body\.3\.conv_du\.0\.", r"groups.\1.blocks.\2.attention.fc_reduce."),
    (r"^body\.(\d+)\.body\.(\d+)\.body\.3\.conv_du\.2\.", r"groups.\1.blocks.\2.attention.fc_expand."),
    (r"^body\.(\d+)\.body\.(\d+)\.(weight|bias)$", r"groups.\1.conv.\3"),
    (r"^body\.(\d+)\.(weight|bias)$", r"body_conv.\2"),
    (r"^tail\.0\.(\d+)\.", r"upsampler.\1."),
    (r"^tail\.1\.", "tail."),
]
_OFFICIAL_SAN = [
    (r"^head\.0\.", "head."),
    # The official g and phi are Sequential(conv 1x1, 2x2 max-pool): SAN(nonlocal_subsample=True).
    (r"^non_local\.non_local\.(g|phi)\.0\.", r"non_local.block.\1.0."),
    (r"^non_local\.non_local\.theta\.", "non_local.block.theta."),
    (r"^non_local\.non_local\.W\.", "non_local.block.project."),
    (r"^RG\.(\d+)\.rcab\.(\d+)\.conv_first\.0\.", r"groups.\1.blocks.\2.conv1."),
    (r"^RG\.(\d+)\.rcab\.(\d+)\.conv_first\.2\.", r"groups.\1.blocks.\2.conv2."),
    (r"^RG\.(\d+)\.soca\.conv_du\.0\.", r"groups.\1.attention.fc_reduce."),
    (r"^RG\.(\d+)\.soca\.conv_du\.2\.", r"groups.\1.attention.fc_expand."),
    (r"^RG\.(\d+)\.conv_last\.", r"groups.\1.conv."),
    (r"^gamma$", "share_source_weight"),
    (r"^tail\.0\.(\d+)\.", r"upsampler.\1."),
    (r"^tail\.1\.", "tail."),
]
_MEAN_SHIFT_KEYS = r"^(sub_mean|add_mean)\.(weight|bias)$"
# Defined in the official SAN but never used by its forward pass.
_SAN_UNUSED_KEYS = r"^(conv_last\.(weight|bias)|RG\.\d+\.gamma|non_local\.soca\..*)$"

# srapp's own key names inside a BasicSR training checkpoint (net_g_*.pth of `srapp train`).
_SRAPP_NAMES = [(r"^", "")]

# Configuration a layout's code fixes and its tensors do not show: the official SAN max-pools its
# non-local keys and values and takes SOCA's statistics from a central window.
_LAYOUT_OPTIONS: dict[str, dict[str, Any]] = {
    "official-san": {"nonlocal_subsample": True, "soca_window": OFFICIAL_WINDOW},
}

_LAYOUTS: dict[str, tuple[str, str, list[tuple[str, str]], str | None]] = {
    # name: (arch, signature key pattern, rename rules, ignored key pattern)
    "srapp-rcan": ("RCAN", r"^groups\.0\.blocks\.0\.attention\.fc_reduce\.weight$", _SRAPP_NAMES, None),
    "srapp-san": ("SAN", r"^groups\.0\.attention\.fc_reduce\.weight$", _SRAPP_NAMES, None),
    "basicsr-rcan": ("RCAN", r"^body\.0\.residual_group\.0\.rcab\.0\.weight$", _BASICSR_RCAN, None),
    "official-rcan": ("RCAN", r"^body\.0\.body\.0\.body\.3\.conv_du\.0\.weight$", _OFFICIAL_RCAN, _MEAN_SHIFT_KEYS),
    "official-san": (
        "SAN", r"^RG\.0\.soca\.conv_du\.0\.weight$", _OFFICIAL_SAN, f"{_MEAN_SHIFT_KEYS}|{_SAN_UNUSED_KEYS}"
    ),
}


def _unwrap(checkpoint: Mapping[str, Any]) -> Mapping[str, Any]:
    """The state dict inside BasicSR (``params_ema`` / ``params``) or trainer wrappers."""
    for key in ("params_ema", "params", "state_dict", "model"):
        inner = checkpoint.get(key)
        if isinstance(inner, Mapping) and inner:
            return inner
    return checkpoint


def _strip_prefix(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {re.sub(r"^(module\.)+", "", key): value for key, value in state.items()}


def _rename(state: Mapping[str, torch.Tensor], rules: list[tuple[str, str]], ignored: str | None):
    renamed: dict[str, torch.Tensor] = {}
    unmatched: list[str] = []
    for key, value in state.items():
        for pattern, replacement in rules:
            new_key, count = re.subn(pattern, replacement, key)
            if count:
                renamed[new_key] = value
                break
        else:
            if not (ignored and re.match(ignored, key)):
                unmatched.append(key)
    return renamed, unmatched


def _indices(state: Mapping[str, torch.Tensor], pattern: str) -> list[int]:
    return sorted({int(m.group(1)) for key in state if (m := re.match(pattern, key))})


def _infer_scale(state: Mapping[str, torch.Tensor], channels: int) -> int:
    convs = [state[f"upsampler.{i}.weight"] for i in _indices(state, r"^upsampler\.(\d+)\.weight$")]
    if len(convs) == 1 and convs[0].shape[0] == 9 * channels:
        return 3
    if convs and all(conv.shape[0] == 4 * channels for conv in convs):
        return 2 ** len(convs)
    raise CheckpointError(f"cannot infer the scale from the upsampler weights {[tuple(c.shape) for c in convs]}")


def _infer_config(arch: str, state: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    if "head.weight" not in state:
        raise CheckpointError("no head convolution (head.weight) to infer the feature count from")
    channels = state["head.weight"].shape[0]
    reduce_key = "groups.0.blocks.0.attention.fc_reduce.weight" if arch == "RCAN" else "groups.0.attention.fc_reduce.weight"
    if reduce_key not in state:
        raise CheckpointError(f"no attention weights ({reduce_key}) to infer the reduction from")
    return {
        "scale": _infer_scale(state, channels),
        "num_groups": len(_indices(state, r"^groups\.(\d+)\.")),
        "num_blocks": len(_indices(state, r"^groups\.0\.blocks\.(\d+)\.")),
        "channels": channels,
        "reduction": channels // state[reduce_key].shape[0],
    }


def _infer_rgb_mean(original: Mapping[str, torch.Tensor], config: dict[str, Any]) -> None:
    """Official checkpoints store ``sub_mean.bias = -255 * mean`` (std 1): keep their mean."""
    bias = original.get("sub_mean.bias")
    if bias is not None and bias.numel() == 3:
        config["rgb_mean"] = tuple(float(v) for v in (-bias.double() / 255.0))


def _describe(keys: list[str], limit: int = 8) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" ... (+{len(keys) - limit} more)" if len(keys) > limit else "")


def _build_and_load(
    arch: str, config: dict[str, Any], state: Mapping[str, torch.Tensor], origin: str, unmatched: list[str]
) -> nn.Module:
    try:
        model = ARCHITECTURES[arch](**config)
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{origin}: cannot build {arch} from {config}: {error}") from error
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected)) + unmatched
    mismatched = [
        f"{key} {tuple(state[key].shape)} vs {tuple(expected[key].shape)}"
        for key in expected if key in state and state[key].shape != expected[key].shape
    ]
    if missing or unexpected or mismatched:
        problems = []
        if missing:
            problems.append(f"missing keys: {_describe(missing)}")
        if unexpected:
            problems.append(f"unexpected keys: {_describe(unexpected)}")
        if mismatched:
            problems.append(f"shape mismatches (checkpoint vs model): {_describe(mismatched)}")
        raise CheckpointError(f"{origin}: does not match {arch} {config}; nothing was loaded; " + "; ".join(problems))
    model.load_state_dict({key: value.to(expected[key].dtype) for key, value in state.items()})
    return model


def quantize_int8(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric per-output-channel int8: ``weight[c] ~ q[c] * scale[c]`` with
    ``scale[c] = max|weight[c]| / 127``, so every element is off by at most ``scale[c] / 2``."""
    rows = weight.detach().float().reshape(weight.shape[0], -1)
    scale = rows.abs().amax(dim=1).clamp_min(torch.finfo(torch.float32).tiny) / 127
    quantized = torch.round(rows / scale[:, None]).to(torch.int8)
    return quantized.reshape(weight.shape), scale


def dequantize_int8(quantized: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return (quantized.float().reshape(quantized.shape[0], -1) * scale.float()[:, None]).reshape(quantized.shape)


def srapp_params(checkpoint: Mapping[str, Any], origin: str = "checkpoint") -> dict[str, torch.Tensor]:
    """The state dict an srapp checkpoint stores, int8 weights dequantized to float32."""
    params = dict(checkpoint["params"])
    scales = checkpoint.get("int8_scales", {})
    for key, quantized in checkpoint.get("int8_params", {}).items():
        scale = scales.get(key)
        if scale is None or scale.numel() != quantized.shape[0]:
            raise CheckpointError(f"{origin}: int8 weight {key} lacks its {quantized.shape[0]} per-channel scales")
        params[key] = dequantize_int8(quantized, scale)
    return params


def model_from_state(checkpoint: Mapping[str, Any], origin: str = "state dict") -> nn.Module:
    """Build and load the network a checkpoint (already in memory) describes."""
    if checkpoint.get("format") == CHECKPOINT_FORMAT:
        arch = checkpoint.get("arch")
        if arch not in ARCHITECTURES:
            raise CheckpointError(f"{origin}: unknown srapp architecture {arch!r}")
        return _build_and_load(arch, dict(checkpoint["config"]), srapp_params(checkpoint, origin), origin, [])
    state = _strip_prefix(_unwrap(checkpoint))
    if not all(isinstance(value, torch.Tensor) for value in state.values()):
        raise CheckpointError(f"{origin}: not a state dict (values that are not tensors)")
    for layout, (arch, signature, rules, ignored) in _LAYOUTS.items():
        if any(re.match(signature, key) for key in state):
            renamed, unmatched = _rename(state, rules, ignored)
            try:
                config = _infer_config(arch, renamed)
            except CheckpointError as error:
                raise CheckpointError(f"{origin}: {layout} layout, but {error}") from error
            _infer_rgb_mean(state, config)
            config.update(_LAYOUT_OPTIONS.get(layout, {}))
            return _build_and_load(arch, config, renamed, f"{origin} ({layout} layout)", unmatched)
    raise CheckpointError(
        f"{origin}: unrecognised checkpoint layout (not srapp, BasicSR RCAN, official RCAN or official SAN); "
        f"first keys: {_describe(sorted(state), 5)}. Networks with attention other than RCAN's CA load from "
        "srapp checkpoints (save_checkpoint), which record their configuration"
    )


def shipped_models() -> dict[str, Path]:
    """Name -> file of every super-resolution model in the weights folder (metric weights excluded)."""
    if not WEIGHTS_DIR.is_dir():
        return {}
    return {
        path.stem: path for path in sorted(WEIGHTS_DIR.glob("*.pth")) if not path.stem.startswith(METRIC_WEIGHTS_PREFIX)
    }


def read_checkpoint(path: str | os.PathLike) -> Mapping[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for corrupt / foreign files
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({type(error).__name__}: {error})") from error
    if not isinstance(checkpoint, Mapping):
        raise CheckpointError(f"{path}: holds a {type(checkpoint).__name__}, not a state dict")
    return checkpoint


def load_model(source: str | os.PathLike | Mapping[str, Any], device: str | torch.device = "cpu") -> nn.Module:
    """A ready network in eval mode from a shipped model name, a checkpoint path or a state dict."""
    if isinstance(source, Mapping):
        model = model_from_state(source)
    else:
        shipped = shipped_models()
        path = shipped.get(str(source), Path(source))
        if not path.exists() and not any(sep in str(source) for sep in ("/", "\\", ".")):
            names = ", ".join(shipped) or "none installed"
            raise CheckpointError(f"{source!r} is neither a shipped model ({names}) nor a file")
        model = model_from_state(read_checkpoint(path), str(path))
    return model.to(device).eval()


def save_checkpoint(model: nn.Module, path: str | os.PathLike, dtype: torch.dtype | None = None) -> Path:
    """Write srapp's self-describing checkpoint atomically (temp file + rename).

    ``dtype=torch.float16`` halves the file. ``dtype=torch.int8`` stores every weight of at least
    ``INT8_MIN_ELEMENTS`` elements as per-output-channel int8 (:func:`quantize_int8`, a quarter of
    float32) and the rest as float16. :func:`load_model` casts back to the model's dtype.
    """
    arch = next((name for name, cls in ARCHITECTURES.items() if isinstance(model, cls)), None)
    if arch is None:
        raise TypeError(f"save_checkpoint takes an srapp network, got {type(model).__name__}")
    state = {key: value.detach().cpu().clone() for key, value in model.state_dict().items()}
    contents: dict[str, Any] = {"format": CHECKPOINT_FORMAT, "arch": arch, "config": model.config}
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
    path = Path(path)
    with atomic_write(path) as handle:
        torch.save(contents, handle)
    return path
