"""LPIPS as a BasicSR metric, so a validation block can report it next to PSNR and SSIM.

BasicSR calls a metric as ``METRIC_REGISTRY.get(type)(img=..., img2=..., **options)`` with the
images that ``tensor2img`` made: HWC uint8 in **BGR** order. srapp's :func:`srapp.metrics.lpips`
takes RGB, so the channels are swapped back here. Lower is better: give the metric
``better: lower`` in the YAML so BasicSR tracks the best value the right way round (the key
reaches this function too and is ignored).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .. import _compat  # noqa: F401  (before basicsr)
from ..metrics import lpips



def _default_device() -> str:
    """The current CUDA device when there is one: validation runs next to the training there."""
    return f"cuda:{torch.cuda.current_device()}" if torch.cuda.is_available() else "cpu"


def calculate_lpips(
    img: np.ndarray,
    img2: np.ndarray,
    crop_border: int = 0,
    input_order: str = "HWC",
    device: str | None = None,
    **_options: Any,
) -> float:
    """LPIPS (AlexNet, v0.1) between a BasicSR result ``img`` and its ground truth ``img2``.

    Both are BGR images as BasicSR's validation makes them (``input_order`` ``HWC`` or ``CHW``);
    ``crop_border`` pixels are dropped from every side first, as for BasicSR's PSNR.
    """
    from basicsr.metrics.metric_util import reorder_image

    if img.shape != img2.shape:
        raise ValueError(f"calculate_lpips: image shapes differ: {img.shape} vs {img2.shape}")
    img, img2 = reorder_image(img, input_order), reorder_image(img2, input_order)
    if crop_border:
        img = img[crop_border:-crop_border, crop_border:-crop_border]
        img2 = img2[crop_border:-crop_border, crop_border:-crop_border]
    if img.ndim == 3 and img.shape[2] == 3:  # BGR (tensor2img) -> RGB (srapp.metrics)
        img, img2 = img[..., ::-1], img2[..., ::-1]
    return lpips(np.ascontiguousarray(img), np.ascontiguousarray(img2), device=device or _default_device())
