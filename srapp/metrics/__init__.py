"""Image quality metrics on HWC RGB numpy arrays: PSNR, SSIM (MATLAB conventions) and LPIPS."""

from .fidelity import psnr, rgb_to_y, ssim

__all__ = ["psnr", "rgb_to_y", "ssim"]
