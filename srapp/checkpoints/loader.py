"""``load_model``: a ready network, and what is known about it, from a shipped name, a file or a
state dict in memory, whichever layout it uses.

PyTorch files are read with ``torch.load(weights_only=True)`` (pickled code and TorchScript are
refused, never run); safetensors files (by suffix or by their header) with ``safetensors``: one
whose metadata says ``format: srapp`` carries its architecture and configuration
(:func:`srapp_safetensors`), any other goes through layout detection like a state dict. srapp's
own layouts are tried first; a state dict none of them recognises goes to spandrel
(:mod:`.foreign`), which knows the community's architectures (ESRGAN, Compact, SPAN, SwinIR, HAT,
DAT, OmniSR, RealPLKSR, ...). The checkpoint is checked whole before anything is loaded: a partial
match fails naming the missing and unexpected keys and the shape mismatches.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any, Mapping

import torch
from safetensors import safe_open
from torch import nn

from ..archs import ARCHITECTURES
from ..archs.config import check_config, meta_state, planned_tensors
from ..errors import CheckpointError
from . import foreign
from .descriptor import LoadedModel, SizeRequirements
from .layouts import LAYOUTS, detect_layout
from .srapp_format import CHECKPOINT_FORMAT, architecture_of, is_srapp_checkpoint, srapp_params
from .weights import model_file

ModelSource = str | os.PathLike | Mapping[str, Any]

SAFETENSORS_SUFFIX = ".safetensors"
# An srapp safetensors file: metadata {"format": "srapp", "arch": ..., "config": JSON}; each weight
# under its srapp name, an int8 one with its per-channel scales under INT8_SCALES_PREFIX + name.
INT8_SCALES_PREFIX = "int8_scales."
# A config may plan at most this many tensors per tensor the checkpoint holds before it is refused
# unbuilt: building its state dict on the meta device costs time per tensor, and a near miss is
# worth building there for the list of missing and unexpected keys.
PLANNED_TENSORS_PER_HELD = 2


# What srapp's own networks accept beyond any size: a pooled SAN's exported graph max-pools 2x2
# (even sides) each quarter of its non-local block (at least 4 pixels a side).
POOLED_SAN_GRAPH = SizeRequirements(minimum=4, multiple_of=2)


def srapp_descriptor(network: nn.Module, layout: str, source: str | None = None) -> LoadedModel:
    """The descriptor of an srapp network, from what srapp knows of its architecture."""
    arch = architecture_of(network)
    config = dict(network.config)
    graph = POOLED_SAN_GRAPH if arch == "SAN" and config.get("nonlocal_subsample") else None
    return LoadedModel(network, arch, int(network.scale), config, layout, source, export_requirements=graph)


def describe(network: nn.Module, source: str | None = None) -> LoadedModel:
    """The description of an srapp network built in code (layout ``"module"``)."""
    return srapp_descriptor(network, "module", source)


def _unwrap(checkpoint: Mapping[str, Any]) -> Mapping[str, Any]:
    """The state dict inside BasicSR (``params_ema`` / ``params``) or trainer wrappers."""
    for key in ("params_ema", "params", "state_dict", "model"):
        inner = checkpoint.get(key)
        if isinstance(inner, Mapping) and inner:
            return inner
    return checkpoint


def _strip_prefix(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {re.sub(r"^(module\.)+", "", key): value for key, value in state.items()}


def _describe_keys(keys: list[str], limit: int = 8) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" ... (+{len(keys) - limit} more)" if len(keys) > limit else "")


def _nonfinite(state: Mapping[str, torch.Tensor]) -> list[str]:
    return [key for key, value in state.items() if value.is_floating_point() and not torch.isfinite(value).all()]


def _build_and_load(
    arch: str, config: Any, state: Mapping[str, torch.Tensor], origin: str | None, unmatched: list[str],
) -> nn.Module:
    """The network ``config`` describes, loaded with ``state``. A checkpoint is data: its config is
    checked (keys, types, ranges); a config planning far more tensors than the checkpoint holds is
    refused after three tiny builds on the meta device; the planned state dict, built on the meta
    device too, must match ``state`` key for key and shape for shape, and ``state`` must be finite.
    Only then is the network built for real, no bigger than the weights it loads."""
    try:
        config = check_config(arch, config)
    except ValueError as error:
        raise CheckpointError(origin, f"{arch} config refused: {error}") from error
    try:
        planned = planned_tensors(arch, config)
    except (TypeError, ValueError, RuntimeError, ArithmeticError) as error:  # the constructors' own checks
        raise CheckpointError(origin, f"cannot build {arch} from {config}: {error}") from error
    held = len(state) + len(unmatched)
    if planned > PLANNED_TENSORS_PER_HELD * held:
        depth = ", ".join(f"{key} {config[key]}" for key in ("num_groups", "num_blocks") if key in config)
        raise CheckpointError(
            origin, f"its {arch} config ({depth or 'defaults'}) plans a network of {planned} tensors, the "
            f"checkpoint holds {held}: the config does not describe these weights; nothing was built")
    expected = meta_state(arch, config)
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected)) + unmatched
    mismatched = [
        f"{key} {tuple(state[key].shape)} vs {tuple(expected[key].shape)}"
        for key in expected if key in state and state[key].shape != expected[key].shape
    ]
    if missing or unexpected or mismatched:
        problems = []
        if missing:
            problems.append(f"missing keys: {_describe_keys(missing)}")
        if unexpected:
            problems.append(f"unexpected keys: {_describe_keys(unexpected)}")
        if mismatched:
            problems.append(f"shape mismatches (checkpoint vs model): {_describe_keys(mismatched)}")
        raise CheckpointError(origin, f"does not match {arch} {config}; nothing was loaded; " + "; ".join(problems))
    nonfinite = _nonfinite(state)
    if nonfinite:  # such a network outputs NaN: every image would come out black
        raise CheckpointError(origin, f"NaN or infinite weights in {_describe_keys(nonfinite)}; nothing was loaded")
    network = ARCHITECTURES[arch](**config)
    network.load_state_dict({key: value.to(expected[key].dtype) for key, value in state.items()})
    return network


def model_from_state(checkpoint: Mapping[str, Any], origin: str | None = None) -> LoadedModel:
    """Build and load the network a checkpoint already in memory describes (``origin`` names it in errors)."""
    if is_srapp_checkpoint(checkpoint):
        arch = checkpoint.get("arch")
        if not isinstance(arch, str) or arch not in ARCHITECTURES:
            raise CheckpointError(origin, f"unknown srapp architecture {arch!r}")
        network = _build_and_load(arch, checkpoint.get("config"), srapp_params(checkpoint, origin), origin, [])
        return srapp_descriptor(network, "srapp", origin)
    state = _strip_prefix(_unwrap(checkpoint))
    if not all(isinstance(value, torch.Tensor) for value in state.values()):
        if foreign.detect(foreign.canonical_state(checkpoint)) is not None:
            return _foreign_model(checkpoint, state, origin)
        raise CheckpointError(origin, "not a state dict (values that are not tensors)")
    layout = detect_layout(state)
    if layout is None:
        return _foreign_model(checkpoint, state, origin)
    renamed, unmatched = layout.to_srapp(state)
    try:
        config = layout.config(renamed, state)
    except CheckpointError as error:
        raise error.about(origin) from error
    where = f"{origin} ({layout.name} layout)" if origin else f"({layout.name} layout)"
    network = _build_and_load(layout.arch, config, renamed, where, unmatched)
    return srapp_descriptor(network, layout.name, origin)


def _foreign_model(checkpoint: Mapping[str, Any], state: Mapping[str, Any], origin: str | None) -> LoadedModel:
    """What spandrel makes of a checkpoint none of srapp's layouts recognises (its own unwrapping
    first, then srapp's), refused with the keys when nothing recognises it."""
    for candidate in (foreign.canonical_state(checkpoint), state):
        nonfinite = _nonfinite(candidate) if foreign.detect(candidate) is not None else []
        if nonfinite:  # such a network outputs NaN: every image would come out black
            raise CheckpointError(origin, f"NaN or infinite weights in {_describe_keys(nonfinite)}; nothing was loaded")
        loaded = foreign.spandrel_model(candidate, origin)
        if loaded is not None:
            return loaded
    names = ", ".join(layout.name for layout in LAYOUTS)
    raise CheckpointError(
        origin,
        f"unrecognised checkpoint layout (none of {names}, nor any of the {foreign.architecture_count()} "
        f"architectures spandrel knows); first keys: {_describe_keys(sorted(state), 5)}. "
        "srapp networks with attention other than RCAN's CA load from srapp checkpoints (save_checkpoint), "
        "which record their configuration",
    )


