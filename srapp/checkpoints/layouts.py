"""Checkpoint layouts srapp reads: one object per layout, owning its detection, its key renames
and the inference of the network's configuration from the tensors.

A layout is recognised by a signature key only it has; its keys are renamed to srapp's module
names; the configuration (groups, blocks, features, reduction, scale, and what else the layout
fixes) is read off the renamed tensors. Keys a layout is known to carry unused (the official
codes' mean-shift layers, SAN's dead modules) are ignored; any other key that no rule renames is
reported by the loader as unexpected.

The official layouts also write: :meth:`Layout.from_srapp` renames an srapp state dict to the
layout's names and adds the tensors its code expects beyond srapp's (mean shifts, dead modules),
after checking the layout can hold the network's configuration at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import torch

from ..attention.soca import OFFICIAL_WINDOW
from ..errors import CheckpointError

State = Mapping[str, torch.Tensor]
Config = Mapping[str, Any]
RenameRules = tuple[tuple[str, str], ...]

OFFICIAL_RGB_RANGE = 255.0  # both official codes scale [0, 1] inputs by rgb_range 255
OFFICIAL_SOCA_ITERATIONS = 5  # the official SAN's MPNCOV square root: 5 Newton-Schulz steps
OFFICIAL_NONLOCAL_SOCA_REDUCTION = 8  # reduction of the official SAN's unused non_local.soca


def rename(state: State, rules: RenameRules, ignored: str | None = None) -> tuple[dict[str, torch.Tensor], list[str]]:
    """``state`` renamed by the first rule whose pattern matches each key, and the keys no rule
    matches (those matching ``ignored`` are dropped instead)."""
    renamed: dict[str, torch.Tensor] = {}
    unmatched: list[str] = []
    for key, value in state.items():
        for pattern, replacement in rules:
            new_key, count = re.subn(pattern, replacement, key)
            if count:
                renamed[new_key] = value
                break
        else:
            if not (ignored and re.match(ignored, key)):
                unmatched.append(key)
    return renamed, unmatched


def name_rules(names: tuple[tuple[str, str], ...], to_srapp: bool = True) -> RenameRules:
    """Rename rules in either direction from ``(layout name, srapp name)`` templates: ``{n}`` is
    a number kept from one name to the other; a template ending in ``.`` renames a prefix, any
    other the whole key."""

    def pattern(template: str) -> str:
        body = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>\\d+)", re.escape(template))
        return f"^{body}" if template.endswith(".") else f"^{body}$"

    def replacement(template: str) -> str:
        return re.sub(r"\{(\w+)\}", r"\\g<\1>", template)

    pairs = names if to_srapp else tuple((srapp, layout) for layout, srapp in names)
    return tuple((pattern(source), replacement(target)) for source, target in pairs)


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
    """The official codes store ``sub_mean.bias = -rgb_range * mean`` (rgb_range 255, std 1): keep their mean."""

    def infer_with_mean(state: State, original: State) -> dict[str, Any]:
        config = infer(state, original)
        bias = original.get("sub_mean.bias")
        if bias is not None and bias.numel() == 3:
            config["rgb_mean"] = tuple(float(v) for v in (-bias.double() / OFFICIAL_RGB_RANGE))
        return config

    return infer_with_mean


@dataclass(frozen=True)
class LayoutWriter:
    """How srapp writes a layout: which configurations it can hold, the renames srapp -> layout
    (they depend on the depth: the official codes number the group and body tail convolutions
    after the blocks), and the layout's own tensors srapp does not have."""

    cannot_hold: Callable[[Config], str | None]  # why a configuration does not fit; None: it does
    renames: Callable[[Config], RenameRules]
    extra: Callable[[Config], dict[str, torch.Tensor]]
    # where the layout's own code computes something else from the weights than srapp's network
    differences: Callable[[Config], tuple[str, ...]] = lambda config: ()


def official_mean_shift(config: Config) -> dict[str, torch.Tensor]:
    """The official codes' ``sub_mean`` / ``add_mean``: 1x1 convolutions (identity weight, std 1)
    with bias ``-/+ rgb_range * mean``."""
    mean = torch.tensor(config["rgb_mean"], dtype=torch.float32)
    identity = torch.eye(3).view(3, 3, 1, 1)
    return {
        "sub_mean.weight": identity.clone(), "sub_mean.bias": -OFFICIAL_RGB_RANGE * mean,
        "add_mean.weight": identity.clone(), "add_mean.bias": OFFICIAL_RGB_RANGE * mean,
    }


