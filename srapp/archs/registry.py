"""Registration of srapp's networks in BasicSR's ARCH_REGISTRY.

BasicSR refuses a second arch named ``RCAN``, so they are registered as ``SrappRCAN`` and
``SrappSAN``. A BasicSR option file builds them with::

    network_g:
      type: SrappRCAN
      scale: 4
      attention: eca      # any of srapp.attention.ATTENTION_NAMES
      num_groups: 10
      num_blocks: 20
"""

from __future__ import annotations

from .. import _compat  # noqa: F401  (must precede the basicsr import)
from .rcan import RCAN
from .san import SAN


class SrappRCAN(RCAN):
    """:class:`srapp.archs.RCAN` under the name BasicSR's option files use."""


class SrappSAN(SAN):
    """:class:`srapp.archs.SAN` under the name BasicSR's option files use."""


BASICSR_NAMES = {"RCAN": "SrappRCAN", "SAN": "SrappSAN"}


def register_with_basicsr() -> None:
    """Register ``SrappRCAN`` and ``SrappSAN`` once (idempotent)."""
    from basicsr.utils.registry import ARCH_REGISTRY

    for arch in (SrappRCAN, SrappSAN):
        if arch.__name__ not in ARCH_REGISTRY:
            ARCH_REGISTRY.register(arch)
