"""srapp: super-resolution with RCAN and SAN built from a channel-attention library."""

__version__ = "0.1.0"
