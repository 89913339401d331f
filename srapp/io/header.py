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
import stat
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

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
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
_PNG_COLOUR_SAMPLES = {0: 1, 2: 3}  # colour types whose tRNS chunk names one transparent colour
_TIFF_SAMPLE_KINDS = {1: "unsigned integer", 2: "signed integer", 3: "floating-point", 4: "untyped"}
_TIFF_WIDTH, _TIFF_HEIGHT, _TIFF_BITS, _TIFF_COMPRESSION, _TIFF_PHOTOMETRIC = 256, 257, 258, 259, 262
_TIFF_SAMPLES, _TIFF_PLANAR, _TIFF_INK_SET, _TIFF_EXTRA_SAMPLES, _TIFF_SAMPLE_FORMAT = 277, 284, 332, 338, 339
# Photometric interpretation -> (colour samples, what they are) for 16-bit TIFFs.
_SIXTEEN_BIT_PHOTOMETRIC = {0: (1, "gray, white is zero"), 1: (1, "gray"), 2: (3, "RGB"), 5: (4, "CMYK")}
_TIFF_PHOTOMETRIC_NAMES = {3: "palette", 4: "transparency mask", 6: "YCbCr", 8: "CIELab", 9: "ICCLab", 10: "ITULab"}
_ASSOCIATED_ALPHA, _UNASSOCIATED_ALPHA = 1, 2  # ExtraSamples values
_TIFFFILE_COMPRESSIONS = {1, 8, 32946, 32773, 34925}  # none, Deflate (two codes), PackBits, LZMA
_TIFF_COMPRESSION_NAMES = {5: "LZW", 7: "JPEG", 34887: "LERC", 50000: "Zstandard", 50001: "WebP"}


@dataclass(frozen=True)
class TiffSamples:
    """How a 16-bit TIFF stores its samples, as its first directory states them: ``photometric``
    (0 gray with white at zero, 1 gray, 2 RGB, 5 CMYK), ``samples`` per pixel, ``planar`` (one
    plane per sample rather than interleaved), ``alpha`` (the index of the alpha sample, or None),
    ``premultiplied`` (colour stored multiplied by alpha) and the ``compression`` code."""

    photometric: int
    samples: int
    planar: bool
    alpha: int | None
    premultiplied: bool
    compression: int

    @property
    def tifffile_decodes(self) -> bool:
        """Whether tifffile decodes the compression itself (the others, LZW among them, need
        imagecodecs, and are left to OpenCV's libtiff)."""
        return self.compression in _TIFFFILE_COMPRESSIONS

    @property
    def opencv_decodes(self) -> bool:
        """Whether OpenCV decodes the layout right: interleaved gray or RGB(A), no other extra
        samples (it garbles 16-bit planar data and refuses CMYK)."""
        return not self.planar and self.photometric in (1, 2) and self.samples in (1, 3, 4)


