"""Training pairs kept on the device, and random aligned patches cut from them.

Every HR image is mod-cropped to the scale and its LR image made once, with the benchmark's
MATLAB-compatible bicubic (:func:`srapp.engine.resize.imresize` of the whole image), so a patch is
exactly a window of what the benchmark feeds the network. Both stay on the device as uint8
(the 291 training images take about 0.25 GB, padded to the largest), and a batch is cut there in
one gather per resolution: no data loader, no copies from the host while training. Images are
drawn in proportion to the patch positions they offer, a position uniformly, and each patch gets
one of the 8 flips / quarter turns (BasicSR's ``use_hflip`` + ``use_rot``), the same for its LR
and HR windows.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Draws:
    """Which patches a batch holds: image index, LR top-left corner and symmetry of each."""
    images: torch.Tensor
    rows: torch.Tensor
    cols: torch.Tensor
    transforms: torch.Tensor


class PatchSampler:
    """Random aligned (LR, HR) patches of resident training pairs, as float [0, 1] NCHW batches.

    The images sit in two zero-padded uint8 stacks (N, H, W, 3), so a batch is one gather per
    resolution: each output pixel reads the source pixel its window and symmetry map it to
    (tables made by applying :func:`dihedral` to coordinate grids). The result is NCHW in
    channels-last memory, as the network trains.
    """

    def __init__(self, pairs: list[tuple[np.ndarray, np.ndarray]], scale: int, patch: int,
                 device: torch.device, seed: int = 0) -> None:
        self.scale, self.patch, self.device = scale, patch, device
        self.lr, self.lr_sizes = _padded_stack([lr for _, lr in pairs], device)
        self.hr, _ = _padded_stack([hr for hr, _ in pairs], device)
        positions = (self.lr_sizes - patch + 1).prod(dim=1).to(torch.float64)
        self.weights = positions / positions.sum()
        self.generator = torch.Generator().manual_seed(seed)
        self._lr_tables = _symmetry_tables(patch, device)
        self._hr_tables = _symmetry_tables(patch * scale, device)

    def __len__(self) -> int:
        return len(self.lr_sizes)

    def draw(self, batch: int) -> Draws:
        images = torch.multinomial(self.weights, batch, replacement=True, generator=self.generator)
        corners = torch.rand(batch, 2, generator=self.generator, dtype=torch.float64)
        spans = (self.lr_sizes[images] - self.patch + 1).to(torch.float64)
        rows, cols = (corners * spans).floor().long().unbind(1)
        return Draws(images, rows, cols, torch.randint(0, 8, (batch,), generator=self.generator))

    def cut(self, draws: Draws) -> tuple[torch.Tensor, torch.Tensor]:
        images, rows, cols, transforms = (t.to(self.device) for t in
                                          (draws.images, draws.rows, draws.cols, draws.transforms))
        lq = _windows(self.lr, images, rows, cols, self._lr_tables, transforms)
        gt = _windows(self.hr, images, rows * self.scale, cols * self.scale, self._hr_tables, transforms)
        return lq, gt

    def sample(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.cut(self.draw(batch))


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


def dihedral(image: torch.Tensor, transform: int) -> torch.Tensor:
    """One of the 8 symmetries of the square on a CHW image: ``transform % 4`` quarter turns, then a
    horizontal flip when ``transform >= 4``."""
    turned = torch.rot90(image, transform % 4, dims=(1, 2))
    return turned.flip(2) if transform >= 4 else turned
