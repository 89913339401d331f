"""srapp: super-resolution with RCAN and SAN built from a channel-attention library.

Importing srapp registers its networks with BasicSR (as ``SrappRCAN`` and ``SrappSAN``).
"""

from . import _compat  # noqa: F401  (first: prepares torchvision for basicsr)
from .archs import RCAN, SAN
from .checkpoints import CheckpointError, load_model, save_checkpoint, shipped_models
from .engine.upscale import Upscaler, upscale

__version__ = "0.1.0"

__all__ = ["RCAN", "SAN", "CheckpointError", "Upscaler", "load_model", "save_checkpoint", "shipped_models", "upscale"]
