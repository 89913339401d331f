"""srapp's parts in BasicSR's registries, registered once: the one place srapp meets them.

BasicSR refuses a second arch named ``RCAN``, so the networks are registered as ``SrappRCAN``
and ``SrappSAN``; with them the LPIPS metric ``calculate_lpips``, the datasets
``SrappBicubicPairedDataset``, ``SrappDegradedDataset`` and ``SrappResidentPairedDataset`` and the
model ``SrappSRModel`` (which also builds the wall-clock scheduler ``CosineAnnealingTimeLR``: BasicSR
1.4.2 keeps no registry of schedulers). A BasicSR option file then says::

    network_g:
      type: SrappRCAN
      scale: 4
      attention: eca      # any of srapp.attention.ATTENTION_NAMES
      num_groups: 10
      num_blocks: 20
"""

from __future__ import annotations

import threading

from .. import _compat  # noqa: F401  (before basicsr)
from ..archs import RCAN, SAN

_LOCK = threading.Lock()
_registered = False


class SrappRCAN(RCAN):
    """:class:`srapp.archs.RCAN` under the name BasicSR's option files use."""


class SrappSAN(SAN):
    """:class:`srapp.archs.SAN` under the name BasicSR's option files use."""


NETWORK_TYPES = {"SrappRCAN": SrappRCAN, "SrappSAN": SrappSAN}


def register_with_basicsr() -> None:
    """Register srapp's networks, metric, dataset and model with BasicSR (once per process)."""
    global _registered
    with _LOCK:
        if _registered:
            return
        from basicsr.utils.registry import ARCH_REGISTRY, DATASET_REGISTRY, METRIC_REGISTRY, MODEL_REGISTRY

        from .datasets import SrappBicubicPairedDataset
        from .degraded_pairs import SrappDegradedDataset
        from .metrics import calculate_lpips
        from .sr_model import SrappSRModel
        from .resident_pairs import SrappResidentPairedDataset

        for registry, entry in ((ARCH_REGISTRY, SrappRCAN), (ARCH_REGISTRY, SrappSAN),
                                (METRIC_REGISTRY, calculate_lpips), (DATASET_REGISTRY, SrappBicubicPairedDataset),
                                (DATASET_REGISTRY, SrappDegradedDataset), (DATASET_REGISTRY, SrappResidentPairedDataset),
                                (MODEL_REGISTRY, SrappSRModel)):
            if entry.__name__ not in registry:
                registry.register(entry)
        _registered = True
