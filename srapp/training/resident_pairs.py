"""``SrappResidentPairedDataset``: training pairs held in memory (on the GPU when there is one), cut
into random aligned patches there.

Every HR image of ``dataroot_gt`` (or of its ``subfolders``, as one set; lossless WebP folders that
``srapp pack-images`` writes read like PNG ones) is mod-cropped to the scale and its LR image made once with the
benchmark's MATLAB-compatible bicubic (:func:`srapp.engine.resize.imresize` of the whole image), so
a patch is exactly a window of what the benchmark feeds the network. Both stay on ``device`` as
uint8 stacks padded to the largest image, and a batch is one gather per resolution
(``__getitems__``, which PyTorch's data loader calls with a batch's indices): no image is read
from disk, no patch crosses from the host, while training.

Item ``i`` is a ``gt_size`` patch of image ``i % N`` (so BasicSR's sampler, its shuffling, epochs and
``dataset_enlarge_ratio`` apply as to its own datasets), at a uniformly drawn position, under one
of the symmetries ``use_hflip`` / ``use_rot`` allow (both: the 8 flips and quarter turns; only
``use_rot``: the 4 quarter turns; only ``use_hflip``: a horizontal flip or none), the same for its LR
and HR windows. Positions and symmetries come from PyTorch's global generator, which BasicSR seeds
from ``manual_seed``.

Option keys (``datasets: train: ...``)::

    type: SrappResidentPairedDataset
    dataroot_gt: ${SRAPP_DATA}/datasets
    subfolders: [T91, BSD200]  # optional: these folders of dataroot_gt instead of dataroot_gt itself
    gt_size: 192              # HR patch side, a multiple of the scale
    use_hflip: true
    use_rot: true
    device: auto              # where the pairs are kept: auto (the GPU when there is one), cpu, cuda[:N]
    num_worker_per_gpu: 0     # the pairs live in the training process: no loader workers
    batch_size_per_gpu: 16
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils import data

from ..engine.devices import resolve_device
from ..io.files import list_images
from ..io.image_io import read_image
from ..engine.resize import imresize
from ..errors import ImageError
from ..pixels import mod_crop, to_rgb8

DATASET_NAME = "SrappResidentPairedDataset"


def _pair(path: Path, scale: int) -> tuple[np.ndarray, np.ndarray]:
    hr = mod_crop(to_rgb8(read_image(path)), scale)
    return hr, imresize(hr, scale=1 / scale)


def dihedral(image: torch.Tensor, transform: int) -> torch.Tensor:
    """One of the 8 symmetries of the square on a CHW image: ``transform % 4`` quarter turns, then a
    horizontal flip when ``transform >= 4``."""
    turned = torch.rot90(image, transform % 4, dims=(1, 2))
    return turned.flip(2) if transform >= 4 else turned


def allowed_symmetries(hflip: bool, rotation: bool) -> torch.Tensor:
    """The :func:`dihedral` transforms BasicSR's ``use_hflip`` / ``use_rot`` allow."""
    if rotation:
        return torch.arange(8) if hflip else torch.arange(4)
    return torch.tensor([0, 4]) if hflip else torch.tensor([0])


@dataclass(frozen=True)
class Draws:
    """Which patches a batch holds: image index, LR top-left corner and symmetry of each."""
    images: torch.Tensor
    rows: torch.Tensor
    cols: torch.Tensor
    transforms: torch.Tensor


