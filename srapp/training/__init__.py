"""Training srapp's networks with BasicSR: data preparation, option checks, train / test runs.

This package is the only door to BasicSR. Importing it registers, once, everything srapp's option
files use (:mod:`srapp.training.registration`): the networks ``SrappRCAN`` / ``SrappSAN``, the
metric ``calculate_lpips``, the datasets ``SrappBicubicPairedDataset``, ``SrappDegradedDataset`` and
``SrappResidentPairedDataset`` and the model ``SrappSRModel`` with its wall-clock scheduler.
"""

from .registration import register_with_basicsr

register_with_basicsr()

from .datasets import SrappBicubicPairedDataset  # noqa: E402
from .metrics import calculate_lpips  # noqa: E402
from .sr_model import SrappSRModel  # noqa: E402
from .option_files import OptionsError, validate_options  # noqa: E402
from .prepare import PreparationReport, prepare_data  # noqa: E402
from .resident_pairs import SrappResidentPairedDataset  # noqa: E402
from .resume import latest_training_state, load_training_state  # noqa: E402
from .time_budget import CosineAnnealingTimeLR  # noqa: E402
from .train import evaluate, train  # noqa: E402

__all__ = [
    "CosineAnnealingTimeLR", "OptionsError", "PreparationReport", "SrappBicubicPairedDataset",
    "SrappResidentPairedDataset", "SrappSRModel", "calculate_lpips", "evaluate",
    "latest_training_state", "load_training_state", "prepare_data", "register_with_basicsr", "train",
    "validate_options",
]
