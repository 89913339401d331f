"""Real-ESRGAN-style second-order degradations (Wang et al., ICCVW 2021), on a CPU and on GPU batches.

The shipped models learned one reduction, MATLAB's bicubic; real photos also carry blur, noise,
resampling and JPEG. This package holds one definition of that degradation:

* :class:`DegradationConfig` (:mod:`.distribution`): the distribution, with Real-ESRGAN's published
  ranges as defaults (:data:`REAL_ESRGAN`), a share of clean bicubic pairs (``clean_fraction``) and
  the choice of USM-sharpened targets (``sharpen_target``, applied by the dataset);
  ``config.sample(rng)`` draws one :data:`Plan` from a seeded NumPy generator.
* :func:`apply_numpy` (:mod:`.numpy_executor`): a plan applied to one ``H x W x 3`` float image with
  NumPy and OpenCV, for data-loader workers and evaluation.
* :func:`apply_torch` (:mod:`.torch_executor`): plans applied to an ``N x 3 x H x W`` batch on any
  device, as Real-ESRNet degrades its training batches on the GPU.
* :data:`LEVELS` and :func:`degrade` (:mod:`.levels`): the fixed evaluation levels ``light``,
  ``medium`` and ``heavy``, byte-stable per seed. docs/DEGRADATIONS.md describes them.

Importing this package imports BasicSR (its kernel builders and DiffJPEG); ``import srapp`` does not.
"""

from .distribution import PHOTO, REAL_ESRGAN, RECIPES, DegradationConfig, StageConfig
from .kernels import Kernel
from .levels import LEVELS, degrade, evaluation_pair, image_seed
from .numpy_executor import apply_numpy
from .plan import Clean, Degradation, Final, Noise, Plan, Resize, Stage
from .torch_executor import apply_torch

__all__ = [
    "LEVELS", "PHOTO", "REAL_ESRGAN", "RECIPES", "Clean", "Degradation", "DegradationConfig", "Final", "Kernel", "Noise", "Plan",
    "Resize", "Stage", "StageConfig", "apply_numpy", "apply_torch", "degrade",
    "evaluation_pair", "image_seed",
]
