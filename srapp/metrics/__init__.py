"""Image quality metrics on HWC RGB numpy arrays: PSNR, SSIM (MATLAB conventions) and LPIPS."""

from .fidelity import psnr, rgb_to_y, ssim
from .lpips import lpips, lpips_model, lpips_tensor
from .score import Scores, score

__all__ = ["Scores", "lpips", "lpips_model", "lpips_tensor", "psnr", "rgb_to_y", "score", "ssim"]
