"""MATLAB-compatible ``imresize`` (bicubic, antialiased when shrinking), computed in strips of output rows.

The super-resolution benchmarks make their low-resolution inputs with MATLAB's
``imresize(hr, 1/s, 'bicubic')`` and report bicubic upscaling as the baseline; published numbers are
reproducible only with the same kernel, antialiasing, symmetric border handling and final rounding.

The resize is separable: one 1-D pass per axis, the axis with the smaller scale first (rows on a
tie), in float64. Each strip of output rows is computed from the input rows its taps reach and is
finished (rounded, clipped, converted) straight into the result, so the working memory is a few
strips whatever the image size. Every output value is the sum of its taps' products in the order
NumPy's whole-axis reduction adds them (in tap order; pairwise, as ``np.sum`` does, where the
reduced axis is the array's innermost one), so the results are bit for bit those of resizing each
axis of the whole image with ``(gathered * weights).sum(axis)``.

Where the tap windows advance evenly (``scale = P / Q`` with output ``o + P`` reading ``Q`` inputs
further on than output ``o``: integer factors, ``1/s``, ratios such as 15/4), the outputs of one
phase read evenly spaced inputs, so each tap is a strided slice times a weight vector instead of a
gather. Strips are spread over the available CPU cores (NumPy releases the GIL in its loops).
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction

import numpy as np

Finish = Callable[[np.ndarray], np.ndarray]

_STRIP_VALUES = 1 << 19  # float64 output values per strip (4 MiB): a strip's passes stay in cache
_MIN_THREADED_STRIP_VALUES = 1 << 16  # smaller strips: thread hand-offs cost more than they save
_MIN_PHASE_OUTPUTS = 8  # fewer outputs per phase than this: per-call overhead beats a gather
_PAIRWISE_BLOCK = 128  # NumPy's pairwise-summation block (PW_BLOCKSIZE)
_PAIRWISE_UNROLL = 8  # NumPy's pairwise summation keeps 8 partial sums


def cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with ``a = -0.5`` (MATLAB's ``cubic``)."""
    absx = np.abs(x)
    absx2, absx3 = absx**2, absx**3
    near = (1.5 * absx3 - 2.5 * absx2 + 1.0) * (absx <= 1)
    far = (-0.5 * absx3 + 2.5 * absx2 - 4.0 * absx + 2.0) * ((absx > 1) & (absx <= 2))
    return near + far


