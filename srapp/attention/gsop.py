"""GSoP: global second-order pooling for channel attention."""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from .base import AttentionModule, BatchNorm2d
from .covariance import covariance_pool


class GlobalSecondOrderPooling(AttentionModule):
    """GSoP block (channel variant, GSoP-Net1).

    Gao, Xie, Wang, Li. "Global Second-order Pooling Convolutional Networks", CVPR 2019.

    ``Z = relu(BN(W_d x))`` reduces to ``d`` channels with a 1x1 convolution; covariance pooling
    gives ``Sigma`` (``d x d``); after batch normalisation over its rows, a row-wise convolution
    (grouped, kernel ``d x 1``) gives every row its own ``row_filters`` = 4 filters, producing a
    ``4 d`` vector; ``relu``, a 1x1 convolution to ``C``, and ``sigmoid`` give the gate;
    output ``x * gate``.

    ``dim`` is the paper's 128 where the block sits on 256+ channels; by default it is
    ``min(128, C)`` so the 1x1 convolution reduces and never expands.
    """

    def __init__(self, channels: int, dim: int | None = None, row_filters: int = 4) -> None:
        super().__init__(channels)
        dim = min(128, channels) if dim is None else dim
        if dim < 1 or row_filters < 1:
            raise ValueError(f"GSoP needs dim >= 1 and row_filters >= 1, got {dim}, {row_filters}")
        self.dim = dim
        self.reduce = nn.Conv2d(channels, dim, 1)
        self.reduce_norm = BatchNorm2d(dim)
        self.row_norm = BatchNorm2d(dim)
        self.row_conv = nn.Conv2d(dim, row_filters * dim, kernel_size=(dim, 1), groups=dim)
        self.expand = nn.Conv2d(row_filters * dim, channels, 1)

    def recalibrate(self, x: torch.Tensor) -> torch.Tensor:
        reduced = F.relu(self.reduce_norm(self.reduce(x)))
        covariance = covariance_pool(reduced).to(reduced.dtype)  # (B, d, d)
        rows = self.row_norm(covariance.unsqueeze(-1))  # channel i holds row i as a d x 1 image
        gate = torch.sigmoid(self.expand(F.relu(self.row_conv(rows))))
        return x * gate

    def extra_repr(self) -> str:
        return f"channels={self.channels}, dim={self.dim}"
