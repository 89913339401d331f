"""Reading and writing images without losing what the user gave.

Arrays are channel-last: ``HxW`` (gray), ``HxWx2`` (gray+alpha), ``HxWx3`` (RGB) or ``HxWx4``
(RGBA), ``uint8`` or ``uint16``, always upright (EXIF orientation applied on read).

Reading checks the header first (:mod:`srapp.io.header`): size limits, format and
sample type are settled before any pixel is decoded. Pillow decodes 8-bit images (it refuses
truncated data instead of padding it); OpenCV decodes 16-bit ones, which Pillow would narrow.
Palette and bilevel images come back as RGB(A) / gray, CMYK as RGB (Pillow's conversion, without
colour management), a transparent colour as alpha. Animations, multi-page files and float or
32-bit samples are refused.

Writing keeps the ICC profile (PNG, JPEG, WebP, TIFF) and EXIF (PNG, JPEG, WebP) with the
orientation set to 1, and is atomic: the file appears complete or not at all.
"""

from __future__ import annotations

import io
import os
import struct
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from .._atomic import atomic_write
from ..errors import ImageError
from .header import (
    MAX_DECODABLE_PIXELS, PNG_SIGNATURE, READABLE_SUFFIXES, ImageHeader, open_image, open_regular_file, read_header,
)
from .metadata import EXIF_PREFIX, ImageMetadata, exif_for, profile_fits

WRITABLE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
DEFAULT_JPEG_QUALITY = 95
_EIGHT_BIT_ONLY = (".jpg", ".jpeg", ".webp", ".bmp")
_NO_ALPHA = (".jpg", ".jpeg", ".bmp")
_WITH_EXIF = (".png", ".jpg", ".jpeg", ".webp")  # OpenCV's BMP and our TIFF writer carry no EXIF
_TIFF = (".tif", ".tiff")
_JPEG = (".jpg", ".jpeg")
_JPEG_SEGMENT_DATA = 65533  # the most an APPn segment holds: its 2-byte length counts itself
_ICC_MARKER = b"ICC_PROFILE\x00"
_ICC_CHUNK = _JPEG_SEGMENT_DATA - len(_ICC_MARKER) - 2  # and the chunk's number and count
# Pillow's decoding failures on damaged data (MemoryError and the like are not the file's fault).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error, zlib.error)

# Quality 101 selects lossless WebP; without PRESERVE_COLOR libwebp rewrites the colour of fully
# transparent pixels, which would not round-trip.
_WEBP_EXACT_LOSSLESS = [cv2.IMWRITE_WEBP_QUALITY, 101, cv2.IMWRITE_WEBP_LOSSLESS_MODE, cv2.IMWRITE_WEBP_LOSSLESS_PRESERVE_COLOR]


# The longest side each format's encoder takes (libjpeg-turbo's JPEG_MAX_DIMENSION, WebP's 14-bit
# sides); the others take any side an array can have.
_MAX_SIDE = {".jpg": 65500, ".jpeg": 65500, ".webp": 16383}


def check_writable_size(path: str | os.PathLike, height: int, width: int) -> None:
    """Refuse an image of ``width x height`` that ``path``'s format cannot hold (JPEG: sides up to
    65,500; WebP: 16,383), so a run can fail before its work instead of at the end."""
    longest = _MAX_SIDE.get(Path(path).suffix.lower())
    if longest is not None and max(height, width) > longest:
        raise ImageError(path, f"a {width}x{height} result does not fit in {Path(path).suffix.lower()}, whose sides "
                         f"are at most {longest} pixels; choose .png or .tif")


def check_jpeg_quality(quality: int) -> int:
    """``quality`` when it is a JPEG quality (1..100), else ValueError."""
    if isinstance(quality, bool) or not isinstance(quality, (int, np.integer)) or not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality is an integer from 1 to 100, got {quality!r}")
    return int(quality)


