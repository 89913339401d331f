"""One rule for the paths srapp may write (srapp.write_rule): no command writes over what a run reads."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import cv2
import numpy as np

from srapp.cli import main


def _png(path: Path, seed: int, size: int = 12) -> bytes:
    image = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), image)
    return path.read_bytes()


def _digests(folder: Path) -> dict[str, str]:
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def _upscale(*args: str) -> int:
    return main(["upscale", *args, "--model", "bicubic", "--scale", "2", "--no-lpips", "-q"])


def test_an_output_folder_that_is_the_ground_truth_is_refused(tmp_path, capsys):
    _png(tmp_path / "lr" / "a.png", 1)
    _png(tmp_path / "hr" / "a.png", 2, size=24)
    before = _digests(tmp_path / "hr")
    assert _upscale(str(tmp_path / "lr"), "-o", str(tmp_path / "hr"), "--gt", str(tmp_path / "hr")) == 2
    assert "ground-truth" in capsys.readouterr().err
    assert _digests(tmp_path / "hr") == before


def test_a_link_in_the_input_tree_to_the_output_folder_needs_a_suffix(tmp_path, capsys):
    _png(tmp_path / "in" / "a.png", 3)
    _png(tmp_path / "out" / "b.png", 4)
    os.symlink(tmp_path / "out", tmp_path / "in" / "linked")
    before = _digests(tmp_path / "out")
    code = _upscale(str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--recursive")
    assert code == 2 and "--suffix" in capsys.readouterr().err
    assert _digests(tmp_path / "out") == before


def test_a_report_that_is_an_input_is_refused(tmp_path, capsys):
    # An image is read by its content, so a PNG may be named photo.json, the report's own suffix.
    photo = tmp_path / "photo.json"
    original = _png(tmp_path / "photo.png", 5)
    photo.write_bytes(original)
    code = _upscale(str(photo), "-o", str(tmp_path / "out"), "--report", str(photo))
    assert code == 2 and photo.read_bytes() == original
    assert "photo.json" in capsys.readouterr().err


def test_pack_images_refuses_its_input_folder_and_colliding_stems(tmp_path, capsys):
    source = tmp_path / "parent" / "images"
    _png(source / "a.png", 6)
    before = _digests(tmp_path / "parent")
    assert main(["pack-images", str(source), "-o", str(tmp_path / "parent")]) == 2
    assert _digests(tmp_path / "parent") == before
    _png(source / "b.png", 7)
    cv2.imwrite(str(source / "b.jpg"), np.zeros((8, 8, 3), np.uint8))
    assert main(["pack-images", str(source), "-o", str(tmp_path / "packed")]) == 1
    captured = capsys.readouterr()
    assert "rename one of them" in captured.out + captured.err
    assert not (tmp_path / "packed" / "images" / "b.webp").exists()
