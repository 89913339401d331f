"""A tile is a ``(1, C, h, w)`` float32 array: a numpy array for a backend that takes numpy
(OpenVINO), a torch tensor for torch. The engine's few operations on tiles (padding, the flips
of self-ensemble, channel adapters) work on both, so a tile never changes library on its way to
the backend and back."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

Tile = np.ndarray | torch.Tensor


def take(x: Tile, index: np.ndarray, dim: int) -> Tile:
    """The entries ``index`` of ``x`` along ``dim``."""
    if isinstance(x, np.ndarray):
        return np.take(x, index, axis=dim)
    return x.index_select(dim, torch.from_numpy(index).to(x.device))


def flip(x: Tile, dim: int) -> Tile:
    return np.flip(x, dim) if isinstance(x, np.ndarray) else x.flip(dim)


def transpose_sides(x: Tile) -> Tile:
    """Height and width swapped."""
    return np.swapaxes(x, -1, -2) if isinstance(x, np.ndarray) else x.transpose(-1, -2)


def concat_channels(parts: Sequence[Tile]) -> Tile:
    return np.concatenate(parts, axis=1) if isinstance(parts[0], np.ndarray) else torch.cat(list(parts), dim=1)


def ones_channel(x: Tile) -> Tile:
    """One channel of ones shaped as ``x``'s channels."""
    return np.ones_like(x[:, :1]) if isinstance(x, np.ndarray) else torch.ones_like(x[:, :1])


def as_rows(x: Tile) -> np.ndarray:
    """A ``(C, h, w)`` output as ``(h, w, C)`` float32 numpy rows (a view where it already is numpy)."""
    if isinstance(x, np.ndarray):
        return x.transpose(1, 2, 0).astype(np.float32, copy=False)
    return x.permute(1, 2, 0).float().cpu().numpy()


__all__ = ["Tile", "as_rows", "concat_channels", "flip", "ones_channel", "take", "transpose_sides"]