@dataclass(frozen=True)
class ImageHeader:
    """``width`` x ``height`` as stored; ``mode`` (``L``, ``LA``, ``RGB`` or ``RGBA``) and ``bits``
    (8 or 16) as :func:`~srapp.io.image_io.read_image` returns the pixels; ``orientation`` the
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
    transparent_colour: tuple[int, ...] | None = None  # a 16-bit PNG's tRNS colour, which reads as alpha 0
    tiff: TiffSamples | None = None  # a 16-bit TIFF's sample layout

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
    _check_regular_file(path, _status(path))
    with open_regular_file(path) as handle:
        image = _identify(path, handle)
        try:
            yield image, _header(path, handle, image)
        finally:
            image.close()


_NOT_REGULAR = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
                (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _status(path: Path) -> os.stat_result:
    try:
        return path.stat()  # follows links: a link to /dev/zero is a character device
    except FileNotFoundError as error:
        raise ImageError(path, "a broken symbolic link" if path.is_symlink() else "no such file") from error
    except OSError as error:
        raise ImageError(path, f"cannot be read ({error.strerror or error})") from error


def _check_regular_file(path: Path, status: os.stat_result) -> None:
    """Refuse anything but a non-empty regular file. Checked before the file is opened: opening a
    FIFO for reading waits for a writer, and a device never ends."""
    if stat.S_ISDIR(status.st_mode):
        raise ImageError(path, "a folder")
    if not stat.S_ISREG(status.st_mode):
        kind = next((name for test, name in _NOT_REGULAR if test(status.st_mode)), "a special file")
        link = " (through a symbolic link)" if path.is_symlink() else ""
        raise ImageError(path, f"not a regular file: {kind}{link}")
    if status.st_size == 0:
        raise ImageError(path, "empty file")


@contextlib.contextmanager
def open_regular_file(path: Path) -> Iterator[BinaryIO]:
    """``path`` opened for reading without ever blocking, checked again on the open descriptor
    (the name may have been replaced by a FIFO or a device since it was checked)."""
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as error:
        raise ImageError(path, f"cannot be opened ({error.strerror or error})") from error
    with os.fdopen(descriptor, "rb") as handle:
        handle.raw.name = str(path)  # instead of the descriptor's number, for readers that report it
        _check_regular_file(path, os.fstat(descriptor))
        yield handle


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
            if name == "PNG":
                _png_header(path, handle)  # names what is wrong with IHDR, when that is what is wrong
            raise ImageError(path, f"cannot read the {name} header ({error or type(error).__name__})") from error
    raise ImageError(path, f"not a readable image (supported: {', '.join(SUPPORTED_FORMATS)})")


def _header(path: Path, handle: BinaryIO, image: ImageFile.ImageFile) -> ImageHeader:
    file_format = "JPEG" if image.format == "MPO" else image.format
    # Pillow reports a TIFF's size upright (it turns the pixels as it loads them); srapp's header
    # states the stored size, like every other format's.
    width, height = (image.tag_v2.get(_TIFF_WIDTH, 0), image.tag_v2.get(_TIFF_HEIGHT, 0)) if file_format == "TIFF" \
        else image.size
    if width < 1 or height < 1:
        raise ImageError(path, f"has no pixels ({width}x{height})")
    mode, bits, transparent_colour, tiff = _layout(path, handle, image, file_format)
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
    return ImageHeader(path, file_format, width, height, mode, bits, orientation, metadata, transparent_colour, tiff)


def _layout(
    path: Path, handle: BinaryIO, image: ImageFile.ImageFile, file_format: str,
) -> tuple[str, int, tuple[int, ...] | None, TiffSamples | None]:
    """(mode, bits) that reading will return, with what a 16-bit decoder needs besides (a PNG's
    transparent colour, a TIFF's sample layout). Pillow narrows 16-bit colour to 8 bits, so
    16-bit layouts come from the format's own fields."""
    if file_format == "PNG":
        depth, colour_type, transparency = _png_header(path, handle)
        if depth == 16:
            mode = _SIXTEEN_BIT_PNG[colour_type]
            if transparency is None or colour_type not in _PNG_COLOUR_SAMPLES:
                return mode, 16, None, None
            samples = _PNG_COLOUR_SAMPLES[colour_type]
            if len(transparency) != 2 * samples:
                raise ImageError(path, f"not a valid PNG: its tRNS chunk has {len(transparency)} bytes, not {2 * samples}")
            return mode + "A", 16, struct.unpack(f">{samples}H", transparency), None
    if file_format == "TIFF":
        samples, bits, kind = _tiff_samples(image.tag_v2)
        if kind != 1 or bits not in (1, 2, 4, 8, 16):
            raise ImageError(path, f"{_describe_tiff(samples, bits, kind)} is not supported ({SUPPORTED_LAYOUTS})")
        if bits == 16:
            return _sixteen_bit_tiff(path, image.tag_v2)
    if image.mode not in _EIGHT_BIT_MODES:
        raise ImageError(path, f"pixel mode {image.mode} is not supported ({SUPPORTED_LAYOUTS})")
    if "transparency" in image.info and image.mode in _WITH_TRANSPARENCY:
        return _WITH_TRANSPARENCY[image.mode], 8, None, None
    return _EIGHT_BIT_MODES[image.mode], 8, None, None


def _sixteen_bit_tiff(path: Path, tags) -> tuple[str, int, None, TiffSamples]:
    """The mode a 16-bit TIFF reads as and how it stores its samples: gray or RGB, CMYK (read as
    RGB), each with an optional alpha sample (premultiplied or not); further extra samples are
    dropped."""
    samples, _, _ = _tiff_samples(tags)
    photometric = int(tags.get(_TIFF_PHOTOMETRIC, 1))
    bits = tags.get(_TIFF_BITS, (16,))
    if set(bits if isinstance(bits, tuple) else (bits,)) != {16}:
        raise ImageError(path, f"a TIFF of mixed sample sizes {bits} is not supported ({SUPPORTED_LAYOUTS})")
    if photometric not in _SIXTEEN_BIT_PHOTOMETRIC or (photometric == 5 and int(tags.get(_TIFF_INK_SET, 1)) != 1):
        kind = _TIFF_PHOTOMETRIC_NAMES.get(photometric, f"photometric interpretation {photometric}")
        kind = "separated inks other than CMYK" if photometric == 5 else kind
        raise ImageError(path, f"a 16-bit {kind} TIFF is not supported ({SUPPORTED_LAYOUTS})")
    colour, name = _SIXTEEN_BIT_PHOTOMETRIC[photometric]
    extra = tags.get(_TIFF_EXTRA_SAMPLES, ())
    extra = extra if isinstance(extra, tuple) else (extra,)
    if samples < colour or len(extra) != samples - colour:
        raise ImageError(path, f"not a valid TIFF: {samples} samples per pixel for {name} with {len(extra)} extra")
    alpha = colour if extra and extra[0] in (_ASSOCIATED_ALPHA, _UNASSOCIATED_ALPHA) else None
    layout = TiffSamples(photometric, samples, int(tags.get(_TIFF_PLANAR, 1)) == 2, alpha,
                         alpha is not None and extra[0] == _ASSOCIATED_ALPHA, int(tags.get(_TIFF_COMPRESSION, 1)))
    if not layout.tifffile_decodes and not layout.opencv_decodes:
        compression = _TIFF_COMPRESSION_NAMES.get(layout.compression, f"compression {layout.compression}")
        kind = "CMYK" if photometric == 5 else "planar" if layout.planar else name
        raise ImageError(path, f"a 16-bit {kind} TIFF compressed with {compression} is not supported: srapp decodes "
                         "that layout uncompressed or compressed with Deflate, PackBits or LZMA")
    return ("L" if colour == 1 else "RGB") + ("A" if alpha is not None else ""), 16, None, layout


def _tiff_samples(tags) -> tuple[int, int, int]:
    """(samples per pixel, widest sample in bits, sample format) from a TIFF directory."""
    bits = tags.get(_TIFF_BITS, (1,))
    kinds = tags.get(_TIFF_SAMPLE_FORMAT, (1,))
    bits = max(bits) if isinstance(bits, tuple) else bits
    kind = kinds[0] if isinstance(kinds, tuple) else kinds
    return int(tags.get(_TIFF_SAMPLES, 1)), int(bits), int(kind)


def _describe_tiff(samples: int, bits: int, kind: int, photometric: int | None = None) -> str:
    colour = {**_TIFF_PHOTOMETRIC_NAMES, 5: "separated (CMYK)"}.get(photometric)
    return f"a {colour + ' ' if colour else ''}TIFF of {bits}-bit {_TIFF_SAMPLE_KINDS.get(kind, 'unknown')} samples " \
           f"({samples} per pixel)"


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
        return _describe_tiff(*_tiff_samples(directory), directory.get(_TIFF_PHOTOMETRIC))
    except Exception:  # noqa: BLE001 (no layout to describe: the caller reports the parse error)
        return None


def _png_chunks(handle: BinaryIO) -> Iterator[tuple[bytes, int]]:
    """(type, data length) of each chunk in file order, the handle at the chunk's data; steps
    over the data (nothing is decompressed) and stops after IEND or at the end of the file."""
    position = len(PNG_SIGNATURE)
    while True:
        handle.seek(position)
        if len(head := handle.read(8)) < 8:
            return
        length, kind = struct.unpack(">I4s", head)
        yield kind, length
        if kind == b"IEND":
            return
        position += 8 + length + 4  # length and type, the data, its CRC


def _png_header(path: Path, handle: BinaryIO) -> tuple[int, int, bytes | None]:
    """(bit depth, colour type, tRNS data or None) from a PNG's chunks. A PNG starts with IHDR;
    Pillow tolerates chunks before it, libpng (OpenCV) does not, and neither will srapp."""
    chunks = _png_chunks(handle)
    kind, length = next(chunks, (None, 0))
    if kind is not None and kind != b"IHDR":
        raise ImageError(path, f"not a valid PNG: its first chunk is {kind.decode('latin-1')!r}, not IHDR")
    if kind is not None and length != 13:
        raise ImageError(path, f"not a valid PNG: its IHDR chunk has {length} bytes, not 13")
    if kind is None or len(fields := handle.read(13)) < 13:
        raise ImageError(path, "cannot read the PNG header (the file ends inside it)")
    depth, colour_type = struct.unpack(">8xBB3x", fields)
    if colour_type not in (0, 2, 3, 4, 6) or depth not in {0: (1, 2, 4, 8, 16), 3: (1, 2, 4, 8)}.get(
            colour_type, (8, 16)):
        raise ImageError(path, f"not a valid PNG: IHDR states bit depth {depth} with colour type {colour_type}")
    for kind, length in chunks:
        if kind == b"tRNS":
            return depth, colour_type, handle.read(length)
        if kind == b"IDAT":  # tRNS comes before the image data
            break
    return depth, colour_type, None


def _late_png_exif(handle: BinaryIO) -> bytes | None:
    """An eXIf chunk after the image data; Pillow reads only those before the first IDAT without
    decoding."""
    for kind, length in _png_chunks(handle):
        if kind == b"eXIf":
            return handle.read(length)
    return None


__all__ = [
    "MAX_DECODABLE_PIXELS", "PNG_SIGNATURE", "READABLE_SUFFIXES", "SUPPORTED_FORMATS", "ImageHeader", "TiffSamples",
    "open_image", "open_regular_file", "read_header",
]
