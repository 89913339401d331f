"""Bilinear attention with attention-in-attention (AiA)."""

from __future__ import annotations

import torch
from torch import nn

from .base import AttentionModule, BatchNorm2d, reduced_width


class _ConvNormReLU(nn.Sequential):
    """1x1 convolution, batch normalisation, ReLU: the reference's building block."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(nn.Conv2d(in_channels, out_channels, 1), BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class BilinearAttention(AttentionModule):
    """Bilinear attention (Bi-attention) with attention-in-attention.

    Fang, Zhou, Roy, Petersson, Harandi. "Bilinear Attention Networks for Person Retrieval",
    ICCV 2019.

    ``z = relu(BN(W_1 x))`` reduces to ``m = C / r`` channels (r = 16); every pixel's outer
    product ``z z^T`` keeps its upper triangle, a ``m (m + 1) / 2``-channel bilinear map ``P``.
    Attention in attention: a global branch ``g = relu(BN(W_g GAP(P)))`` (``C`` values per image)
    gates the local branch ``l = relu(BN(W_l P))`` (``C`` values per pixel); output
    ``x * sigmoid(g * l)``.
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__(channels)
        reduced = reduced_width(channels, reduction)
        rows, cols = torch.triu_indices(reduced, reduced)
        self.register_buffer("pair_rows", rows, persistent=False)
        self.register_buffer("pair_cols", cols, persistent=False)
        pairs = rows.numel()
        self.reduce = _ConvNormReLU(channels, reduced)
        self.global_branch = _ConvNormReLU(pairs, channels)
        self.local_branch = _ConvNormReLU(pairs, channels)

    def bilinear_map(self, x: torch.Tensor) -> torch.Tensor:
        """Upper triangle of the per-pixel outer product of the reduced features, ``(B, P, H, W)``."""
        z = self.reduce(x)
        return z[:, self.pair_rows] * z[:, self.pair_cols]

    def recalibrate(self, x: torch.Tensor) -> torch.Tensor:
        pairs = self.bilinear_map(x)
        global_gate = self.global_branch(pairs.mean((2, 3), keepdim=True))
        return x * torch.sigmoid(global_gate * self.local_branch(pairs))