def _official_range_problem(config: Config) -> str | None:
    if config["img_range"] != OFFICIAL_RGB_RANGE:
        return f"img_range {config['img_range']} (the official code scales inputs by {OFFICIAL_RGB_RANGE:g})"
    return None


def official_rcan_problem(config: Config) -> str | None:
    if config["attention"] != "ca":
        return (f"its blocks use {config['attention']!r} attention; the official RCAN has only channel "
                "attention (ca): save it as an srapp checkpoint or safetensors instead")
    if set(config["attention_kwargs"]) - {"reduction"}:
        return f"attention options {config['attention_kwargs']} beyond the reduction"
    if config["res_scale"] != 1.0:
        return f"res_scale {config['res_scale']} (the official RCAB ignores res_scale: it always adds 1x)"
    return _official_range_problem(config)


def official_rcan_renames(config: Config) -> RenameRules:
    return (
        (r"^head\.", "head.0."),
        (r"^groups\.(\d+)\.blocks\.(\d+)\.conv1\.", r"body.\1.body.\2.body.0."),
        (r"^groups\.(\d+)\.blocks\.(\d+)\.conv2\.", r"body.\1.body.\2.body.2."),
        (r"^groups\.(\d+)\.blocks\.(\d+)\.attention\.fc_reduce\.", r"body.\1.body.\2.body.3.conv_du.0."),
        (r"^groups\.(\d+)\.blocks\.(\d+)\.attention\.fc_expand\.", r"body.\1.body.\2.body.3.conv_du.2."),
        (r"^groups\.(\d+)\.conv\.", rf"body.\1.body.{config['num_blocks']}."),
        (r"^body_conv\.", f"body.{config['num_groups']}."),
        (r"^upsampler\.(\d+)\.", r"tail.0.\1."),
        (r"^tail\.", "tail.1."),
    )


def official_san_problem(config: Config) -> str | None:
    if not config["nonlocal_subsample"]:
        return ("its non-local block attends at full resolution (nonlocal_subsample=False), and the official "
                "SAN code always max-pools the block's keys and values 2x2, so it would compute another "
                "network from these weights; only a SAN built with nonlocal_subsample=True (like the released "
                "official weights) has an official layout. Export it as an srapp checkpoint, safetensors, "
                "ONNX or OpenVINO instead")
    if config["iterations"] != OFFICIAL_SOCA_ITERATIONS:
        return (f"SOCA with {config['iterations']} Newton-Schulz iterations "
                f"(the official code runs {OFFICIAL_SOCA_ITERATIONS})")
    return _official_range_problem(config)


# (official SAN name, srapp name). The official g and phi are Sequential(conv 1x1, 2x2 max-pool):
# SAN(nonlocal_subsample=True).
OFFICIAL_SAN_NAMES = (
    ("head.0.", "head."),
    ("non_local.non_local.g.0.", "non_local.block.g.0."),
    ("non_local.non_local.phi.0.", "non_local.block.phi.0."),
    ("non_local.non_local.theta.", "non_local.block.theta."),
    ("non_local.non_local.W.", "non_local.block.project."),
    ("RG.{group}.rcab.{block}.conv_first.0.", "groups.{group}.blocks.{block}.conv1."),
    ("RG.{group}.rcab.{block}.conv_first.2.", "groups.{group}.blocks.{block}.conv2."),
    ("RG.{group}.soca.conv_du.0.", "groups.{group}.attention.fc_reduce."),
    ("RG.{group}.soca.conv_du.2.", "groups.{group}.attention.fc_expand."),
    ("RG.{group}.conv_last.", "groups.{group}.conv."),
    ("gamma", "share_source_weight"),
    ("tail.0.{index}.", "upsampler.{index}."),
    ("tail.1.", "tail."),
)


def official_san_renames(config: Config) -> RenameRules:
    return name_rules(OFFICIAL_SAN_NAMES, to_srapp=False)


