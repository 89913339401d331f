"""Checkpoint layouts srapp reads: one object per layout, owning its detection, its key renames
and the inference of the network's configuration from the tensors.

A layout is recognised by a signature key only it has; its keys are renamed to srapp's module
names; the configuration (groups, blocks, features, reduction, scale, and what else the layout
fixes) is read off the renamed tensors. Keys a layout is known to carry unused (the official
codes' mean-shift layers, SAN's dead modules) are ignored; any other key that no rule renames is
reported by the loader as unexpected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import torch

from ..attention.soca import OFFICIAL_WINDOW
from ..errors import CheckpointError

State = Mapping[str, torch.Tensor]
RenameRules = tuple[tuple[str, str], ...]


def _indices(state: State, pattern: str) -> list[int]:
    return sorted({int(m.group(1)) for key in state if (m := re.match(pattern, key))})


def _scale_from_upsampler(state: State, channels: int) -> int:
    convs = [state[f"upsampler.{i}.weight"] for i in _indices(state, r"^upsampler\.(\d+)\.weight$")]
    if len(convs) == 1 and convs[0].shape[0] == 9 * channels:
        return 3
    if convs and all(conv.shape[0] == 4 * channels for conv in convs):
        return 2 ** len(convs)
    raise CheckpointError(None, f"cannot infer the scale from the upsampler weights {[tuple(c.shape) for c in convs]}")


def _body_config(state: State, reduce_key: str) -> dict[str, Any]:
    """Scale, groups, blocks, features and reduction: what RCAN and SAN state dicts both tell."""
    if "head.weight" not in state:
        raise CheckpointError(None, "no head convolution (head.weight) to infer the feature count from")
    if reduce_key not in state:
        raise CheckpointError(None, f"no attention weights ({reduce_key}) to infer the reduction from")
    channels = state["head.weight"].shape[0]
    return {
        "scale": _scale_from_upsampler(state, channels),
        "num_groups": len(_indices(state, r"^groups\.(\d+)\.")),
        "num_blocks": len(_indices(state, r"^groups\.0\.blocks\.(\d+)\.")),
        "channels": channels,
        "reduction": channels // state[reduce_key].shape[0],
    }


def rcan_config(state: State, original: State) -> dict[str, Any]:
    return _body_config(state, "groups.0.blocks.0.attention.fc_reduce.weight")


def san_config(state: State, original: State) -> dict[str, Any]:
    config = _body_config(state, "groups.0.attention.fc_reduce.weight")
    # a pooled non-local block keeps its key/value convolutions inside Sequential(conv, max-pool)
    config["nonlocal_subsample"] = "non_local.block.g.0.weight" in state
    return config


def official_san_config(state: State, original: State) -> dict[str, Any]:
    """The official SAN max-pools its non-local keys and values (its ``sub_sample`` argument is
    overwritten in ``_NonLocalBlockND.__init__``) and takes SOCA's statistics from a central window."""
    return dict(san_config(state, original), nonlocal_subsample=True, soca_window=OFFICIAL_WINDOW)


def with_official_mean(infer: Callable[[State, State], dict[str, Any]]) -> Callable[[State, State], dict[str, Any]]:
    """The official codes store ``sub_mean.bias = -255 * mean`` (std 1): keep their mean."""

    def infer_with_mean(state: State, original: State) -> dict[str, Any]:
        config = infer(state, original)
        bias = original.get("sub_mean.bias")
        if bias is not None and bias.numel() == 3:
            config["rgb_mean"] = tuple(float(v) for v in (-bias.double() / 255.0))
        return config

    return infer_with_mean


@dataclass(frozen=True)
class Layout:
    """One way of naming an RCAN or SAN state dict."""

    name: str
    arch: str  # the srapp architecture it holds: "RCAN" or "SAN"
    signature: str  # a key pattern only this layout has
    renames: RenameRules  # (pattern, replacement) to srapp's names; the first match wins
    infer: Callable[[State, State], dict[str, Any]] = field(repr=False)
    ignored: str | None = None  # keys known to be unused in this layout

    def detect(self, state: State) -> bool:
        return any(re.match(self.signature, key) for key in state)

    def to_srapp(self, state: State) -> tuple[dict[str, torch.Tensor], list[str]]:
        """The state under srapp's names, and the keys no rule renames (and not ignored)."""
        renamed: dict[str, torch.Tensor] = {}
        unmatched: list[str] = []
        for key, value in state.items():
            for pattern, replacement in self.renames:
                new_key, count = re.subn(pattern, replacement, key)
                if count:
                    renamed[new_key] = value
                    break
            else:
                if not (self.ignored and re.match(self.ignored, key)):
                    unmatched.append(key)
        return renamed, unmatched

    def config(self, renamed: State, original: State) -> dict[str, Any]:
        """The network's constructor arguments, read off the renamed (and original) tensors."""
        try:
            return self.infer(renamed, original)
        except CheckpointError as error:
            raise CheckpointError(None, f"{self.name} layout, but {error.reason}") from error


