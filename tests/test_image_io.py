"""Image I/O: modes, bit depth, EXIF orientation, formats, atomic writes, clear errors."""

from __future__ import annotations

import errno
import io
import os

import bad_images
import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image, ImageFile, ImageOps

from srapp.io.image_io import (
    ImageError, ImageMetadata, check_jpeg_quality, read_header, read_image, read_image_with_metadata, write_image,
)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow(tmp_path, orientation):
    rng = np.random.default_rng(orientation)
    pixels = rng.integers(0, 256, (5, 8, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"o{orientation}.png"
    Image.fromarray(pixels).save(path, exif=exif)
    with Image.open(path) as stored:
        expected = np.asarray(ImageOps.exif_transpose(stored).convert("RGB"))
    assert np.array_equal(read_image(path), expected)


LOSSLESS_MODES = [(".png", 1), (".png", 3), (".png", 4), (".tif", 1), (".tif", 3), (".tif", 4),
                  (".webp", 3), (".webp", 4), (".bmp", 1), (".bmp", 3)]


@pytest.mark.parametrize("suffix, channels", LOSSLESS_MODES)
def test_lossless_round_trip_keeps_mode(tmp_path, suffix, channels):
    rng = np.random.default_rng(channels)
    shape = (6, 7) if channels == 1 else (6, 7, channels)
    image = rng.integers(0, 256, shape, dtype=np.uint8)
    path = write_image(tmp_path / f"image{suffix}", image)
    assert np.array_equal(read_image(path), image)


def test_webp_has_no_grayscale_mode_and_stores_gray_as_rgb(tmp_path):
    gray = np.random.default_rng(5).integers(0, 256, (6, 7), dtype=np.uint8)
    back = read_image(write_image(tmp_path / "gray.webp", gray))
    assert back.shape == (6, 7, 3) and all(np.array_equal(back[..., c], gray) for c in range(3))


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_sixteen_bit_survives(tmp_path, suffix):
    image = np.random.default_rng(3).integers(0, 65536, (5, 4, 3), dtype=np.uint16)
    back = read_image(write_image(tmp_path / f"deep{suffix}", image))
    assert back.dtype == np.uint16 and np.array_equal(back, image)


def test_sixteen_bit_to_jpeg_is_rounded_to_eight_bits(tmp_path):
    image = np.full((8, 8, 3), 257 * 200, dtype=np.uint16)
    back = read_image(write_image(tmp_path / "x.jpg", image))
    assert back.dtype == np.uint8 and np.abs(back.astype(int) - 200).max() <= 1


def test_bad_files_get_clear_errors(tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    text = tmp_path / "notes.png"
    text.write_text("hello")
    truncated = tmp_path / "cut.png"
    write_image(truncated, np.zeros((32, 32, 3), np.uint8))
    truncated.write_bytes(truncated.read_bytes()[:40])
    for path, message in [(empty, "empty file"), (text, "not a readable image"),
                          (truncated, "cannot read the PNG header"), (tmp_path / "none.png", "no such file")]:
        with pytest.raises(ImageError, match=message) as error:
            read_image(path)
        assert str(error.value).startswith(str(path))
    with pytest.raises(ImageError, match="cannot write .gif"):
        write_image(tmp_path / "x.gif", np.zeros((2, 2), np.uint8))


def test_write_is_atomic_and_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "out.png"
    write_image(target, np.zeros((4, 4, 3), np.uint8))
    before = target.read_bytes()

    def fail_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr("srapp._atomic.os.replace", fail_replace)
    with pytest.raises(ImageError, match="disk full"):
        write_image(target, np.full((4, 4, 3), 255, np.uint8))
    assert target.read_bytes() == before  # the old file is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]  # no temp file left


def test_written_files_get_ordinary_permissions(tmp_path):
    import os

    umask = os.umask(0o022)
    try:
        path = write_image(tmp_path / "shared.png", np.zeros((2, 2), np.uint8))
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644


def test_lossless_webp_keeps_the_colour_under_full_transparency(tmp_path):
    rgba = np.random.default_rng(5).integers(0, 256, (16, 16, 4), dtype=np.uint8)
    rgba[::2, :, 3] = 0  # half the rows fully transparent, with arbitrary colour beneath
    np.testing.assert_array_equal(read_image(write_image(tmp_path / "cut.webp", rgba)), rgba)


# ----------------------------------------------------------------------------------------------
# header first: sizes, formats and sample types are settled before any pixel is decoded

BOMBS = {
    "png-20000": (lambda: bad_images.bomb_png(20000), 20000, 20000),
    "png-60000": (lambda: bad_images.bomb_png(60000), 60000, 60000),
    "jpeg": (lambda: bad_images.jpeg_with_size(65000, 64000), 65000, 64000),
    "webp": (lambda: bad_images.webp_with_size(16384), 16384, 16384),
    "tiff": (lambda: bad_images.tiff_with_size(100000, 90000), 100000, 90000),
    "gif": (lambda: bad_images.gif_with_size(65535, 65000), 65535, 65000),
    "bmp": (lambda: bad_images.bmp_with_size(50000, 40000), 50000, 40000),
}
SUFFIX = {"png-20000": ".png", "png-60000": ".png", "jpeg": ".jpg", "webp": ".webp", "tiff": ".tif", "gif": ".gif",
          "bmp": ".bmp"}


@pytest.fixture
def no_decoding(monkeypatch):
    """Make every pixel decoder fail the test if it is reached."""

    def reached(*args, **kwargs):
        raise AssertionError("a decoder ran")

    monkeypatch.setattr(ImageFile.ImageFile, "load", reached)
    monkeypatch.setattr(cv2, "imdecode", reached)


@pytest.mark.parametrize("kind", BOMBS)
def test_bomb_headers_are_refused_by_their_size_before_decoding(tmp_path, kind, no_decoding):
    make, width, height = BOMBS[kind]
    path = tmp_path / f"bomb{SUFFIX[kind]}"
    path.write_bytes(make())
    assert path.stat().st_size < 1000  # tiny files claiming gigapixels
    header = read_header(path)
    assert (header.width, header.height) == (width, height)
    assert width * height > 2 * Image.MAX_IMAGE_PIXELS  # beyond Pillow's own bomb threshold
    with pytest.raises(ImageError) as error:
        read_image(path, max_pixels=100_000_000)
    assert error.value.path == path and f"{width}x{height}" in str(error.value) and "megapixels" in str(error.value)


def test_images_beyond_what_can_be_decoded_are_refused_without_a_caller_limit(tmp_path, no_decoding):
    path = tmp_path / "claims-60000.png"
    path.write_bytes(bad_images.bomb_png(60000))
    assert path.stat().st_size < 100
    with pytest.raises(ImageError, match=r"60000x60000 .* more than the 1074 megapixels srapp can decode"):
        read_image(path)  # no max_pixels: OpenCV would raise cv2.error, Pillow would allocate 10 GB


def test_a_header_within_the_limit_is_decoded(tmp_path):
    path = write_image(tmp_path / "ok.png", np.zeros((30, 40, 3), np.uint8))
    assert read_image(path, max_pixels=1200).shape == (30, 40, 3)
    with pytest.raises(ImageError, match="over the limit"):
        read_image(path, max_pixels=1199)


def test_an_unparsable_header_is_an_error_not_a_zero_size(tmp_path):
    path = tmp_path / "sig.png"
    path.write_bytes(bad_images.PNG_SIGNATURE + b"\x00\x00\x00\x0dIHDR")
    with pytest.raises(ImageError, match="cannot read the PNG header") as error:
        read_header(path)
    assert error.value.path == path


def test_read_header_reports_the_layout_without_decoding(tmp_path, no_decoding):
    folder = tmp_path / "corpus"
    bad_images.write_corpus(folder)
    expected = {
        "rgb.png": ("PNG", 24, 20, "RGB", 8), "gray_alpha16.png": ("PNG", 17, 14, "LA", 16),
        "deep16_tiff.tif": ("TIFF", 18, 16, "RGB", 16), "palette_transparent.png": ("PNG", 19, 17, "RGBA", 8),
        "cmyk.jpg": ("JPEG", 12, 10, "RGB", 8), "bilevel.png": ("PNG", 11, 9, "L", 8),
        "still.gif": ("GIF", 13, 11, "RGB", 8), "gray_alpha_tiff.tif": ("TIFF", 16, 18, "LA", 8),
    }
    for name, (file_format, width, height, mode, bits) in expected.items():
        header = read_header(folder / name)
        assert (header.format, header.width, header.height, header.mode, header.bits) == (
            file_format, width, height, mode, bits), name
    rotated = read_header(folder / "rotated_icc.jpg")
    assert (rotated.width, rotated.height, rotated.orientation, rotated.upright_size) == (28, 20, 6, (20, 28))


def test_every_corpus_file_reads_as_expected_or_fails_naming_itself(tmp_path):
    folder = tmp_path / "corpus"
    samples = bad_images.write_corpus(folder)
    assert len(samples) >= 40 and sum(not s.readable for s in samples.values()) >= 20
    for name, sample in samples.items():
        path = folder / name
        if sample.readable:
            pixels, metadata = read_image_with_metadata(path, max_pixels=100_000_000)
            assert pixels.shape == sample.pixels.shape and pixels.dtype == sample.pixels.dtype, name
            assert np.abs(pixels.astype(float) - sample.pixels).mean() <= sample.tolerance, name
            assert metadata.icc_profile == sample.icc_profile, name
            assert pixels.flags.writeable, name
        else:
            with pytest.raises(ImageError) as error:
                read_image(path, max_pixels=100_000_000)
            assert error.value.path == path and sample.reason in error.value.reason, (name, str(error.value))


def test_opencv_errors_become_image_errors(tmp_path, monkeypatch):
    deep = write_image(tmp_path / "deep.png", np.zeros((4, 5, 3), np.uint16))  # 16-bit: OpenCV decodes it

    def fail(*args, **kwargs):
        raise cv2.error("OpenCV(5.0.0) loadsave.cpp: error: (-215:Assertion failed) in imdecode_")

    monkeypatch.setattr(cv2, "imdecode", fail)
    with pytest.raises(ImageError, match="OpenCV cannot decode it") as error:
        read_image(deep)
    assert error.value.path == deep
    monkeypatch.setattr(cv2, "imencode", fail)
    with pytest.raises(ImageError, match="encoding as .png failed") as error:
        write_image(tmp_path / "new.png", np.zeros((4, 5, 3), np.uint8))
    assert not (tmp_path / "new.png").exists()


# ----------------------------------------------------------------------------------------------
# metadata: ICC profile and EXIF survive, orientation becomes 1

def _exif(orientation: int, details: dict[int, int] | None = None) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "srapp camera"
    exif.get_ifd(0x8769).update(details or {})
    return exif.tobytes()[6:]  # without the "Exif\0\0" prefix


@pytest.mark.parametrize("suffix, dtype", [(".png", np.uint8), (".png", np.uint16), (".jpg", np.uint8),
                                           (".webp", np.uint8), (".tif", np.uint8), (".tif", np.uint16)])
def test_icc_profile_and_exif_are_written(tmp_path, suffix, dtype):
    image = bad_images.smooth((12, 14, 3), 1, dtype)
    metadata = ImageMetadata(bad_images.SRGB_PROFILE, _exif(6, {0xA002: 7, 0xA003: 6}))
    path = write_image(tmp_path / f"out{suffix}", image, metadata=metadata)
    with Image.open(path) as written:  # Pillow reads what OpenCV / tifffile wrote
        assert written.info.get("icc_profile") == bad_images.SRGB_PROFILE
        exif = written.getexif()
        if suffix == ".tif":
            assert exif.get(0x0112, 1) == 1 and exif.get(0x010F) is None  # TIFF output carries the profile only
        else:
            assert exif[0x0112] == 1 and exif[0x010F] == "srapp camera"
            details = exif.get_ifd(0x8769)
            assert (details[0xA002], details[0xA003]) == (14, 12), "pixel dimensions follow the written image"
    back, back_metadata = read_image_with_metadata(path)
    assert back.dtype == dtype and back.shape == image.shape
    assert back_metadata.icc_profile == bad_images.SRGB_PROFILE


def test_read_metadata_describes_the_upright_pixels(tmp_path):
    stored = bad_images.smooth((10, 16, 3), 2)
    path = tmp_path / "turned.jpg"
    Image.fromarray(stored).save(path, exif=_exif_object(6),
                                 icc_profile=bad_images.SRGB_PROFILE, quality=95)
    pixels, metadata = read_image_with_metadata(path)
    assert pixels.shape == (16, 10, 3)
    parsed = Image.Exif()
    parsed.load(b"Exif\x00\x00" + metadata.exif)
    assert parsed[0x0112] == 1 and parsed[0x010F] == "srapp camera"
    assert metadata.icc_profile == bad_images.SRGB_PROFILE
    # written back, the photo stays upright for every viewer
    out = write_image(tmp_path / "again.jpg", pixels, metadata=metadata)
    with Image.open(out) as written:
        assert ImageOps.exif_transpose(written).size == (10, 16)


def _exif_object(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif.load(b"Exif\x00\x00" + _exif(orientation))
    return exif


def test_a_profile_is_written_only_where_it_describes_the_channels(tmp_path):
    gray_profile = bad_images.SRGB_PROFILE[:16] + b"GRAY" + bad_images.SRGB_PROFILE[20:]
    rgb_path = write_image(tmp_path / "rgb.png", np.zeros((4, 4, 3), np.uint8), metadata=ImageMetadata(gray_profile))
    gray_path = write_image(tmp_path / "gray.png", np.zeros((4, 4), np.uint8), metadata=ImageMetadata(gray_profile))
    la_path = write_image(tmp_path / "la.png", np.zeros((4, 4, 2), np.uint8), metadata=ImageMetadata(gray_profile))
    as_rgb = write_image(tmp_path / "la.webp", np.zeros((4, 4, 2), np.uint8), metadata=ImageMetadata(gray_profile))
    for path, profile in [(rgb_path, None), (gray_path, gray_profile), (la_path, gray_profile), (as_rgb, None)]:
        with Image.open(path) as written:
            assert written.info.get("icc_profile") == profile, path.name


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_gray_alpha_png_round_trip(tmp_path, dtype):
    image = bad_images.smooth((9, 13, 2), 3, dtype)
    exif = _exif(3)
    path = write_image(tmp_path / "la.png", image, metadata=ImageMetadata(exif=exif))
    data = path.read_bytes()
    assert data[24:26] == bytes([dtype().itemsize * 8, 4]), "IHDR: gray+alpha in the array's depth"
    np.testing.assert_array_equal(read_image(path), image)
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)  # an independent decoder
    np.testing.assert_array_equal(decoded[:, :, 0], image[:, :, 0])
    np.testing.assert_array_equal(decoded[:, :, 3], image[:, :, 1])
    with Image.open(path) as written:
        assert written.getexif()[0x0112] == 1


def test_gray_alpha_in_other_formats(tmp_path):
    image = bad_images.smooth((9, 13, 2), 4)
    np.testing.assert_array_equal(read_image(write_image(tmp_path / "la.tif", image)), image)
    as_webp = read_image(write_image(tmp_path / "la.webp", image))
    np.testing.assert_array_equal(as_webp, np.dstack([image[:, :, 0]] * 3 + [image[:, :, 1]]))
    as_jpeg = read_image(write_image(tmp_path / "la.jpg", image))
    assert as_jpeg.shape == (9, 13) and np.abs(as_jpeg.astype(int) - image[:, :, 0]).mean() < 3


def test_jpeg_quality_is_checked_and_used(tmp_path):
    for wrong in (0, 101, -5, 2.5, True, "90"):
        with pytest.raises(ValueError, match="JPEG quality"):
            check_jpeg_quality(wrong)
    with pytest.raises(ValueError, match="JPEG quality"):
        write_image(tmp_path / "x.jpg", np.zeros((4, 4, 3), np.uint8), quality=0)
    image = bad_images.smooth((32, 40, 3), 5)
    for quality in (12, 95):
        written = write_image(tmp_path / f"q{quality}.jpg", image, quality=quality).read_bytes()
        ok, reference = cv2.imencode(".jpg", image[:, :, ::-1].copy(), [cv2.IMWRITE_JPEG_QUALITY, quality])
        assert ok and written == reference.tobytes()


def test_writing_without_replacing_keeps_an_existing_file(tmp_path, monkeypatch):
    target = write_image(tmp_path / "kept.png", np.zeros((4, 4), np.uint8))
    before = target.read_bytes()
    with pytest.raises(ImageError, match="already exists"):
        write_image(target, np.full((4, 4), 9, np.uint8), replace=False)
    assert target.read_bytes() == before
    fresh = write_image(tmp_path / "fresh.png", np.full((4, 4), 9, np.uint8), replace=False)
    assert read_image(fresh)[0, 0] == 9

    def no_hard_links(source, destination):  # e.g. exFAT
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr("srapp._atomic.os.link", no_hard_links)
    with pytest.raises(ImageError, match="already exists"):
        write_image(target, np.full((4, 4), 9, np.uint8), replace=False)
    assert target.read_bytes() == before
    assert read_image(write_image(tmp_path / "other.png", np.full((4, 4), 7, np.uint8), replace=False))[0, 0] == 7
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fresh.png", "kept.png", "other.png"]


def test_formats_with_clear_outcomes(tmp_path):
    """CMYK becomes RGB, a palette with transparency RGBA, 16-bit TIFF stays 16-bit; float TIFF,
    animations and multi-page TIFF are refused with the reason."""
    folder = tmp_path / "corpus"
    samples = bad_images.write_corpus(folder)
    assert read_image(folder / "cmyk.jpg").shape == (10, 12, 3)
    assert read_image(folder / "palette_transparent.png").shape == (17, 19, 4)
    assert read_image(folder / "deep16_tiff.tif").dtype == np.uint16
    for name in ("float.tif", "animated_gif.gif", "animated_webp.webp", "animated_png.png"):
        with pytest.raises(ImageError, match=samples[name].reason):
            read_image(folder / name)
    pages = tmp_path / "pages.tif"
    tifffile.imwrite(pages, np.zeros((2, 5, 6), np.uint8))  # two pages
    with pytest.raises(ImageError, match="2 frames"):
        read_image(pages)


# ----------------------------------------------------------------------------------------------
# issue 23: orientation applied once, 16-bit layouts, PNG chunk order, JPEG segments, special files


def test_the_orientation_reference_agrees_with_pillow(tmp_path):
    """bad_images.upright (built from the spec's words) against Pillow's exif_transpose."""
    stored = bad_images.ramp(5, 8)
    for orientation in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = orientation
        path = tmp_path / f"o{orientation}.png"
        Image.fromarray(stored).save(path, exif=exif)
        with Image.open(path) as image:
            np.testing.assert_array_equal(np.asarray(ImageOps.exif_transpose(image)),
                                          bad_images.upright(stored, orientation))


@pytest.mark.parametrize("compression", [None, "zlib"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_tiff_orientation_is_applied_once(tmp_path, orientation, dtype, compression):
    stored = bad_images.ramp(5, 8, dtype)
    path = tmp_path / "turned.tif"
    tifffile.imwrite(path, stored, photometric="rgb", compression=compression,
                     extratags=[(0x0112, 3, 1, orientation, True)])
    header = read_header(path)
    assert (header.width, header.height, header.orientation) == (8, 5, orientation), "the stored size"
    assert header.upright_size == ((5, 8) if orientation >= 5 else (8, 5))
    pixels = read_image(path)
    assert pixels.dtype == dtype
    np.testing.assert_array_equal(pixels, bad_images.upright(stored, orientation))
    if dtype == np.uint8:
        with Image.open(path) as image:  # Pillow turns TIFFs upright as it loads them
            np.testing.assert_array_equal(pixels, np.asarray(image))


SIXTEEN_BIT_LAYOUTS = ["deep16_planar_raw.tif", "deep16_planar_zlib.tif", "premultiplied16.tif", "premultiplied8.tif",
                       "premultiplied16_planar.tif", "straight_alpha16.tif", "cmyk16.tif", "cmyk16_planar.tif",
                       "white_is_zero16.tif", "rgb_unspecified_extra16.tif", "tiff_orientation/o8_16bit_lzw.tif",
                       "gray16_transparent_colour.png", "rgb16_transparent_colour.png", "rgb_transparent_colour.png",
                       "rotated16.png"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    return folder, bad_images.write_corpus(folder)


@pytest.mark.parametrize("name", SIXTEEN_BIT_LAYOUTS)
def test_sixteen_bit_layouts_read_exactly(corpus, name):
    """Planar and premultiplied TIFF, 16-bit CMYK as RGB, a PNG's transparent colour as alpha:
    each against pixels known by construction."""
    folder, samples = corpus
    pixels = read_image(folder / name)
    assert pixels.dtype == samples[name].pixels.dtype and pixels.shape == samples[name].pixels.shape
    np.testing.assert_array_equal(pixels, samples[name].pixels)
    assert read_header(folder / name).mode == {2: "LA", 3: "RGB", 4: "RGBA"}.get(_channels_of(pixels), "L")


def _channels_of(pixels: np.ndarray) -> int:
    return 1 if pixels.ndim == 2 else pixels.shape[2]


@pytest.mark.parametrize("name, reason", [
    ("text_before_ihdr.png", "not a valid PNG: its first chunk is 'tEXt', not IHDR"),
    ("ihdr_16bit_palette.png", "not a valid PNG: IHDR states bit depth 16 with colour type 3"),
    ("gray16_bad_trns.png", "not a valid PNG: its tRNS chunk has 4 bytes, not 2"),
    ("cmyk16_lzw.tif", "a 16-bit CMYK TIFF compressed with LZW is not supported"),
    ("deep16_planar_lzw.tif", "a 16-bit planar TIFF compressed with LZW is not supported"),
])
def test_malformed_or_undecodable_headers_are_named(corpus, name, reason):
    folder, _ = corpus
    for read in (read_header, read_image):
        with pytest.raises(ImageError) as error:
            read(folder / name)
        assert error.value.path == folder / name and reason in error.value.reason, str(error.value)


def _jpeg_segments(data: bytes) -> list[tuple[int, bytes]]:
    """(marker, payload) of each segment before the scan, parsed here from the JPEG syntax."""
    assert data[:2] == b"\xff\xd8"
    segments, position = [], 2
    while data[position + 1] != 0xDA:  # start of scan
        assert data[position] == 0xFF
        length = int.from_bytes(data[position + 2:position + 4], "big")
        segments.append((data[position + 1], data[position + 4:position + 2 + length]))
        position += 2 + length
    return segments


def test_a_large_icc_profile_is_written_across_numbered_app2_segments(tmp_path):
    from PIL import ImageCms

    profile = bad_images.large_icc_profile(150_000)
    ImageCms.ImageCmsProfile(io.BytesIO(profile))  # a well-formed profile (LittleCMS reads it)
    image = bad_images.smooth((12, 14, 3), 1)
    path = write_image(tmp_path / "out.jpg", image, metadata=ImageMetadata(profile, _exif(1)))
    segments = _jpeg_segments(path.read_bytes())
    chunks = [payload for marker, payload in segments if marker == 0xE2 and payload.startswith(b"ICC_PROFILE\x00")]
    assert len(chunks) == 3 and all(len(chunk) + 2 <= 65535 for chunk in chunks)
    assert [chunk[12:14] for chunk in chunks] == [bytes([n, 3]) for n in (1, 2, 3)]
    assert b"".join(chunk[14:] for chunk in chunks) == profile
    assert [marker for marker, _ in segments][:3] == [0xE0, 0xE1, 0xE2], "JFIF, then EXIF, then the profile"
    with Image.open(path) as written:
        assert written.info["icc_profile"] == profile and written.getexif()[0x010F] == "srapp camera"
    back, metadata = read_image_with_metadata(path)
    assert metadata.icc_profile == profile and np.abs(back.astype(int) - image).mean() < 8


def test_jpeg_to_jpeg_keeps_a_large_profile(corpus, tmp_path):
    folder, samples = corpus
    pixels, metadata = read_image_with_metadata(folder / "large_icc.jpg")
    assert len(metadata.icc_profile) > 65535
    again = write_image(tmp_path / "again.jpg", pixels, metadata=metadata)
    with Image.open(again) as written:
        assert written.info["icc_profile"] == samples["large_icc.jpg"].icc_profile


def test_exif_too_large_for_a_jpeg_is_left_out_with_a_warning(tmp_path):
    exif = Image.Exif()
    exif[0x010F] = "srapp camera"
    exif[0x010E] = "x" * 70_000  # ImageDescription: 70 KB, more than a JPEG segment holds
    large = exif.tobytes()[6:]
    image = bad_images.smooth((12, 14, 3), 2)
    target = tmp_path / "out.jpg"
    with pytest.warns(UserWarning, match=rf"{target}: the EXIF \(\d+ bytes\) does not fit"):
        write_image(target, image, metadata=ImageMetadata(bad_images.SRGB_PROFILE, large))
    with Image.open(target) as written:
        assert written.info["icc_profile"] == bad_images.SRGB_PROFILE and 0x010F not in written.getexif()
    png = write_image(tmp_path / "out.png", image, metadata=ImageMetadata(exif=large))  # PNG has room for it
    with Image.open(png) as written:
        assert written.getexif()[0x010E] == "x" * 70_000


@pytest.mark.parametrize("name, kind", [("fifo.png", "a FIFO (named pipe)"), ("zero.png", "a character device"),
                                        ("null.jpg", "a character device")])
def test_special_files_are_refused_before_they_are_opened(corpus, monkeypatch, name, kind):
    folder, _ = corpus
    path = folder / name
    opened = []
    real_open = os.open
    monkeypatch.setattr(os, "open", lambda file, *args, **kwargs: opened.append(file) or real_open(file, *args, **kwargs))
    for read in (read_header, read_image):
        with pytest.raises(ImageError) as error:
            read(path)
        assert error.value.path == path and error.value.reason.startswith(f"not a regular file: {kind}")
    assert opened == []


def test_a_file_replaced_by_a_fifo_after_its_check_is_refused_without_blocking(tmp_path, monkeypatch):
    regular = write_image(tmp_path / "real.png", np.zeros((2, 2), np.uint8))
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    monkeypatch.setattr("srapp.io.header._status", lambda path: regular.stat())  # the check saw a file
    with pytest.raises(ImageError, match="not a regular file: a FIFO"):
        read_image(fifo)  # opened without waiting for a writer, refused on the descriptor


def test_listings_report_special_files_named_like_images(corpus):
    from srapp.io.files import list_images

    folder, _ = corpus
    listed = {path.name for path in list_images(folder)}
    assert {"fifo.png", "zero.png", "null.jpg", "dangling.png"} <= listed and "folder.png" not in listed
