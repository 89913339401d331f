"""Natural-looking test images made on the spot, so that the suite needs no dataset.

A scene (a colour gradient, overlapping smooth shapes with shading, a few lines and words of
text, a little low-frequency texture) is drawn at ``supersample`` times the wanted size and
reduced with srapp's MATLAB bicubic, as a camera's optics and sensor would: sharp but band-limited
edges, smooth regions, fine detail, the kind of image an SR model is trained for.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from srapp.io.image_io import write_image
from srapp.engine.resize import imresize

WORDS = ("srapp", "RCAN", "SAN", "Set5", "bicubic", "edge", "detail", "zoom", "photo", "x4")


def natural_image(height: int, width: int, seed: int, supersample: int = 4) -> np.ndarray:
    """An ``(height, width, 3)`` uint8 RGB scene, the same for the same arguments."""
    rng = np.random.default_rng(seed)
    big_h, big_w = height * supersample, width * supersample
    rows, cols = np.mgrid[0:big_h, 0:big_w].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * cols / big_w + np.sin(angle) * rows / big_h + 1) / 2
    start, end = rng.uniform(20, 235, 3), rng.uniform(20, 235, 3)
    canvas = start + (end - start) * ramp[..., None]

    for _ in range(rng.integers(5, 9)):  # shaded ellipses and polygons
        mask = np.zeros((big_h, big_w), np.uint8)
        center = (int(rng.uniform(0, big_w)), int(rng.uniform(0, big_h)))
        if rng.random() < 0.5:
            axes = (int(rng.uniform(0.08, 0.3) * big_w), int(rng.uniform(0.08, 0.3) * big_h))
            cv2.ellipse(mask, center, axes, rng.uniform(0, 180), 0, 360, 255, -1)
        else:
            radius = rng.uniform(0.1, 0.3) * min(big_h, big_w)
            corners = rng.integers(3, 7)
            turns = np.sort(rng.uniform(0, 2 * np.pi, corners))
            points = np.stack([center[0] + radius * np.cos(turns), center[1] + radius * np.sin(turns)], 1)
            cv2.fillPoly(mask, [points.astype(np.int32)], 255)
        colour = rng.uniform(0, 255, 3)
        shade = 1 + 0.25 * np.cos(rng.uniform(1, 4) * np.pi * rows / big_h + rng.uniform(0, 2 * np.pi))
        inside = mask.astype(bool)
        canvas[inside] = np.clip(colour * shade[inside][:, None], 0, 255)

    def paint(draw) -> None:  # anti-aliased strokes drawn as coverage, then blended in one colour
        coverage = np.zeros((big_h, big_w), np.uint8)
        draw(coverage)
        alpha = coverage[..., None].astype(np.float32) / 255
        canvas[:] = canvas * (1 - alpha) + rng.uniform(0, 255, 3) * alpha

    for _ in range(rng.integers(2, 5)):  # thin lines
        ends = [(int(rng.uniform(0, big_w)), int(rng.uniform(0, big_h))) for _ in range(2)]
        stroke = int(rng.integers(2, 6))
        paint(lambda mask: cv2.line(mask, ends[0], ends[1], 255, stroke, cv2.LINE_AA))

    for _ in range(rng.integers(1, 4)):  # text
        word = str(rng.choice(WORDS))
        scale = rng.uniform(0.6, 1.4) * supersample * min(height, width) / 120
        origin = (int(rng.uniform(0, 0.6) * big_w), int(rng.uniform(0.2, 0.95) * big_h))
        thickness = max(1, int(scale * 2))
        paint(lambda mask: cv2.putText(mask, word, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, 255, thickness,
                                       cv2.LINE_AA))

    texture = cv2.GaussianBlur(rng.normal(0, 1, (big_h, big_w)).astype(np.float32), (0, 0), supersample * 1.5)
    canvas += 6 * texture[..., None] / texture.std()
    small = imresize(np.clip(canvas, 0, 255), output_shape=(height, width))
    return np.clip(np.round(small), 0, 255).astype(np.uint8)


def write_natural_images(folder: Path, sizes: list[tuple[int, int]], seed: int = 0) -> list[Path]:
    """``natural_image`` PNGs ``img00.png``, ``img01.png``, ... of the given (height, width) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    return [write_image(folder / f"img{index:02d}.png", natural_image(h, w, seed + index))
            for index, (h, w) in enumerate(sizes)]
