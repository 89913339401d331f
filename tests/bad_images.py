"""A corpus of bad and unusual image files, generated into a folder (no binary fixtures).

:func:`write_corpus` writes every file and returns, per file (relative path), what reading it
must give: the upright pixels (exactly, or within a tolerance for lossy formats) and the ICC
profile for the files srapp can read, a fragment of the error for the others.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import tifffile
from PIL import Image, ImageCms

SRGB_PROFILE = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Sample:
    """``pixels``: what read_image must return (readable files); ``tolerance``: the mean absolute
    difference allowed (lossy formats); ``icc_profile``: the profile reading must report;
    ``reason``: a fragment of the error reading gives (unreadable files); ``batch_reason``: a
    fragment of the error a batch over the corpus records though the file alone is readable."""

    pixels: np.ndarray | None = None
    tolerance: float = 0.0
    icc_profile: bytes | None = None
    reason: str | None = None
    batch_reason: str | None = None

    @property
    def readable(self) -> bool:
        return self.reason is None

    @property
    def fails_in_batch(self) -> str | None:
        """The error fragment a batch records for this file, None when it succeeds."""
        return self.reason or self.batch_reason


def smooth(shape: tuple[int, ...], seed: int, dtype=np.uint8) -> np.ndarray:
    """Blurred noise stretched to the dtype's range: compresses like a photograph."""
    noise = np.random.default_rng(seed).random(shape).astype(np.float32)
    blurred = cv2.GaussianBlur(noise, (0, 0), 2.0)
    blurred = (blurred - blurred.min()) / (blurred.max() - blurred.min())
    return np.round(blurred * np.iinfo(dtype).max).astype(dtype)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_file(width: int, height: int, depth: int, colour_type: int, idat: bytes) -> bytes:
    """A PNG from its parts, written here independently of srapp's and the libraries' encoders."""
    header = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    return PNG_SIGNATURE + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def png_of(pixels: np.ndarray, colour_type: int) -> bytes:
    """Filter 0 scanlines of an 8- or 16-bit array, big-endian as PNG stores them."""
    height, width = pixels.shape[:2]
    depth = pixels.dtype.itemsize * 8
    rows = np.ascontiguousarray(pixels.astype(">u2") if depth == 16 else pixels).view(np.uint8).reshape(height, -1)
    scanlines = np.hstack([np.zeros((height, 1), np.uint8), rows]).tobytes()
    return png_file(width, height, depth, colour_type, zlib.compress(scanlines))


def bomb_png(side: int) -> bytes:
    """A PNG whose header claims ``side`` x ``side`` RGB over a few bytes of data."""
    return png_file(side, side, 8, 2, zlib.compress(b"\x00" * 64))


def jpeg_with_size(width: int, height: int) -> bytes:
    """A real JPEG with the frame size in its SOF0 marker rewritten."""
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (90, 120, 150)).save(buffer, "JPEG")
    data = bytearray(buffer.getvalue())
    sof = data.find(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def webp_with_size(side: int) -> bytes:
    """A lossless WebP with the 14-bit sizes in its VP8L header rewritten."""
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, "WEBP", lossless=True)
    data = bytearray(buffer.getvalue())
    start = data.find(b"VP8L") + 9  # chunk id (4), size (4), signature byte (1)
    word = int.from_bytes(data[start:start + 4], "little")
    word = (word & ~((1 << 28) - 1)) | (side - 1) | ((side - 1) << 14)
    data[start:start + 4] = word.to_bytes(4, "little")
    return bytes(data)


def tiff_with_size(width: int, height: int) -> bytes:
    """A minimal little-endian TIFF: one 8-bit gray strip of 4 bytes, sizes as given."""
    entries = [(256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, 1), (262, 3, 1), (273, 4, 8),
               (277, 3, 1), (278, 4, height), (279, 4, 4)]
    ifd_offset = 8 + 4
    ifd = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHI", tag, kind, 1) + (struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value))
        for tag, kind, value in entries) + struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", ifd_offset) + b"\x00" * 4 + ifd


def gif_with_size(width: int, height: int) -> bytes:
    """A GIF whose screen and image descriptor claim ``width`` x ``height`` over one data block."""
    screen = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    descriptor = b"," + struct.pack("<HHHHB", 0, 0, width, height, 0)
    return screen + descriptor + b"\x02\x02\x44\x01\x00;"


