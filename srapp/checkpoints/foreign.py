"""Foreign networks through spandrel: the fallback layout for every checkpoint none of srapp's own
layouts recognises.

spandrel (MIT) detects the architecture and its hyperparameters from the state dict for the
architectures of its core package, whose code is under permissive licences (MIT, Apache 2.0,
public domain). ``spandrel_extra_arches`` adds architectures under non-commercial, academic or
copyleft licences; srapp does not depend on it, but where a user has installed it its
architectures load too, and every such model carries :data:`RESTRICTED_LICENCE` in its
descriptor, which ``srapp models``, the command line and the web page show.

spandrel's ``ImageModelDescriptor`` becomes srapp's :class:`LoadedModel`: architecture, scale,
channels, size requirements, tiling, fp16 / bf16 support and purpose as spandrel states them,
except where srapp measured tiling otherwise (:data:`TILING_OVERRIDES`).
Models srapp cannot run as an image-to-image upscaler are refused: inpainting (it needs a mask)
and face restoration (aligned face crops, not photos).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from ..errors import CheckpointError
from .descriptor import (
    TILING_DISCOURAGED, TILING_INTERNAL, TILING_SUPPORTED, LoadedModel, SizeRequirements,
)

LAYOUT = "spandrel"
EXTRA_PACKAGE = "spandrel_extra_arches"  # never a dependency: used where the user installed it
PERMISSIVE_LICENCE = "permissive (spandrel core)"
RESTRICTED_LICENCE = "non-commercial or academic (spandrel_extra_arches)"
REFUSED_PURPOSES = {
    "Inpainting": "an inpainting model (it fills a masked region and needs the mask)",
    "FaceSR": "a face restoration model (it takes aligned face crops, not whole images)",
}
RUNNABLE_CHANNELS = (1, 3, 4)
# Architectures whose output tiles change more than spandrel's tiling claim lets on. OmniSR
# (spandrel 0.4.2: supported) has grid attention, whose groups gather pixels spaced (side /
# window size) apart across the whole input, and channel attention over every window: an output
# pixel depends on the whole input, not on a neighbourhood a tile overlap could cover. With
# random weights (python benchmarks/tiling_reach.py), a pixel's gradient 24+ pixels away was
# 0.8-4% of its own pixel's (convolutional networks': 0; RCAN's, global pooling only: 0.004%),
# and tiles of 48 to 96 with overlaps of 16 to 47 over 128x144 came within 39-56 dB of the
# whole image, no closer with more overlap. As "discouraged" it runs whole up to the
# whole-image bound and is tiled beyond it with a warning.
TILING_OVERRIDES = {"OmniSR": TILING_DISCOURAGED}


def _spandrel() -> Any:
    import spandrel

    return spandrel


def extra_registry() -> Any | None:
    """``spandrel_extra_arches``' registry where it is installed, else None."""
    try:
        module = importlib.import_module(EXTRA_PACKAGE)
    except ImportError:
        return None
    return getattr(module, "EXTRA_REGISTRY", None)


def registry() -> Any:
    """spandrel's core architectures, then the extra ones where installed (spandrel's own global
    registry is left as it is)."""
    combined = _spandrel().MAIN_REGISTRY.copy()
    extra = extra_registry()
    if extra is not None:
        combined.add(*extra, ignore_duplicates=True)
    return combined


def licence_of(architecture: Any) -> str:
    """The licence class of an architecture: spandrel's core package holds only permissive ones."""
    package = type(architecture).__module__.split(".")[0]
    return PERMISSIVE_LICENCE if package == "spandrel" else RESTRICTED_LICENCE


def canonical_state(checkpoint: Mapping[str, Any]) -> dict[str, Any]:
    """The state dict inside a checkpoint as spandrel unwraps it (``params_ema``, ``state_dict``,
    ``net``, ..., ``module.`` / ``netG.`` prefixes)."""
    return dict(_spandrel().canonicalize_state_dict(dict(checkpoint)))


def detect(state: Mapping[str, Any]) -> Any | None:
    """The registry entry (``ArchSupport``) of the first architecture that recognises ``state``."""
    if not state or not all(isinstance(value, torch.Tensor) for value in state.values()):
        return None
    return next((support for support in registry().architectures("detection") if support.detect(state)), None)