def _check_pixels(header: ImageHeader, max_pixels: int | None) -> None:
    size = f"{header.width}x{header.height} is {header.pixels / 1e6:.3g} megapixels"
    if header.pixels > MAX_DECODABLE_PIXELS:
        raise ImageError(header.path, f"{size}, more than the {MAX_DECODABLE_PIXELS / 1e6:.4g} megapixels srapp can decode")
    if max_pixels is not None and header.pixels > max_pixels:
        raise ImageError(header.path, f"{size}, over the limit of {max_pixels / 1e6:.3g} megapixels")


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
    """RGB(A) <-> OpenCV's BGR(A); gray and gray+alpha pass through. The swap is its own inverse."""
    if image.ndim == 3 and image.shape[2] == 3:
        return image[:, :, ::-1]
    if image.ndim == 3 and image.shape[2] == 4:
        return image[:, :, [2, 1, 0, 3]]
    return image


def _channels(image: np.ndarray) -> int:
    return 1 if image.ndim == 2 else image.shape[2]


def _decode_with_pillow(image: Image.Image, header: ImageHeader) -> np.ndarray:
    try:
        image.load()
        converted = image if image.mode == header.mode else image.convert(header.mode)
        pixels = np.asarray(converted)  # read-only, over a copy of Pillow's buffer
    except _DECODE_ERRORS as error:
        raise ImageError(header.path, f"truncated or corrupt {header.format} data ({error})") from error
    converted.close()
    image.close()  # frees Pillow's buffer before the writable copy below
    return pixels.copy()


def _decode_with_opencv(header: ImageHeader) -> np.ndarray:
    """The samples as OpenCV decodes them, in RGB(A) order (gray and gray+alpha as they are)."""
    with open_regular_file(header.path) as handle:
        data = np.frombuffer(handle.read(), np.uint8)
    try:
        decoded = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    except cv2.error as error:
        raise ImageError(header.path, f"OpenCV cannot decode it ({error.err})") from error
    if decoded is None:
        raise ImageError(header.path, f"truncated or corrupt {header.format} data")
    if decoded.dtype != np.uint16:
        raise ImageError(header.path, f"decoded as {decoded.dtype}, not the 16 bits its header states")
    return _swap_red_blue(decoded)


def _decode_sixteen_bit_png(header: ImageHeader) -> np.ndarray:
    """A 16-bit PNG as stored (OpenCV leaves the EXIF orientation alone), its tRNS colour as alpha."""
    pixels = _decode_with_opencv(header)
    if header.mode == "LA" and _channels(pixels) == 4:
        pixels = pixels[:, :, [0, 3]]  # OpenCV expands gray+alpha to BGRA
    if header.transparent_colour is not None:
        # OpenCV turns an RGB tRNS colour into alpha and ignores a gray one: alpha is made here for both.
        colour = pixels if pixels.ndim == 2 else pixels[:, :, :len(header.transparent_colour)]
        colour = colour.reshape(*colour.shape[:2], -1)
        if colour.shape[2] == len(header.transparent_colour):
            transparent = np.all(colour == np.array(header.transparent_colour, np.uint16), axis=2)
            pixels = np.dstack([colour, np.where(transparent, 0, 65535).astype(np.uint16)])
    return pixels


def _stored_tiff_samples(header: ImageHeader) -> np.ndarray:
    """A 16-bit TIFF's samples, ``H x W x samples``, upright: tifffile reads every layout in the
    compressions it decodes itself; OpenCV (libtiff) reads the other compressions for the layouts
    it decodes right (see :class:`~srapp.io.header.TiffSamples`), and turns them upright itself."""
    import tifffile

    layout = header.tiff
    if layout.tifffile_decodes:
        try:
            with open_regular_file(header.path) as handle, tifffile.TiffFile(handle) as tiff:
                samples = tiff.pages.first.asarray()
        except Exception as error:  # noqa: BLE001 (tifffile's errors on damaged data are of many kinds)
            raise ImageError(header.path, f"truncated or corrupt TIFF data ({error})") from error
        if layout.planar:
            samples = np.moveaxis(samples, 0, -1)
        samples = samples.reshape(header.height, header.width, -1) if samples.size == header.pixels * layout.samples \
            else samples
        return apply_orientation(samples, header.orientation)
    samples = _decode_with_opencv(header)  # the header refused the layouts OpenCV gets wrong
    return samples.reshape(*samples.shape[:2], -1)


