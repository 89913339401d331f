"""The configuration a network is built from, checked before anything is built.

A configuration read from a file is data, not code: ``num_groups: 100000`` would build for
minutes and hundreds of gigabytes, ``channels: "64"`` or ``-5`` would fail deep inside PyTorch.
:func:`check_config` holds every value to the type and range its constructor argument takes
(one table, :data:`SETTINGS`, by argument name: RCAN's, SAN's and every attention module's) and
refuses arguments the constructor does not have. :func:`planned_tensors` and :func:`meta_state`
tell what the configured network's state dict would hold without allocating it, so a caller can
compare that with the tensors it has before building the network for real.
"""

from __future__ import annotations

import inspect
import math
from typing import Any, Callable, Mapping

import torch

from ..attention import ATTENTION_CLASSES
from ..attention.fca import FREQUENCY_SELECTIONS
from ..attention.gct import GCT_MODES
from . import ARCHITECTURES
from .common import SUPPORTED_SCALES
from .rcan import NO_ATTENTION, RCAN_ATTENTIONS

# Upper bounds far beyond any published RCAN or SAN (64 features, 10 x 20 or 20 x 10 blocks),
# low enough that a tiny build with them stays cheap.
MAX_CHANNELS = 4096
MAX_DEPTH = 1000  # residual groups, and blocks per group
MAX_ITERATIONS = 100  # Newton-Schulz steps run on every forward pass (the papers: 5)
MAX_DCT_SIZE = 64  # FcaNet's DCT grid: a (channels, size, size) buffer that no file bounds
MAX_SIDE = 1 << 16  # a window in pixels of a feature map

Check = Callable[[Any], str | None]  # the problem with a value, or None


def integer(low: int, high: int) -> Check:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int):
            return f"expected an integer, got {value!r}"
        if not low <= value <= high:
            return f"{value} is outside {low}..{high}"
        return None

    return check


def one_of(choices: tuple[Any, ...]) -> Check:
    def check(value: Any) -> str | None:
        # by type too: 4.0 == 4 and True == 1, but neither is a scale
        if not any(type(value) is type(choice) and value == choice for choice in choices):
            return f"{value!r} is not one of {', '.join(map(repr, choices))}"
        return None

    return check


def _is_finite(value: Any) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def number(positive: bool = False) -> Check:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"expected a number, got {value!r}"
        if not _is_finite(value):
            return f"{value!r} is not a finite number"
        if positive and value <= 0:
            return f"{value} is not positive"
        return None

    return check


def boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else f"expected true or false, got {value!r}"


def rgb(value: Any) -> str | None:
    if not isinstance(value, (tuple, list)) or len(value) != 3:
        return f"expected three numbers, got {value!r}"
    problems = [number()(channel) for channel in value]
    return next((f"{value!r}: {problem}" for problem in problems if problem), None)


def options(value: Any) -> str | None:
    """``attention_kwargs`` itself; its entries are checked against the attention module's arguments."""
    if not isinstance(value, Mapping):
        return f"expected a mapping of attention options, got {value!r}"
    return None


# Every constructor argument of the networks and of the attention modules, by name (one name
# means one thing everywhere). A constructor whose default is None also takes None.
SETTINGS: dict[str, Check] = {
    "scale": one_of(SUPPORTED_SCALES),
    "attention": one_of(RCAN_ATTENTIONS),
    "num_groups": integer(1, MAX_DEPTH),
    "num_blocks": integer(1, MAX_DEPTH),
    "channels": integer(1, MAX_CHANNELS),
    "reduction": integer(1, MAX_CHANNELS),
    "attention_kwargs": options,
    "res_scale": number(),
    "img_range": number(positive=True),
    "rgb_mean": rgb,
    "iterations": integer(1, MAX_ITERATIONS),
    "nonlocal_subsample": boolean,
    "soca_window": integer(1, MAX_SIDE),
    # the attention modules' own options
    "window": integer(1, MAX_SIDE),
    "bias": boolean,
    "num_codes": integer(1, MAX_CHANNELS),
    "num_classes": integer(1, MAX_CHANNELS),
    "dim": integer(1, MAX_CHANNELS),
    "row_filters": integer(1, MAX_CHANNELS),
    "dct_size": integer(1, MAX_DCT_SIZE),
    "frequencies": one_of(FREQUENCY_SELECTIONS),
    "kernel_size": integer(1, MAX_CHANNELS),
    "gamma": number(positive=True),
    "beta": number(),
    "eps": number(positive=True),
    "mode": one_of(GCT_MODES),
}


