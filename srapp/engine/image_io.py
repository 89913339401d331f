"""Reading and writing images without losing what the user gave.

Arrays are RGB(A) in channel-last order: ``HxW`` (grayscale), ``HxWx3`` (RGB) or ``HxWx4``
(RGBA), ``uint8`` or ``uint16``. EXIF orientation is applied on read. Writes are atomic: the file
appears complete or not at all.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import cv2
import numpy as np

from .._atomic import atomic_write
from ..errors import ImageError

READABLE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
_EIGHT_BIT_ONLY = (".jpg", ".jpeg", ".webp", ".bmp")
_EXIF_ORIENTATION_TAG = 0x0112


# Quality 101 selects lossless WebP; without PRESERVE_COLOR libwebp rewrites the colour of fully
# transparent pixels, which would not round-trip.
_WEBP_EXACT_LOSSLESS = [cv2.IMWRITE_WEBP_QUALITY, 101, cv2.IMWRITE_WEBP_LOSSLESS_MODE, cv2.IMWRITE_WEBP_LOSSLESS_PRESERVE_COLOR]


def _header(path: Path) -> tuple[int, int, int]:
    """(width, height, EXIF orientation) from the file header without decoding the pixels;
    (0, 0, 1) when Pillow cannot parse it (OpenCV may still decode it)."""
    from PIL import Image  # Pillow reads EXIF; OpenCV's unchanged mode ignores it

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # srapp enforces its own limit
            with Image.open(path) as image:
                return image.width, image.height, int(image.getexif().get(_EXIF_ORIENTATION_TAG, 1))
    except Exception:  # noqa: BLE001 (an unparsable header is not an error yet)
        return 0, 0, 1


def _check_pixels(path: Path, width: int, height: int, max_pixels: int | None) -> None:
    if max_pixels is not None and width * height > max_pixels:
        raise ImageError(path, f"{width}x{height} is {width * height / 1e6:.3g} megapixels, over the limit of "
            f"{max_pixels / 1e6:.3g} megapixels"
        )


def apply_orientation(image: np.ndarray, orientation: int) -> np.ndarray:
    """Turn a stored image upright for EXIF orientation 1..8."""
    transforms = {
        1: lambda a: a,
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: np.rot90(a, k=-1),
        7: lambda a: np.rot90(a, k=2).swapaxes(0, 1),
        8: lambda a: np.rot90(a, k=1),
    }
    return np.ascontiguousarray(transforms.get(orientation, transforms[1])(image))


def _swap_red_blue(image: np.ndarray) -> np.ndarray:
    """RGB(A) <-> OpenCV's BGR(A); grayscale passes through. The swap is its own inverse."""
    if image.ndim == 3 and image.shape[2] == 3:
        return image[:, :, ::-1]
    if image.ndim == 3 and image.shape[2] == 4:
        return image[:, :, [2, 1, 0, 3]]
    return image


def read_image(path: str | os.PathLike, max_pixels: int | None = None) -> np.ndarray:
    """Read an image as RGB(A) or grayscale, in its own bit depth, upright.

    ``max_pixels`` refuses larger images, from the header where possible (before decoding).
    """
    path = Path(path)
    if not path.is_file():
        raise ImageError(path, "no such file")
    if path.stat().st_size == 0:
        raise ImageError(path, "empty file")
    width, height, orientation = _header(path)
    _check_pixels(path, width, height, max_pixels)
    data = np.fromfile(path, dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ImageError(path, f"not a readable image (supported: {', '.join(READABLE_SUFFIXES)})")
    if image.dtype not in (np.uint8, np.uint16):
        raise ImageError(path, f"unsupported sample type {image.dtype} (8- and 16-bit images only)")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (3, 4))):
        raise ImageError(path, f"unsupported channel layout {image.shape}")
    _check_pixels(path, image.shape[1], image.shape[0], max_pixels)
    return apply_orientation(_swap_red_blue(image), orientation)


def write_image(path: str | os.PathLike, image: np.ndarray, quality: int = 95) -> Path:
    """Write atomically (temp file in the same folder, then rename); the suffix picks the format.

    16-bit images go to PNG and TIFF as they are; JPEG, WebP and BMP are 8-bit formats, so 16-bit
    data is rounded to 8 bits there. WebP is written lossless but has no grayscale mode (gray is
    stored as three equal channels); JPEG and BMP drop an alpha channel.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in READABLE_SUFFIXES:
        raise ImageError(path, f"cannot write {suffix or 'files without a suffix'}; use {', '.join(READABLE_SUFFIXES)}")
    if image.dtype not in (np.uint8, np.uint16) or image.ndim not in (2, 3):
        raise ImageError(path, f"expected an HxW or HxWxC uint8/uint16 array, got {image.dtype} {image.shape}")
    if suffix in _EIGHT_BIT_ONLY and image.dtype == np.uint16:
        image = np.round(image / 257.0).astype(np.uint8)
    if image.ndim == 3 and image.shape[2] == 4 and suffix in (".jpg", ".jpeg", ".bmp"):
        image = image[:, :, :3]
    image = _swap_red_blue(image)
    params = {".jpg": [cv2.IMWRITE_JPEG_QUALITY, quality], ".jpeg": [cv2.IMWRITE_JPEG_QUALITY, quality],
              ".webp": _WEBP_EXACT_LOSSLESS}.get(suffix, [])
    ok, encoded = cv2.imencode(suffix, np.ascontiguousarray(image), params)
    if not ok:
        raise ImageError(path, f"encoding as {suffix} failed")
    try:
        with atomic_write(path) as handle:
            handle.write(encoded.tobytes())
    except OSError as error:
        raise ImageError(path, f"cannot write ({error.strerror or error})") from error
    return path
