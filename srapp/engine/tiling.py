"""Tiled inference: overlapping tiles, feathered blending, output streamed one tile row at a time.

Every tile is run with ``overlap`` extra input pixels of context on each interior side. In the
output, each tile's contribution is weighted by a separable window that is 0 near an interior
tile edge (where zero padding spoils the network's context) and ramps to 1 across the middle of
the overlap, so no seam shows; image borders get full weight. Because the tiles form a product grid,
the sum of the weights is separable too, ``Wy(y) * Wx(x)``, so normalising needs two 1-D arrays
rather than a full-size weight canvas. Rows are final as soon as the next tile row no longer
covers them, so the float working memory is one strip of tiles, not the whole output.

A backend and the model say which tile shapes they want (:class:`ShapePolicy`, the model's from
its descriptor's size requirements): where a tile side can be chosen (a tile cut from a longer
axis) it is chosen to satisfy them, so no padding is needed; where it cannot (a tile covering an
axis shorter than the minimum or not a multiple of the step), the tile is padded as spandrel pads
(mirrored about the last row and column) and the output cropped. One that compiles the network
per input shape (OpenVINO) asks for tiles cut from a longer axis to be multiples of a step (they
take more of the image as context), so one image needs one tile shape and images of similar sizes
share it; an axis that one tile covers runs at its own length, rounded up to the backend's side
step where it has one (SAN's export: even sides), the extra row or column mirrored and cropped
from the output.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import Cancelled, ImageError
from .tiles import Tile, as_rows, take

TileForward = Callable[[Tile], Tile]
Progress = Callable[[int, int], None]

SHAPE_STEP = 32  # the tile step of backends that compile per shape


@dataclass(frozen=True)
class ShapePolicy:
    """The tile shapes a backend or a model wants: a tile cut from a longer axis is a multiple of
    ``tile_step``; every side run is a multiple of ``side_step`` and at least ``minimum``;
    ``square``: height equals width."""

    tile_step: int = 1
    side_step: int = 1
    minimum: int = 0
    square: bool = False

    def combined(self, other: ShapePolicy) -> ShapePolicy:
        """The shapes that satisfy both policies."""
        side_step = math.lcm(self.side_step, other.side_step)
        return ShapePolicy(math.lcm(self.tile_step, other.tile_step, side_step), side_step,
                           round_up(max(self.minimum, other.minimum), side_step), self.square or other.square)


ANY_SHAPE = ShapePolicy()


def round_up(length: int, step: int) -> int:
    return -(-length // step) * step


def axis_plan(length: int, tile: int, overlap: int, shapes: ShapePolicy = ANY_SHAPE) -> tuple[int, int]:
    """``(tile, run)`` along one axis: the tile length cut from the image and the length the
    backend runs (``run > tile``: the tile covers the axis and is padded to ``run``).

    Tiles are :func:`fitted_tile`, a tile cut from a longer axis rounded up to a multiple of
    ``shapes.tile_step`` (more of the image as context); a tile that covers the axis runs at the
    axis length rounded up to ``shapes.side_step``.
    """
    fitted = fitted_tile(length, tile, overlap)
    if (bucketed := round_up(max(fitted, shapes.minimum), shapes.tile_step)) < length:
        return bucketed, bucketed
    return length, round_up(max(length, shapes.minimum), shapes.side_step)


def mirror_pad(x: Tile, height: int, width: int) -> Tile:
    """``x`` (``(..., h, w)``) extended at the bottom and right to ``height x width`` by mirroring
    about the last row and column (``... a b c | b a ...``, as ``torch.nn.functional.pad``'s
    ``reflect``), repeatedly where the padding is longer than the tile; a side of one pixel is repeated."""
    for dim, size in ((-2, height), (-1, width)):
        length = x.shape[dim]
        if size > length:
            period = max(1, 2 * (length - 1))
            index = np.arange(size) % period
            x = take(x, np.where(index < length, index, period - index), dim)
    return x


def fitted_tile(length: int, tile: int, overlap: int) -> int:
    """The shortest tile, at most ``tile``, that covers ``length`` with as few tiles as ``tile`` needs.

    Three 256-pixel tiles over 600 pixels would compute 768; three of 211 (overlap 16) compute
    633, so splitting evenly keeps the redundant work near ``overlap / tile``.
    """
    if tile >= length:
        return length
    count = len(tile_starts(length, tile, overlap))
    return -(-(length + (count - 1) * overlap) // count)


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Evenly spread starts of the fewest tiles of ``tile`` pixels that cover ``length`` with at
    least ``overlap`` pixels shared by neighbours."""
    if tile >= length:
        return [0]
    if not 0 <= overlap < tile:
        raise ValueError(f"tile overlap must be in [0, tile), got overlap {overlap} for tile {tile}")
    count = 1 + -(-(length - tile) // (tile - overlap))  # ceil division
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def blend_window(length: int, ramp_before: int, ramp_after: int) -> np.ndarray:
    """1-D weights of one tile over the overlaps (in output pixels) with its neighbours.

    Across an overlap of ``n`` pixels the weight is 0 over the quarter nearest the tile's edge (the
    pixels zero padding spoils), rises linearly over the middle half, and is 1 beyond; the
    neighbour's window is the mirror image, so the two sum to 1 everywhere in the overlap. A tiny
    floor keeps every weight positive, so the normaliser never divides by zero.
    """
    window = np.ones(length, dtype=np.float32)
    if ramp_before:
        window[:ramp_before] = _ramp(ramp_before)
    if ramp_after:
        window[length - ramp_after:] = np.minimum(window[length - ramp_after:], _ramp(ramp_after)[::-1])
    return np.maximum(window, _WEIGHT_FLOOR)


_WEIGHT_FLOOR = 1e-6


def _ramp(n: int) -> np.ndarray:
    """0 over the first quarter, linear over the middle half, 1 over the last quarter of ``n`` pixels."""
    position = np.arange(n, dtype=np.float32) + 0.5
    return np.clip((position - n / 4) / (n / 2), 0.0, 1.0)


def _axis_windows(starts: list[int], tile: int, scale: int) -> list[np.ndarray]:
    """Output-space windows for the tiles along one axis; a ramp spans the whole overlap."""
    windows = []
    for i, start in enumerate(starts):
        before = (starts[i - 1] + tile - start) * scale if i > 0 else 0
        after = (start + tile - starts[i + 1]) * scale if i + 1 < len(starts) else 0
        windows.append(blend_window(tile * scale, before, after))
    return windows


def _normaliser(length: int, starts: list[int], windows: list[np.ndarray], scale: int) -> np.ndarray:
    total = np.zeros(length, dtype=np.float32)
    for start, window in zip(starts, windows):
        total[start * scale:start * scale + window.size] += window
    return total


def tiled_forward(
    forward: TileForward,
    image: Tile,
    *,
    scale: int,
    tile: int,
    overlap: int,
    progress: Progress | None = None,
    finish: Callable[[np.ndarray], np.ndarray] | None = None,
    cancel: threading.Event | None = None,
    shapes: ShapePolicy = ANY_SHAPE,
) -> np.ndarray:
    """Run ``forward`` (a ``(1, C, h, w) -> (1, C, s*h, s*w)`` map) over ``image`` (``(1, C, H, W)``)
    tile by tile. Tiles are cut from ``image`` as it is (numpy or torch: what ``forward`` takes).

    Returns the blended ``(s*H, s*W, C)`` float32 result, or what ``finish`` makes of it: ``finish``
    converts each block of final rows (e.g. quantises them), so no float copy of the whole output is
    ever held. ``tile`` and ``overlap`` are in input pixels; a tile never exceeds the image, so small
    images run in one piece. A set ``cancel`` event stops the run before the next tile
    (:class:`srapp.errors.Cancelled`). ``shapes``: the tile shapes the backend wants (:func:`axis_plan`).
    """
    _, channels, height, width = image.shape
    (tile_h, run_h), (tile_w, run_w) = (axis_plan(length, tile, overlap, shapes) for length in (height, width))
    if shapes.square:
        run_h = run_w = max(run_h, run_w)
    ys, xs = tile_starts(height, tile_h, overlap), tile_starts(width, tile_w, overlap)
    wy, wx = _axis_windows(ys, tile_h, scale), _axis_windows(xs, tile_w, scale)
    norm_y = _normaliser(height * scale, ys, wy, scale)
    norm_x = _normaliser(width * scale, xs, wx, scale)

    output = None
    total, done = len(ys) * len(xs), 0
    carry = None  # rows of the previous strip that the current strip overlaps
    for row, y in enumerate(ys):
        strip = np.zeros((tile_h * scale, width * scale, channels), dtype=np.float32)
        if carry is not None:
            strip[:carry.shape[0]] = carry
        for col, x in enumerate(xs):
            if cancel is not None and cancel.is_set():
                raise Cancelled("cancelled")
            patch = image[:, :, y:y + tile_h, x:x + tile_w]
            if (run_h, run_w) != (tile_h, tile_w):
                patch = mirror_pad(patch, run_h, run_w)
            result = as_rows(forward(patch)[0, :, :tile_h * scale, :tile_w * scale])
            if not np.isfinite(result).all():  # else NaN quantises to black and the run "succeeds"
                raise ImageError(None, "the network's output holds NaN or infinite values (weights or a precision "
                                 "that overflow); nothing was written; precision fp32 may avoid it")
            weights = wy[row][:, None, None] * wx[col][None, :, None]
            strip[:, x * scale:(x + tile_w) * scale] += weights * result
            done += 1
            if progress is not None:
                progress(done, total)
        final_rows = (ys[row + 1] - y) * scale if row + 1 < len(ys) else strip.shape[0]
        top = y * scale
        rows = strip[:final_rows] / (norm_y[top:top + final_rows, None, None] * norm_x[None, :, None])
        if finish is not None:
            rows = finish(rows)
        if output is None:
            output = np.empty((height * scale, *rows.shape[1:]), dtype=rows.dtype)
        output[top:top + final_rows] = rows
        carry = strip[final_rows:]
    return output