class SrappResidentPairedDataset(data.Dataset):
    """Random aligned (LR, HR) patches of resident training pairs (see the module docstring)."""

    def __init__(self, opt: dict[str, Any]) -> None:
        super().__init__()
        self.opt = opt
        if opt.get("phase", "train") != "train":
            raise ValueError(f"{DATASET_NAME} serves training patches; validate with SrappBicubicPairedDataset")
        self.scale = int(opt["scale"])
        gt_size = int(opt["gt_size"])
        if gt_size % self.scale:
            raise ValueError(f"{DATASET_NAME}: gt_size {gt_size} is not a multiple of the scale {self.scale}")
        self.patch = gt_size // self.scale
        self.device = resolve_device(opt.get("device", "auto"))
        root = Path(opt["dataroot_gt"])
        folders = [root / name for name in opt["subfolders"]] if opt.get("subfolders") else [root]
        pairs, self.skipped, self.paths = self._load(folders)
        self.lr, self.lr_sizes = _padded_stack([lr for _, lr in pairs], self.device)
        self.hr, _ = _padded_stack([hr for hr, _ in pairs], self.device)
        self.symmetries = allowed_symmetries(bool(opt.get("use_hflip")), bool(opt.get("use_rot")))
        self._lr_tables = _symmetry_tables(self.patch, self.device)
        self._hr_tables = _symmetry_tables(self.patch * self.scale, self.device)

    def _load(self, folders: list[Path]) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[str], list[str]]:
        """(HR, LR) pairs of every image of ``folders``; what was skipped and why (unreadable images,
        images smaller than a patch); the paths kept."""
        paths = []
        for folder in folders:
            if not folder.is_dir():
                raise ValueError(f"{DATASET_NAME}: no such folder of training images: {folder}")
            paths += list_images(folder)
        if not paths:
            raise ValueError(f"{DATASET_NAME}: no training images in {', '.join(map(str, folders))}")
        pairs, skipped, kept = [], [], []
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            for path, future in [(path, pool.submit(_pair, path, self.scale)) for path in paths]:
                try:
                    hr, lr = future.result()
                except (ImageError, ValueError) as error:
                    skipped.append(f"{path}: {error}")
                    continue
                if min(lr.shape[:2]) < self.patch:
                    skipped.append(f"{path}: LR {lr.shape[1]}x{lr.shape[0]} is smaller than a {self.patch}-pixel patch")
                    continue
                pairs.append((hr, lr))
                kept.append(str(path))
        if not pairs:
            raise ValueError(f"{DATASET_NAME}: no training image offers a {self.patch}-pixel LR patch: "
                             + "; ".join(skipped[:3]))
        return pairs, skipped, kept

    def __len__(self) -> int:
        return len(self.paths)

    def draw(self, indices: list[int]) -> Draws:
        """A position and a symmetry for a patch of image ``index % N`` of each index."""
        images = torch.as_tensor(indices, dtype=torch.long) % len(self)
        corners = torch.rand(len(indices), 2, dtype=torch.float64)
        spans = (self.lr_sizes[images] - self.patch + 1).to(torch.float64)
        rows, cols = (corners * spans).floor().long().unbind(1)
        transforms = self.symmetries[torch.randint(0, len(self.symmetries), (len(indices),))]
        return Draws(images, rows, cols, transforms)

    def cut(self, draws: Draws) -> tuple[torch.Tensor, torch.Tensor]:
        """The LR and HR windows of ``draws``: float [0, 1] NCHW batches on the dataset's device."""
        images, rows, cols, transforms = (t.to(self.device) for t in
                                          (draws.images, draws.rows, draws.cols, draws.transforms))
        lq = _windows(self.lr, images, rows, cols, self._lr_tables, transforms)
        gt = _windows(self.hr, images, rows * self.scale, cols * self.scale, self._hr_tables, transforms)
        return lq, gt

    def __getitems__(self, indices: list[int]) -> list[dict[str, Any]]:
        draws = self.draw(indices)
        lq, gt = self.cut(draws)
        return [{"lq": lq[k], "gt": gt[k], "lq_path": self.paths[i], "gt_path": self.paths[i]}
                for k, i in enumerate(draws.images.tolist())]

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.__getitems__([index])[0]


def _padded_stack(images: list[np.ndarray], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    sizes = torch.tensor([image.shape[:2] for image in images])
    stack = torch.zeros((len(images), *sizes.max(dim=0).values.tolist(), 3), dtype=torch.uint8)
    for index, image in enumerate(images):
        stack[index, :image.shape[0], :image.shape[1]] = torch.from_numpy(image)
    return stack.to(device), sizes


def _symmetry_tables(size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(8, size, size) source row and column, within the window, of every output pixel of each symmetry."""
    grid_rows, grid_cols = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    rows = torch.stack([dihedral(grid_rows[None], t)[0] for t in range(8)])
    cols = torch.stack([dihedral(grid_cols[None], t)[0] for t in range(8)])
    return rows.to(device), cols.to(device)


def _windows(stack: torch.Tensor, images: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor,
             tables: tuple[torch.Tensor, torch.Tensor], transforms: torch.Tensor) -> torch.Tensor:
    source_rows = rows[:, None, None] + tables[0][transforms]
    source_cols = cols[:, None, None] + tables[1][transforms]
    pixels = stack[images[:, None, None], source_rows, source_cols]  # (B, size, size, 3)
    return pixels.permute(0, 3, 1, 2).float().div_(255)
