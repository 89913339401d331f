"""One drawn degradation: every choice made, so that either executor can apply it.

A plan is what :meth:`srapp.degradations.DegradationConfig.sample` returns: :class:`Clean`
(the MATLAB-bicubic reduction the benchmarks use, no degradation) or :class:`Degradation`,
Real-ESRGAN's second-order model (Wang et al., ICCVW 2021)::

    x1 = JPEG_q1(clip(noise_1(resize_f1(HR * k1))))                    first stage
    x2 = clip(noise_2(resize_f2(x1 * k2)))                               second stage (k2 optional)
    LR = round(JPEG_q2(resize_LR(x2) * sinc))     or     round(resize_LR(JPEG_q2(x2)) * sinc)

where ``*`` is filtering (correlation, mirrored borders), the first resize scales the HR size by
``f1``, the second makes ``f2`` times the LR size, the last makes exactly the LR size (HR / scale),
and ``round`` clips and puts the result on the 8-bit grid. The two orders of the final step
(``jpeg_first`` false or true) are drawn with equal probability in the published recipe. Plans
are small frozen values: they pickle from a data-loader worker and print readably.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .kernels import Kernel

Image = TypeVar("Image")

RESIZE_MODES = ("area", "bilinear", "bicubic")
NOISE_KINDS = ("gaussian", "poisson")
MAX_JPEG_QUALITY = 99  # DiffJPEG's quality scaling, 2 - q / 50, divides by zero at 100


@dataclass(frozen=True)
class Resize:
    """A resize by ``factor`` (relative to the size the step names) with ``mode`` (one of
    :data:`RESIZE_MODES`; no antialiasing, as OpenCV's ``cv2.resize`` and ``F.interpolate``)."""

    factor: float
    mode: str

    def __post_init__(self) -> None:
        if self.mode not in RESIZE_MODES:
            raise ValueError(f"unknown resize mode {self.mode!r}; expected one of {RESIZE_MODES}")
        if self.factor <= 0:
            raise ValueError(f"resize factor must be positive, got {self.factor}")


@dataclass(frozen=True)
class Noise:
    """Additive noise: ``gaussian`` with standard deviation ``strength / 255``, or ``poisson`` (shot
    noise) scaled by ``strength``; ``gray`` draws one field for all channels (luminance noise)."""

    kind: str
    strength: float
    gray: bool

    def __post_init__(self) -> None:
        if self.kind not in NOISE_KINDS:
            raise ValueError(f"unknown noise kind {self.kind!r}; expected one of {NOISE_KINDS}")
        if self.strength < 0:
            raise ValueError(f"noise strength must not be negative, got {self.strength}")


@dataclass(frozen=True)
class Stage:
    """Blur (``None``: none), resize, noise: one order of the degradation model."""

    blur: Kernel | None
    resize: Resize
    noise: Noise


@dataclass(frozen=True)
class Final:
    """The last step: resize to the LR size with ``mode``, the ``sinc`` filter (``None``: none) and
    JPEG at ``jpeg_quality``; ``jpeg_first`` puts the JPEG before the resize and sinc."""

    mode: str
    sinc: Kernel | None
    jpeg_quality: int
    jpeg_first: bool

    def __post_init__(self) -> None:
        if self.mode not in RESIZE_MODES:
            raise ValueError(f"unknown resize mode {self.mode!r}; expected one of {RESIZE_MODES}")
        _check_quality(self.jpeg_quality)


@dataclass(frozen=True)
class Degradation:
    """Real-ESRGAN's second-order degradation: ``first`` stage, JPEG at ``first_jpeg_quality``,
    ``second`` stage, ``final`` step. ``noise_seed`` seeds the noise fields (the executors draw them
    with their own generators: NumPy's on a CPU, torch's on the images' device)."""

    first: Stage
    first_jpeg_quality: int
    second: Stage
    final: Final
    noise_seed: int

    def __post_init__(self) -> None:
        _check_quality(self.first_jpeg_quality)

    def sizes(self, height: int, width: int, scale: int) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
        """``(height, width)`` after the first resize, the second and the final one, for an HR image
        of ``height x width`` reduced ``scale`` times (as Real-ESRGAN: truncated, at least 1 pixel)."""
        lr = lr_size(height, width, scale)
        first = _scaled(height, width, self.first.resize.factor)
        second = _scaled(*lr, self.second.resize.factor)
        return first, second, lr


@dataclass(frozen=True)
class Clean:
    """No degradation: the LR image is MATLAB's ``imresize(HR, 1/scale, 'bicubic')``."""


Plan = Clean | Degradation


@dataclass(frozen=True)
class Steps(Generic[Image]):
    """An executor's implementation of each step, for :func:`run_plan` (which fixes their order).

    ``noise_source(seed)`` makes the generator a plan's noise fields are drawn from; ``stage(image,
    stage, size, source)`` is blur, resize to ``size`` and noise; ``clean(image, size)`` is the
    MATLAB-bicubic reduction."""

    noise_source: Callable[[int], Any]
    stage: Callable[[Image, Stage, tuple[int, int], Any], Image]
    jpeg: Callable[[Image, int], Image]
    resize_and_sinc: Callable[[Image, tuple[int, int], Final], Image]
    quantize: Callable[[Image], Image]
    clean: Callable[[Image, tuple[int, int]], Image]


def run_plan(image: Image, height: int, width: int, plan: Plan, scale: int, steps: Steps[Image]) -> Image:
    """Apply ``plan`` to an ``height x width`` image with an executor's ``steps``, in the order of
    the module docstring; the LR result is on the 8-bit grid."""
    if isinstance(plan, Clean):
        return steps.quantize(steps.clean(image, lr_size(height, width, scale)))
    if not isinstance(plan, Degradation):
        raise TypeError(f"expected a Clean or Degradation plan, got {type(plan).__name__}")
    source = steps.noise_source(plan.noise_seed)
    first_size, second_size, lr = plan.sizes(height, width, scale)
    out = steps.stage(image, plan.first, first_size, source)
    out = steps.jpeg(out, plan.first_jpeg_quality)
    out = steps.stage(out, plan.second, second_size, source)
    if plan.final.jpeg_first:
        out = steps.resize_and_sinc(steps.jpeg(out, plan.final.jpeg_quality), lr, plan.final)
    else:
        out = steps.jpeg(steps.resize_and_sinc(out, lr, plan.final), plan.final.jpeg_quality)
    return steps.quantize(out)


def lr_size(height: int, width: int, scale: int) -> tuple[int, int]:
    """The LR size ``(height / scale, width / scale)``; the scale must divide both (mod-crop first)."""
    if scale < 1 or height % scale or width % scale:
        raise ValueError(
            f"scale {scale} must divide the HR size {height}x{width}: mod-crop the HR image to a multiple of it"
        )
    return height // scale, width // scale


def _scaled(height: int, width: int, factor: float) -> tuple[int, int]:
    return max(1, int(height * factor)), max(1, int(width * factor))


def _check_quality(quality: int) -> None:
    if not 1 <= quality <= MAX_JPEG_QUALITY:
        raise ValueError(f"JPEG quality must lie in [1, {MAX_JPEG_QUALITY}], got {quality}")
