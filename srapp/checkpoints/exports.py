"""Exports other tools load, written from a :class:`LoadedModel`.

* ``onnx``: an ONNX graph (opset :data:`ONNX_OPSET`) for onnxruntime and other ONNX runtimes.
  Input ``input`` and output ``output`` are float32 RGB in [0, 1], ``(N, 3, H, W)`` ->
  ``(N, 3, sH, sW)``, with batch, height and width dynamic. It comes from
  ``torch.onnx.export``'s TorchScript exporter (the torch.export-based one needs onnxscript), which
  traces the network at one input size (:data:`TRACE_SIDE`).
* ``openvino``: OpenVINO IR (``.xml`` + ``.bin`` beside it, float32 weights), converted from the
  network by ``openvino.convert_model`` with the same dynamic input and the same names.
* ``official``: the official release's state dict (:data:`OFFICIAL_LAYOUTS`): RCAN in the authors'
  EDSR-style layout, which spandrel (and so chaiNNer) loads as RCAN; SAN in the authors' layout,
  only for a SAN with the official max-pooled non-local block. The layout objects do the renaming
  and say which networks they cannot hold.
* ``safetensors``: srapp's names, with the architecture and configuration as JSON in the
  metadata (:func:`srapp.checkpoints.loader.srapp_safetensors` reads it back); weights in float32,
  float16 or srapp's per-channel int8 (:data:`STORAGES`).

Every file is written atomically: a temporary file in the target folder, renamed over the target
(for IR the ``.bin`` first, then the ``.xml``). What an exported file computes differently from the
srapp network, and for which inputs, is returned in :attr:`Export.notes`.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np
import safetensors.torch
import torch

from .._atomic import atomic_write
from ..errors import CheckpointError, UsageError
from .layouts import OFFICIAL_LAYOUTS
from .loader import INT8_SCALES_PREFIX, LoadedModel, model_from_state, read_checkpoint
from .srapp_format import CHECKPOINT_FORMAT, STORAGE_DTYPES, is_srapp_checkpoint, srapp_contents
from .weights import model_file

EXPORT_FORMATS = ("onnx", "openvino", "official", "safetensors")
FORMAT_SUFFIXES = {".onnx": "onnx", ".xml": "openvino", ".safetensors": "safetensors"}
ONNX_OPSET = 17
TRACE_SIDE = 32  # input side the graphs are traced at
INPUT_NAME, OUTPUT_NAME = "input", "output"
# (the loaded model, its converted OpenVINO model) -> (the model to write, notes on what changed)
OpenVINOTransform = Callable[[LoadedModel, Any], tuple[Any, tuple[str, ...]]]
# safetensors weights: "stored" keeps the storage of an srapp source file (float32 for other layouts)
STORAGES = {**STORAGE_DTYPES, "stored": None}


@dataclass(frozen=True)
class Export:
    """What an export wrote: its format, its files, and where the file computes something else
    than the srapp network it came from."""

    format: str
    paths: tuple[Path, ...]
    notes: tuple[str, ...] = ()


def export_format(output: str | os.PathLike, format: str | None = None) -> str:
    """The format to write ``output`` in: ``format`` when given (checked against a suffix that
    names another format), else the one its suffix names (``official`` has no suffix of its own)."""
    suffix = Path(output).suffix.lower()
    implied = FORMAT_SUFFIXES.get(suffix)
    if format is None:
        if implied is None:
            known = ", ".join(f"{s} ({f})" for s, f in FORMAT_SUFFIXES.items())
            raise UsageError(f"{output}: cannot tell the export format from the suffix {suffix or '(none)'}: "
                             f"use {known}, or give the format (official needs it)")
        return implied
    if format not in EXPORT_FORMATS:
        raise UsageError(f"unknown export format {format!r}; formats: {', '.join(EXPORT_FORMATS)}")
    if implied is not None and implied != format:
        raise UsageError(f"{output}: the suffix {suffix} is for {implied} files, not {format}")
    if format == "openvino" and suffix != ".xml":
        raise UsageError(f"{output}: OpenVINO IR is an .xml file (with its .bin beside it)")
    return format


def _network(model: LoadedModel) -> torch.nn.Module:
    """The network in eval mode on the CPU in float32, what the exported files hold (a copy when
    the model's own network is elsewhere, so the caller's is left as it was)."""
    network = model.network
    if network.training or any(p.device.type != "cpu" or p.dtype != torch.float32 for p in network.parameters()):
        network = copy.deepcopy(network).to("cpu", torch.float32).eval()
    return network


def traced_graph_notes(model: LoadedModel, format: str) -> tuple[str, ...]:
    """Where a graph traced at :func:`trace_input` (``format`` onnx or openvino) computes
    something else than the network, or nothing."""
    notes = []
    if model.arch == "SAN" and format == "onnx":
        notes.append("inputs need at least 2 pixels a side: a 1-pixel side leaves an empty quarter for the "
                     "non-local block, which the graph cannot skip")
    if model.arch == "SAN" and format == "openvino" and model.config["nonlocal_subsample"]:
        notes.append("inputs need at least 4 pixels a side: the graph max-pools the keys and values of each "
                     "quarter of the non-local block 2x2, as the official SAN code does")
    window = model.config.get("soca_window")
    if window is not None:
        # central_window's offsets are Python ints: traced at a size within the window they are 0.
        notes.append(f"SOCA's statistics come from a {window}x{window} window (soca_window): for inputs up to "
                     f"{window} pixels a side as in srapp; for larger ones the graph takes the top-left "
                     f"{window}x{window} window, not the central one, so tile larger images")
    return tuple(notes)


def trace_input(model: LoadedModel) -> torch.Tensor:
    """The example input graphs are traced with: :data:`TRACE_SIDE` pixels a side, within SOCA's window."""
    window = model.config.get("soca_window")
    side = TRACE_SIDE if window is None else min(TRACE_SIDE, window)
    return torch.rand(1, 3, side, side, generator=torch.Generator().manual_seed(0))