def is_safetensors_file(path: Path) -> bool:
    """By the suffix, or by the header: an 8-byte little-endian length, then the JSON header."""
    if path.suffix.lower() == SAFETENSORS_SUFFIX:
        return True
    with open(path, "rb") as handle:
        head = handle.read(9)
    return len(head) == 9 and head[8:9] == b"{" and 0 < int.from_bytes(head[:8], "little") < path.stat().st_size


def srapp_safetensors(tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str],
                      origin: str | os.PathLike | None = None) -> dict[str, Any]:
    """The srapp checkpoint (as :func:`save_checkpoint` writes it) an srapp safetensors file holds."""
    try:
        arch, config = metadata["arch"], json.loads(metadata["config"])
    except (KeyError, json.JSONDecodeError) as error:
        raise CheckpointError(origin, f"srapp safetensors metadata without a readable arch and config ({error})") from error
    scales = {key[len(INT8_SCALES_PREFIX):]: value for key, value in tensors.items() if key.startswith(INT8_SCALES_PREFIX)}
    params = {key: value for key, value in tensors.items() if not key.startswith(INT8_SCALES_PREFIX)}
    quantized = {key: params.pop(key) for key in scales if key in params}
    return {"format": CHECKPOINT_FORMAT, "arch": arch, "config": config, "params": params,
            "int8_params": quantized, "int8_scales": scales}


