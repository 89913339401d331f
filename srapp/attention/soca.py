"""SoCA: SAN's second-order channel attention."""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from .base import AttentionModule, reduced_width
from .covariance import covariance_pool, newton_schulz_sqrt

OFFICIAL_WINDOW = 1000  # the official SAN's SOCA takes its statistics from at most 1000 x 1000


def central_window(x: torch.Tensor, window: int | None) -> torch.Tensor:
    """The central ``window x window`` part of a ``(B, C, H, W)`` map (a side no longer than
    ``window`` is kept whole; a longer one starts at ``(side - window) // 2``); ``None``: all of it."""
    if window is None:
        return x
    top, left = max(0, (x.shape[2] - window) // 2), max(0, (x.shape[3] - window) // 2)
    return x[:, :, top:top + window, left:left + window]


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
    runs in float32 under autocast. ``window`` reproduces the reference's crop when wanted: the
    statistics then come from the central ``window x window`` part of the map
    (:func:`central_window`; the official SAN uses :data:`OFFICIAL_WINDOW`), the gate still
    scales all of it. (The reference mis-slices a map with one side exactly 1000 and the other
    shorter; here such a map is used whole.)
    """

    def __init__(self, channels: int, reduction: int = 16, iterations: int = 5, window: int | None = None) -> None:
        super().__init__(channels)
        if window is not None and window < 1:
            raise ValueError(f"window must be >= 1 or None, got {window}")
        hidden = reduced_width(channels, reduction)
        self.iterations = iterations
        self.window = window
        self.fc_reduce = nn.Conv2d(channels, hidden, 1)
        self.fc_expand = nn.Conv2d(hidden, channels, 1)

    def descriptor(self, x: torch.Tensor) -> torch.Tensor:
        """``z = mean_j (Sigma^(1/2))_cj`` as a ``(B, C, 1, 1)`` tensor in float32."""
        root = newton_schulz_sqrt(covariance_pool(central_window(x, self.window)), self.iterations)
        return root.mean(2)[:, :, None, None]

    def recalibrate(self, x: torch.Tensor) -> torch.Tensor:
        z = self.descriptor(x).to(x.dtype)
        gate = torch.sigmoid(self.fc_expand(F.relu(self.fc_reduce(z))))
        return x * gate
