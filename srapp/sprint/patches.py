"""Training pairs kept on the device, and random aligned patches cut from them.

Every HR image is mod-cropped to the scale and its LR image made once, with the benchmark's
MATLAB-compatible bicubic (:func:`srapp.engine.resize.imresize` of the whole image), so a patch is
exactly a window of what the benchmark feeds the network. Both stay on the device as uint8
(the 291 training images take about 0.2 GB), and a batch is cut there: no data loader, no copies
from the host while training. Images are drawn in proportion to the patch positions they offer, a
position uniformly, and each patch gets one of the 8 flips / quarter turns (BasicSR's
``use_hflip`` + ``use_rot``), the same for its LR and HR windows.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from ..engine.image_files import list_images
from ..engine.image_io import read_image
from ..engine.resize import imresize
from ..errors import ImageError, UsageError
from ..pixels import mod_crop, to_rgb8


def _pair(path: Path, scale: int) -> tuple[np.ndarray, np.ndarray]:
    hr = mod_crop(to_rgb8(read_image(path)), scale)
    return hr, imresize(hr, scale=1 / scale)


def load_pairs(folders: list[Path], scale: int, min_lr_side: int) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[str]]:
    """(HR, LR) uint8 RGB pairs of every image in ``folders``, and what was skipped and why (images
    whose LR side is under ``min_lr_side``, unreadable images)."""
    paths = []
    for folder in folders:
        if not folder.is_dir():
            raise UsageError(f"{folder}: no such folder of training images")
        paths += list_images(folder)
    if not paths:
        raise UsageError(f"no training images in {', '.join(map(str, folders))}")
    pairs, skipped = [], []
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        futures = [(path, pool.submit(_pair, path, scale)) for path in paths]
        for path, future in futures:
            try:
                hr, lr = future.result()
            except (ImageError, ValueError) as error:
                skipped.append(f"{path}: {error}")
                continue
            if min(lr.shape[:2]) < min_lr_side:
                skipped.append(f"{path}: LR {lr.shape[1]}x{lr.shape[0]} is smaller than a {min_lr_side}-pixel patch")
                continue
            pairs.append((hr, lr))
    if not pairs:
        raise UsageError(f"no training image offers a {min_lr_side}-pixel LR patch: " + "; ".join(skipped[:3]))
    return pairs, skipped


class PatchSampler:
    """Random aligned (LR, HR) patches of resident training pairs, as float [0, 1] NCHW batches."""

    def __init__(self, pairs: list[tuple[np.ndarray, np.ndarray]], scale: int, patch: int,
                 device: torch.device, seed: int = 0) -> None:
        self.scale, self.patch, self.device = scale, patch, device
        self.hr = [torch.from_numpy(hr).permute(2, 0, 1).contiguous().to(device) for hr, _ in pairs]
        self.lr = [torch.from_numpy(lr).permute(2, 0, 1).contiguous().to(device) for _, lr in pairs]
        positions = torch.tensor([(lr.shape[1] - patch + 1) * (lr.shape[2] - patch + 1) for lr in self.lr],
                                 dtype=torch.float64)
        self.weights = positions / positions.sum()
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.lr)

    def sample(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        images = torch.multinomial(self.weights, batch, replacement=True, generator=self.generator).tolist()
        corners = torch.rand(batch, 2, generator=self.generator, dtype=torch.float64)
        transforms = torch.randint(0, 8, (batch,), generator=self.generator).tolist()
        p, s = self.patch, self.scale
        lq, gt = [], []
        for image, (fy, fx), transform in zip(images, corners.tolist(), transforms):
            lr, hr = self.lr[image], self.hr[image]
            y, x = int(fy * (lr.shape[1] - p + 1)), int(fx * (lr.shape[2] - p + 1))
            lq.append(dihedral(lr[:, y:y + p, x:x + p], transform))
            gt.append(dihedral(hr[:, y * s:(y + p) * s, x * s:(x + p) * s], transform))
        return torch.stack(lq).float().div_(255), torch.stack(gt).float().div_(255)


def dihedral(image: torch.Tensor, transform: int) -> torch.Tensor:
    """One of the 8 symmetries of the square on a CHW image: ``transform % 4`` quarter turns, then a
    horizontal flip when ``transform >= 4``."""
    turned = torch.rot90(image, transform % 4, dims=(1, 2))
    return turned.flip(2) if transform >= 4 else turned
