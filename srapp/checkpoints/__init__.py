"""Checkpoints: the model descriptor (:class:`LoadedModel`), the layouts srapp reads (srapp,
BasicSR, official RCAN and SAN, and through spandrel the community's architectures), srapp's own file
format (float32 / float16 / int8, as PyTorch or safetensors files), the registry of shipped weights,
``load_model``, and the exports other tools load (ONNX, OpenVINO IR, official layouts, safetensors)."""

from ..errors import CheckpointError
from .exports import (
    EXPORT_FORMATS, STORAGES, Export, export_format, export_model, export_official, export_onnx, export_openvino,
    export_safetensors, official_state_dict,
)
from .descriptor import SizeRequirements
from .layouts import LAYOUTS, OFFICIAL_LAYOUTS, Layout, detect_layout
from .loader import LoadedModel, describe, load_model, model_from_state, read_checkpoint, srapp_descriptor
from .srapp_format import (
    CHECKPOINT_FORMAT, dequantize_int8, is_srapp_checkpoint, quantize_int8, save_checkpoint, srapp_params,
)
from .weights import (
    WEIGHTS_DIR, metric_weights_path, model_file, shipped_models, shipped_weights, trained_for,
)

__all__ = [
    "CHECKPOINT_FORMAT", "EXPORT_FORMATS", "LAYOUTS", "OFFICIAL_LAYOUTS", "STORAGES", "WEIGHTS_DIR", "CheckpointError",
    "Export", "Layout", "LoadedModel", "SizeRequirements", "dequantize_int8", "describe", "detect_layout", "export_format", "export_model",
    "export_official", "export_onnx", "export_openvino", "export_safetensors", "is_srapp_checkpoint", "load_model",
    "metric_weights_path", "model_file", "model_from_state", "official_state_dict", "quantize_int8",
    "read_checkpoint", "save_checkpoint", "shipped_models", "shipped_weights", "srapp_descriptor", "srapp_params",
    "trained_for",
]
