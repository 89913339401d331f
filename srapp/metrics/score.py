"""Score an upscaled image against its ground truth the way SR papers do."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..pixels import split_planes, to_rgb
from .fidelity import psnr, ssim
from .lpips import MIN_SIZE, lpips


@dataclass(frozen=True)
class Scores:
    psnr: float
    ssim: float
    lpips: float | None  # None when not asked for, or the image is under LPIPS's minimum size


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
    channels. Raises ``ValueError`` naming both sizes when they differ. The metrics run in strips
    (PSNR, SSIM) and tiles (LPIPS), so the memory they take does not grow with the image.
    """
    a, b = split_planes(image).colour, split_planes(reference).colour
    if a.shape[:2] != b.shape[:2]:
        raise ValueError(
            f"ground truth is {b.shape[1]}x{b.shape[0]} but the image is {a.shape[1]}x{a.shape[0]}"
        )
    if a.ndim != b.ndim:
        a, b = to_rgb(a), to_rgb(b)
    distance = None
    if with_lpips and min(a.shape[:2]) >= MIN_SIZE:
        distance = lpips(a, b, device=device)
    return Scores(
        psnr=psnr(a, b, crop_border=crop_border, y_channel=True),
        ssim=ssim(a, b, crop_border=crop_border, y_channel=True),
        lpips=distance,
    )
