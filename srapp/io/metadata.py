"""What an image carries besides its pixels and srapp keeps: the ICC colour profile and EXIF.

EXIF is held as TIFF-structured bytes (``MM\\0*`` or ``II*\\0``), without the ``Exif\\0\\0``
prefix JPEG puts in front. Arrays in srapp are always upright, so EXIF that goes with an array
says orientation 1; :func:`exif_for` makes it so.
"""

from __future__ import annotations

from dataclasses import dataclass

EXIF_ORIENTATION = 0x0112
EXIF_PREFIX = b"Exif\x00\x00"  # before the TIFF-structured bytes in a JPEG APP1 segment and in Pillow's EXIF
_EXIF_IFD = 0x8769
_EXIF_PIXEL_WIDTH, _EXIF_PIXEL_HEIGHT = 0xA002, 0xA003
# ICC header bytes 16..19: the colour space the profile describes.
_ICC_SPACE_FOR_CHANNELS = {1: b"GRAY", 2: b"GRAY", 3: b"RGB ", 4: b"RGB "}


@dataclass(frozen=True)
class ImageMetadata:
    """``icc_profile``: the embedded ICC profile, or None (sRGB by convention).
    ``exif``: TIFF-structured EXIF bytes, or None."""

    icc_profile: bytes | None = None
    exif: bytes | None = None


def raw_exif(data: bytes | None) -> bytes | None:
    """EXIF as TIFF-structured bytes, whichever container it came from; None when empty."""
    if not data:
        return None
    return data[len(EXIF_PREFIX):] if data.startswith(EXIF_PREFIX) else data


def _parse(exif: bytes):
    from PIL import Image

    parsed = Image.Exif()
    parsed.load(EXIF_PREFIX + exif)
    return parsed


def exif_orientation(exif: bytes | None) -> int:
    """The EXIF orientation 1..8; 1 when absent or unreadable."""
    if not exif:
        return 1
    try:
        orientation = int(_parse(exif).get(EXIF_ORIENTATION, 1))
    except Exception:  # noqa: BLE001 (damaged EXIF: the pixels are still usable as stored)
        return 1
    return orientation if 1 <= orientation <= 8 else 1


def exif_for(exif: bytes | None, width: int, height: int) -> bytes | None:
    """EXIF for an upright ``width`` x ``height`` array: orientation 1, and the pixel dimensions
    updated where the EXIF states them. None when absent or unreadable (damaged EXIF is dropped
    rather than copied)."""
    if not exif:
        return None
    try:
        parsed = _parse(exif)
        if EXIF_ORIENTATION in parsed:
            parsed[EXIF_ORIENTATION] = 1
        details = parsed.get_ifd(_EXIF_IFD)
        for tag, value in ((_EXIF_PIXEL_WIDTH, width), (_EXIF_PIXEL_HEIGHT, height)):
            if tag in details:
                details[tag] = value
        return raw_exif(parsed.tobytes())
    except Exception:  # noqa: BLE001 (see the docstring)
        return None


def profile_fits(icc_profile: bytes | None, channels: int) -> bool:
    """Whether an ICC profile describes pixels with ``channels`` channels (a gray profile for gray
    or gray+alpha, an RGB one for RGB or RGBA); a CMYK profile fits neither."""
    return bool(icc_profile) and icc_profile[16:20] == _ICC_SPACE_FOR_CHANNELS.get(channels)


__all__ = ["EXIF_ORIENTATION", "EXIF_PREFIX", "ImageMetadata", "exif_for", "exif_orientation", "profile_fits", "raw_exif"]
