"""The one place that prepares third-party imports.

BasicSR 1.4.2 (its last release) imports ``torchvision.transforms.functional_tensor``, a module
that torchvision removed in 0.17. Every srapp entry point imports this module before basicsr, so
the alias is registered exactly once, here.
"""

from __future__ import annotations

import sys
import types


def register_torchvision_alias() -> None:
    """Make ``torchvision.transforms.functional_tensor`` importable on current torchvision."""
    name = "torchvision.transforms.functional_tensor"
    if name in sys.modules:
        return
    try:
        import torchvision.transforms.functional_tensor  # noqa: F401  (old torchvision has it)
        return
    except ImportError:
        pass
    from torchvision.transforms import functional

    alias = types.ModuleType(name)
    # basicsr only uses rgb_to_grayscale from it; expose the whole public functional API.
    for attribute in dir(functional):
        if not attribute.startswith("__"):
            setattr(alias, attribute, getattr(functional, attribute))
    sys.modules[name] = alias


register_torchvision_alias()