@contextlib.contextmanager
def _quiet_tracer() -> Iterator[None]:
    # The tracer warns at every shape-dependent Python branch of the networks (what they do to
    # the graph is in traced_graph_notes and checked by the tests) and about its own deprecation.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        yield


def export_onnx(model: LoadedModel, output: str | os.PathLike, opset: int = ONNX_OPSET) -> Export:
    """Write the network as an ONNX graph with dynamic batch, height and width."""
    network, output = _network(model), Path(output)
    buffer = io.BytesIO()
    try:
        with _quiet_tracer(), torch.no_grad():
            torch.onnx.export(
                network, (trace_input(model),), buffer, dynamo=False, opset_version=opset,
                input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: {0: "batch", 2: "height", 3: "width"},
                              OUTPUT_NAME: {0: "batch", 2: "out_height", 3: "out_width"}},
            )
    except Exception as error:  # noqa: BLE001 (the exporter raises many types for what it cannot convert)
        raise CheckpointError(model.source, f"cannot be exported to ONNX: {type(error).__name__}: "
                              f"{_first_line(error)}") from error
    with atomic_write(output) as handle:
        handle.write(buffer.getvalue())
    return Export("onnx", (output,), traced_graph_notes(model, "onnx"))


def export_openvino(model: LoadedModel, output: str | os.PathLike,
                    transform: OpenVINOTransform | None = None) -> Export:
    """Write the network as OpenVINO IR: ``output`` (.xml) and the .bin of the same stem.
    ``transform`` (int8 quantisation, which the engine supplies) turns the converted model into the
    one written, with notes on what it changed."""
    import openvino  # imported here: it is large, and only this export needs it

    network, xml_path = _network(model), Path(output)
    try:
        with _quiet_tracer(), torch.no_grad():
            converted = openvino.convert_model(
                network, example_input=trace_input(model), input=openvino.PartialShape([-1, 3, -1, -1]),
            )
    except Exception as error:  # noqa: BLE001 (the converter raises many types for what it cannot convert)
        raise CheckpointError(model.source, f"cannot be converted to OpenVINO: {type(error).__name__}: "
                              f"{_first_line(error)}") from error
    unfuse_attention(converted)
    converted.input(0).get_tensor().set_names({INPUT_NAME})
    converted.output(0).get_tensor().set_names({OUTPUT_NAME})
    notes = traced_graph_notes(model, "openvino")
    if transform is not None:
        converted, added = transform(model, converted)
        notes += added
    bin_path = xml_path.with_suffix(".bin")
    xml_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=xml_path.parent, prefix=f".{xml_path.name}.") as folder:
        staged = Path(folder) / xml_path.name
        openvino.save_model(converted, staged, compress_to_fp16=False)
        for written in (staged.with_suffix(".bin"), staged):
            with open(written, "rb") as handle:
                os.fsync(handle.fileno())
        # the .bin first: the .xml is what readers open, and it is never there without its weights
        os.replace(staged.with_suffix(".bin"), bin_path)
        os.replace(staged, xml_path)
    return Export("openvino", (xml_path, bin_path), notes)


def unfuse_attention(converted: Any) -> None:
    """Replace every ScaledDotProductAttention node of an OpenVINO model by MatMul and Softmax on
    3-D tensors (the head axis, always 1 in srapp's networks, squeezed away).

    OpenVINO's CPU kernel for that node (2026.4, dynamic shapes) keeps what it set up for the
    first inference: when that one has a single key (a 1x1 region of SAN's non-local block, or
    one of up to 3x3 pooled), every later, larger input comes out wrong by orders of magnitude.
    The CPU plugin fuses a 4-D MatMul / Softmax pattern back into the node, hence 3-D.
    """
    import openvino.opset13 as ops

    head_axis = ops.constant(np.array([1], dtype=np.int64))
    for node in converted.get_ops():
        if node.get_type_name() != "ScaledDotProductAttention":
            continue
        if node.get_attributes().get("causal") or any(
            node.input_value(i).get_partial_shape()[1] != 1 for i in range(3)
        ):
            raise CheckpointError(None, f"unexpected attention node for OpenVINO: {node.get_friendly_name()}")
        query, key, value = (ops.squeeze(node.input_value(i), head_axis) for i in range(3))
        logits = ops.matmul(query, key, False, True)
        if node.get_input_size() > 4:  # scale
            logits = ops.multiply(logits, node.input_value(4))
        if node.get_input_size() > 3:  # additive mask (the converter passes 0)
            logits = ops.add(logits, node.input_value(3))
        attended = ops.matmul(ops.softmax(logits, -1), value, False, False)
        node.output(0).replace(ops.unsqueeze(attended, head_axis).output(0))
    converted.validate_nodes_and_infer_types()