def _decode_sixteen_bit_tiff(header: ImageHeader) -> np.ndarray:
    """A 16-bit TIFF upright in the header's mode: premultiplied alpha divided out, white-is-zero
    gray inverted, CMYK converted to RGB as Pillow converts 8-bit CMYK (without colour management)."""
    layout = header.tiff
    samples = _stored_tiff_samples(header)
    if samples.dtype != np.uint16 or samples.shape[2] != layout.samples:
        raise ImageError(header.path, f"decoded as {samples.dtype} with {samples.shape[2]} samples per pixel, not the "
                         f"{layout.samples} 16-bit samples its header states")
    colour_samples = 4 if layout.photometric == 5 else 3 if layout.photometric == 2 else 1
    colour = samples[:, :, :colour_samples].astype(np.float64)
    alpha = None if layout.alpha is None else samples[:, :, layout.alpha]
    if layout.premultiplied:
        colour = np.divide(colour * 65535.0, alpha[:, :, None], out=np.zeros_like(colour), where=alpha[:, :, None] > 0)
    if layout.photometric == 0:
        colour = 65535.0 - colour
    if layout.photometric == 5:
        colour = (65535.0 - colour[:, :, :3]) * (65535.0 - colour[:, :, 3:]) / 65535.0
    pixels = np.clip(np.round(colour), 0, 65535).astype(np.uint16)
    pixels = pixels if alpha is None else np.dstack([pixels, alpha])
    return pixels[:, :, 0] if pixels.shape[2] == 1 else pixels


def _decode(image: Image.Image, header: ImageHeader) -> np.ndarray:
    """The pixels upright, in the header's layout."""
    if header.tiff is not None:
        return _decode_sixteen_bit_tiff(header)
    if header.bits == 16:
        return apply_orientation(_decode_sixteen_bit_png(header), header.orientation)
    pixels = _decode_with_pillow(image, header)
    # Pillow turns a TIFF upright as it loads it, by its Orientation tag (since Pillow 7); EXIF
    # orientation, which other formats carry, is left to the caller.
    return pixels if header.format == "TIFF" else apply_orientation(pixels, header.orientation)


HeaderCheck = Callable[[ImageHeader], None]


def read_image_with_metadata(
    path: str | os.PathLike, max_pixels: int | None = None, check: HeaderCheck | None = None,
) -> tuple[np.ndarray, ImageMetadata]:
    """The upright pixels (see the module docstring for layouts) and the metadata that goes with
    them. ``max_pixels`` refuses larger images from their header, before anything is decoded;
    ``check`` sees that header next and may refuse it too (raising), e.g. for the size of the
    result it would make (:meth:`srapp.Upscaler.check_header`)."""
    with open_image(Path(path)) as (image, header):
        _check_pixels(header, max_pixels)
        if check is not None:
            check(header)
        pixels = _decode(image, header)
    width, height = header.upright_size
    if pixels.shape[:2] != (height, width):
        raise ImageError(header.path, f"decoded {pixels.shape[1]}x{pixels.shape[0]}, but the header says {width}x{height}"
                         + (" upright" if header.orientation >= 5 else ""))
    if _channels(pixels) != header.channels:
        raise ImageError(header.path, f"decoded with {_channels(pixels)} channels, not the {header.channels} of "
                         f"{header.bits}-bit {header.mode} its header states")
    return pixels, header.metadata


def read_image(path: str | os.PathLike, max_pixels: int | None = None, check: HeaderCheck | None = None) -> np.ndarray:
    """Read an image upright in its own bit depth (see :func:`read_image_with_metadata`)."""
    return read_image_with_metadata(path, max_pixels, check)[0]


