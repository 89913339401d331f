"""FcaNet: multi-spectral channel attention from selected 2-D DCT frequencies."""

from __future__ import annotations

import math

import torch
from torch import nn
import torch.nn.functional as F

from .base import AttentionModule, reduced_width

# The paper's frequency rankings on a 7x7 DCT grid (FcaNet, Fig. 4 / official code):
# "top" by single-frequency ImageNet accuracy, "low" in zig-zag order, "bot" the worst.
_FREQUENCY_RANKINGS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "top": (
        (0, 0, 6, 0, 0, 1, 1, 4, 5, 1, 3, 0, 0, 0, 3, 2, 4, 6, 3, 5, 5, 2, 6, 5, 5, 3, 3, 4, 2, 2, 6, 1),
        (0, 1, 0, 5, 2, 0, 2, 0, 0, 6, 0, 4, 6, 3, 5, 2, 6, 3, 3, 3, 5, 1, 1, 2, 4, 2, 1, 1, 3, 0, 5, 3),
    ),
    "low": (
        (0, 0, 1, 1, 0, 2, 2, 1, 2, 0, 3, 4, 0, 1, 3, 0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5, 6, 1, 2, 3, 4),
        (0, 1, 0, 1, 2, 0, 1, 2, 2, 3, 0, 0, 4, 3, 1, 5, 4, 3, 2, 1, 0, 6, 5, 4, 3, 2, 1, 0, 6, 5, 4, 3),
    ),
    "bot": (
        (6, 1, 3, 3, 2, 4, 1, 2, 4, 4, 5, 1, 4, 6, 2, 5, 6, 1, 6, 2, 2, 4, 3, 3, 5, 5, 6, 2, 5, 5, 3, 6),
        (6, 4, 4, 6, 6, 3, 1, 4, 4, 5, 6, 5, 2, 2, 5, 1, 4, 3, 5, 0, 3, 1, 1, 2, 4, 2, 1, 1, 5, 3, 3, 3),
    ),
}
FREQUENCY_SELECTIONS = tuple(f"{kind}{n}" for kind in _FREQUENCY_RANKINGS for n in (1, 2, 4, 8, 16, 32))
_REFERENCE_GRID = 7


def select_frequencies(selection: str) -> list[tuple[int, int]]:
    """The ``(u, v)`` frequencies of a selection such as ``"top16"`` on the paper's 7x7 grid."""
    if selection not in FREQUENCY_SELECTIONS:
        raise ValueError(f"unknown frequency selection {selection!r}; valid: {', '.join(FREQUENCY_SELECTIONS)}")
    rows, cols = _FREQUENCY_RANKINGS[selection[:3]]
    count = int(selection[3:])
    return list(zip(rows[:count], cols[:count]))


def dct_vector(frequency: int, size: int) -> torch.Tensor:
    """Orthonormal 1-D DCT-II basis vector ``sqrt(a_u / N) cos(pi u (t + 1/2) / N)``, ``a_0 = 1, a_u = 2``."""
    positions = torch.arange(size, dtype=torch.float64) + 0.5
    scale = math.sqrt((1.0 if frequency == 0 else 2.0) / size)
    return scale * torch.cos(math.pi * frequency * positions / size)


def dct_basis(height: int, width: int, frequencies: list[tuple[int, int]]) -> torch.Tensor:
    """2-D DCT-II basis images ``(F, height, width)``, one per ``(u, v)``, in float64."""
    return torch.stack([torch.outer(dct_vector(u, height), dct_vector(v, width)) for u, v in frequencies])


class FrequencyChannelAttention(AttentionModule):
    """Multi-spectral channel attention.

    Qin, Zhang, Wu, Li. "FcaNet: Frequency Channel Attention Networks", ICCV 2021.

    The channels are split into ``n`` groups, group ``i`` pooled with its own 2-D DCT basis image
    ``B_{u_i v_i}``: ``Freq_c = sum_hw x_chw B_{u_i v_i}(h, w)`` (frequency (0, 0) gives
    ``sqrt(HW) * GAP``, so plain SE is the one-frequency case). Then
    ``s = sigmoid(W2 relu(W1 Freq))`` without biases, output ``x * s``.

    The map is first adaptively average-pooled to ``dct_size x dct_size`` (the paper's 7x7 grid by
    default), so any input size works, smaller maps included. The selected indices live on the
    paper's 7x7 grid; on a grid of ``7 k`` they are multiplied by ``k`` (same spatial period, as in
    the reference code). On a grid smaller than 7 they are used as they are and must fit, where the
    reference code's ``u * (size // 7)`` silently turned every frequency into DC. Channels need not
    divide evenly among the frequencies.
    """

    def __init__(
        self, channels: int, reduction: int = 16, dct_size: int = 7, frequencies: str = "top16"
    ) -> None:
        super().__init__(channels)
        if dct_size < 1:
            raise ValueError(f"dct_size must be >= 1, got {dct_size}")
        stretch = dct_size // _REFERENCE_GRID if dct_size >= _REFERENCE_GRID else 1
        selected = [(u * stretch, v * stretch) for u, v in select_frequencies(frequencies)]
        outside = [f for f in selected if max(f) >= dct_size]
        if outside:
            raise ValueError(
                f"frequencies {outside} of {frequencies!r} do not exist on a {dct_size}x{dct_size} DCT grid; "
                f"use dct_size >= 7 or a selection of lower frequencies"
            )
        self.dct_size = dct_size
        self.frequencies = selected
        group_of_channel = torch.arange(channels) * len(selected) // channels
        basis = dct_basis(dct_size, dct_size, selected)[group_of_channel]
        self.register_buffer("channel_basis", basis.float(), persistent=False)
        hidden = reduced_width(channels, reduction)
        self.fc_reduce = nn.Linear(channels, hidden, bias=False)
        self.fc_expand = nn.Linear(hidden, channels, bias=False)

    def spectral_pool(self, x: torch.Tensor) -> torch.Tensor:
        """The ``(B, C)`` multi-spectral descriptor."""
        if x.shape[-2:] != (self.dct_size, self.dct_size):
            x = F.adaptive_avg_pool2d(x, self.dct_size)
        return (x * self.channel_basis.to(x.dtype)).sum((2, 3))

    def recalibrate(self, x: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(self.fc_expand(F.relu(self.fc_reduce(self.spectral_pool(x)))))
        return x * gate[:, :, None, None]

    def extra_repr(self) -> str:
        return f"channels={self.channels}, dct_size={self.dct_size}, frequencies={len(self.frequencies)}"
