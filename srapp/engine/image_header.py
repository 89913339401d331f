"""An image file's header: format, size, the pixel layout srapp will return, orientation and
metadata, read without decoding a single pixel.

Sizes come from the header, so limits hold before any decoder allocates: a 69-byte PNG that
claims 60000x60000 is refused by its numbers. Pillow parses the headers, through its format
openers directly: ``Image.open`` would stop at its own decompression-bomb threshold (and
changing ``Image.MAX_IMAGE_PIXELS`` would change it for every thread of the process).
"""

from __future__ import annotations

import contextlib
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from PIL import (  # noqa: F401 (each plugin registers its format's opener in Image.OPEN)
    BmpImagePlugin, GifImagePlugin, Image, ImageFile, JpegImagePlugin, PngImagePlugin, TiffImagePlugin,
    WebPImagePlugin,
)

from ..errors import ImageError
from .metadata import EXIF_ORIENTATION, ImageMetadata, exif_for, exif_orientation, profile_fits, raw_exif

SUPPORTED_FORMATS = ("PNG", "JPEG", "WEBP", "TIFF", "BMP", "GIF")
READABLE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")
MAX_DECODABLE_PIXELS = 2**30  # OpenCV's own ceiling; larger images are refused whatever the caller's limit
SUPPORTED_LAYOUTS = "srapp reads 8- and 16-bit unsigned integer gray, gray+alpha, RGB and RGBA, palette, bilevel, CMYK"

# Pillow's 8-bit modes and the layout read_image returns for each.
_EIGHT_BIT_MODES = {
    "1": "L", "L": "L", "LA": "LA", "La": "LA", "P": "RGB", "PA": "RGBA", "RGB": "RGB", "RGBX": "RGB",
    "RGBA": "RGBA", "RGBa": "RGBA", "CMYK": "RGB", "YCbCr": "RGB",
}
_WITH_TRANSPARENCY = {"L": "LA", "P": "RGBA", "RGB": "RGBA"}  # a transparent colour (tRNS, GIF) becomes alpha
_SIXTEEN_BIT_PNG = {0: "L", 2: "RGB", 4: "LA", 6: "RGBA"}  # by IHDR colour type
_SIXTEEN_BIT_TIFF = {1: "L", 3: "RGB", 4: "RGBA"}  # by samples per pixel
_TIFF_SAMPLE_KINDS = {1: "unsigned integer", 2: "signed integer", 3: "floating-point", 4: "untyped"}
_TIFF_BITS, _TIFF_SAMPLES, _TIFF_SAMPLE_FORMAT = 258, 277, 339


@dataclass(frozen=True)
class ImageHeader:
    """``width`` x ``height`` as stored; ``mode`` (``L``, ``LA``, ``RGB`` or ``RGBA``) and ``bits``
    (8 or 16) as :func:`~srapp.engine.image_io.read_image` returns the pixels; ``orientation`` the
    stored EXIF orientation; ``metadata`` as it goes with the upright pixels (orientation 1, and an
    ICC profile only when it describes ``mode``: a CMYK file's profile does not)."""

    path: Path
    format: str
    width: int
    height: int
    mode: str
    bits: int
    orientation: int
    metadata: ImageMetadata

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def channels(self) -> int:
        return len(self.mode)

    @property
    def upright_size(self) -> tuple[int, int]:
        """(width, height) once the EXIF orientation is applied."""
        return (self.height, self.width) if self.orientation >= 5 else (self.width, self.height)


def read_header(path: str | os.PathLike) -> ImageHeader:
    """The header of an image srapp can read, at any size; an :class:`ImageError` naming the file
    for anything else (missing, empty, unparsable, another format, an unsupported sample type, an
    animation or multi-page file)."""
    with open_image(Path(path)) as (_, header):
        return header


@contextlib.contextmanager
def open_image(path: Path) -> Iterator[tuple[ImageFile.ImageFile, ImageHeader]]:
    """The file opened by Pillow with nothing decoded yet, and its header."""
    if not path.is_file():
        reason = "a broken symbolic link" if path.is_symlink() else "a folder" if path.is_dir() else "no such file"
        raise ImageError(path, reason)
    if path.stat().st_size == 0:
        raise ImageError(path, "empty file")
    with open(path, "rb") as handle:
        image = _identify(path, handle)
        try:
            yield image, _header(path, handle, image)
        finally:
            image.close()


def _identify(path: Path, handle: BinaryIO) -> ImageFile.ImageFile:
    prefix = handle.read(16)
    for name in SUPPORTED_FORMATS:
        factory, accept = Image.OPEN[name]
        if accept(prefix) is not True:  # False, or a message about a codec Pillow lacks
            continue
        handle.seek(0)
        try:
            return factory(handle, str(path))
        except Exception as error:  # noqa: BLE001 (whatever the parser raises, the header is unusable)
            if name == "TIFF" and (layout := _tiff_layout_of_file(handle)) is not None:
                raise ImageError(path, f"{layout} is not supported ({SUPPORTED_LAYOUTS})") from error
            raise ImageError(path, f"cannot read the {name} header ({error or type(error).__name__})") from error
    raise ImageError(path, f"not a readable image (supported: {', '.join(SUPPORTED_FORMATS)})")


