"""ECA: efficient channel attention with a channel-adaptive 1-D kernel."""

from __future__ import annotations

import math

import torch
from torch import nn

from .base import AttentionModule


def eca_kernel_size(channels: int, gamma: float = 2, beta: float = 1) -> int:
    """ECA's adaptive kernel ``k = |log2(C) / gamma + beta / gamma|_odd``.

    ``|t|_odd`` is the odd number nearest to ``t`` from the paper's code (truncate, then bump an
    even value up by one): C = 64 -> 3, 128 -> 5, 256 -> 5, 512 -> 5, 2048 -> 7.
    """
    t = int(abs((math.log2(channels) + beta) / gamma))
    return t if t % 2 else t + 1


class EfficientChannelAttention(AttentionModule):
    """Efficient Channel Attention.

    Wang, Wu, Zhu, Li, Zuo, Hu. "ECA-Net: Efficient Channel Attention for Deep Convolutional
    Neural Networks", CVPR 2020.

    ``s = sigmoid(conv1d_k(GAP(x)))``: a bias-free 1-D convolution across neighbouring channels,
    output ``x * s``. ``k`` follows :func:`eca_kernel_size` unless ``kernel_size`` is given (the
    reference code fixes ``k = 3`` whatever ``C``; here ``C`` decides). ``k`` parameters.
    """

    def __init__(
        self, channels: int, kernel_size: int | None = None, gamma: float = 2, beta: float = 1
    ) -> None:
        super().__init__(channels)
        k = eca_kernel_size(channels, gamma, beta) if kernel_size is None else kernel_size
        if k < 1 or k % 2 == 0:
            raise ValueError(f"ECA kernel_size must be a positive odd number, got {k}")
        self.kernel_size = k
        self.conv = nn.Conv1d(1, 1, k, padding=k // 2, bias=False)

    def recalibrate(self, x: torch.Tensor) -> torch.Tensor:
        pooled = x.mean((2, 3)).unsqueeze(1)  # (B, 1, C): channels become the 1-D axis
        weights = torch.sigmoid(self.conv(pooled)).squeeze(1)
        return x * weights[:, :, None, None]

    def extra_repr(self) -> str:
        return f"channels={self.channels}, kernel_size={self.kernel_size}"