def _layout_for(path: Path, suffix: str, image: np.ndarray) -> np.ndarray:
    """The array in a layout the format stores: 8 bits for 8-bit formats, no alpha for JPEG and
    BMP, gray as RGB for WebP (which has no gray mode)."""
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.dtype not in (np.uint8, np.uint16) or not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] <= 4)):
        raise ImageError(path, f"expected an HxW or HxWxC (C = 1..4) uint8/uint16 array, got {image.dtype} {image.shape}")
    if min(image.shape[:2]) < 1:
        raise ImageError(path, f"cannot write an empty image of shape {image.shape}")
    check_writable_size(path, *image.shape[:2])
    if suffix in _EIGHT_BIT_ONLY and image.dtype == np.uint16:
        image = np.round(image / 257.0).astype(np.uint8)
    if suffix in _NO_ALPHA and _channels(image) in (2, 4):
        image = image[:, :, 0] if image.shape[2] == 2 else image[:, :, :3]
    if suffix == ".webp" and _channels(image) <= 2:
        gray = image if image.ndim == 2 else image[:, :, 0]
        image = np.dstack([gray] * 3 + ([image[:, :, 1]] if image.ndim == 3 else []))
    return np.ascontiguousarray(image)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _gray_alpha_png(image: np.ndarray, icc_profile: bytes | None, exif: bytes | None) -> bytes:
    """PNG colour type 4 (gray+alpha), 8 or 16 bits: neither OpenCV nor Pillow writes all of it."""
    height, width, _ = image.shape
    depth = image.dtype.itemsize * 8
    rows = np.ascontiguousarray(image.astype(">u2") if depth == 16 else image).view(np.uint8).reshape(height, -1)
    filtered = rows.copy()
    filtered[1:] -= rows[:-1]  # filter 2 ("Up"): each byte minus the one above it, modulo 256
    scanlines = np.hstack([np.full((height, 1), 2, np.uint8), filtered])
    chunks = [_png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, 4, 0, 0, 0))]
    if icc_profile:
        chunks.append(_png_chunk(b"iCCP", b"ICC profile\x00\x00" + zlib.compress(icc_profile)))
    if exif:
        chunks.append(_png_chunk(b"eXIf", exif))
    chunks += [_png_chunk(b"IDAT", zlib.compress(scanlines.tobytes(), 6)), _png_chunk(b"IEND", b"")]
    return PNG_SIGNATURE + b"".join(chunks)


def _tiff(image: np.ndarray, icc_profile: bytes | None) -> bytes:
    """Deflate-compressed TIFF, alpha as unassociated extra sample: any layout in 8 or 16 bits."""
    import tifffile  # only TIFF output needs it

    buffer = io.BytesIO()
    channels = _channels(image)
    tifffile.imwrite(
        buffer, image, photometric="minisblack" if channels <= 2 else "rgb",
        extrasamples=[2] if channels in (2, 4) else None, compression="zlib", iccprofile=icc_profile, metadata=None,
    )
    return buffer.getvalue()


def _jpeg_segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def _jpeg_with_metadata(path: Path, jpeg: bytes, icc_profile: bytes | None, exif: bytes | None) -> bytes:
    """``jpeg`` with EXIF in an APP1 segment and the ICC profile in as many APP2 segments as it
    needs (numbered ICC_PROFILE chunks, as the ICC specifies), after the SOI and JFIF markers.
    A segment holds under 64 KB and EXIF has no way to continue in another: EXIF too large for
    one is left out, with a warning."""
    segments = []
    if exif and len(EXIF_PREFIX) + len(exif) > _JPEG_SEGMENT_DATA:
        warnings.warn(f"{path}: the EXIF ({len(exif)} bytes) does not fit in a JPEG's 64 KB APP1 segment; "
                      "written without it", stacklevel=4)
    elif exif:
        segments.append(_jpeg_segment(0xE1, EXIF_PREFIX + exif))
    if icc_profile:
        chunks = [icc_profile[start:start + _ICC_CHUNK] for start in range(0, len(icc_profile), _ICC_CHUNK)]
        if len(chunks) > 255:
            warnings.warn(f"{path}: the ICC profile ({len(icc_profile)} bytes) needs more than the 255 APP2 "
                          "segments a JPEG can number; written without it", stacklevel=4)
        else:
            segments += [_jpeg_segment(0xE2, _ICC_MARKER + bytes([number, len(chunks)]) + chunk)
                         for number, chunk in enumerate(chunks, start=1)]
    position = 2  # after SOI
    if jpeg[2:4] == b"\xff\xe0":  # the JFIF APP0 segment comes first
        position += 2 + int.from_bytes(jpeg[4:6], "big")
    return jpeg[:position] + b"".join(segments) + jpeg[position:]


