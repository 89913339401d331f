"""Image I/O: modes, bit depth, EXIF orientation, formats, atomic writes, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageOps

from srapp.engine.image_io import ImageError, read_image, write_image


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
                          (truncated, "not a readable image"), (tmp_path / "none.png", "no such file")]:
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
