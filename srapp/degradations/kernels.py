"""Blur kernels of Real-ESRGAN's degradations (Wang et al., ICCVW 2021), as parameters.

A :class:`Kernel` holds what was drawn (shape, size, spreads, rotation, shape parameter, cutoff);
:meth:`Kernel.array` builds the ``size x size`` filter with BasicSR's functions, normalised to sum
to 1. With ``p = (x, y)`` the offset from the centre tap (``x`` along a row, ``y`` down a column)
and ``Sigma = R(theta) diag(sigma_x^2, sigma_y^2) R(theta)^T``, the shapes are

* ``iso`` / ``aniso``: Gaussian, ``k(p) ~ exp(-1/2 p^T Sigma^-1 p)`` (``iso``: ``sigma_y = sigma_x``);
* ``generalized_iso`` / ``generalized_aniso``: ``k(p) ~ exp(-1/2 (p^T Sigma^-1 p)^beta)``, flatter
  tops for ``beta > 1``, heavier tails for ``beta < 1``;
* ``plateau_iso`` / ``plateau_aniso``: ``k(p) ~ 1 / (1 + (p^T Sigma^-1 p)^beta)``;
* ``sinc``: the circular ideal low-pass filter truncated to the window,
  ``k(p) ~ omega_c J1(omega_c |p|) / (2 pi |p|)`` (``omega_c^2 / (4 pi)`` at the centre): it passes
  spatial frequencies below ``omega_c`` (radians per pixel) and rings like an over-sharpened or
  resampled photo.

BasicSR's ``random_*`` kernel functions draw from the global NumPy and ``random`` states; the
parameters here are drawn from a caller's seeded generator instead (:mod:`.distribution`) and only
the deterministic builders are BasicSR's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import _compat  # noqa: F401  (before basicsr)
from basicsr.data.degradations import (  # noqa: E402
    bivariate_Gaussian,
    bivariate_generalized_Gaussian,
    bivariate_plateau,
    circular_lowpass_kernel,
)

BLUR_SHAPES = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso")
SHAPES = BLUR_SHAPES + ("sinc",)


@dataclass(frozen=True)
class Kernel:
    """One blur kernel: ``shape`` (one of :data:`SHAPES`) and odd ``size``; ``sigma_x``, ``sigma_y``
    (pixels) and ``rotation`` (radians) for the non-sinc shapes, ``beta`` for the generalised and
    plateau ones, ``cutoff`` (``omega_c``, radians per pixel, at most ``pi``) for ``sinc``."""

    shape: str
    size: int
    sigma_x: float = 0.0
    sigma_y: float = 0.0
    rotation: float = 0.0
    beta: float = 1.0
    cutoff: float = 0.0

    def __post_init__(self) -> None:
        if self.shape not in SHAPES:
            raise ValueError(f"unknown kernel shape {self.shape!r}; expected one of {SHAPES}")
        if self.size < 1 or self.size % 2 == 0:
            raise ValueError(f"kernel size must be a positive odd number, got {self.size}")
        if self.shape == "sinc" and not 0 < self.cutoff <= np.pi:
            raise ValueError(f"sinc cutoff must lie in (0, pi], got {self.cutoff}")
        if self.shape != "sinc" and min(self.sigma_x, self.sigma_y) <= 0:
            raise ValueError(f"{self.shape} kernel needs positive sigmas, got {self.sigma_x}, {self.sigma_y}")

    def array(self) -> np.ndarray:
        """The ``(size, size)`` float32 filter, summing to 1 (correlation taps, centre at ``size // 2``)."""
        if self.shape == "sinc":
            kernel = circular_lowpass_kernel(self.cutoff, self.size)
        else:
            isotropic = not self.shape.endswith("aniso")
            spread = (self.size, self.sigma_x, self.sigma_y, self.rotation)
            if self.shape in ("iso", "aniso"):
                kernel = bivariate_Gaussian(*spread, isotropic=isotropic)
            elif self.shape.startswith("generalized"):
                kernel = bivariate_generalized_Gaussian(*spread, self.beta, isotropic=isotropic)
            else:
                kernel = bivariate_plateau(*spread, self.beta, isotropic=isotropic)
        # float32 so that both executors filter with the very same taps
        return kernel.astype(np.float32)
