"""The distribution of degradations: Real-ESRGAN's published ranges as defaults, and the sampler.

:class:`DegradationConfig` is the distribution; ``config.sample(rng)`` draws one :data:`Plan` from
a seeded ``numpy.random.Generator``, so the same seed gives the same plan on every machine, and the
CPU and torch executors apply plans from this one sampler (one distribution for both).

The defaults are those of Real-ESRNet x4plus (Wang et al., "Real-ESRGAN: Training Real-World
Blind Super-Resolution with Pure Synthetic Data", ICCVW 2021; ``options/train_realesrnet_x4plus.yml``
and ``RealESRGANDataset`` / ``RealESRNetModel.feed_data`` of the official code):

============================  ======================================  =========================
draw                          first stage                             second stage
============================  ======================================  =========================
blur applied                  always                                  p = 0.8
kernel size                   uniform over 7, 9, ..., 21              same
sinc kernel instead           p = 0.1; omega_c ~ U(pi/3, pi) for      same
                              size < 13, else U(pi/5, pi)
kernel shape (otherwise)      iso .45, aniso .25, generalized_iso     same
                              .12, generalized_aniso .03,
                              plateau_iso .12, plateau_aniso .03
sigma_x, sigma_y              U(0.2, 3); rotation U(-pi, pi)          U(0.2, 1.5)
beta (generalised, plateau)   betag in [0.5, 4], betap in [1, 2]:     same
                              U(lo, 1) or U(1, hi), each p = 1/2
resize up / down / keep       0.2 / 0.7 / 0.1                         0.3 / 0.4 / 0.3
factor                        up U(1, 1.5), down U(0.15, 1) of the    up U(1, 1.2), down
                              HR size                                 U(0.3, 1) of the LR size
resize mode                   area, bilinear, bicubic, uniform        same
Gaussian noise (else Poisson) p = 0.5                                 same
Gaussian sigma (of 255)       U(1, 30)                                U(1, 25)
Poisson scale                 U(0.05, 3)                              U(0.05, 2.5)
gray (luminance) noise        p = 0.4                                 same
JPEG quality                  integer U{30..95} after the stage       U{30..95}, in the final
============================  ======================================  =========================

Final step: resize to the LR size (mode uniform), a sinc filter with p = 0.8 (size uniform over
7..21, omega_c ~ U(pi/3, pi)), and the second JPEG, in the order resize + sinc then JPEG or JPEG
then resize + sinc, each with p = 1/2.

Departures, each so that the CPU and torch paths draw the same thing: JPEG qualities are integers
(OpenCV's encoder takes no fractions; the published GPU path draws real qualities for DiffJPEG),
and every choice is drawn per image (the published GPU path resizes a whole batch with one factor
and mode). ``clean_fraction`` (0 in the published recipe) leaves that share of pairs as plain
MATLAB-bicubic reductions; ``sharpen_target`` (Real-ESRNet's ``gt_usm``, true there) tells the
dataset to train towards, and degrade from, BasicSR's ``USMSharp``-sharpened HR image.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .kernels import BLUR_SHAPES, Kernel
from .plan import MAX_JPEG_QUALITY, RESIZE_MODES, Clean, Degradation, Final, Noise, Plan, Resize, Stage

KERNEL_SIZES = tuple(range(7, 22, 2))
# Real-ESRGAN's sinc cutoffs (hard-coded there too): small windows cannot hold a very low cutoff.
SINC_CUTOFF_SMALL = (math.pi / 3, math.pi)
SINC_CUTOFF_LARGE = (math.pi / 5, math.pi)
SINC_LARGE_FROM = 13
FINAL_SINC_CUTOFF = (math.pi / 3, math.pi)
ROTATION = (-math.pi, math.pi)
RESIZE_DIRECTIONS = ("up", "down", "keep")  # the order of ``resize_probs``

Range = tuple[float, float]


def _check_probability(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value}")


def _check_weights(name: str, weights: Sequence[float], count: int) -> None:
    if len(weights) != count or min(weights) < 0 or not math.isclose(sum(weights), 1.0, abs_tol=1e-9):
        raise ValueError(f"{name} must be {count} non-negative probabilities summing to 1, got {weights}")


def _check_choice(name: str, values: Sequence[str], allowed: Sequence[str]) -> None:
    if not values or not set(values) <= set(allowed):
        raise ValueError(f"{name} must be drawn from {allowed}, got {values}")


def _check_sizes(name: str, sizes: Sequence[int]) -> None:
    if not sizes or any(size < 1 or size % 2 == 0 for size in sizes):
        raise ValueError(f"{name} must be positive odd numbers, got {sizes}")


def _check_range(
    name: str, bounds: Sequence[float], low: float, high: float = math.inf,
    open_low: bool = False, around: float | None = None,
) -> None:
    if len(bounds) != 2:
        raise ValueError(f"{name} must be a (low, high) pair, got {bounds}")
    lo, hi = bounds
    below = lo <= low if open_low else lo < low
    if below or hi > high or lo > hi:
        raise ValueError(f"{name} must be (low, high) with {low} {'<' if open_low else '<='} low <= high <= {high}, "
                         f"got {bounds}")
    if around is not None and not lo <= around <= hi:
        raise ValueError(f"{name} must contain {around}, got {bounds}")


@dataclass(frozen=True)
class StageConfig:
    """The draws of one order of degradation (defaults: Real-ESRGAN's first stage).

    ``resize_probs`` are the probabilities of up, down and keep; ``resize_range`` is ``(lowest
    down factor, highest up factor)``. ``noise_range`` is the Gaussian sigma on the 0-255 scale.
    ``jpeg_range`` bounds the integer quality (inclusive); the second stage's is the final JPEG's.
    """

    blur_prob: float = 1.0
    kernel_sizes: tuple[int, ...] = KERNEL_SIZES
    kernel_shapes: tuple[str, ...] = BLUR_SHAPES
    kernel_probs: tuple[float, ...] = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)
    sinc_prob: float = 0.1
    blur_sigma: Range = (0.2, 3.0)
    betag_range: Range = (0.5, 4.0)
    betap_range: Range = (1.0, 2.0)
    resize_probs: tuple[float, float, float] = (0.2, 0.7, 0.1)
    resize_range: Range = (0.15, 1.5)
    resize_modes: tuple[str, ...] = RESIZE_MODES
    gaussian_noise_prob: float = 0.5
    noise_range: Range = (1.0, 30.0)
    poisson_scale_range: Range = (0.05, 3.0)
    gray_noise_prob: float = 0.4
    jpeg_range: tuple[int, int] = (30, 95)

    def __post_init__(self) -> None:
        for name in ("blur_prob", "sinc_prob", "gaussian_noise_prob", "gray_noise_prob"):
            _check_probability(name, getattr(self, name))
        _check_sizes("kernel_sizes", self.kernel_sizes)
        _check_choice("kernel_shapes", self.kernel_shapes, BLUR_SHAPES)
        _check_weights("kernel_probs", self.kernel_probs, len(self.kernel_shapes))
        _check_range("blur_sigma", self.blur_sigma, low=0.0, open_low=True)
        for name in ("betag_range", "betap_range"):
            _check_range(name, getattr(self, name), low=0.0, open_low=True, around=1.0)
        _check_weights("resize_probs", self.resize_probs, 3)
        _check_range("resize_range", self.resize_range, low=0.0, open_low=True, around=1.0)
        _check_choice("resize_modes", self.resize_modes, RESIZE_MODES)
        _check_range("noise_range", self.noise_range, low=0.0)
        _check_range("poisson_scale_range", self.poisson_scale_range, low=0.0)
        _check_range("jpeg_range", self.jpeg_range, low=1, high=MAX_JPEG_QUALITY)
        if not all(isinstance(quality, int) for quality in self.jpeg_range):
            raise ValueError(f"jpeg_range must hold integers, got {self.jpeg_range}")

    def sample_stage(self, rng: np.random.Generator) -> Stage:
        """Draw this stage's blur, resize and noise."""
        blur = self._sample_blur(rng) if rng.random() < self.blur_prob else None
        direction = RESIZE_DIRECTIONS[rng.choice(3, p=self.resize_probs)]
        low, high = self.resize_range
        if direction == "up":
            factor = rng.uniform(1.0, high)
        elif direction == "down":
            factor = rng.uniform(low, 1.0)
        else:
            factor = 1.0
        resize = Resize(float(factor), str(rng.choice(self.resize_modes)))
        if rng.random() < self.gaussian_noise_prob:
            noise_kind, strength = "gaussian", rng.uniform(*self.noise_range)
        else:
            noise_kind, strength = "poisson", rng.uniform(*self.poisson_scale_range)
        noise = Noise(noise_kind, float(strength), bool(rng.random() < self.gray_noise_prob))
        return Stage(blur, resize, noise)

    def sample_jpeg_quality(self, rng: np.random.Generator) -> int:
        """An integer quality, uniform over ``jpeg_range`` inclusive."""
        return int(rng.integers(self.jpeg_range[0], self.jpeg_range[1], endpoint=True))

    def _sample_blur(self, rng: np.random.Generator) -> Kernel:
        size = int(rng.choice(self.kernel_sizes))
        if rng.random() < self.sinc_prob:
            cutoff = rng.uniform(*(SINC_CUTOFF_SMALL if size < SINC_LARGE_FROM else SINC_CUTOFF_LARGE))
            return Kernel("sinc", size, cutoff=float(cutoff))
        shape = self.kernel_shapes[rng.choice(len(self.kernel_shapes), p=self.kernel_probs)]
        sigma_x = float(rng.uniform(*self.blur_sigma))
        if shape.endswith("aniso"):
            sigma_y, rotation = float(rng.uniform(*self.blur_sigma)), float(rng.uniform(*ROTATION))
        else:
            sigma_y, rotation = sigma_x, 0.0
        beta = 1.0
        if shape.startswith(("generalized", "plateau")):
            low, high = self.betag_range if shape.startswith("generalized") else self.betap_range
            # BasicSR's rule: below 1 or above 1 with equal probability, whatever the range's lengths
            beta = float(rng.uniform(low, 1.0) if rng.random() < 0.5 else rng.uniform(1.0, high))
        return Kernel(shape, size, sigma_x, sigma_y, rotation, beta)


SECOND_STAGE = StageConfig(
    blur_prob=0.8,
    blur_sigma=(0.2, 1.5),
    resize_probs=(0.3, 0.4, 0.3),
    resize_range=(0.3, 1.2),
    noise_range=(1.0, 25.0),
    poisson_scale_range=(0.05, 2.5),
)


@dataclass(frozen=True)
class DegradationConfig:
    """The whole distribution (defaults: Real-ESRNet x4plus, see the module docstring).

    ``jpeg_first_prob`` is the probability of the final order JPEG then resize + sinc.
    ``clean_fraction`` is the share of plans that are :class:`~.plan.Clean` (MATLAB bicubic).
    ``sharpen_target`` asks the dataset for USM-sharpened targets (the degradation starts from them).
    """

    first: StageConfig = StageConfig()
    second: StageConfig = SECOND_STAGE
    final_sinc_prob: float = 0.8
    final_sinc_sizes: tuple[int, ...] = KERNEL_SIZES
    final_resize_modes: tuple[str, ...] = RESIZE_MODES
    jpeg_first_prob: float = 0.5
    clean_fraction: float = 0.0
    sharpen_target: bool = True

    def __post_init__(self) -> None:
        for name in ("final_sinc_prob", "jpeg_first_prob", "clean_fraction"):
            _check_probability(name, getattr(self, name))
        _check_sizes("final_sinc_sizes", self.final_sinc_sizes)
        _check_choice("final_resize_modes", self.final_resize_modes, RESIZE_MODES)

    def sample(self, rng: np.random.Generator) -> Plan:
        """Draw one plan; the draws are a fixed sequence, so a generator's seed fixes the plan."""
        if rng.random() < self.clean_fraction:
            return Clean()
        first = self.first.sample_stage(rng)
        first_quality = self.first.sample_jpeg_quality(rng)
        second = self.second.sample_stage(rng)
        sinc = None
        if rng.random() < self.final_sinc_prob:
            size = int(rng.choice(self.final_sinc_sizes))
            sinc = Kernel("sinc", size, cutoff=float(rng.uniform(*FINAL_SINC_CUTOFF)))
        final = Final(
            mode=str(rng.choice(self.final_resize_modes)),
            sinc=sinc,
            jpeg_quality=self.second.sample_jpeg_quality(rng),
            jpeg_first=bool(rng.random() < self.jpeg_first_prob),
        )
        return Degradation(first, first_quality, second, final, noise_seed=int(rng.integers(2**63)))


REAL_ESRGAN = DegradationConfig()

# srapp's photo recipe: Real-ESRGAN's blur, resize and sinc draws with the noise and JPEG ranges of
# phone and web photos (Gaussian sigma up to 15 / 10, Poisson up to 1.5 / 1, JPEG 40-95 in both
# stages), the second blur and the final sinc at p = 0.5, and a quarter of the pairs left clean
# (MATLAB bicubic), which kept both the degraded and the clean scores higher in a short fine-tune.
PHOTO = DegradationConfig(
    first=StageConfig(noise_range=(1.0, 15.0), poisson_scale_range=(0.05, 1.5), jpeg_range=(40, 95)),
    second=dataclasses.replace(SECOND_STAGE, blur_prob=0.5, noise_range=(1.0, 10.0),
                               poisson_scale_range=(0.05, 1.0), jpeg_range=(40, 95)),
    final_sinc_prob=0.5,
    clean_fraction=0.25,
    sharpen_target=False,
)

# The training distributions an option file names (``degradation: photo``).
RECIPES = {"real_esrgan": REAL_ESRGAN, "photo": PHOTO}
