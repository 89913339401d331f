"""SAN: second-order attention network."""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from ..attention import SecondOrderChannelAttention
from .common import DIV2K_RGB_MEAN, MeanShift, Upsampler, constructor_config, conv3x3


class KeyValuePool(nn.Module):
    """2x2 max-pool with stride 2 that rounds odd sides down, as ``nn.MaxPool2d(2)`` does; an axis
    of a single position is left unpooled (kernel 1 there), so no map is pooled down to nothing."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(x, kernel_size=(min(2, x.shape[2]), min(2, x.shape[3])))


class NonLocalBlock(nn.Module):
    """Embedded-Gaussian non-local block (Wang et al., CVPR 2018) without BN.

    ``z = x + W softmax(theta(x)^T phi(x)) g(x)``, with 1x1 convolutions to ``inter_channels``;
    ``W`` starts at zero so the block starts as the identity. The attention runs through
    ``scaled_dot_product_attention`` with scale 1 (the embedded Gaussian has no 1/sqrt(d)), which
    never materialises the affinity matrix on the fused kernels.

    ``subsample=False``: keys and values at full resolution, every position attends to all ``M``
    positions (``g`` and ``phi`` are plain convolutions).
    ``subsample=True``: the official SAN's block. ``g`` and ``phi`` are
    ``Sequential(conv 1x1, 2x2 max-pool)`` (keys ``g.0.*``, ``phi.0.*``, as in the official code),
    so the ``M`` queries of ``theta`` attend to about ``M / 4`` pooled positions: a quarter of the
    attention's work; the output keeps full resolution. Odd sides round down (the last row or
    column is then no key); where a side is a single position it is not pooled (the official code
    fails there, which happens for SAN inputs with a side under 4 pixels).
    """

    def __init__(self, channels: int, inter_channels: int, subsample: bool = False) -> None:
        super().__init__()
        self.inter_channels = inter_channels
        self.g = self._embedding(channels, inter_channels, subsample)
        self.theta = nn.Conv2d(channels, inter_channels, 1)
        self.phi = self._embedding(channels, inter_channels, subsample)
        self.project = nn.Conv2d(inter_channels, channels, 1)
        nn.init.zeros_(self.project.weight)
        nn.init.zeros_(self.project.bias)

    @staticmethod
    def _embedding(channels: int, inter_channels: int, subsample: bool) -> nn.Module:
        conv = nn.Conv2d(channels, inter_channels, 1)
        return nn.Sequential(conv, KeyValuePool()) if subsample else conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, _, height, width = x.shape
        if height * width == 0:
            return x

        def tokens(embedded: torch.Tensor) -> torch.Tensor:  # (B, 1, positions, inter)
            return embedded.flatten(2).transpose(1, 2).unsqueeze(1)

        attended = F.scaled_dot_product_attention(
            tokens(self.theta(x)), tokens(self.phi(x)), tokens(self.g(x)), scale=1.0
        )
        attended = attended.squeeze(1).transpose(1, 2).reshape(batch, self.inter_channels, height, width)
        return x + self.project(attended)


class RegionNonLocal(nn.Module):
    """SAN's region-level non-local module: one non-local block, shared by the four regions of a
    2x2 split (rows at ``H // 2``, columns at ``W // 2``), applied to each region on its own."""

    def __init__(self, channels: int, inter_channels: int, subsample: bool = False) -> None:
        super().__init__()
        self.block = NonLocalBlock(channels, inter_channels, subsample)

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

    def __init__(
        self, channels: int, num_blocks: int, reduction: int, iterations: int, soca_window: int | None = None
    ) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*(ResidualBlock(channels) for _ in range(num_blocks)))
        self.attention = SecondOrderChannelAttention(
            channels, reduction=reduction, iterations=iterations, window=soca_window
        )
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

    ``nonlocal_subsample``: ``True`` is the official code's non-local block, keys and values
    2x2 max-pooled (its ``sub_sample=False`` argument is overwritten, so pooling is always on):
    a quarter of the attention's work, and the architecture the released SAN weights were
    trained with (``load_model`` sets it for them). A new SAN defaults to ``False``, attention at
    full resolution, because the default is also what every srapp checkpoint saved without the
    option is rebuilt with: the shipped ``san-x4`` was trained that way and keeps its outputs.
    Train the official variant by passing ``True``. See :class:`NonLocalBlock` for odd sides
    and sides under 4 pixels.

    ``soca_window``: SOCA's covariance comes from the central ``soca_window x soca_window``
    window of each feature map (the official code: 1000); ``None`` uses the whole map (srapp's
    covariance needs no crop to bound its memory).
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
        nonlocal_subsample: bool = False,
        soca_window: int | None = None,
    ) -> None:
        super().__init__()
        self.config = constructor_config(SAN, locals())
        self.scale = scale
        self.mean_shift = MeanShift(rgb_mean, img_range)
        self.head = conv3x3(3, channels)
        self.non_local = RegionNonLocal(channels, max(1, channels // 8), subsample=nonlocal_subsample)
        self.groups = nn.ModuleList(
            LocalSourceResidualGroup(channels, num_blocks, reduction, iterations, soca_window)
            for _ in range(num_groups)
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