_TORCH_LOAD_PROBLEM = re.compile(r"^\s*(Missing key\(s\)|Unexpected key\(s\)|size mismatch)", re.M)


def _build_problem(error: BaseException) -> str:
    """What went wrong building a detected architecture, naming the keys where the error does."""
    if isinstance(error, KeyError):
        return f"missing key: {error.args[0] if error.args else error}"
    text = str(error)
    lines = [line.strip() for line in text.splitlines() if _TORCH_LOAD_PROBLEM.match(line)]
    if lines:  # load_state_dict's report: missing, unexpected keys and shape mismatches
        text = "; ".join(lines)
    text = re.sub(r"\s+", " ", text).strip()
    return f"{type(error).__name__}: {text[:600]}"


class CalledNetwork(nn.Module):
    """A spandrel network with the call its architecture needs (spandrel's ``call_fn``: e.g. a
    network returning a tuple whose first element is the image)."""

    def __init__(self, model: nn.Module, call: Any) -> None:
        super().__init__()
        self.model, self._call = model, call

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._call(self.model, x)


def _network(descriptor: Any) -> nn.Module:
    """The module the engine runs: spandrel's model itself, or with its architecture's call."""
    call = getattr(descriptor, "_call_fn", None)
    default = call is None or getattr(call, "__qualname__", "").startswith("ImageModelDescriptor.__init__")
    return descriptor.model if default else CalledNetwork(descriptor.model, call)


_TILINGS = {"SUPPORTED": TILING_SUPPORTED, "DISCOURAGED": TILING_DISCOURAGED, "INTERNAL": TILING_INTERNAL}


def spandrel_model(state: Mapping[str, Any], origin: str | None = None) -> LoadedModel | None:
    """The descriptor of the network spandrel recognises in ``state`` (a canonical state dict),
    None when no architecture does. Raises :class:`CheckpointError` naming the architecture and
    the keys when one recognises it but cannot be built from it, and for models srapp cannot run."""
    support = detect(state)
    if support is None:
        return None
    architecture = support.architecture
    name = str(architecture.id) + (f" ({architecture.name})" if architecture.name != architecture.id else "")
    try:
        descriptor = architecture.load(dict(state))
    except Exception as error:  # noqa: BLE001 (an architecture's own loader raises anything)
        raise CheckpointError(origin, f"recognised by spandrel as {name}, but it cannot be built from these "
                              f"weights; nothing was loaded; {_build_problem(error)}") from error
    purpose = str(descriptor.purpose)
    if purpose in REFUSED_PURPOSES or not isinstance(descriptor, _spandrel().ImageModelDescriptor):
        what = REFUSED_PURPOSES.get(purpose, f"a {purpose} model")
        raise CheckpointError(origin, f"{name} is {what}, not super-resolution or restoration of whole images: "
                              "srapp does not run it")
    channels = (descriptor.input_channels, descriptor.output_channels)
    if any(count not in RUNNABLE_CHANNELS for count in channels):
        raise CheckpointError(origin, f"{name} takes {channels[0]} and gives {channels[1]} channels; srapp runs "
                              f"models of {', '.join(map(str, RUNNABLE_CHANNELS))} channels")
    requirements = descriptor.size_requirements
    network = _network(descriptor)
    network.eval()
    return LoadedModel(
        network, str(architecture.id), int(descriptor.scale), {"tags": list(descriptor.tags)}, LAYOUT, origin,
        input_channels=int(descriptor.input_channels), output_channels=int(descriptor.output_channels),
        size_requirements=SizeRequirements(requirements.minimum, requirements.multiple_of, requirements.square),
        tiling=TILING_OVERRIDES.get(str(architecture.id), _TILINGS[descriptor.tiling.name]), supports_fp16=bool(descriptor.supports_half),
        supports_bf16=bool(descriptor.supports_bfloat16), licence=licence_of(architecture), purpose=purpose,
    )


def architecture_count() -> int:
    return len(registry())


__all__ = [
    "CalledNetwork", "EXTRA_PACKAGE", "LAYOUT", "PERMISSIVE_LICENCE", "RESTRICTED_LICENCE", "TILING_OVERRIDES",
    "architecture_count",
    "canonical_state", "detect", "extra_registry", "licence_of", "registry", "spandrel_model",
]
