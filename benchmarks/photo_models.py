"""Photo models against the models they were fine-tuned from, on photos nobody trained or tuned on.

    python benchmarks/photo_models.py [--models rcan-x4 rcan-x4-photo] [--picture docs/photo-models.png]

1. The held-out check: four photos of scikit-image's samples (astronaut, chelsea, coffee, rocket;
   public domain or CC0), mod-cropped to x4 and degraded at ``light`` and ``heavy``: the photo
   recipe never drew ``heavy``'s noise and JPEG ranges, and no choice was tuned on these images.
   Y-PSNR (crop 4) and LPIPS per level, as means over the photos, for bicubic and each model.
2. The visual check: a crop of ``rocket.jpg`` as it ships (a real JPEG, no ground truth) upscaled
   x4 by bicubic and each model, one above the other in one PNG (``--picture``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import skimage

import srapp
from srapp.degradations import degrade, image_seed
from srapp.io.image_io import read_image, write_image
from srapp.metrics import lpips, psnr
from srapp.pixels import mod_crop

SAMPLES = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg")
LEVELS = ("light", "heavy")
SCALE = 4
VISUAL_CROP = (slice(120, 216), slice(288, 480))  # rows, columns of rocket.jpg: the nose cone, a tower, dusk sky


def sample(name: str) -> np.ndarray:
    return read_image(Path(skimage.data.__file__).parent / name)


def held_out(models: list[str]) -> None:
    upscalers = {"bicubic": srapp.Upscaler("bicubic", scale=SCALE, precision="fp32")}
    upscalers |= {name: srapp.Upscaler(name, precision="fp32") for name in models}
    for level in LEVELS:
        scores: dict[str, list[tuple[float, float]]] = {name: [] for name in upscalers}
        for file in SAMPLES:
            hr = mod_crop(sample(file), SCALE)
            lr = degrade(hr, SCALE, level, image_seed(file))
            for name, upscaler in upscalers.items():
                result = upscaler(lr)
                scores[name].append((psnr(result, hr, crop_border=SCALE, y_channel=True), lpips(result, hr)))
        print(f"\n{level}: mean over {', '.join(SAMPLES)}")
        print(f"{'model':<16} {'Y-PSNR':>8} {'LPIPS':>7}")
        for name, values in scores.items():
            mean_psnr, mean_lpips = np.mean(values, axis=0)
            print(f"{name:<16} {mean_psnr:8.2f} {mean_lpips:7.3f}")


def picture(models: list[str], path: Path) -> None:
    crop = sample("rocket.jpg")[VISUAL_CROP]
    panels = [srapp.upscale(crop, "bicubic", scale=SCALE)]
    panels += [srapp.upscale(crop, name, precision="fp32") for name in models]
    gap = np.full((8, panels[0].shape[1], 3), 255, np.uint8)
    column = np.concatenate([part for panel in panels for part in (panel, gap)][:-1], axis=0)
    write_image(path, column)
    print(f"\nvisual check: {path} ({column.shape[1]}x{column.shape[0]}): bicubic, {', '.join(models)}, "
          "top to bottom")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["rcan-x4", "rcan-x4-photo"])
    parser.add_argument("--picture", type=Path, help="write the visual check here (PNG)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    held_out(args.models)
    if args.picture is not None:
        picture(args.models, args.picture)
    print(f"\n{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