def _unmirrored_contributions(
    in_length: int, out_length: int, scale: float, antialias: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Per output sample: 0-based input positions (possibly outside the image) and their weights."""
    kernel_width = 4.0
    if scale < 1 and antialias:
        kernel = lambda x: scale * cubic(scale * x)  # noqa: E731  (stretched kernel = low-pass)
        kernel_width /= scale
    else:
        kernel = cubic
    outputs = np.arange(1, out_length + 1, dtype=np.float64)
    centres = outputs / scale + 0.5 * (1.0 - 1.0 / scale)  # MATLAB's 1-based input coordinates
    left = np.floor(centres - kernel_width / 2.0)
    taps = int(math.ceil(kernel_width)) + 2
    indices = left[:, None] + np.arange(taps)[None, :]
    weights = kernel(centres[:, None] - indices)
    weights /= weights.sum(axis=1, keepdims=True)
    used = np.any(weights != 0, axis=0)  # MATLAB drops all-zero tap columns
    return indices[:, used].astype(np.int64) - 1, weights[:, used]


def _mirror(positions: np.ndarray, in_length: int) -> np.ndarray:
    """Symmetric border handling: position -1 reads sample 0, position ``n`` reads sample ``n - 1``."""
    mirror = np.concatenate([np.arange(in_length), np.arange(in_length - 1, -1, -1)])
    return mirror[np.mod(positions, 2 * in_length)]


def contributions(in_length: int, out_length: int, scale: float, antialias: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Per output sample: the input indices (0-based, mirrored at the borders) and their weights."""
    positions, weights = _unmirrored_contributions(in_length, out_length, scale, antialias)
    return _mirror(positions, in_length), weights


class _AxisPlan:
    """One axis's resampling: output ``o`` is ``sum_t weights[o, t] * padded[positions[o, t]]``, where
    ``padded[j]`` is input sample ``source[j]`` (the input extended by mirroring)."""

    def __init__(self, in_length: int, out_length: int, scale: float, antialias: bool) -> None:
        positions, self.weights = _unmirrored_contributions(in_length, out_length, scale, antialias)
        first = int(positions.min())
        self.positions = positions - first
        self.source = _mirror(np.arange(first, int(positions.max()) + 1), in_length)
        self.taps = self.weights.shape[1]
        self.phases = _phases(self.positions, scale, in_length)

    def span(self, start: int, stop: int) -> tuple[int, int]:
        """The padded positions ``[lo, hi)`` that outputs ``[start, stop)`` read."""
        reached = self.positions[start:stop]
        return int(reached.min()), int(reached.max()) + 1


def _phases(positions: np.ndarray, scale: float, in_length: int) -> tuple[int, int] | None:
    """``(P, Q)`` when output ``o + P`` reads the inputs ``Q`` positions after those of output ``o``
    for every ``o`` (``scale = P / Q``) and each of the ``P`` phases has enough outputs; else ``None``."""
    ratio = Fraction(scale).limit_denominator(max(1, in_length))
    period, step = ratio.numerator, ratio.denominator
    if period * _MIN_PHASE_OUTPUTS > positions.shape[0]:
        return None
    if not np.array_equal(positions[period:], positions[:-period] + step):
        return None  # rounding moved some output's window: gather instead
    return period, step


Products = Callable[[int, "np.ndarray | None"], np.ndarray]


class _Workspace:
    """One worker's reusable arrays: the strips of an image need the same sizes again and again, and
    fresh large allocations would be page-faulted in anew each time (glibc returns them to the OS)."""

    def __init__(self) -> None:
        self._buffers: dict[str, np.ndarray] = {}

    def array(self, name: str, shape: tuple[int, ...], dtype: np.dtype | type = np.float64) -> np.ndarray:
        """A C-contiguous array of ``shape``, reusing (and overwriting) the last one named ``name``."""
        size = math.prod(shape)
        buffer = self._buffers.get(name)
        if buffer is None or buffer.size < size or buffer.dtype != dtype:
            buffer = self._buffers[name] = np.empty(size, dtype)
        return buffer[:size].reshape(shape)


def _sum_over_taps(products: Products, taps: int, out: np.ndarray, scratch: np.ndarray, pairwise: bool) -> None:
    """``out = sum_t products(t)``, added in the order NumPy's reduction over the taps axis uses.

    ``products(t, buffer)`` computes tap ``t``'s products into ``buffer`` (a new array for ``None``);
    ``scratch`` is a buffer of ``out``'s shape. Along a non-innermost axis NumPy adds the taps one
    after another; along the innermost axis (``pairwise``) it sums pairwise. Sums are not started
    from NumPy's ``+0.0``, which only changes the sign of zero results (see :func:`_float_finish`).
    """
    if pairwise and taps >= _PAIRWISE_UNROLL:
        out[...] = _pairwise_sum(products, 0, taps)
        return
    products(0, out)
    for tap in range(1, taps):
        np.add(out, products(tap, scratch), out=out)


def _pairwise_sum(products: Products, start: int, count: int) -> np.ndarray:
    """NumPy's pairwise summation (``pairwise_sum`` in its loops) of taps ``[start, start + count)``."""
    if count < _PAIRWISE_UNROLL:
        total = products(start, None)
        for tap in range(start + 1, start + count):
            total += products(tap, None)
        return total
    if count <= _PAIRWISE_BLOCK:
        partial = [products(start + j, None) for j in range(_PAIRWISE_UNROLL)]
        tap = _PAIRWISE_UNROLL
        while tap < count - count % _PAIRWISE_UNROLL:
            for j in range(_PAIRWISE_UNROLL):
                partial[j] += products(start + tap + j, None)
            tap += _PAIRWISE_UNROLL
        total = ((partial[0] + partial[1]) + (partial[2] + partial[3])) + (
            (partial[4] + partial[5]) + (partial[6] + partial[7])
        )
        for rest in range(tap, count):
            total += products(start + rest, None)
        return total
    half = count // 2
    half -= half % _PAIRWISE_UNROLL
    return _pairwise_sum(products, start, half) + _pairwise_sum(products, start + half, count - half)


def _resample_rows(
    source: np.ndarray, plan: _AxisPlan, start: int, stop: int, offset: int, pairwise: bool,
    out: np.ndarray, workspace: _Workspace,
) -> None:
    """``out`` = output rows ``[start, stop)`` from ``source``, the padded rows ``[offset, ...)``, ``(n, W, C)``."""
    count = stop - start
    positions = plan.positions[start:stop] - offset
    weights = plan.weights[start:stop]
    if plan.phases is None:
        def gathered(tap: int, buffer: np.ndarray | None) -> np.ndarray:
            rows = np.take(source, positions[:, tap], axis=0, out=buffer, mode="clip")
            return np.multiply(rows, weights[:, tap, None, None], out=rows)

        _sum_over_taps(gathered, plan.taps, out, workspace.array("row products", out.shape), pairwise)
        return
    period, step = plan.phases
    for phase in range(min(period, count)):
        length = len(range(phase, count, period))
        phase_weights = weights[phase::period]

        def sliced(tap: int, buffer: np.ndarray | None) -> np.ndarray:
            first = positions[phase, tap]
            rows = source[first:first + step * (length - 1) + 1:step]
            return np.multiply(rows, phase_weights[:, tap, None, None], out=buffer)

        scratch = workspace.array("row products", (length,) + out.shape[1:])
        _sum_over_taps(sliced, plan.taps, out[phase::period], scratch, pairwise)


class _ColumnResampler:
    """Resamples ``(R, padded width, C)`` float64 strips along the width, the weights laid out once per image."""

    def __init__(self, plan: _AxisPlan, channels: int) -> None:
        self.plan, self.channels = plan, channels
        self.pairwise = channels == 1  # the width is then the innermost axis NumPy reduced
        self.out_length = plan.weights.shape[0]

        def spread(weights: np.ndarray) -> np.ndarray:
            # one weight per value, so NumPy runs each product as one contiguous loop per row
            return np.ascontiguousarray(np.repeat(weights[:, None], channels, axis=1))

        if plan.phases is None:
            self.gather_weights = [spread(plan.weights[:, tap]) for tap in range(plan.taps)]
            return
        period, _ = plan.phases
        self.phase_weights = [
            [spread(plan.weights[phase::period, tap]) for tap in range(plan.taps)] for phase in range(period)
        ]

    def __call__(self, rows: np.ndarray, out: np.ndarray, workspace: _Workspace) -> None:
        """``out`` = ``rows`` (the input rows extended to the padded width, ``plan.source``) resampled."""
        positions = self.plan.positions
        if self.plan.phases is None:
            def gathered(tap: int, buffer: np.ndarray | None) -> np.ndarray:
                columns = np.take(rows, positions[:, tap], axis=1, out=buffer, mode="clip")
                return np.multiply(columns, self.gather_weights[tap], out=columns)

            _sum_over_taps(gathered, self.plan.taps, out, workspace.array("column products", out.shape), self.pairwise)
            return
        period, step = self.plan.phases
        for phase, weights in enumerate(self.phase_weights):
            length = weights[0].shape[0]

            def sliced(tap: int, buffer: np.ndarray | None) -> np.ndarray:
                first = positions[phase, tap]
                columns = rows[:, first:first + step * (length - 1) + 1:step]
                return np.multiply(columns, weights[tap], out=buffer)

            shape = (rows.shape[0], length, self.channels)
            scratch = workspace.array("column products", shape)
            if period == 1:
                _sum_over_taps(sliced, self.plan.taps, out, scratch, self.pairwise)
            else:  # a contiguous phase, then one interleaving copy: faster than adding into strided columns
                phase_out = workspace.array("column phase", shape)
                _sum_over_taps(sliced, self.plan.taps, phase_out, scratch, self.pairwise)
                _pixels(out)[:, phase::period] = _pixels(phase_out)


def _pixels(values: np.ndarray) -> np.ndarray:
    """An ``(R, W, C)`` C-contiguous float64 array as ``(R, W)`` opaque pixels: a strided copy then moves
    whole pixels, about twice as fast as NumPy's copy with a 3-value innermost loop."""
    return values.view(np.dtype((np.void, values.shape[2] * values.itemsize)))[:, :, 0]


def _integer_finish(dtype: np.dtype) -> Finish:
    info = np.iinfo(dtype)

    def to_integer(rows: np.ndarray) -> np.ndarray:
        np.round(rows, out=rows)
        np.clip(rows, info.min, info.max, out=rows)
        return rows.astype(dtype)

    return to_integer


def _float_finish(rows: np.ndarray) -> np.ndarray:
    # NumPy's sums start from +0.0, so a zero result is never -0.0; adding +0.0 makes ours the same
    return np.add(rows, 0.0, out=rows)


def _worker_count() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def imresize(
    image: np.ndarray,
    scale: float | None = None,
    output_shape: tuple[int, int] | None = None,
    antialias: bool = True,
    *,
    finish: Finish | None = None,
    rows_per_strip: int | None = None,
) -> np.ndarray:
    """Resize an ``HW`` or ``HWC`` image like MATLAB's ``imresize(..., 'bicubic')``.

    Give ``scale`` (the output is ``ceil(H * scale) x ceil(W * scale)``) or ``output_shape``.
    Integer images come back in their dtype, rounded and clipped as MATLAB does; float images are
    returned as float64 without clipping.

    ``finish``, if given, replaces that last step: it receives each strip of finished float64 rows
    (``(rows, W)`` or ``(rows, W, C)`` as the input is laid out; a scratch array it may overwrite) and
    returns those rows as they are to be stored, e.g. quantised to ``uint8``; the result takes the
    dtype and trailing shape of what it returns. It may be called from several threads at once.
    ``rows_per_strip`` sets the strip height (default: about 4 MiB of float64 output per strip).
    """
    if (scale is None) == (output_shape is None):
        raise ValueError("give exactly one of scale and output_shape")
    if image.ndim not in (2, 3):
        raise ValueError(f"imresize expects an HW or HWC image, got shape {image.shape}")
    height, width = image.shape[:2]
    if min(image.shape) < 1:
        raise ValueError(f"imresize needs a non-empty image, got shape {image.shape}")
    if output_shape is None:
        scales = (float(scale), float(scale))
        output_shape = (math.ceil(height * scale), math.ceil(width * scale))
    else:
        scales = (output_shape[0] / height, output_shape[1] / width)
    out_height, out_width = output_shape
    if out_height < 1 or out_width < 1:
        raise ValueError(f"imresize needs a positive output size, got {out_height}x{out_width}")
    if rows_per_strip is not None and rows_per_strip < 1:
        raise ValueError(f"rows_per_strip must be positive, got {rows_per_strip}")
    if finish is None:
        finish = _integer_finish(image.dtype) if np.issubdtype(image.dtype, np.integer) else _float_finish

    pixels = image.reshape(height, width, -1)
    channels = pixels.shape[2]
    rows = _AxisPlan(height, out_height, scales[0], antialias)
    columns = _ColumnResampler(_AxisPlan(width, out_width, scales[1], antialias), channels)
    padded_width = columns.plan.source.size
    rows_first = scales[0] <= scales[1]  # MATLAB resizes the dimension with the smaller scale first
    workspaces = threading.local()

    def strip(start: int, stop: int) -> np.ndarray:
        workspace = getattr(workspaces, "workspace", None) or _Workspace()
        workspaces.workspace = workspace
        lo, hi = rows.span(start, stop)
        gathered = workspace.array("input rows", (hi - lo, width, channels), pixels.dtype)
        np.take(pixels, rows.source[lo:hi], axis=0, out=gathered, mode="clip")
        source = workspace.array("source", gathered.shape)
        np.copyto(source, gathered)
        finished = workspace.array("strip", (stop - start, out_width, channels))
        if rows_first:
            resized = workspace.array("rows", (stop - start, width, channels))
            _resample_rows(source, rows, start, stop, lo, width * channels == 1, resized, workspace)
            padded = workspace.array("padded", (stop - start, padded_width, channels))
            columns(np.take(resized, columns.plan.source, axis=1, out=padded, mode="clip"), finished, workspace)
        else:
            padded = workspace.array("padded", (hi - lo, padded_width, channels))
            resized = workspace.array("rows", (hi - lo, out_width, channels))
            columns(np.take(source, columns.plan.source, axis=1, out=padded, mode="clip"), resized, workspace)
            _resample_rows(resized, rows, start, stop, lo, out_width * channels == 1, finished, workspace)
        return finish(finished if image.ndim == 3 else finished[:, :, 0])

    if rows_per_strip is None:
        rows_per_strip = max(1, _STRIP_VALUES // (out_width * channels))
        if not rows_first:
            # a strip recomputes the column pass for the input rows its taps share with the next
            # strip; strips of 4 x taps x scale rows keep that repeated work near a quarter
            rows_per_strip = max(rows_per_strip, math.ceil(4 * rows.taps * scales[0]))
    bounds = [(start, min(start + rows_per_strip, out_height)) for start in range(0, out_height, rows_per_strip)]
    first = strip(*bounds[0])  # its dtype and shape are the result's
    result = np.empty((out_height,) + first.shape[1:], dtype=first.dtype)
    result[:first.shape[0]] = first

    def fill(start: int, stop: int) -> None:
        result[start:stop] = strip(start, stop)

    _run_strips(fill, bounds[1:], threaded=rows_per_strip * out_width * channels >= _MIN_THREADED_STRIP_VALUES)
    return result


def _run_strips(fill: Callable[[int, int], None], bounds: list[tuple[int, int]], threaded: bool) -> None:
    """``fill(start, stop)`` for every strip, on one worker thread per available CPU when ``threaded``."""
    workers = min(_worker_count(), len(bounds)) if threaded else 1
    if workers <= 1:
        for start, stop in bounds:
            fill(start, stop)
        return
    with ThreadPoolExecutor(workers) as pool:
        futures = [pool.submit(fill, start, stop) for start, stop in bounds]
        try:
            for future in futures:
                future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            raise
