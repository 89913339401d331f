"""``SrappDegradedDataset``: (degraded LR, HR) pairs made on the fly, for photo models.

Training (``phase: train``): each item is a random ``gt_size`` crop of an HR image of
``dataroot_gt`` (flipped and rotated when ``use_hflip`` / ``use_rot``), reduced by a degradation drawn
from a training recipe of :mod:`srapp.degradations` (``degradation: photo`` or ``real_esrgan``;
``clean_fraction`` overrides the recipe's share of clean MATLAB-bicubic pairs). The draws come from
NumPy's global generator, which BasicSR seeds per data-loader worker from ``manual_seed``. With a
recipe's ``sharpen_target`` the target, and the image the degradation starts from, is the HR crop
sharpened by BasicSR's ``usm_sharp`` (Real-ESRNet's ``gt_usm``).

Validation and test (``phase: val``): every HR image of ``dataroot_gt``, mod-cropped, with its LR
made at the fixed evaluation ``level`` (``light``, ``medium``, ``heavy``) and the image's own seed
(:func:`srapp.degradations.image_seed`): the pairs ``srapp benchmark --degradation LEVEL`` scores.

Option keys (``datasets: train: ...``)::

    type: SrappDegradedDataset
    dataroot_gt: datasets/291_sub/HR_sub
    degradation: photo        # train: a recipe of srapp.degradations.RECIPES
    clean_fraction: 0.25      # train, optional: overrides the recipe's
    gt_size: 192              # train: HR crop side, a multiple of the scale
    use_hflip: true
    use_rot: true
    level: medium             # val / test: an evaluation level of srapp.degradations.LEVELS
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils import data

from .. import _compat  # noqa: F401  (before basicsr)
from ..degradations import LEVELS, RECIPES, apply_numpy, evaluation_pair
from ..io.files import list_images
from ..io.image_io import read_image
from ..pixels import to_rgb8, to_tensor

DATASET_NAME = "SrappDegradedDataset"


def _dihedral(image: np.ndarray, hflip: bool, vflip: bool, transpose: bool) -> np.ndarray:
    if hflip:
        image = image[:, ::-1]
    if vflip:
        image = image[::-1]
    if transpose:
        image = image.transpose(1, 0, 2)
    return image


class SrappDegradedDataset(data.Dataset):
    """HR images paired with degraded LR versions: random crops and draws for training, fixed
    evaluation levels for validation (see the module docstring)."""

    def __init__(self, opt: dict[str, Any]) -> None:
        super().__init__()
        self.opt = opt
        self.scale = int(opt["scale"])
        self.train = opt.get("phase") == "train"
        backend = (opt.get("io_backend") or {}).get("type", "disk")
        if backend != "disk":
            raise ValueError(f"{DATASET_NAME} reads image folders (io_backend type disk), not {backend!r}")
        folder = Path(opt["dataroot_gt"])
        self.paths = list_images(folder)
        if not self.paths:
            raise ValueError(f"{DATASET_NAME}: no images in {folder}")
        if self.train:
            recipe = opt.get("degradation", "photo")
            if recipe not in RECIPES:
                raise ValueError(f"{DATASET_NAME}: unknown degradation {recipe!r}; choose one of {', '.join(RECIPES)}")
            self.config = RECIPES[recipe]
            if opt.get("clean_fraction") is not None:
                self.config = dataclasses.replace(self.config, clean_fraction=float(opt["clean_fraction"]))
            self.gt_size = int(opt["gt_size"])
            if self.gt_size % self.scale:
                raise ValueError(f"{DATASET_NAME}: gt_size {self.gt_size} is not a multiple of the scale {self.scale}")
        else:
            self.level = opt.get("level", "medium")
            if self.level not in LEVELS:
                raise ValueError(f"{DATASET_NAME}: unknown level {self.level!r}; choose one of {', '.join(LEVELS)}")
            self._cache: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict[str, Any]:
        path = str(self.paths[index])
        lq, gt = self._training_pair(index) if self.train else self._evaluation_pair(index)
        return {"lq": lq, "gt": gt, "lq_path": path, "gt_path": path}

    def _training_pair(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        # BasicSR seeds NumPy's global generator in each worker; one draw seeds this item's own.
        rng = np.random.default_rng(np.random.randint(2**31))
        hr = to_rgb8(read_image(self.paths[index]))
        height, width = hr.shape[:2]
        if min(height, width) < self.gt_size:
            raise ValueError(f"{self.paths[index]}: {width}x{height} is smaller than gt_size {self.gt_size}")
        top, left = int(rng.integers(height - self.gt_size + 1)), int(rng.integers(width - self.gt_size + 1))
        hr = hr[top:top + self.gt_size, left:left + self.gt_size]
        hr = _dihedral(hr, bool(self.opt.get("use_hflip")) and rng.random() < 0.5,
                       bool(self.opt.get("use_rot")) and rng.random() < 0.5,
                       bool(self.opt.get("use_rot")) and rng.random() < 0.5)
        target = hr.astype(np.float32) / np.float32(255.0)
        if self.config.sharpen_target:
            from basicsr.utils.img_process_util import usm_sharp

            target = np.clip(usm_sharp(target), 0.0, 1.0).astype(np.float32)
        lr = apply_numpy(target, self.config.sample(rng), self.scale)
        return to_tensor(lr), to_tensor(target)

    def _evaluation_pair(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if index not in self._cache:
            path = self.paths[index]
            hr, lr = evaluation_pair(read_image(path), self.scale, self.level, path.name)
            self._cache[index] = (to_tensor(lr), to_tensor(hr))
        return self._cache[index]
