"""Squeeze-and-Excitation and RCAN's channel attention (one family: a gated GAP bottleneck)."""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from .base import AttentionModule, reduced_width


class SqueezeExcite(AttentionModule):
    """Squeeze-and-Excitation block.

    Hu, Shen, Sun. "Squeeze-and-Excitation Networks", CVPR 2018.

    ``z = GAP(x)``, ``s = sigmoid(W2 relu(W1 z))`` with ``W1: C -> C/r`` and ``W2: C/r -> C``,
    output ``x * s``. The fully connected layers are stored as 1x1 convolutions (the same map on
    a pooled vector); ``bias=True`` matches the official Caffe model.

    Parameters: ``2 C (C/r) + (C/r + C)`` with bias.
    """

    def __init__(self, channels: int, reduction: int = 16, bias: bool = True) -> None:
        super().__init__(channels)
        hidden = reduced_width(channels, reduction)
        self.fc_reduce = nn.Conv2d(channels, hidden, 1, bias=bias)
        self.fc_expand = nn.Conv2d(hidden, channels, 1, bias=bias)

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        """The ``(B, C, 1, 1)`` channel weights in (0, 1)."""
        pooled = x.mean((2, 3), keepdim=True)
        return torch.sigmoid(self.fc_expand(F.relu(self.fc_reduce(pooled))))

    def recalibrate(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


class RCANChannelAttention(SqueezeExcite):
    """RCAN's channel attention (CA).

    Zhang, Li, Li, Wang, Zhong, Fu. "Image Super-Resolution Using Very Deep Residual Channel
    Attention Networks", ECCV 2018.

    ``s = sigmoid(W_U relu(W_D GAP(x)))`` with 1x1 convolutions *with bias*, reduction ``r = 16``;
    output ``x * s``. At C = 64: ``64*4 + 4 + 4*64 + 64 = 580`` parameters.
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__(channels, reduction=reduction, bias=True)
