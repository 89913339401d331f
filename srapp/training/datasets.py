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

import torch
from torch.utils import data

from .. import _compat  # noqa: F401  (before basicsr)
from ..io.files import list_images
from ..io.image_io import read_image
from ..engine.resize import imresize
from ..pixels import mod_crop, to_rgb, to_tensor

DATASET_NAME = "SrappBicubicPairedDataset"


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
        self.paths = list_images(folder)
        if not self.paths:
            raise ValueError(f"{DATASET_NAME}: no images in {folder}")
        self._cache: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if index not in self._cache:
            hr = mod_crop(to_rgb(read_image(self.paths[index])), self.scale)
            lr = imresize(hr, 1.0 / self.scale)
            self._cache[index] = (to_tensor(lr), to_tensor(hr))
        lq, gt = self._cache[index]
        path = str(self.paths[index])
        # BasicSR names validation results after lq_path; both point at the HR file.
        return {"lq": lq, "gt": gt, "lq_path": path, "gt_path": path}
