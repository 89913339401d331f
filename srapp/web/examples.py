"""Example inputs for the page, drawn at start-up (no dataset images are shipped)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..io.image_io import write_image

EXAMPLE_SIZE = (96, 128)  # small, so a CPU upscales one in seconds


def _text_card(height: int, width: int) -> np.ndarray:
    image = np.full((height, width, 3), 245, np.uint8)
    for row, (text, colour) in enumerate((("srapp", (20, 40, 160)), ("RCAN", (160, 30, 30)), ("SAN x4", (20, 110, 40)))):
        cv2.putText(image, text, (6, 28 + 28 * row), cv2.FONT_HERSHEY_SIMPLEX, 0.8, colour, 2, cv2.LINE_AA)
    return image


def _shapes(height: int, width: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.stack([120 + 100 * x / width, 90 + 120 * y / height, 200 - 80 * x / width], axis=2).astype(np.uint8)
    cv2.circle(image, (width // 3, height // 2), height // 4, (240, 200, 40), -1, cv2.LINE_AA)
    cv2.rectangle(image, (width // 2, height // 5), (width - 12, height // 2), (30, 30, 90), -1)
    for i in range(6):
        cv2.line(image, (width // 2 + 6 * i, height - 8), (width - 8, height // 2 + 6 * i), (255, 255, 255), 1, cv2.LINE_AA)
    return image


def _stripes(height: int, width: int) -> np.ndarray:
    """A chirp pattern: stripes that get finer to the right, where upscalers alias or blur."""
    x = np.linspace(0, 1, width, dtype=np.float32)
    profile = 0.5 + 0.5 * np.cos(2 * np.pi * (4 * x + 18 * x * x))
    gray = np.round(np.tile(profile, (height, 1)) * 255).astype(np.uint8)
    return gray


def write_examples(folder: Path) -> list[Path]:
    """Draw the examples into ``folder`` and return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    height, width = EXAMPLE_SIZE
    drawings = {"text.png": _text_card, "shapes.png": _shapes, "stripes-gray.png": _stripes}
    return [write_image(folder / name, draw(height, width)) for name, draw in drawings.items()]