def official_state_dict(model: LoadedModel) -> dict[str, torch.Tensor]:
    """The network's weights in its architecture's official release layout."""
    layout = OFFICIAL_LAYOUTS[model.arch]
    state = {key: value.detach().cpu().float().contiguous() for key, value in model.network.state_dict().items()}
    try:
        return layout.from_srapp(state, model.config)
    except CheckpointError as error:
        raise error.about(model.source) from error


def export_official(model: LoadedModel, output: str | os.PathLike) -> Export:
    """Write the weights as a plain state dict in the official layout (a ``torch.save`` file)."""
    state, output = official_state_dict(model), Path(output)
    with atomic_write(output) as handle:
        torch.save(state, handle)
    return Export("official", (output,), OFFICIAL_LAYOUTS[model.arch].writer.differences(model.config))


def safetensors_contents(contents: Mapping[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors and metadata of the safetensors file holding an srapp checkpoint."""
    tensors = {key: value.contiguous() for key, value in contents["params"].items()}
    tensors.update(contents.get("int8_params", {}))
    tensors.update({INT8_SCALES_PREFIX + key: scale for key, scale in contents.get("int8_scales", {}).items()})
    metadata = {"format": CHECKPOINT_FORMAT, "arch": contents["arch"], "config": json.dumps(contents["config"])}
    return tensors, metadata


def export_safetensors(model: LoadedModel, output: str | os.PathLike, dtype: torch.dtype | None = None) -> Export:
    """Write the weights under srapp's names with the configuration in the metadata; ``dtype`` as
    in :func:`srapp.save_checkpoint` (None: float32; float16; int8 with per-channel scales)."""
    tensors, metadata = safetensors_contents(srapp_contents(_network(model), dtype))
    output = Path(output)
    with atomic_write(output) as handle:
        handle.write(safetensors.torch.save(tensors, metadata))
    return Export("safetensors", (output,))


def stored_dtype(checkpoint: Mapping[str, Any]) -> torch.dtype | None:
    """How an srapp checkpoint stores its weights (int8, float16, ...); None: float32, or another layout."""
    if not is_srapp_checkpoint(checkpoint):
        return None
    if checkpoint.get("int8_params"):
        return torch.int8
    dtypes = {value.dtype for value in checkpoint["params"].values() if value.is_floating_point()}
    return dtypes.pop() if len(dtypes) == 1 and torch.float32 not in dtypes else None


def export_model(
    source: str | os.PathLike, output: str | os.PathLike, format: str | None = None,
    storage: str = "fp32", opset: int = ONNX_OPSET,
    openvino_transform: OpenVINOTransform | None = None,
) -> Export:
    """Export a shipped model or checkpoint file to ``output`` in ``format`` (by default the one
    its suffix names, :func:`export_format`). ``storage`` picks the safetensors weights
    (:data:`STORAGES`); ``opset`` the ONNX opset; ``openvino_transform`` the ``transform`` of
    :func:`export_openvino` (refused for other formats)."""
    format = export_format(output, format)
    if openvino_transform is not None and format != "openvino":
        raise UsageError(f"{output}: int8 is for the openvino format, not {format}")
    if storage not in STORAGES:
        raise UsageError(f"unknown storage {storage!r}; choices: {', '.join(STORAGES)}")
    path = model_file(source)
    targets = [Path(output)] + ([Path(output).with_suffix(".bin")] if format == "openvino" else [])
    if any(target.resolve() == path.resolve() for target in targets):
        raise UsageError(f"{output}: would overwrite the model being exported")
    checkpoint = read_checkpoint(path)
    model = model_from_state(checkpoint, str(path))
    if format == "onnx":
        return export_onnx(model, output, opset)
    if format == "openvino":
        return export_openvino(model, output, openvino_transform)
    if format == "official":
        return export_official(model, output)
    dtype = stored_dtype(checkpoint) if storage == "stored" else STORAGES[storage]
    return export_safetensors(model, output, dtype)


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [""])[0]


__all__ = [
    "EXPORT_FORMATS", "Export", "STORAGES", "export_format", "export_model", "export_official", "export_onnx",
    "export_openvino", "export_safetensors", "official_state_dict", "stored_dtype",
]
