"""Benchmarks: scripts that print measured figures and ratios (``make bench``)."""
