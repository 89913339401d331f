"""RCAN: residual channel attention network, with any attention of the library in its blocks."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
import torch.nn.functional as F

from ..attention import ATTENTION_NAMES, create_attention, create_shared_state
from .common import DIV2K_RGB_MEAN, MeanShift, Upsampler, constructor_config, conv3x3

NO_ATTENTION = "none"  # the RCAB without its attention step: x + conv(relu(conv(x)))
RCAN_ATTENTIONS = (NO_ATTENTION, *ATTENTION_NAMES)


class ResidualAttentionBlock(nn.Module):
    """RCAB: ``x + res_scale * A(conv(relu(conv(x))))`` with ``A`` any channel attention, or the
    identity for ``attention="none"``."""

    def __init__(
        self,
        channels: int,
        attention: str,
        attention_kwargs: dict[str, Any],
        shared: nn.Module | None = None,
        res_scale: float = 1.0,
    ) -> None:
        super().__init__()
        self.conv1 = conv3x3(channels, channels)
        self.conv2 = conv3x3(channels, channels)
        self.attention = (
            nn.Identity() if attention == NO_ATTENTION
            else create_attention(attention, channels, shared=shared, **attention_kwargs)
        )
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = self.attention(self.conv2(F.relu(self.conv1(x))))
        return x + residual * self.res_scale if self.res_scale != 1.0 else x + residual


class ResidualGroup(nn.Module):
    """``x + conv(RCAB_n(...RCAB_1(x)))`` (short skip). Owns the blocks' shared attention state
    (DIANet's cell), reset at the start of every forward pass."""

    def __init__(
        self, channels: int, num_blocks: int, attention: str, attention_kwargs: dict[str, Any], res_scale: float
    ) -> None:
        super().__init__()
        self.shared_state = None if attention == NO_ATTENTION else create_shared_state(
            attention, channels, **attention_kwargs
        )
        self.blocks = nn.Sequential(
            *(
                ResidualAttentionBlock(channels, attention, attention_kwargs, self.shared_state, res_scale)
                for _ in range(num_blocks)
            )
        )
        self.conv = conv3x3(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.shared_state is None:
            return x + self.conv(self.blocks(x))
        self.shared_state.reset()
        out = x + self.conv(self.blocks(x))
        self.shared_state.reset()  # drop the last (h, c) and the graph it holds
        return out


class RCAN(nn.Module):
    """Residual Channel Attention Network.

    Zhang, Li, Li, Wang, Zhong, Fu. "Image Super-Resolution Using Very Deep Residual Channel
    Attention Networks", ECCV 2018.

    Input and output are RGB tensors in [0, 1] (``(B, 3, H, W)`` -> ``(B, 3, sH, sW)``). Defaults
    are the paper's: 10 residual groups of 20 RCABs at 64 features, reduction 16, long and short
    skips, sub-pixel upsampler, DIV2K RGB mean shift. ``attention`` picks the module of every
    block from :data:`srapp.attention.ATTENTION_NAMES`, or ``"none"`` for the same network without
    attention (every other parameter unchanged); ``reduction`` (when given) and ``attention_kwargs``
    go to that module, otherwise it keeps its own paper defaults (``"none"`` ignores both).
    """

    def __init__(
        self,
        scale: int = 4,
        attention: str = "ca",
        num_groups: int = 10,
        num_blocks: int = 20,
        channels: int = 64,
        reduction: int | None = None,
        attention_kwargs: dict[str, Any] | None = None,
        res_scale: float = 1.0,
        img_range: float = 255.0,
        rgb_mean: tuple[float, float, float] = DIV2K_RGB_MEAN,
    ) -> None:
        super().__init__()
        if attention not in RCAN_ATTENTIONS:
            raise ValueError(f"unknown attention {attention!r}; valid names: {', '.join(RCAN_ATTENTIONS)}")
        kwargs = dict(attention_kwargs or {})
        if reduction is not None:
            kwargs.setdefault("reduction", reduction)
        # ``reduction`` is a shorthand stored inside ``attention_kwargs``.
        self.config = constructor_config(RCAN, locals(), attention_kwargs=kwargs)
        del self.config["reduction"]
        self.scale = scale
        self.mean_shift = MeanShift(rgb_mean, img_range)
        self.head = conv3x3(3, channels)
        self.groups = nn.Sequential(
            *(ResidualGroup(channels, num_blocks, attention, kwargs, res_scale) for _ in range(num_groups))
        )
        self.body_conv = conv3x3(channels, channels)
        self.upsampler = Upsampler(scale, channels)
        self.tail = conv3x3(channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.head(self.mean_shift.normalise(x))
        features = features + self.body_conv(self.groups(features))  # long skip
        return self.mean_shift.denormalise(self.tail(self.upsampler(features)))
