"""Checkpoints: the layouts srapp reads (srapp, BasicSR, official RCAN and SAN), srapp's own file
format (float32 / float16 / int8), the registry of shipped weights, and ``load_model``."""

from ..errors import CheckpointError
from .layouts import LAYOUTS, Layout, detect_layout
from .loader import LoadedModel, describe, load_model, model_from_state, read_checkpoint
from .srapp_format import (
    CHECKPOINT_FORMAT, dequantize_int8, is_srapp_checkpoint, quantize_int8, save_checkpoint, srapp_params,
)
from .weights import WEIGHTS_DIR, metric_weights_path, model_file, shipped_models, shipped_weights

__all__ = [
    "CHECKPOINT_FORMAT", "LAYOUTS", "WEIGHTS_DIR", "CheckpointError", "Layout", "LoadedModel", "dequantize_int8",
    "describe", "detect_layout", "is_srapp_checkpoint", "load_model", "metric_weights_path", "model_file",
    "model_from_state", "quantize_int8", "read_checkpoint", "save_checkpoint", "shipped_models", "shipped_weights",
    "srapp_params",
]
