"""Image quality metrics on HWC RGB numpy arrays: PSNR, SSIM (MATLAB conventions) and LPIPS."""

from .fidelity import psnr, rgb_to_y, ssim
from .lpips import lpips, lpips_model, lpips_tensor

__all__ = ["lpips", "lpips_model", "lpips_tensor", "psnr", "rgb_to_y", "ssim"]