def _header(path: Path, handle: BinaryIO, image: ImageFile.ImageFile) -> ImageHeader:
    file_format = "JPEG" if image.format == "MPO" else image.format
    width, height = image.size
    if width < 1 or height < 1:
        raise ImageError(path, f"has no pixels ({width}x{height})")
    mode, bits = _layout(path, handle, image, file_format)
    try:
        # A JPEG's further pictures (MPO) are previews or stereo views of the first.
        frames = 1 if file_format == "JPEG" else getattr(image, "n_frames", 1)
    except Exception as error:  # noqa: BLE001 (counting walks the file; a damaged one can fail anywhere)
        raise ImageError(path, f"cannot read the {file_format} frames ({error})") from error
    if frames > 1:
        raise ImageError(path, f"has {frames} frames (an animation or a multi-page file); srapp reads still images only")
    if file_format == "TIFF":
        exif, orientation = None, int(image.tag_v2.get(EXIF_ORIENTATION, 1))  # TIFF keeps it in its own tags
    else:
        exif = raw_exif(image.info.get("exif") or (_late_png_exif(handle) if file_format == "PNG" else None))
        orientation = exif_orientation(exif)
    orientation = orientation if 1 <= orientation <= 8 else 1
    upright = (height, width) if orientation >= 5 else (width, height)
    icc_profile = image.info.get("icc_profile")
    metadata = ImageMetadata(icc_profile if profile_fits(icc_profile, len(mode)) else None, exif_for(exif, *upright))
    return ImageHeader(path, file_format, width, height, mode, bits, orientation, metadata)


def _layout(path: Path, handle: BinaryIO, image: ImageFile.ImageFile, file_format: str) -> tuple[str, int]:
    """(mode, bits) that reading will return. Pillow narrows 16-bit colour to 8 bits, so 16-bit
    layouts come from the format's own fields."""
    if file_format == "PNG":
        handle.seek(24)  # signature (8), IHDR length and type (8), width and height (8)
        depth, colour_type = handle.read(2)
        if depth == 16:
            return _SIXTEEN_BIT_PNG[colour_type], 16
    if file_format == "TIFF":
        samples, bits, kind = _tiff_samples(image.tag_v2)
        if kind != 1 or bits not in (1, 2, 4, 8, 16) or (bits == 16 and samples not in _SIXTEEN_BIT_TIFF):
            raise ImageError(path, f"{_describe_tiff(samples, bits, kind)} is not supported ({SUPPORTED_LAYOUTS})")
        if bits == 16:
            return _SIXTEEN_BIT_TIFF[samples], 16
    if image.mode not in _EIGHT_BIT_MODES:
        raise ImageError(path, f"pixel mode {image.mode} is not supported ({SUPPORTED_LAYOUTS})")
    if "transparency" in image.info and image.mode in _WITH_TRANSPARENCY:
        return _WITH_TRANSPARENCY[image.mode], 8
    return _EIGHT_BIT_MODES[image.mode], 8


def _tiff_samples(tags) -> tuple[int, int, int]:
    """(samples per pixel, widest sample in bits, sample format) from a TIFF directory."""
    bits = tags.get(_TIFF_BITS, (1,))
    kinds = tags.get(_TIFF_SAMPLE_FORMAT, (1,))
    bits = max(bits) if isinstance(bits, tuple) else bits
    kind = kinds[0] if isinstance(kinds, tuple) else kinds
    return int(tags.get(_TIFF_SAMPLES, 1)), int(bits), int(kind)


def _describe_tiff(samples: int, bits: int, kind: int) -> str:
    return f"a TIFF of {bits}-bit {_TIFF_SAMPLE_KINDS.get(kind, 'unknown')} samples ({samples} per pixel)"


def _tiff_layout_of_file(handle: BinaryIO) -> str | None:
    """The sample layout of a TIFF Pillow cannot open, read from its first directory; None when
    even that cannot be read."""
    try:
        handle.seek(0)
        prefix = handle.read(8)
        if prefix[2:3] == b"+":  # BigTIFF: a 16-byte header
            prefix += handle.read(8)
        directory = TiffImagePlugin.ImageFileDirectory_v2(prefix)
        handle.seek(directory.next)
        directory.load(handle)
        return _describe_tiff(*_tiff_samples(directory))
    except Exception:  # noqa: BLE001 (no layout to describe: the caller reports the parse error)
        return None


def _late_png_exif(handle: BinaryIO) -> bytes | None:
    """An eXIf chunk after the image data, found by stepping over the chunks (nothing is
    decompressed); Pillow reads only those before the first IDAT without decoding."""
    handle.seek(8)
    while len(head := handle.read(8)) == 8:
        length, kind = struct.unpack(">I4s", head)
        if kind == b"eXIf":
            return handle.read(length)
        if kind == b"IEND":
            break
        handle.seek(length + 4, os.SEEK_CUR)  # the data and its CRC
    return None


__all__ = ["MAX_DECODABLE_PIXELS", "READABLE_SUFFIXES", "SUPPORTED_FORMATS", "ImageHeader", "open_image", "read_header"]
