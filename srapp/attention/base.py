"""What every attention module shares: the (B, C, H, W) contract and its error messages."""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F


class AttentionModule(nn.Module):
    """Base class: maps a ``(B, C, H, W)`` tensor to a recalibrated tensor of the same shape.

    Subclasses implement :meth:`recalibrate`; :meth:`forward` checks the input first so that a
    wrong channel count fails with a message saying what was expected and what arrived.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        if not isinstance(channels, int) or channels < 1:
            raise ValueError(f"{type(self).__name__}: channels must be a positive int, got {channels!r}")
        self.channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.recalibrate(x)

    def check_input(self, x: torch.Tensor) -> None:
        """Raise ValueError unless ``x`` is ``(B, channels, H, W)``."""
        if x.dim() != 4:
            raise ValueError(
                f"{type(self).__name__} expects a 4-D (B, C, H, W) tensor, got shape {tuple(x.shape)}"
            )
        if x.shape[1] != self.channels:
            raise ValueError(
                f"{type(self).__name__} expected {self.channels} channels, got {x.shape[1]} "
                f"(input shape {tuple(x.shape)})"
            )

    def recalibrate(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"channels={self.channels}"


def reduced_width(channels: int, reduction: int) -> int:
    """Bottleneck width ``C / r`` of the papers, never below one unit."""
    if reduction < 1:
        raise ValueError(f"reduction must be >= 1, got {reduction}")
    return max(1, channels // reduction)


class BatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d that also runs on a training batch holding one value per channel.

    Attention gates normalise pooled ``(B, C, 1, 1)`` descriptors; with batch size 1 PyTorch's
    BatchNorm refuses to train on them (the batch variance is undefined). There we normalise with
    the running statistics instead and leave them untouched, which is what the layer does at
    inference time.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and x.numel() <= x.shape[1]:
            return F.batch_norm(
                x, self.running_mean, self.running_var, self.weight, self.bias,
                training=False, momentum=0.0, eps=self.eps,
            )
        return super().forward(x)