def bmp_with_size(width: int, height: int) -> bytes:
    """A BMP header (BITMAPINFOHEADER, 24-bit) claiming ``width`` x ``height``, with 12 bytes of pixels."""
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + 40 + 12, 0, 0, 14 + 40) + info + b"\x00" * 12


# TIFF 6.0 and EXIF Orientation: the sides of the upright picture that the stored 0th row and
# 0th column lie along.
ORIENTATION_SIDES = {1: ("top", "left"), 2: ("top", "right"), 3: ("bottom", "right"), 4: ("bottom", "left"),
                     5: ("left", "top"), 6: ("right", "top"), 7: ("right", "bottom"), 8: ("left", "bottom")}


def upright(stored: np.ndarray, orientation: int) -> np.ndarray:
    """The upright picture of ``stored`` pixels, built from the spec's words in ORIENTATION_SIDES."""
    row_side, column_side = ORIENTATION_SIDES[orientation]
    if row_side in ("top", "bottom"):  # stored rows are upright rows
        picture = stored[::-1] if row_side == "bottom" else stored
        return (picture[:, ::-1] if column_side == "right" else picture).copy()
    picture = stored.swapaxes(0, 1)  # stored rows are upright columns, stored row 0 the left one
    picture = picture[:, ::-1] if row_side == "right" else picture
    return (picture[::-1] if column_side == "bottom" else picture).copy()


