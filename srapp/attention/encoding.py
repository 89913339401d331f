"""EncNet's context encoding: a learnable dictionary of codewords gating the channels."""

from __future__ import annotations

import math

import torch
from torch import nn
import torch.nn.functional as F

from .base import AttentionModule, BatchNorm2d
from .covariance import full_precision


class Encoding(nn.Module):
    """The Encoding layer of EncNet (``(B, C, H, W) -> (B, K, C)``).

    For the ``N = H W`` features ``x_i`` and ``K`` codewords ``d_k`` with smoothing factors
    ``s_k``: residuals ``r_ik = x_i - d_k``, soft assignment
    ``a_ik = exp(-s_k ||r_ik||^2) / sum_j exp(-s_j ||r_ij||^2)``, aggregated residual
    ``e_k = sum_i a_ik r_ik``.

    Computed as ``e_k = sum_i a_ik x_i - (sum_i a_ik) d_k`` with
    ``||r_ik||^2 = ||x_i||^2 - 2 x_i . d_k + ||d_k||^2``, so no ``N x K x C`` residual tensor is
    built; autograd gives the exact gradients. Runs in float32 under autocast (the distance
    expansion cancels large terms).
    """

    def __init__(self, channels: int, num_codes: int = 32) -> None:
        super().__init__()
        if num_codes < 1:
            raise ValueError(f"num_codes must be >= 1, got {num_codes}")
        self.channels = channels
        self.num_codes = num_codes
        bound = 1.0 / math.sqrt(num_codes * channels)
        self.codewords = nn.Parameter(torch.empty(num_codes, channels).uniform_(-bound, bound))
        # Positive smoothing factors; the reference stores -s in U(-1, 0) and drops the minus sign.
        self.smoothing = nn.Parameter(torch.empty(num_codes).uniform_(0.0, 1.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=x.device.type, enabled=False):
            features = full_precision(x).flatten(2).transpose(1, 2)  # (B, N, C)
            dtype = features.dtype
            codewords = self.codewords.to(dtype)
            squared_distance = (
                features.pow(2).sum(-1, keepdim=True)
                - 2.0 * features @ codewords.t()
                + codewords.pow(2).sum(-1)
            )  # (B, N, K)
            assignment = torch.softmax(-self.smoothing.to(dtype) * squared_distance, dim=-1)
            weighted = assignment.transpose(1, 2) @ features  # (B, K, C)
            return weighted - assignment.sum(1).unsqueeze(-1) * codewords

    def extra_repr(self) -> str:
        return f"channels={self.channels}, num_codes={self.num_codes}"


class ContextEncoding(AttentionModule):
    """Context Encoding Module.

    Zhang, Dana, Shi, Zhang, Wang, Tyagi, Agrawal. "Context Encoding for Semantic Segmentation",
    CVPR 2018.

    ``z = relu(BN(W x))`` (1x1 convolution), ``E = Encoding(z)`` (``K`` codewords), then
    ``e = mean_k relu(BN(E_k))``, ``gamma = sigmoid(W_fc e)``, output ``relu(x + x * gamma)``.
    ``num_classes`` adds the Semantic Encoding Loss head (``Linear(C, num_classes)`` on ``e``),
    off by default in super-resolution; :meth:`forward_with_se_logits` returns its logits.
    """

    def __init__(self, channels: int, num_codes: int = 32, num_classes: int | None = None) -> None:
        super().__init__(channels)
        self.project = nn.Conv2d(channels, channels, 1, bias=False)
        self.project_norm = BatchNorm2d(channels)
        self.encoding = Encoding(channels, num_codes)
        self.code_norm = BatchNorm2d(num_codes)
        self.fc = nn.Linear(channels, channels)
        self.se_head = nn.Linear(channels, num_classes) if num_classes else None

    def context(self, x: torch.Tensor) -> torch.Tensor:
        """The encoded context vector ``e``, ``(B, C)``."""
        projected = F.relu(self.project_norm(self.project(x)))
        codes = self.encoding(projected).unsqueeze(-1)  # (B, K, C, 1): BN over the K codewords
        return F.relu(self.code_norm(codes)).squeeze(-1).mean(1)

    def _gate_with(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        gamma = torch.sigmoid(self.fc(context))
        return F.relu(x + x * gamma[:, :, None, None].to(x.dtype))

    def recalibrate(self, x: torch.Tensor) -> torch.Tensor:
        return self._gate_with(x, self.context(x))

    def forward_with_se_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Output and Semantic Encoding Loss logits (needs ``num_classes``)."""
        if self.se_head is None:
            raise RuntimeError("ContextEncoding was built without num_classes: it has no SE-loss head")
        self.check_input(x)
        context = self.context(x)
        return self._gate_with(x, context), self.se_head(context)
