"""GCT: gated channel transformation."""

from __future__ import annotations

import torch
from torch import nn

from .base import AttentionModule

GCT_MODES = ("l2", "l1")


class GatedChannelTransform(AttentionModule):
    """Gated Channel Transformation.

    Yang, Zhu, Wu, Yang. "Gated Channel Transformation for Visual Recognition", CVPR 2020.

    Global context embedding ``s_c = alpha_c ||x_c||_p`` (l2: ``sqrt(sum x^2 + eps)``; l1:
    ``sum |x|``), channel normalisation ``s_hat_c = gamma_c s_c / ||s||`` with the mean-based norm
    over channels (l2: ``sqrt(mean_c s_c^2 + eps)``; l1: ``mean_c |s_c| + eps``), gating
    ``x_hat = x (1 + tanh(s_hat + beta))``. ``alpha = 1, gamma = beta = 0`` at initialisation, so
    the module starts as the identity. ``3 C`` parameters.
    """

    def __init__(self, channels: int, mode: str = "l2", eps: float = 1e-5) -> None:
        super().__init__(channels)
        if mode not in GCT_MODES:
            raise ValueError(f"GCT mode must be one of {GCT_MODES}, got {mode!r}")
        self.mode = mode
        self.eps = eps
        self.alpha = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.beta = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def recalibrate(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "l2":
            embedding = (x.pow(2).sum((2, 3), keepdim=True) + self.eps).sqrt() * self.alpha
            norm = self.gamma / (embedding.pow(2).mean(1, keepdim=True) + self.eps).sqrt()
        else:
            embedding = x.abs().sum((2, 3), keepdim=True) * self.alpha
            norm = self.gamma / (embedding.abs().mean(1, keepdim=True) + self.eps)
        return x * (1.0 + torch.tanh(embedding * norm + self.beta)).to(x.dtype)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, mode={self.mode!r}"
