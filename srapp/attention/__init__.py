"""The channel-attention library: eleven published modules behind one factory.

Every module maps a ``(B, C, H, W)`` tensor to a recalibrated tensor of the same shape, takes
``channels`` first and the paper's defaults as keyword arguments::

    from srapp.attention import create_attention, ATTENTION_NAMES
    attention = create_attention("eca", 64)          # ECA-Net with k = 3 at C = 64
    y = attention(torch.randn(2, 64, 48, 48))

DIANet shares one stateful LSTM cell between the blocks of a stage: build it with
``create_shared_state("dia", channels)`` and pass it as ``shared=`` to each block's
``create_attention``; the stage resets it at the start of its forward pass.
"""

from __future__ import annotations

from typing import Any, Callable

from torch import nn

from .base import AttentionModule
from .bilinear import BilinearAttention
from .dia import DenseImplicitAttention, DIACell
from .eca import EfficientChannelAttention, eca_kernel_size
from .encoding import ContextEncoding, Encoding
from .fca import FrequencyChannelAttention
from .gct import GatedChannelTransform
from .gsop import GlobalSecondOrderPooling
from .soca import SecondOrderChannelAttention
from .squeeze_excite import RCANChannelAttention, SqueezeExcite
from .srm import StyleRecalibration

ATTENTION_CLASSES: dict[str, Callable[..., AttentionModule]] = {
    "se": SqueezeExcite,
    "enc": ContextEncoding,
    "gsop": GlobalSecondOrderPooling,
    "fca": FrequencyChannelAttention,
    "bilinear": BilinearAttention,
    "eca": EfficientChannelAttention,
    "ca": RCANChannelAttention,
    "dia": DenseImplicitAttention,
    "srm": StyleRecalibration,
    "gct": GatedChannelTransform,
    "soca": SecondOrderChannelAttention,
}
ATTENTION_NAMES: tuple[str, ...] = tuple(ATTENTION_CLASSES)

# Modules whose blocks share one stateful object per stage, and the factory of that object.
SHARED_STATE_CLASSES: dict[str, Callable[..., nn.Module]] = {"dia": DIACell}


def _check_name(name: str) -> None:
    if name not in ATTENTION_CLASSES:
        raise ValueError(f"unknown attention {name!r}; valid names: {', '.join(ATTENTION_NAMES)}")


def create_attention(name: str, channels: int, shared: nn.Module | None = None, **kwargs: Any) -> AttentionModule:
    """Build the attention module ``name`` for ``channels`` channels.

    ``kwargs`` override the paper defaults of that module. ``shared`` is the stage's shared state
    from :func:`create_shared_state` (DIANet's cell); other modules take none.
    """
    _check_name(name)
    if shared is not None:
        if name not in SHARED_STATE_CLASSES:
            raise ValueError(f"attention {name!r} takes no shared state")
        kwargs["cell"] = shared
    return ATTENTION_CLASSES[name](channels, **kwargs)


def create_shared_state(name: str, channels: int, **kwargs: Any) -> nn.Module | None:
    """The object one stage's blocks share for attention ``name``, or None when they share nothing.

    The stage registers it as a submodule and calls its ``reset()`` at the start of every forward.
    """
    _check_name(name)
    factory = SHARED_STATE_CLASSES.get(name)
    return None if factory is None else factory(channels, **kwargs)


__all__ = [
    "ATTENTION_CLASSES",
    "ATTENTION_NAMES",
    "AttentionModule",
    "BilinearAttention",
    "ContextEncoding",
    "DIACell",
    "DenseImplicitAttention",
    "EfficientChannelAttention",
    "Encoding",
    "FrequencyChannelAttention",
    "GatedChannelTransform",
    "GlobalSecondOrderPooling",
    "RCANChannelAttention",
    "SecondOrderChannelAttention",
    "SqueezeExcite",
    "StyleRecalibration",
    "create_attention",
    "create_shared_state",
    "eca_kernel_size",
]
