"""Image quality metrics on HWC RGB numpy arrays: PSNR, SSIM (MATLAB conventions), LPIPS and the
no-reference NIQE."""

from .fidelity import psnr, rgb_to_y, ssim
from .lpips import lpips, lpips_model, lpips_tensor
from .niqe import niqe
from .score import Scores, score

__all__ = ["Scores", "lpips", "lpips_model", "lpips_tensor", "niqe", "psnr", "rgb_to_y", "score", "ssim"]
