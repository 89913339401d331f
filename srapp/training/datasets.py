"""A validation / test dataset that makes its LR images from the HR ones, as the benchmarks do.

BasicSR's ``PairedImageDataset`` wants an LR folder next to the HR one. The benchmark protocol
(mod-crop the HR image to a multiple of the scale, then MATLAB ``imresize(hr, 1/s, 'bicubic')``)
is deterministic, so instead of preparing and keeping LR copies of Set5 / Set14 / BSD100 for every
scale, this dataset reads the HR folder (``${SRAPP_DATA}/datasets/Set5`` as it is) and derives the LR
image with srapp's MATLAB-compatible :func:`srapp.engine.resize.imresize`. Results are cached: a
validation dataloader runs in the training process (BasicSR uses no workers for it), so every
image is resized once per run, not once per validation.

Option keys (``datasets: val: ...``)::

    type: SrappBicubicPairedDataset
    name: Set5
    dataroot_gt: ${SRAPP_DATA}/datasets/Set5
    io_backend: {type: disk}      # optional; folders on disk only

Only the ``val`` and ``test`` phases are supported: training pairs come from ``srapp prepare-data``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils import data

from .. import _compat  # noqa: F401  (before basicsr)
from ..engine.image_io import READABLE_SUFFIXES, read_image
from ..engine.resize import imresize

DATASET_NAME = "SrappBicubicPairedDataset"


def mod_crop(image: np.ndarray, scale: int) -> np.ndarray:
    """The top-left part whose height and width are multiples of ``scale``."""
    height, width = image.shape[0] - image.shape[0] % scale, image.shape[1] - image.shape[1] % scale
    return image[:height, :width]


def _as_rgb(image: np.ndarray) -> np.ndarray:
    """Three channels, as the networks take: gray replicated, alpha dropped."""
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    return image[:, :, :3]


def _to_tensor(image: np.ndarray) -> torch.Tensor:
    """HWC uint8 / uint16 RGB -> CHW float32 in [0, 1]."""
    peak = float(np.iinfo(image.dtype).max)
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float() / peak


class SrappBicubicPairedDataset(data.Dataset):
    """HR images of a folder paired with their MATLAB-bicubic LR versions (made on first use)."""

    def __init__(self, opt: dict[str, Any]) -> None:
        super().__init__()
        self.opt = opt
        if opt.get("phase") == "train":
            raise ValueError(
                f"{DATASET_NAME} serves validation and test sets only; prepare training pairs with "
                "`srapp prepare-data` and read them with PairedImageDataset"
            )
        backend = (opt.get("io_backend") or {}).get("type", "disk")
        if backend != "disk":
            raise ValueError(f"{DATASET_NAME} reads image folders (io_backend type disk), not {backend!r}")
        self.scale = int(opt["scale"])
        folder = Path(opt["dataroot_gt"])
        self.paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in READABLE_SUFFIXES)
        if not self.paths:
            raise ValueError(f"{DATASET_NAME}: no images in {folder}")
        self._cache: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if index not in self._cache:
            hr = mod_crop(_as_rgb(read_image(self.paths[index])), self.scale)
            lr = imresize(hr, 1.0 / self.scale)
            self._cache[index] = (_to_tensor(lr), _to_tensor(hr))
        lq, gt = self._cache[index]
        path = str(self.paths[index])
        # BasicSR names validation results after lq_path; both point at the HR file.
        return {"lq": lq, "gt": gt, "lq_path": path, "gt_path": path}