_SRAPP_NAMES: RenameRules = ((r"^", ""),)
_MEAN_SHIFT_KEYS = r"^(sub_mean|add_mean)\.(weight|bias)$"

SRAPP_RCAN = Layout("srapp-rcan", "RCAN", r"^groups\.0\.blocks\.0\.attention\.fc_reduce\.weight$", _SRAPP_NAMES,
                    rcan_config)
SRAPP_SAN = Layout("srapp-san", "SAN", r"^groups\.0\.attention\.fc_reduce\.weight$", _SRAPP_NAMES, san_config)

BASICSR_RCAN = Layout(
    "basicsr-rcan", "RCAN", r"^body\.0\.residual_group\.0\.rcab\.0\.weight$",
    (
        (r"^conv_first\.", "head."),
        (r"^body\.(\d+)\.residual_group\.(\d+)\.rcab\.0\.", r"groups.\1.blocks.\2.conv1."),
        (r"^body\.(\d+)\.residual_group\.(\d+)\.rcab\.2\.", r"groups.\1.blocks.\2.conv2."),
        (r"^body\.(\d+)\.residual_group\.(\d+)\.rcab\.3\.attention\.1\.", r"groups.\1.blocks.\2.attention.fc_reduce."),
        (r"^body\.(\d+)\.residual_group\.(\d+)\.rcab\.3\.attention\.3\.", r"groups.\1.blocks.\2.attention.fc_expand."),
        (r"^body\.(\d+)\.conv\.", r"groups.\1.conv."),
        (r"^conv_after_body\.", "body_conv."),
        (r"^upsample\.(\d+)\.", r"upsampler.\1."),
        (r"^conv_last\.", "tail."),
    ),
    rcan_config,
)

OFFICIAL_RCAN = Layout(
    "official-rcan", "RCAN", r"^body\.0\.body\.0\.body\.3\.conv_du\.0\.weight$",
    (
        (r"^head\.0\.", "head."),
        (r"^body\.(\d+)\.body\.(\d+)\.body\.0\.", r"groups.\1.blocks.\2.conv1."),
        (r"^body\.(\d+)\.body\.(\d+)\.body\.2\.", r"groups.\1.blocks.\2.conv2."),
        (r"^body\.(\d+)\.body\.(\d+)\.body\.3\.conv_du\.0\.", r"groups.\1.blocks.\2.attention.fc_reduce."),
        (r"^body\.(\d+)\.body\.(\d+)\.body\.3\.conv_du\.2\.", r"groups.\1.blocks.\2.attention.fc_expand."),
        (r"^body\.(\d+)\.body\.(\d+)\.(weight|bias)$", r"groups.\1.conv.\3"),
        (r"^body\.(\d+)\.(weight|bias)$", r"body_conv.\2"),
        (r"^tail\.0\.(\d+)\.", r"upsampler.\1."),
        (r"^tail\.1\.", "tail."),
    ),
    with_official_mean(rcan_config),
    ignored=_MEAN_SHIFT_KEYS,
)

OFFICIAL_SAN = Layout(
    "official-san", "SAN", r"^RG\.0\.soca\.conv_du\.0\.weight$",
    (
        (r"^head\.0\.", "head."),
        # The official g and phi are Sequential(conv 1x1, 2x2 max-pool): SAN(nonlocal_subsample=True).
        (r"^non_local\.non_local\.(g|phi)\.0\.", r"non_local.block.\1.0."),
        (r"^non_local\.non_local\.theta\.", "non_local.block.theta."),
        (r"^non_local\.non_local\.W\.", "non_local.block.project."),
        (r"^RG\.(\d+)\.rcab\.(\d+)\.conv_first\.0\.", r"groups.\1.blocks.\2.conv1."),
        (r"^RG\.(\d+)\.rcab\.(\d+)\.conv_first\.2\.", r"groups.\1.blocks.\2.conv2."),
        (r"^RG\.(\d+)\.soca\.conv_du\.0\.", r"groups.\1.attention.fc_reduce."),
        (r"^RG\.(\d+)\.soca\.conv_du\.2\.", r"groups.\1.attention.fc_expand."),
        (r"^RG\.(\d+)\.conv_last\.", r"groups.\1.conv."),
        (r"^gamma$", "share_source_weight"),
        (r"^tail\.0\.(\d+)\.", r"upsampler.\1."),
        (r"^tail\.1\.", "tail."),
    ),
    with_official_mean(official_san_config),
    # Defined in the official SAN but never used by its forward pass.
    ignored=f"{_MEAN_SHIFT_KEYS}|^(conv_last\\.(weight|bias)|RG\\.\\d+\\.gamma|non_local\\.soca\\..*)$",
)

LAYOUTS: tuple[Layout, ...] = (SRAPP_RCAN, SRAPP_SAN, BASICSR_RCAN, OFFICIAL_RCAN, OFFICIAL_SAN)


def detect_layout(state: State) -> Layout | None:
    return next((layout for layout in LAYOUTS if layout.detect(state)), None)
