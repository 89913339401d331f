"""SAN: second-order attention network."""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from ..attention import SecondOrderChannelAttention
from .common import DIV2K_RGB_MEAN, MeanShift, Upsampler, constructor_config, conv3x3


class NonLocalBlock(nn.Module):
    """Embedded-Gaussian non-local block (Wang et al., CVPR 2018) without subsampling or BN.

    ``z = x + W softmax(theta(x)^T phi(x)) g(x)`` over all positions, with 1x1 convolutions to
    ``inter_channels``; ``W`` starts at zero so the block starts as the identity. The attention
    runs through ``scaled_dot_product_attention`` with scale 1 (the embedded Gaussian has no
    1/sqrt(d)), which never materialises the M x M affinity matrix on the fused kernels.
    """

    def __init__(self, channels: int, inter_channels: int) -> None:
        super().__init__()
        self.inter_channels = inter_channels
        self.g = nn.Conv2d(channels, inter_channels, 1)
        self.theta = nn.Conv2d(channels, inter_channels, 1)
        self.phi = nn.Conv2d(channels, inter_channels, 1)
        self.project = nn.Conv2d(inter_channels, channels, 1)
        nn.init.zeros_(self.project.weight)
        nn.init.zeros_(self.project.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, _, height, width = x.shape
        if height * width == 0:
            return x

        def tokens(conv: nn.Conv2d) -> torch.Tensor:  # (B, 1, M, inter)
            return conv(x).flatten(2).transpose(1, 2).unsqueeze(1)

        attended = F.scaled_dot_product_attention(tokens(self.theta), tokens(self.phi), tokens(self.g), scale=1.0)
        attended = attended.squeeze(1).transpose(1, 2).reshape(batch, self.inter_channels, height, width)
        return x + self.project(attended)


class RegionNonLocal(nn.Module):
    """SAN's region-level non-local module: one non-local block, shared by the four regions of a
    2x2 split (rows at ``H // 2``, columns at ``W // 2``), applied to each region on its own."""

    def __init__(self, channels: int, inter_channels: int) -> None:
        super().__init__()
        self.block = NonLocalBlock(channels, inter_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        row, col = x.shape[2] // 2, x.shape[3] // 2
        top = torch.cat([self.block(x[:, :, :row, :col]), self.block(x[:, :, :row, col:])], dim=3)
        bottom = torch.cat([self.block(x[:, :, row:, :col]), self.block(x[:, :, row:, col:])], dim=3)
        return torch.cat([top, bottom], dim=2)


class ResidualBlock(nn.Module):
    """``x + conv(relu(conv(x)))``: SAN's residual block, no attention inside."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = conv3x3(channels, channels)
        self.conv2 = conv3x3(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


class LocalSourceResidualGroup(nn.Module):
    """LSRAG: ``x + conv(SOCA(RB_n(...RB_1(x))))``."""

    def __init__(self, channels: int, num_blocks: int, reduction: int, iterations: int) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*(ResidualBlock(channels) for _ in range(num_blocks)))
        self.attention = SecondOrderChannelAttention(channels, reduction=reduction, iterations=iterations)
        self.conv = conv3x3(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(self.attention(self.blocks(x)))


class SAN(nn.Module):
    """Second-order Attention Network.

    Dai, Cai, Zhang, Xia, Zhang. "Second-order Attention Network for Single Image
    Super-Resolution", CVPR 2019.

    RGB in [0, 1] -> RGB in [0, 1]. Paper configuration by default: 20 LSRAGs of 10 residual
    blocks at 64 features, SOCA (reduction 16, 5 Newton-Schulz iterations) closing every LSRAG,
    share-source skip ``F_g = LSRAG_g(F_{g-1}) + w F_0`` with one learnable scalar ``w`` (zero at
    start), the region-level non-local module at the head and the tail with shared weights, the
    sub-pixel upsampler and the DIV2K mean shift of RCAN.
    """

    def __init__(
        self,
        scale: int = 4,
        num_groups: int = 20,
        num_blocks: int = 10,
        channels: int = 64,
        reduction: int = 16,
        iterations: int = 5,
        img_range: float = 255.0,
        rgb_mean: tuple[float, float, float] = DIV2K_RGB_MEAN,
    ) -> None:
        super().__init__()
        self.config = constructor_config(SAN, locals())
        self.scale = scale
        self.mean_shift = MeanShift(rgb_mean, img_range)
        self.head = conv3x3(3, channels)
        self.non_local = RegionNonLocal(channels, max(1, channels // 8))
        self.groups = nn.ModuleList(
            LocalSourceResidualGroup(channels, num_blocks, reduction, iterations) for _ in range(num_groups)
        )
        self.share_source_weight = nn.Parameter(torch.zeros(1))
        self.upsampler = Upsampler(scale, channels)
        self.tail = conv3x3(channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shallow = self.head(self.mean_shift.normalise(x))
        source = self.non_local(shallow)
        features = source
        for group in self.groups:
            features = group(features) + self.share_source_weight * source
        features = self.non_local(features) + shallow
        return self.mean_shift.denormalise(self.tail(self.upsampler(features)))
