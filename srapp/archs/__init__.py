"""The networks: RCAN (any attention of the library) and SAN, registered with BasicSR on import."""

from .rcan import RCAN
from .san import SAN
from .registry import register_with_basicsr

ARCHITECTURES = {"RCAN": RCAN, "SAN": SAN}

register_with_basicsr()

__all__ = ["ARCHITECTURES", "RCAN", "SAN", "register_with_basicsr"]
