"""Validation PSNR against training iterations, one panel per sprint report, as a PNG."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from ..charts import Axes, draw_axes, fonts, padded_range, save_png

PANEL_WIDTH, PANEL_HEIGHT, COLUMNS = 560, 400, 2
MARGIN = (80, 72, 20, 60)  # left, top, right, bottom
CURVE, START = (30, 70, 160), (200, 40, 40)


def plot_curves(reports: list[dict[str, Any]], path: str | os.PathLike) -> Path:
    """Each report's validation curve (its ``curve`` points) with the score it started from (a
    red line, for a warm start), titled with its recipe, batch, machine and wall time."""
    if not reports:
        raise ValueError("no sprint reports to plot")
    font, small = fonts()
    rows = -(-len(reports) // COLUMNS)
    image = Image.new("RGB", (COLUMNS * PANEL_WIDTH, rows * PANEL_HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    for index, report in enumerate(reports):
        left, top = (index % COLUMNS) * PANEL_WIDTH, (index // COLUMNS) * PANEL_HEIGHT
        recipe = report["recipe"]
        points = [(0, report["init_psnr"])] if report.get("init_psnr") is not None else []
        points += [(point["iteration"], point["psnr"]) for point in report["curve"] if point["psnr"] is not None]
        draw.text((left + 20, top + 8), f"{recipe['name']}: {recipe['validation_set']} Y-PSNR (EMA, fp32)",
                  fill="black", font=font)
        draw.text((left + 20, top + 28), f"batch {report['batch']}, {report['seconds']:.0f} s, "
                  f"{report['machine'][:60]}", fill="black", font=small)
        if not points:
            continue
        box = (left + MARGIN[0], top + MARGIN[1], left + PANEL_WIDTH - MARGIN[2], top + PANEL_HEIGHT - MARGIN[3])
        axes = Axes(box, padded_range([x for x, _ in points], 0.03, right_fraction=0.06),
                    padded_range([y for _, y in points], 0.1, minimum=0.02))
        draw_axes(draw, axes, "iterations", "dB")
        if report.get("init_psnr") is not None:
            _, y = axes.xy(0, report["init_psnr"])
            draw.line([box[0], y, box[2], y], fill=START, width=1)
            draw.text((box[0] + 6, y - 16), f"start {report['init_psnr']:.3f}", fill=START, font=small)
        pixels = [axes.xy(x, y) for x, y in points]
        if len(pixels) > 1:
            draw.line(pixels, fill=CURVE, width=2)
        for x, y in pixels:
            draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=CURVE)
        x, y = pixels[-1]
        draw.text((x - 60, y - 20), f"{points[-1][1]:.3f}", fill=CURVE, font=small)
    return save_png(image, path)