def _encode(path: Path, suffix: str, image: np.ndarray, quality: int, metadata: ImageMetadata) -> bytes:
    channels = _channels(image)
    icc_profile = metadata.icc_profile if profile_fits(metadata.icc_profile, channels) else None
    exif = exif_for(metadata.exif, image.shape[1], image.shape[0]) if suffix in _WITH_EXIF else None
    if suffix in _TIFF:
        return _tiff(image, icc_profile)
    if suffix == ".png" and channels == 2:
        return _gray_alpha_png(image, icc_profile, exif)
    params = {".jpg": [cv2.IMWRITE_JPEG_QUALITY, quality], ".jpeg": [cv2.IMWRITE_JPEG_QUALITY, quality],
              ".webp": _WEBP_EXACT_LOSSLESS}.get(suffix, [])
    if suffix in _JPEG:
        return _jpeg_with_metadata(path, _encode_with_opencv(path, suffix, image, params, []), icc_profile, exif)
    extra = [] if suffix == ".bmp" else [
        (kind, np.frombuffer(data, np.uint8)) for kind, data in
        ((cv2.IMAGE_METADATA_ICCP, icc_profile), (cv2.IMAGE_METADATA_EXIF, exif)) if data
    ]
    return _encode_with_opencv(path, suffix, image, params, extra)


def _encode_with_opencv(path: Path, suffix: str, image: np.ndarray, params: list, extra: list) -> bytes:
    """OpenCV's encoding of an RGB(A) array, with ``extra``: (cv2.IMAGE_METADATA_*, bytes) pairs."""
    pixels = np.ascontiguousarray(_swap_red_blue(image))
    try:
        if extra:
            ok, encoded = cv2.imencodeWithMetadata(suffix, pixels, [k for k, _ in extra], [d for _, d in extra], params)
        else:
            ok, encoded = cv2.imencode(suffix, pixels, params)
    except cv2.error as error:
        raise ImageError(path, f"encoding as {suffix} failed ({error.err})") from error
    if not ok:
        raise ImageError(path, f"encoding as {suffix} failed")
    return encoded.tobytes()


def write_image(
    path: str | os.PathLike,
    image: np.ndarray,
    quality: int = DEFAULT_JPEG_QUALITY,
    metadata: ImageMetadata | None = None,
    *,
    replace: bool = True,
) -> Path:
    """Write atomically (temp file in the same folder, then rename); the suffix picks the format.

    16-bit images go to PNG and TIFF as they are; JPEG, WebP and BMP are 8-bit formats, so 16-bit
    data is rounded to 8 bits there. WebP is written lossless but has no gray mode (gray is stored
    as three equal channels); JPEG and BMP drop an alpha channel. ``quality`` is JPEG's (1..100).
    ``metadata``'s ICC profile goes into PNG, JPEG, WebP and TIFF when it describes the written
    channels, its EXIF into PNG, JPEG and WebP with orientation 1. ``replace=False`` never replaces
    an existing file: an ImageError says it exists.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in WRITABLE_SUFFIXES:
        raise ImageError(path, f"cannot write {suffix or 'files without a suffix'}; use {', '.join(WRITABLE_SUFFIXES)}")
    quality = check_jpeg_quality(quality)
    encoded = _encode(path, suffix, _layout_for(path, suffix, image), quality, metadata or ImageMetadata())
    try:
        with atomic_write(path, replace=replace) as handle:
            handle.write(encoded)
    except FileExistsError as error:
        raise ImageError(path, "already exists and is not replaced") from error
    except OSError as error:
        raise ImageError(path, f"cannot write ({error.strerror or error})") from error
    return path


__all__ = [
    "DEFAULT_JPEG_QUALITY", "MAX_DECODABLE_PIXELS", "READABLE_SUFFIXES", "WRITABLE_SUFFIXES", "ImageError",
    "HeaderCheck", "ImageHeader", "ImageMetadata", "apply_orientation", "check_jpeg_quality", "check_writable_size",
    "read_header", "read_image",
    "read_image_with_metadata", "write_image",
]
