"""SoCA: SAN's second-order channel attention."""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from .base import AttentionModule, reduced_width
from .covariance import covariance_pool, newton_schulz_sqrt


class SecondOrderChannelAttention(AttentionModule):
    """Second-order channel attention (SOCA).

    Dai, Cai, Zhang, Xia, Zhang. "Second-order Attention Network for Single Image
    Super-Resolution", CVPR 2019.

    Covariance pooling ``Sigma = X I_bar X^T``, matrix square root ``Y = Sigma^(1/2)`` by
    ``iterations`` trace-normalised Newton-Schulz steps, channel descriptor
    ``z_c = mean_j Y_cj``, gate ``s = sigmoid(W_U relu(W_D z))`` (1x1 convolutions with bias,
    reduction ``r``), output ``x * s``.

    Unlike the reference, the covariance never materialises the ``M x M`` centring matrix
    (memory ``O(C H W + C^2)``), so no centre crop of large inputs is needed, and the matrix part
    runs in float32 under autocast.
    """

    def __init__(self, channels: int, reduction: int = 16, iterations: int = 5) -> None:
        super().__init__(channels)
        hidden = reduced_width(channels, reduction)
        self.iterations = iterations
        self.fc_reduce = nn.Conv2d(channels, hidden, 1)
        self.fc_expand = nn.Conv2d(hidden, channels, 1)

    def descriptor(self, x: torch.Tensor) -> torch.Tensor:
        """``z = mean_j (Sigma^(1/2))_cj`` as a ``(B, C, 1, 1)`` tensor in float32."""
        root = newton_schulz_sqrt(covariance_pool(x), self.iterations)
        return root.mean(2)[:, :, None, None]

    def recalibrate(self, x: torch.Tensor) -> torch.Tensor:
        z = self.descriptor(x).to(x.dtype)
        gate = torch.sigmoid(self.fc_expand(F.relu(self.fc_reduce(z))))
        return x * gate
