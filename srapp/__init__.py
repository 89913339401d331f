"""srapp: super-resolution with RCAN and SAN built from a channel-attention library.

``import srapp`` needs only PyTorch; BasicSR is loaded by :mod:`srapp.training` and
:mod:`srapp.degradations` alone.
"""

from .archs import RCAN, SAN
from .checkpoints import LoadedModel, load_model, save_checkpoint, shipped_models
from .engine.settings import UpscaleSettings
from .engine.upscale import Upscaler, upscale
from .errors import CheckpointError, ImageError, UsageError

__version__ = "0.1.0"

__all__ = [
    "RCAN", "SAN", "CheckpointError", "ImageError", "LoadedModel", "UpscaleSettings", "Upscaler", "UsageError",
    "load_model", "save_checkpoint", "shipped_models", "upscale",
]
