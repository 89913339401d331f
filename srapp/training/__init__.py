"""Training srapp's networks with BasicSR: data preparation, option checks, train / test runs.

Importing this package registers, in BasicSR's registries, everything srapp's option files use:
the networks ``SrappRCAN`` / ``SrappSAN`` (already registered by :mod:`srapp.archs`), the metric
``calculate_lpips``, the dataset ``SrappBicubicPairedDataset`` and the model ``SrappSRModel``.
"""

from .. import _compat  # noqa: F401  (before basicsr)
from ..archs import register_with_basicsr as _register_archs
from .datasets import SrappBicubicPairedDataset, register_bicubic_dataset
from .metrics import calculate_lpips, register_lpips_metric
from .model import SrappSRModel, register_srapp_model


def register_with_basicsr() -> None:
    """Register srapp's networks, metric, dataset and model with BasicSR (idempotent)."""
    _register_archs()
    register_lpips_metric()
    register_bicubic_dataset()
    register_srapp_model()


register_with_basicsr()

from .options import OptionsError, validate_options  # noqa: E402
from .prepare import PreparationReport, prepare_data  # noqa: E402
from .resume import latest_training_state, load_training_state  # noqa: E402
from .train import evaluate, train  # noqa: E402

__all__ = [
    "OptionsError", "PreparationReport", "SrappBicubicPairedDataset", "SrappSRModel", "calculate_lpips", "evaluate",
    "latest_training_state", "load_training_state", "prepare_data", "register_with_basicsr", "train",
    "validate_options",
]
