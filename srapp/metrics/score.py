"""Score an upscaled image against its ground truth the way SR papers do."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .fidelity import psnr, ssim
from .lpips import MIN_SIZE, lpips


@dataclass(frozen=True)
class Scores:
    psnr: float
    ssim: float
    lpips: float | None  # None when not asked for, or the image is under LPIPS's minimum size


def _colour_planes(image: np.ndarray) -> np.ndarray:
    """HW (gray) or HW3 (RGB): a trailing single channel is squeezed and alpha dropped."""
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    if image.ndim == 3 and image.shape[2] == 4:
        return image[:, :, :3]
    return image


def score(
    image: np.ndarray,
    reference: np.ndarray,
    crop_border: int,
    *,
    with_lpips: bool = True,
    device: str | torch.device = "cpu",
) -> Scores:
    """PSNR and SSIM on MATLAB's Y channel with ``crop_border`` pixels dropped, LPIPS on RGB.

    Alpha is ignored; a grayscale image scored against an RGB one is compared as three equal
    channels. Raises ``ValueError`` naming both sizes when they differ.
    """
    a, b = _colour_planes(image), _colour_planes(reference)
    if a.shape[:2] != b.shape[:2]:
        raise ValueError(
            f"ground truth is {b.shape[1]}x{b.shape[0]} but the image is {a.shape[1]}x{a.shape[0]}"
        )
    if a.ndim != b.ndim:
        a, b = (np.repeat(x[:, :, None], 3, axis=2) if x.ndim == 2 else x for x in (a, b))
    distance = None
    if with_lpips and min(a.shape[:2]) >= MIN_SIZE:
        distance = lpips(a, b, device=device)
    return Scores(
        psnr=psnr(a, b, crop_border=crop_border, y_channel=True),
        ssim=ssim(a, b, crop_border=crop_border, y_channel=True),
        lpips=distance,
    )
