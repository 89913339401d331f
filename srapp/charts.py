"""Small PNG charts drawn with Pillow (no plotting library): axes with round ticks, in pixels.

:class:`Axes` maps data to a pixel box; :func:`draw_axes` draws its frame, ticks and labels;
callers draw their points, lines and bands with ``Axes.xy`` and save with :func:`save_png`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from ._atomic import atomic_write

FONT_SIZE, SMALL_FONT_SIZE = 15, 13


def fonts() -> tuple[ImageFont.ImageFont, ImageFont.ImageFont]:
    """The label and tick fonts."""
    return ImageFont.load_default(size=FONT_SIZE), ImageFont.load_default(size=SMALL_FONT_SIZE)


def ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten apart) inside ``[low, high]``."""
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step) * step
    return [round(first + i * step, 10) for i in range(int((high - first) / step) + 1)]


def padded_range(values: list[float], fraction: float, minimum: float = 0.0,
                 right_fraction: float | None = None) -> tuple[float, float]:
    """``[min, max]`` of ``values`` widened by ``fraction`` of their span (1 when they are all
    equal; at least ``minimum``) on the left and ``right_fraction`` (default: the same) on the right."""
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    right_fraction = fraction if right_fraction is None else right_fraction
    return low - max(minimum, fraction * span), high + max(minimum, right_fraction * span)


@dataclass(frozen=True)
class Axes:
    box: tuple[float, float, float, float]  # x0, y0 (top), x1, y1 (bottom), in pixels
    x_range: tuple[float, float]
    y_range: tuple[float, float]

    def xy(self, x: float, y: float) -> tuple[float, float]:
        x0, y0, x1, y1 = self.box
        (left, right), (low, high) = self.x_range, self.y_range
        return x0 + (x - left) / (right - left) * (x1 - x0), y1 - (y - low) / (high - low) * (y1 - y0)


def draw_axes(draw: ImageDraw.ImageDraw, axes: Axes, x_label: str, y_label: str,
              x_format: str = "{:g}", y_format: str = "{:.2f}") -> None:
    """The frame, round ticks on both axes and the two labels."""
    font, small = fonts()
    x0, y0, x1, y1 = axes.box
    draw.rectangle([x0, y0, x1, y1], outline="black")
    for tick in ticks(*axes.x_range):
        x, _ = axes.xy(tick, axes.y_range[0])
        draw.line([x, y1, x, y1 + 5], fill="black")
        draw.text((x - 14, y1 + 8), x_format.format(tick), fill="black", font=small)
    for tick in ticks(*axes.y_range):
        _, y = axes.xy(axes.x_range[0], tick)
        draw.line([x0 - 5, y, x0, y], fill="black")
        draw.text((x0 - 58, y - 7), y_format.format(tick), fill="black", font=small)
    draw.text((x0 + 60, y1 + 28), x_label, fill="black", font=font)
    draw.text((x0 - 75, y0 - 22), y_label, fill="black", font=small)


def save_png(image: Image.Image, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as handle:
        image.save(handle, format="PNG")
    return path