def read_safetensors(path: Path) -> Mapping[str, Any]:
    """A safetensors file as an srapp checkpoint (srapp metadata) or as a plain state dict."""
    try:
        with safe_open(path, framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except Exception as error:  # noqa: BLE001 (safetensors raises its own and OS errors for foreign files)
        raise CheckpointError(path, f"not a readable safetensors file ({type(error).__name__}: {error})") from error
    if metadata.get("format") == CHECKPOINT_FORMAT:
        return srapp_safetensors(tensors, metadata, path)
    return tensors


def _torchscript_archive(path: Path) -> bool:
    """Whether ``path`` is a TorchScript archive (a zip holding compiled code, not only weights)."""
    if not zipfile.is_zipfile(path):
        return False
    with contextlib.suppress(zipfile.BadZipFile, OSError):
        with zipfile.ZipFile(path) as archive:
            return any(re.search(r"(^|/)(code/|constants\.pkl$)", name) for name in archive.namelist())
    return False


def _code_refusal(error: pickle.UnpicklingError) -> str | None:
    """The one-line reason torch's weights-only unpickler refused a global (code to import or
    call), or None when the file is simply not a pickle it can read."""
    found = re.search(r"(Unsupported global: GLOBAL [\w.]+|Global '[^']+' is forbidden"
                      r"|Trying to call reduce for [\w.]+)", str(error))
    return found.group(1) if found else None


def read_checkpoint(path: str | os.PathLike) -> Mapping[str, Any]:
    """The checkpoint file's contents (PyTorch or safetensors), read without running pickled code.

    PyTorch files (``.pth``, ``.pt``, ``.ckpt``) go through ``torch.load(weights_only=True)``,
    which builds only tensors and plain containers: a pickle that names any other code (a class,
    a function such as ``os.system``) is refused before anything runs, and so is a TorchScript
    archive, whose compiled code would run when loaded."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "no such checkpoint file")
    if is_safetensors_file(path):
        return read_safetensors(path)
    if _torchscript_archive(path):
        raise CheckpointError(path, "a TorchScript archive: it holds compiled code that would run when loaded, and "
                              "srapp loads only weights; refused. Save the network's state_dict() instead")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        reason = _code_refusal(error)
        if reason is None:
            raise CheckpointError(path, f"not a readable PyTorch checkpoint (UnpicklingError: {error})") from error
        raise CheckpointError(path, f"its pickle asks for code to run when loaded ({reason}), and srapp loads "
                              "only weights: refused, nothing was run. Re-save the state dict alone "
                              "(torch.save(model.state_dict(), ...)) or as .safetensors") from error
    except Exception as error:  # noqa: BLE001 (torch raises many types for corrupt / foreign files)
        raise CheckpointError(path, f"not a readable PyTorch checkpoint ({type(error).__name__}: {error})") from error
    if not isinstance(checkpoint, Mapping):
        raise CheckpointError(path, f"holds a {type(checkpoint).__name__}, not a state dict")
    return checkpoint


def load_model(source: ModelSource, device: str | torch.device = "cpu") -> LoadedModel:
    """A ready network in eval mode on ``device`` from a shipped model name, a checkpoint path or a
    state dict, with its architecture, scale, configuration and layout."""
    if isinstance(source, Mapping):
        loaded = model_from_state(source)
    else:
        path = model_file(source)
        loaded = model_from_state(read_checkpoint(path), str(path))
    loaded.network.to(device).eval()
    return loaded