def official_san_differences(config: Config) -> tuple[str, ...]:
    if config["soca_window"] == OFFICIAL_WINDOW:
        return ()
    whole = "whole feature maps" if config["soca_window"] is None else f"a {config['soca_window']} window"
    return (f"the official SAN takes SOCA's statistics from the central {OFFICIAL_WINDOW}x{OFFICIAL_WINDOW} "
            f"window, this network from {whole} (soca_window={config['soca_window']}): the same outputs for "
            f"inputs up to {min(OFFICIAL_WINDOW, config['soca_window'] or OFFICIAL_WINDOW)} pixels a side, "
            "others beyond; srapp loads the file with the official window",)


def official_san_extra(config: Config) -> dict[str, torch.Tensor]:
    """The mean shifts and the modules the official SAN defines but never runs (its top-level
    ``conv_last``, each group's ``gamma``, the non-local module's ``soca``), as zeros: the
    official code's strict ``load_state_dict`` expects them."""
    channels = config["channels"]
    hidden = channels // OFFICIAL_NONLOCAL_SOCA_REDUCTION
    dead = {
        "conv_last.weight": torch.zeros(channels, channels, 3, 3), "conv_last.bias": torch.zeros(channels),
        "non_local.soca.conv_du.0.weight": torch.zeros(hidden, channels, 1, 1),
        "non_local.soca.conv_du.0.bias": torch.zeros(hidden),
        "non_local.soca.conv_du.2.weight": torch.zeros(channels, hidden, 1, 1),
        "non_local.soca.conv_du.2.bias": torch.zeros(channels),
    }
    dead.update({f"RG.{group}.gamma": torch.zeros(1) for group in range(config["num_groups"])})
    return {**official_mean_shift(config), **dead}


@dataclass(frozen=True)
class Layout:
    """One way of naming an RCAN or SAN state dict."""

    name: str
    arch: str  # the srapp architecture it holds: "RCAN" or "SAN"
    signature: str  # a key pattern only this layout has
    renames: RenameRules  # (pattern, replacement) to srapp's names; the first match wins
    infer: Callable[[State, State], dict[str, Any]] = field(repr=False)
    ignored: str | None = None  # keys known to be unused in this layout
    writer: LayoutWriter | None = field(default=None, repr=False)  # None: srapp only reads it

    def detect(self, state: State) -> bool:
        return any(re.match(self.signature, key) for key in state)

    def to_srapp(self, state: State) -> tuple[dict[str, torch.Tensor], list[str]]:
        """The state under srapp's names, and the keys no rule renames (and not ignored)."""
        return rename(state, self.renames, self.ignored)

    def from_srapp(self, state: State, config: Config) -> dict[str, torch.Tensor]:
        """An srapp state dict (of a network built with ``config``) under this layout's names, with
        the tensors this layout's code expects beyond srapp's. Raises :class:`CheckpointError`
        (no subject) saying why when the layout cannot hold the network."""
        if self.writer is None:
            raise CheckpointError(None, f"srapp does not write the {self.name} layout")
        problem = self.writer.cannot_hold(config)
        if problem:
            raise CheckpointError(None, f"the {self.name} layout cannot hold this network: {problem}")
        renamed, unmatched = rename(state, self.writer.renames(config))
        if unmatched:  # a tensor the layout has no place for: cannot_hold should have said why
            raise CheckpointError(None, f"the {self.name} layout has no place for {', '.join(unmatched)}")
        return {**renamed, **self.writer.extra(config)}

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
    writer=LayoutWriter(official_rcan_problem, official_rcan_renames, official_mean_shift),
)

OFFICIAL_SAN = Layout(
    "official-san", "SAN", r"^RG\.0\.soca\.conv_du\.0\.weight$",
    name_rules(OFFICIAL_SAN_NAMES),
    with_official_mean(official_san_config),
    # Defined in the official SAN but never used by its forward pass.
    ignored=f"{_MEAN_SHIFT_KEYS}|^(conv_last\\.(weight|bias)|RG\\.\\d+\\.gamma|non_local\\.soca\\..*)$",
    writer=LayoutWriter(official_san_problem, official_san_renames, official_san_extra, official_san_differences),
)

LAYOUTS: tuple[Layout, ...] = (SRAPP_RCAN, SRAPP_SAN, BASICSR_RCAN, OFFICIAL_RCAN, OFFICIAL_SAN)
OFFICIAL_LAYOUTS: dict[str, Layout] = {"RCAN": OFFICIAL_RCAN, "SAN": OFFICIAL_SAN}  # by srapp architecture


def detect_layout(state: State) -> Layout | None:
    return next((layout for layout in LAYOUTS if layout.detect(state)), None)
