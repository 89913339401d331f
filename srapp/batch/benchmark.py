"""The standard SR evaluation protocol over a folder of HR images, and its real-photo variant.

For each HR image: crop it to a multiple of the scale ("mod-crop"), make the LR input with
MATLAB-compatible bicubic downsampling, upscale, and score against the cropped HR: PSNR and SSIM
on MATLAB's Y channel with ``scale`` border pixels dropped, LPIPS on RGB; optionally the result's
no-reference NIQE on the same crop.

With ``degradation`` (``light``, ``medium``, ``heavy``: :data:`srapp.degradations.LEVELS`) the LR
input is the HR image (as 8-bit RGB) degraded at that fixed level with the image's own seed
(:func:`srapp.degradations.image_seed`, from its file name): blur, resampling, noise and JPEG,
the same bytes on every run; the scores are taken against that RGB HR image.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import numpy as np

from tqdm import tqdm

from ..data import dataset_path
from ..io.files import list_images
from ..io.image_io import READABLE_SUFFIXES, read_image
from ..errors import ImageError, UsageError
from ..engine.resize import imresize
from ..engine.model_catalog import ModelInput
from ..engine.upscale import Upscaler
from ..metrics import niqe, score
from ..pixels import mod_crop
from .report import ImageRecord, Report


def benchmark(
    upscaler: Upscaler,
    dataset: str | os.PathLike,
    *,
    with_lpips: bool = True,
    with_niqe: bool = False,
    show_progress: bool = False,
    degradation: str | None = None,
) -> Report:
    """Score ``upscaler`` on every image of ``dataset``: an HR folder, or the name of a dataset of
    the data folder (``"Set5"``, see :func:`srapp.data.dataset_path`); ``degradation``: an
    evaluation level instead of clean bicubic reduction (see the module docstring)."""
    if upscaler.outscale is not None:
        raise UsageError("the benchmark protocol runs at the model's own scale; drop outscale")
    reduce = _reduction(degradation)
    dataset = dataset_path(dataset)
    if not dataset.is_dir():
        raise UsageError(f"{dataset}: not a folder")
    scale = upscaler.scale
    report = Report(str(upscaler.name), scale)
    images = list_images(dataset)
    if not images:
        raise UsageError(f"{dataset}: no images (readable: {', '.join(READABLE_SUFFIXES)})")
    for path in tqdm(images, desc=dataset.name, unit="img", disable=not show_progress, dynamic_ncols=True):
        record = ImageRecord(input=str(path))
        started = time.perf_counter()
        try:
            hr = mod_crop(read_image(path), scale)
            if min(hr.shape[:2]) < scale:
                raise ImageError(path, f"smaller than the scale x{scale}")
            hr, lr = reduce(hr, scale, path.name)
            result = upscaler(lr)
            record.height, record.width = result.shape[:2]
            scores = score(result, hr, scale, with_lpips=with_lpips, device=upscaler.device)
            record.psnr, record.ssim, record.lpips = scores.psnr, scores.ssim, scores.lpips
            if with_niqe:
                record.niqe = niqe(result, scale)
        except (ImageError, ValueError) as error:
            record.error = str(error)
        record.seconds = round(time.perf_counter() - started, 4)
        report.images.append(record)
    return report


Reduction = Callable[[np.ndarray, int, str], tuple[np.ndarray, np.ndarray]]


def _bicubic(hr: np.ndarray, scale: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    return hr, imresize(hr, scale=1 / scale)


def _reduction(degradation: str | None) -> Reduction:
    """``(hr, scale, file name) -> (reference, LR)`` of the protocol: bicubic, or a degradation level."""
    if degradation is None:
        return _bicubic
    from ..degradations import LEVELS, evaluation_pair  # BasicSR's kernels: only when asked for

    if degradation not in LEVELS:
        raise UsageError(f"unknown degradation level {degradation!r}; choose one of {', '.join(LEVELS)}")
    return lambda hr, scale, name: evaluation_pair(hr, scale, degradation, name)


def mean_psnr(model: ModelInput, dataset: str | os.PathLike, device: str = "cpu",
              degradation: str | None = None) -> float:
    """The figure a trained model is judged by: mean Y-PSNR of :func:`benchmark` (at
    ``degradation``'s level, else clean bicubic) in fp32 on the PyTorch backend, over every image of
    ``dataset`` (a UsageError if any of them fails: a mean over fewer images would not compare)."""
    report = benchmark(Upscaler(model, precision="fp32", backend="torch", device=device), dataset, with_lpips=False,
                       degradation=degradation)
    if report.failed:
        raise UsageError(f"{dataset}: {report.failed} of {len(report.images)} images failed, so no mean PSNR")
    return float(report.mean()["psnr"])
