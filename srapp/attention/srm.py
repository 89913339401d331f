"""SRM: style-based recalibration."""

from __future__ import annotations

import torch
from torch import nn

from .base import AttentionModule, BatchNorm2d


class StyleRecalibration(AttentionModule):
    """Style-based Recalibration Module.

    Lee, Kim, Nam. "SRM: A Style-based Recalibration Module for Convolutional Neural Networks",
    ICCV 2019.

    Style pooling ``t_c = (mu_c, sigma_c)`` with ``sigma_c = sqrt(mean_hw (x - mu_c)^2 + eps)``
    (the eps keeps gradients finite on constant channels, and the population variance keeps a
    1x1 map defined), channel-wise fully connected ``z_c = w_c . t_c``, batch normalisation,
    ``g = sigmoid(z_hat)``, output ``x * g``. ``2 C`` (CFC) + ``2 C`` (BN) parameters.
    """

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__(channels)
        self.eps = eps
        # The official code starts the channel-wise FC at zero: every gate opens at sigmoid(BN(0)).
        self.style_weight = nn.Parameter(torch.zeros(channels, 2))
        self.norm = BatchNorm2d(channels)

    def recalibrate(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(2)
        mean = flat.mean(2)
        std = (flat.var(2, correction=0) + self.eps).sqrt()
        style = mean * self.style_weight[:, 0] + std * self.style_weight[:, 1]
        gate = torch.sigmoid(self.norm(style[:, :, None, None]))
        return x * gate.to(x.dtype)