def arguments(cls: type, supplied: tuple[str, ...] = ()) -> dict[str, Any]:
    """The arguments of ``cls`` and their defaults, less ``self`` and those ``supplied`` by its caller."""
    return {
        name: parameter.default for name, parameter in inspect.signature(cls.__init__).parameters.items()
        if name not in ("self", *supplied)
    }


def attention_arguments(attention: str) -> dict[str, Any]:
    """The options ``attention_kwargs`` may hold for the attention ``attention`` of RCAN's blocks."""
    if attention == NO_ATTENTION:  # RCAN folds its ``reduction`` into the options, "none" included
        return {"reduction": None}
    # the block passes the channels and DIANet's shared cell itself
    return arguments(ATTENTION_CLASSES[attention], supplied=("channels", "cell"))


def _check_values(values: Any, accepted: Mapping[str, Any], owner: str, prefix: str = "") -> None:
    if not isinstance(values, Mapping):
        raise ValueError(f"expected a mapping of {owner}'s arguments, got a {type(values).__name__}")
    for key, value in values.items():
        if key not in accepted:
            raise ValueError(f"unknown key {prefix + str(key)!r} ({owner} takes {', '.join(accepted) or 'none'})")
        problem = None if value is None and accepted[key] is None else SETTINGS[key](value)
        if problem:
            raise ValueError(f"{prefix}{key}: {problem}")


def check_config(arch: str, config: Any) -> dict[str, Any]:
    """``config`` as a dict once every key is an argument of ``arch``'s constructor (or of its
    attention module, inside ``attention_kwargs``) and every value has that argument's type and
    range; otherwise ``ValueError`` naming the key and the problem."""
    accepted = arguments(ARCHITECTURES[arch])
    _check_values(config, accepted, arch)
    if "attention_kwargs" in accepted:
        attention = config.get("attention", accepted["attention"])
        _check_values(config.get("attention_kwargs") or {}, attention_arguments(attention),
                      f"attention {attention!r}", prefix="attention_kwargs.")
    return dict(config)


def meta_state(arch: str, config: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """The state dict of the network ``config`` describes, as shapes and dtypes on the meta
    device: no memory is allocated for it. Its cost grows with the number of modules: bound it
    with :func:`planned_tensors` first."""
    with torch.device("meta"):
        return ARCHITECTURES[arch](**config).state_dict()


def planned_tensors(arch: str, config: Mapping[str, Any]) -> int:
    """How many tensors the state dict of the network ``config`` describes holds, at the cost of
    three networks of one or two groups and blocks built on the meta device. Both networks are a
    fixed part plus ``G = num_groups`` groups, each a fixed part plus ``B = num_blocks`` blocks, so
    the count is ``a + G b + G B c``: the three tiny builds give ``a``, ``b`` and ``c``."""
    defaults = arguments(ARCHITECTURES[arch])
    groups = config.get("num_groups", defaults["num_groups"])
    blocks = config.get("num_blocks", defaults["num_blocks"])

    def count(num_groups: int, num_blocks: int) -> int:
        return len(meta_state(arch, {**config, "num_groups": num_groups, "num_blocks": num_blocks}))

    one = count(1, 1)
    per_block = count(1, 2) - one
    per_group = count(2, 1) - one - per_block
    fixed = one - per_group - per_block
    return fixed + groups * per_group + groups * blocks * per_block