def ramp(height: int, width: int, dtype=np.uint8) -> np.ndarray:
    """RGB in which every pixel differs: red grows along rows, green down columns."""
    yy, xx = np.mgrid[0:height, 0:width]
    scale = 1 if dtype == np.uint8 else 257
    return (np.dstack([xx * (255 // width), yy * (255 // height), (xx + yy) % 7 * 30]) * scale).astype(dtype)


def with_png_chunk(png: bytes, kind: bytes, data: bytes, before: bytes = b"IDAT") -> bytes:
    """``png`` with a chunk inserted before its first ``before`` chunk (IHDR: the very first)."""
    at = png.index(before) - 4
    return png[:at] + png_chunk(kind, data) + png[at:]


def large_icc_profile(extra: int) -> bytes:
    """The sRGB profile with a private tag of ``extra`` bytes: a well-formed ICC profile (tag
    table, offsets, size and zero profile ID updated) too large for one JPEG segment."""
    profile = bytearray(SRGB_PROFILE)
    count = struct.unpack(">I", profile[128:132])[0]
    table_end = 132 + 12 * count
    entries = [list(struct.unpack(">4sII", profile[132 + 12 * i:144 + 12 * i])) for i in range(count)]
    body = profile[table_end:]
    body += bytes(-len(body) % 4)
    tag_offset = table_end + 12 + len(body)
    entries = [[signature, offset + 12, size] for signature, offset, size in entries] + [[b"srpT", tag_offset, extra]]
    table = struct.pack(">I", count + 1) + b"".join(struct.pack(">4sII", *entry) for entry in entries)
    tag = b"data" + bytes(4) + struct.pack(">I", 1) + bytes((i * 7) % 256 for i in range(extra - 12))
    result = profile[:128] + table + body + tag
    result[0:4] = struct.pack(">I", len(result))
    result[84:100] = bytes(16)
    return bytes(result)


def premultiplied(dtype, shape: tuple[int, int], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(straight RGBA, the same premultiplied) where premultiplying is exact: each alpha is the
    maximum divided by one of its divisors d, each colour a multiple of d (and 0 under alpha 0)."""
    top = np.iinfo(dtype).max
    divisors = [d for d in (1, 3, 5, 15, 17, 51, 85, 255, 257) if top % d == 0]
    rng = np.random.default_rng(seed)
    d = rng.choice(divisors, shape)
    alpha = np.where(rng.random(shape) < 0.1, 0, top // d)
    colour = rng.integers(0, top // d[..., None] + 1, shape + (3,)) * d[..., None] * (alpha[..., None] > 0)
    straight = np.dstack([colour, alpha]).astype(dtype)
    premultiplied_colour = colour // d[..., None]  # colour * alpha / max, exactly
    return straight, np.dstack([premultiplied_colour, alpha]).astype(dtype)


def cmyk_to_rgb(cmyk: np.ndarray) -> np.ndarray:
    """R = (max - C)(max - K) / max and so on, rounded half up in integers."""
    top = int(np.iinfo(cmyk.dtype).max)
    values = cmyk.astype(np.int64)
    rgb = ((top - values[..., :3]) * (top - values[..., 3:]) + top // 2) // top
    return rgb.astype(cmyk.dtype)


def _tiff_oriented(path: Path, stored: np.ndarray, orientation: int, compression: str | None) -> None:
    tifffile.imwrite(path, stored, photometric="rgb", compression=compression,
                     extratags=[(0x0112, 3, 1, orientation, True)])



def _palette_image(size: tuple[int, int], seed: int):
    """(Pillow palette image, its indices, the RGB palette) with 8 colours."""
    rng = np.random.default_rng(seed)
    palette = rng.integers(0, 256, (8, 3), dtype=np.uint8)
    indices = rng.integers(0, 8, (size[1], size[0]), dtype=np.uint8)
    image = Image.fromarray(indices, "P")
    image.putpalette(palette.flatten().tolist())
    return image, indices, palette


def _animated(path: Path, file_format: str) -> None:
    frames = [Image.fromarray(smooth((12, 14, 3), seed)) for seed in range(3)]
    frames[0].save(path, file_format, save_all=True, append_images=frames[1:], duration=100, loop=0)


def _save(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def write_corpus(folder: Path) -> dict[str, Sample]:
    """Write the corpus into ``folder`` (created) and return the expectation for each image file.

    Also written, and not images: a symbolic link loop (``sub/loop`` -> ``..``), a folder named
    ``folder.png`` and ``notes.txt``; a recursive scan must end and list none of them.
    """
    folder.mkdir(parents=True, exist_ok=True)
    samples: dict[str, Sample] = {}

    def lossless(name: str, pixels: np.ndarray, icc_profile: bytes | None = None) -> None:
        samples[name] = Sample(pixels, 0.0, icc_profile)

    def bad(name: str, data: bytes | None, reason: str) -> None:
        if data is not None:
            _save(folder / name, data)
        samples[name] = Sample(reason=reason)

    # --- good files, each mode srapp keeps -------------------------------------------------
    rgb = smooth((20, 24, 3), 1)
    cv2.imwrite(str(folder / "rgb.png"), rgb[:, :, ::-1])
    lossless("rgb.png", rgb)
    rgba = smooth((22, 26, 4), 2)
    Image.fromarray(rgba, "RGBA").save(folder / "rgba.png")
    lossless("rgba.png", rgba)
    gray = smooth((21, 27), 3)
    Image.fromarray(gray, "L").save(folder / "gray.png")
    lossless("gray.png", gray)
    gray_alpha = smooth((18, 16, 2), 4)
    Image.fromarray(gray_alpha, "LA").save(folder / "gray_alpha.png")
    lossless("gray_alpha.png", gray_alpha)
    gray_alpha16 = smooth((14, 17, 2), 5, np.uint16)
    _save(folder / "gray_alpha16.png", png_of(gray_alpha16, 4))
    lossless("gray_alpha16.png", gray_alpha16)
    deep = smooth((16, 18, 3), 6, np.uint16)
    _save(folder / "deep16.png", png_of(deep, 2))
    lossless("deep16.png", deep)
    gray16 = smooth((15, 13), 7, np.uint16)
    _save(folder / "gray16.png", png_of(gray16, 0))
    lossless("gray16.png", gray16)

    palette_image, indices, palette = _palette_image((19, 17), 8)
    alpha_table = np.array([0, 128, 255, 255, 40, 255, 255, 255], np.uint8)
    palette_image.save(folder / "palette_transparent.png", transparency=alpha_table.tobytes())
    lossless("palette_transparent.png", np.dstack([palette[indices], alpha_table[indices]]))
    palette_image.save(folder / "palette.png")
    lossless("palette.png", palette[indices])
    Image.fromarray(gray, "L").save(folder / "gray_transparent_colour.png", transparency=int(gray[0, 0]))
    lossless("gray_transparent_colour.png", np.dstack([gray, np.where(gray == gray[0, 0], 0, 255).astype(np.uint8)]))
    bilevel = np.random.default_rng(9).integers(0, 2, (9, 11)).astype(bool)
    Image.fromarray(bilevel).save(folder / "bilevel.png")
    lossless("bilevel.png", np.where(bilevel, 255, 0).astype(np.uint8))
    one = np.array([[[200, 30, 90]]], np.uint8)
    Image.fromarray(one).save(folder / "one_pixel.png")
    lossless("one_pixel.png", one)
    thin = smooth((5000, 1, 3), 10)
    Image.fromarray(thin).save(folder / "thin_1x5000.png")
    lossless("thin_1x5000.png", thin)

    Image.fromarray(rgb).save(folder / "icc.png", icc_profile=SRGB_PROFILE)
    lossless("icc.png", rgb, SRGB_PROFILE)
    Image.fromarray(rgb).save(folder / "icc_webp.webp", lossless=True, exact=True, icc_profile=SRGB_PROFILE)
    lossless("icc_webp.webp", rgb, SRGB_PROFILE)
    tifffile.imwrite(folder / "deep16_tiff.tif", deep, photometric="rgb", compression="zlib")
    lossless("deep16_tiff.tif", deep)
    Image.fromarray(gray_alpha, "LA").save(folder / "gray_alpha_tiff.tif")
    lossless("gray_alpha_tiff.tif", gray_alpha)
    cv2.imwrite(str(folder / "rgb_bmp.bmp"), rgb[:, :, ::-1])
    lossless("rgb_bmp.bmp", rgb)
    still, still_indices, still_palette = _palette_image((13, 11), 11)
    still.save(folder / "still.gif")
    lossless("still.gif", still_palette[still_indices])
    Image.fromarray(rgb).save(folder / "ünïcode name 照片 with spaces.png")
    lossless("ünïcode name 照片 with spaces.png", rgb)
    inner = smooth((12, 10, 3), 12)
    (folder / "sub").mkdir(exist_ok=True)
    Image.fromarray(inner).save(folder / "sub" / "inner.png")
    lossless("sub/inner.png", inner)
    (folder / "linked.png").symlink_to("rgb.png")
    lossless("linked.png", rgb)

    # CMYK: Pillow's conversion, R = (255 - C)(255 - K) / 255 and so on, is the documented outcome.
    cmyk = np.array([10, 200, 30, 40], np.uint8)
    Image.new("CMYK", (12, 10), tuple(int(v) for v in cmyk)).save(folder / "cmyk.jpg", quality=100)
    expected = np.round((255.0 - cmyk[:3]) * (255.0 - cmyk[3]) / 255.0).astype(np.uint8)
    samples["cmyk.jpg"] = Sample(np.broadcast_to(expected, (10, 12, 3)).copy(), 2.0)

    # Stored 28 wide x 20 tall, EXIF orientation 6 (turn clockwise): upright it is 20 x 28.
    yy, xx = np.mgrid[0:20, 0:28]
    stored = np.dstack([xx * 9, yy * 12, np.full_like(xx, 60)]).astype(np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "srapp test camera"
    Image.fromarray(stored).save(folder / "rotated_icc.jpg", quality=95, exif=exif, icc_profile=SRGB_PROFILE)
    samples["rotated_icc.jpg"] = Sample(np.rot90(stored, k=-1).copy(), 2.0, SRGB_PROFILE)
    jpeg = io.BytesIO()
    Image.fromarray(rgb).save(jpeg, "JPEG", quality=95)
    _save(folder / "jpeg_named.png", jpeg.getvalue())
    samples["jpeg_named.png"] = Sample(rgb, 8.0)

    # --- TIFF orientation (issue 23, item 10): applied exactly once, 8 and 16 bits, each decoder --
    for dtype in (np.uint8, np.uint16):
        stored = ramp(5, 8, dtype)
        for compression in (None, "zlib"):
            for orientation in range(2, 9):
                name = f"tiff_orientation/o{orientation}_{dtype().itemsize * 8}bit_{compression or 'raw'}.tif"
                (folder / "tiff_orientation").mkdir(exist_ok=True)
                _tiff_oriented(folder / name, stored, orientation, compression)
                lossless(name, upright(stored, orientation))
    lzw_stored = ramp(6, 9)
    Image.fromarray(lzw_stored).save(folder / "tiff_orientation" / "o6_8bit_lzw.tif", compression="tiff_lzw",
                                     tiffinfo={0x0112: 6})
    lossless("tiff_orientation/o6_8bit_lzw.tif", upright(lzw_stored, 6))
    gray_lzw = smooth((7, 10), 40, np.uint16)  # LZW 16-bit: OpenCV's libtiff decodes it, not tifffile
    Image.fromarray(gray_lzw).save(folder / "tiff_orientation" / "o8_16bit_lzw.tif", compression="tiff_lzw",
                                           tiffinfo={0x0112: 8})
    lossless("tiff_orientation/o8_16bit_lzw.tif", upright(gray_lzw, 8))
    exif16 = Image.Exif()
    exif16[0x0112] = 6
    ok, png16 = cv2.imencodeWithMetadata(".png", ramp(5, 8, np.uint16)[:, :, ::-1].copy(), [cv2.IMAGE_METADATA_EXIF],
                                         [np.frombuffer(exif16.tobytes()[6:], np.uint8)])
    _save(folder / "rotated16.png", png16.tobytes())
    lossless("rotated16.png", upright(ramp(5, 8, np.uint16), 6))

    # --- 16-bit TIFF layouts (item 11) ------------------------------------------------------------
    deep_planar = smooth((9, 11, 3), 41, np.uint16)
    for compression in (None, "zlib"):
        name = f"deep16_planar_{compression or 'raw'}.tif"
        tifffile.imwrite(folder / name, np.moveaxis(deep_planar, -1, 0), photometric="rgb", planarconfig="separate",
                         compression=compression)
        lossless(name, deep_planar)
    for bits, dtype in ((8, np.uint8), (16, np.uint16)):
        straight, stored = premultiplied(dtype, (8, 10), 42 + bits)
        tifffile.imwrite(folder / f"premultiplied{bits}.tif", stored, photometric="rgb", extrasamples=[1])
        lossless(f"premultiplied{bits}.tif", straight)
        tifffile.imwrite(folder / f"straight_alpha{bits}.tif", straight, photometric="rgb", extrasamples=[2])
        lossless(f"straight_alpha{bits}.tif", straight)
    straight, stored = premultiplied(np.uint16, (6, 7), 45)
    tifffile.imwrite(folder / "premultiplied16_planar.tif", np.moveaxis(stored, -1, 0), photometric="rgb",
                     extrasamples=[1], planarconfig="separate", compression="zlib")
    lossless("premultiplied16_planar.tif", straight)
    cmyk16 = np.random.default_rng(46).integers(0, 65536, (7, 9, 4)).astype(np.uint16)
    cmyk16[0, :, 3] = 0  # no black: R = max - C exactly
    cmyk16[1, :, 3] = 65535  # all black
    tifffile.imwrite(folder / "cmyk16.tif", cmyk16, photometric="separated")
    lossless("cmyk16.tif", cmyk_to_rgb(cmyk16))
    tifffile.imwrite(folder / "cmyk16_planar.tif", np.moveaxis(cmyk16, -1, 0), photometric="separated",
                     planarconfig="separate", compression="zlib")
    lossless("cmyk16_planar.tif", cmyk_to_rgb(cmyk16))
    white_is_zero = smooth((6, 8), 47, np.uint16)
    tifffile.imwrite(folder / "white_is_zero16.tif", white_is_zero, photometric="miniswhite")
    lossless("white_is_zero16.tif", 65535 - white_is_zero)
    rgbx16 = smooth((6, 8, 4), 48, np.uint16)
    tifffile.imwrite(folder / "rgb_unspecified_extra16.tif", rgbx16, photometric="rgb", extrasamples=[0])
    lossless("rgb_unspecified_extra16.tif", rgbx16[:, :, :3])

    # --- 16-bit PNG with a transparent colour (item 12) ------------------------------------------
    gray16_trns = (np.random.default_rng(49).integers(0, 4, (9, 10)) * 20000).astype(np.uint16)
    key = int(gray16_trns[0, 0])
    _save(folder / "gray16_transparent_colour.png",
          with_png_chunk(png_of(gray16_trns, 0), b"tRNS", struct.pack(">H", key)))
    lossless("gray16_transparent_colour.png",
             np.dstack([gray16_trns, np.where(gray16_trns == key, 0, 65535)]).astype(np.uint16))
    rgb16_trns = (np.random.default_rng(50).integers(0, 3, (8, 11, 3)) * 30000).astype(np.uint16)
    colour = rgb16_trns[0, 0].copy()
    rgb16_trns[1, 1] = [colour[0], colour[1], colour[2] ^ 1]  # one sample off: opaque
    _save(folder / "rgb16_transparent_colour.png",
          with_png_chunk(png_of(rgb16_trns, 2), b"tRNS", struct.pack(">3H", *map(int, colour))))
    lossless("rgb16_transparent_colour.png",
             np.dstack([rgb16_trns, np.where((rgb16_trns == colour).all(axis=2), 0, 65535)]).astype(np.uint16))
    rgb8_trns = (np.random.default_rng(51).integers(0, 3, (8, 11, 3)) * 100).astype(np.uint8)
    colour8 = rgb8_trns[0, 0].copy()
    _save(folder / "rgb_transparent_colour.png",
          with_png_chunk(png_of(rgb8_trns, 2), b"tRNS", struct.pack(">3H", *map(int, colour8))))
    lossless("rgb_transparent_colour.png",
             np.dstack([rgb8_trns, np.where((rgb8_trns == colour8).all(axis=2), 0, 255)]).astype(np.uint8))

    # --- JPEG with an ICC profile over 64 KB, in numbered APP2 chunks (item 17) -----------------
    large_profile = large_icc_profile(150_000)
    Image.fromarray(rgb).save(folder / "large_icc.jpg", quality=95, icc_profile=large_profile)
    samples["large_icc.jpg"] = Sample(rgb, 8.0, large_profile)

    # --- bad files ---------------------------------------------------------------------------
    bad("empty.png", b"", "empty file")
    whole = (folder / "rgb.png").read_bytes()
    bad("truncated_png.png", whole[: len(whole) // 2], "truncated or corrupt PNG")
    bad("header_only.png", PNG_SIGNATURE, "cannot read the PNG header")
    big_jpeg = io.BytesIO()
    Image.fromarray(smooth((64, 64, 3), 13)).save(big_jpeg, "JPEG", quality=90)
    bad("truncated_jpeg.jpg", big_jpeg.getvalue()[: len(big_jpeg.getvalue()) // 2], "truncated or corrupt JPEG")
    webp = io.BytesIO()
    Image.fromarray(smooth((64, 64, 3), 14)).save(webp, "WEBP", quality=80)
    bad("truncated_webp.webp", webp.getvalue()[: len(webp.getvalue()) // 2], "WEBP")
    tiff = io.BytesIO()
    Image.fromarray(smooth((64, 64, 3), 15)).save(tiff, "TIFF")
    bad("truncated_tiff.tif", tiff.getvalue()[: len(tiff.getvalue()) // 2], "TIFF")
    bad("text.png", b"these are my notes, not a picture\n", "not a readable image")
    bad("random.jpg", np.random.default_rng(16).bytes(300), "not a readable image")
    bad("netpbm.png", b"P6\n2 2\n255\n" + bytes(12), "not a readable image")
    corrupt = bytearray(png_of(rgb, 2))
    start = corrupt.find(b"IDAT") + 4
    corrupt[start + 2:start + 40] = bytes(38)  # zeroed deflate data; the CRC is now wrong too
    bad("corrupt_idat.png", bytes(corrupt), "PNG")
    bad("bomb_20000.png", bomb_png(20000), "20000x20000")
    bad("bomb_60000.png", bomb_png(60000), "60000x60000")
    bad("bomb_jpeg.jpg", jpeg_with_size(65000, 65000), "65000x65000")
    bad("bomb_webp.webp", webp_with_size(16384), "16384x16384")
    bad("bomb_tiff.tif", tiff_with_size(100000, 100000), "100000x100000")
    bad("bomb_gif.gif", gif_with_size(65535, 65535), "65535x65535")
    bad("bomb_bmp.bmp", bmp_with_size(50000, 50000), "50000x50000")
    Image.fromarray(np.random.default_rng(17).random((6, 7)).astype(np.float32), "F").save(folder / "float.tif")
    bad("float.tif", None, "floating-point")
    tifffile.imwrite(folder / "float_rgb.tif", np.random.default_rng(18).random((6, 7, 3)).astype(np.float32),
                     photometric="rgb")
    bad("float_rgb.tif", None, "floating-point")
    tifffile.imwrite(folder / "gray_alpha16_tiff.tif", gray_alpha16, photometric="minisblack", extrasamples=[2])
    bad("gray_alpha16_tiff.tif", None, "16-bit unsigned integer samples (2 per pixel)")
    _animated(folder / "animated_gif.gif", "GIF")
    bad("animated_gif.gif", None, "3 frames")
    _animated(folder / "animated_webp.webp", "WEBP")
    bad("animated_webp.webp", None, "3 frames")
    _animated(folder / "animated_png.png", "PNG")
    bad("animated_png.png", None, "3 frames")
    (folder / "dangling.png").symlink_to("nowhere.png")
    bad("dangling.png", None, "broken symbolic link")
    bad("gray16_bad_trns.png", with_png_chunk(png_of(gray16, 0), b"tRNS", b"\x00\x01\x00\x02"),
        "tRNS chunk has 4 bytes, not 2")
    # A PNG starts with IHDR. Bytes 24-25 here (a fixed-offset reader's "bit depth" and "colour
    # type") are 16 and 7: once a KeyError: 7.
    bad("text_before_ihdr.png", with_png_chunk(png_of(rgb, 2), b"tEXt", b"Comment\x00\x10\x07 hello", b"IHDR"),
        "first chunk is 'tEXt', not IHDR")
    bad("ihdr_16bit_palette.png", png_file(4, 4, 16, 3, zlib.compress(bytes(5 * 4 * 2))),
        "bit depth 16 with colour type 3")
    lzw_planar = folder / "deep16_planar_lzw.tif"  # tagged LZW: refused from the header, nothing decoded
    tifffile.imwrite(lzw_planar, np.moveaxis(deep_planar, -1, 0), photometric="rgb", planarconfig="separate")
    with tifffile.TiffFile(lzw_planar, mode="r+b") as tiff:
        tiff.pages.first.tags["Compression"].overwrite(5)
    bad("deep16_planar_lzw.tif", None, "16-bit planar TIFF compressed with LZW is not supported")
    lzw_cmyk = folder / "cmyk16_lzw.tif"
    tifffile.imwrite(lzw_cmyk, cmyk16, photometric="separated")
    with tifffile.TiffFile(lzw_cmyk, mode="r+b") as tiff:
        tiff.pages.first.tags["Compression"].overwrite(5)
    bad("cmyk16_lzw.tif", None, "16-bit CMYK TIFF compressed with LZW")
    tifffile.imwrite(folder / "ycbcr16.tif", smooth((4, 6, 3), 52, np.uint16), photometric="ycbcr", subsampling=(1, 1))
    bad("ycbcr16.tif", None, "a YCbCr TIFF of 16-bit unsigned integer samples (3 per pixel) is not supported")

    # --- not regular files (item 21): refused before they are opened (a FIFO would block) -------
    os.mkfifo(folder / "fifo.png")
    bad("fifo.png", None, "not a regular file: a FIFO")
    (folder / "zero.png").symlink_to("/dev/zero")
    bad("zero.png", None, "not a regular file: a character device (through a symbolic link)")
    (folder / "null.jpg").symlink_to("/dev/null")
    bad("null.jpg", None, "not a regular file: a character device")
    # Readable alone, but both would become same.png: a batch fails both.
    Image.fromarray(rgb).save(folder / "same.png")
    Image.fromarray(rgb).save(folder / "same.jpg", quality=95)
    samples["same.png"] = Sample(rgb, batch_reason="would be written to the same")
    samples["same.jpg"] = Sample(rgb, 8.0, batch_reason="would be written to the same")

    # --- not images: a recursive scan must end and skip them -----------------------------------
    (folder / "sub" / "loop").symlink_to("..", target_is_directory=True)
    (folder / "folder.png").mkdir()
    (folder / "notes.txt").write_text("not an image")
    return samples
