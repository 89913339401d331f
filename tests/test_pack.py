"""srapp pack-images: lossless WebP copies that read back pixel-identical, smaller than PNG."""

from __future__ import annotations

import numpy as np

from srapp.cli import main
from srapp.io.image_io import read_image, write_image
from srapp.batch.pack import pack_images
from synthetic import natural_image


def test_packed_images_are_identical_and_smaller(tmp_path):
    folder = tmp_path / "hr"
    folder.mkdir()
    for seed, name in enumerate(("bird.png", "butterfly.png")):  # photo-like scenes
        write_image(folder / name, natural_image(144, 192, seed))
    write_image(folder / "gray.png", np.random.default_rng(0).integers(0, 256, (9, 11), dtype=np.uint8))
    report = pack_images([folder], tmp_path / "packed")
    assert sorted(p.name for p in report.written) == ["bird.webp", "butterfly.webp", "gray.webp"]
    for name in ("bird", "butterfly"):
        np.testing.assert_array_equal(read_image(tmp_path / "packed" / "hr" / f"{name}.webp"), read_image(folder / f"{name}.png"))
    gray = read_image(folder / "gray.png")
    np.testing.assert_array_equal(read_image(tmp_path / "packed" / "hr" / "gray.webp"), np.dstack([gray] * 3))
    photos_in = sum((folder / f"{n}.png").stat().st_size for n in ("bird", "butterfly"))
    photos_out = sum((tmp_path / "packed" / "hr" / f"{n}.webp").stat().st_size for n in ("bird", "butterfly"))
    assert photos_out < 0.9 * photos_in


def test_unreadable_and_sixteen_bit_images_are_reported_not_packed(tmp_path, capsys):
    folder = tmp_path / "hr"
    folder.mkdir()
    write_image(folder / "ok.png", np.zeros((8, 8, 3), np.uint8))
    write_image(folder / "deep.png", np.zeros((8, 8, 3), np.uint16))
    (folder / "broken.png").write_bytes(b"not an image")
    assert main(["pack-images", str(folder), "-o", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "broken.png" in err and "deep.png" in err and "16-bit" in err
    assert [p.name for p in (tmp_path / "out" / "hr").iterdir()] == ["ok.webp"]
    assert main(["pack-images", str(tmp_path / "missing"), "-o", str(tmp_path / "out")]) == 2
