"""The networks: RCAN (any attention of the library) and SAN, in plain PyTorch."""

from .rcan import RCAN
from .san import SAN

ARCHITECTURES = {"RCAN": RCAN, "SAN": SAN}

__all__ = ["ARCHITECTURES", "RCAN", "SAN"]
