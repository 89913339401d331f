"""NIQE (srapp.metrics.niqe): BasicSR's ``calculate_niqe`` as the independent reference, strips
that do not change the result, the sizes without a score, the direction of blur and noise, and
``srapp upscale --niqe`` filling the report."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

import srapp._compat  # noqa: F401  (the torchvision alias, before basicsr)
from basicsr.metrics.niqe import calculate_niqe  # noqa: E402
from srapp.cli import main  # noqa: E402
from srapp.io.image_io import read_image, write_image  # noqa: E402
from srapp.engine.resize import imresize  # noqa: E402
from srapp.engine.upscale import upscale  # noqa: E402
from srapp.metrics.niqe import niqe  # noqa: E402
from synthetic import natural_image  # noqa: E402


def _basicsr_niqe(image: np.ndarray, crop_border: int = 0) -> float:
    """BasicSR's NIQE of an srapp image: BGR order, on the 0..255 scale."""
    scale = 257.0 if image.dtype == np.uint16 else 1.0
    return calculate_niqe(image[..., ::-1] / scale if image.ndim == 3 else image / scale, crop_border)


def _deep(height: int, width: int, seed: int) -> np.ndarray:
    """A 16-bit RGB image whose levels are not all multiples of 257."""
    rng = np.random.default_rng(seed)
    wide = natural_image(height, width, seed).astype(np.int32) * 257 + rng.integers(-300, 300, (height, width, 3))
    return np.clip(wide, 0, 65535).astype(np.uint16)


def _gray(height: int, width: int, seed: int) -> np.ndarray:
    return cv2.cvtColor(natural_image(height, width, seed), cv2.COLOR_RGB2GRAY)


CASES = {  # name: (image, crop_border); no side a multiple of 96
    "rgb8": (natural_image(301, 419, 1), 0),
    "rgb8-crop": (natural_image(250, 333, 2), 4),
    "rgb8-tall": (natural_image(605, 203, 3), 2),
    "rgb16": (_deep(290, 390, 4), 0),
    "gray8": (_gray(333, 250, 5), 3),
    "gray16": ((_gray(210, 400, 6).astype(np.uint16) * 257 + 128), 0),
}


@pytest.mark.parametrize("name", CASES)
def test_equals_basicsr_in_strips_of_one_block_row_and_by_default(name):
    image, crop = CASES[name]
    reference = _basicsr_niqe(image, crop)
    assert niqe(image, crop, block_rows=1) == pytest.approx(reference, rel=1e-6)
    assert niqe(image, crop) == pytest.approx(reference, rel=1e-6)


def test_alpha_and_a_single_channel_axis_are_ignored():
    rgb, gray = CASES["rgb8"][0], CASES["gray8"][0]
    alpha = np.random.default_rng(7).integers(0, 256, rgb.shape[:2], dtype=np.uint8)
    assert niqe(np.dstack([rgb, alpha])) == niqe(rgb)
    assert niqe(gray[:, :, None]) == niqe(gray)


def test_the_strips_do_not_change_the_result():
    image = natural_image(7 * 96 + 50, 3 * 96 + 17, 8)  # 7 block rows: strips of 1..7 and a ragged last one
    whole = niqe(image, block_rows=7)
    assert [niqe(image, block_rows=rows) for rows in (1, 2, 3, 5)] == [whole] * 4


@pytest.mark.parametrize("shape", [(95, 500), (500, 95), (96, 96), (150, 191), (30, 40)])
def test_no_score_under_two_blocks(shape):
    assert niqe(natural_image(*shape, 9)) is None


def test_no_score_when_the_crop_leaves_under_two_blocks_or_the_image_is_flat():
    image = natural_image(200, 200, 10)  # 2x2 blocks, 1x1 once 5 pixels are cropped
    assert niqe(image, 4) is not None and niqe(image, 5) is None
    assert niqe(np.full((200, 300, 3), 128, np.uint8)) is None  # every block's spreads are undefined


def test_two_blocks_are_enough():
    image = natural_image(96, 192, 11)
    assert niqe(image) == pytest.approx(_basicsr_niqe(image), rel=1e-6)


def test_bad_arguments_are_refused():
    image = natural_image(200, 200, 12)
    with pytest.raises(ValueError, match="crop_border"):
        niqe(image, -1)
    with pytest.raises(ValueError, match="block_rows"):
        niqe(image, block_rows=0)


@pytest.mark.parametrize("seed", [0, 1])
def test_blur_and_noise_make_it_worse(seed):
    clean = natural_image(384, 480, seed)
    blurred = cv2.GaussianBlur(clean, (0, 0), 2.0)
    noisy = np.clip(clean + np.random.default_rng(seed).normal(0, 20, clean.shape), 0, 255).astype(np.uint8)
    score = niqe(clean)
    assert niqe(blurred) > score + 1.5 and niqe(noisy) > score + 1.5  # about +3 and +6 on these images


def test_upscale_niqe_fills_the_report(tmp_path, capsys):
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    # x2 results, 2 pixels cropped: 116x216 (2 blocks), 196x196 (4 blocks), gray 196x116, 76x76 (no blocks)
    write_image(inputs / "wide.png", natural_image(60, 110, 20))
    write_image(inputs / "square.png", natural_image(100, 100, 21))
    write_image(inputs / "gray.png", _gray(100, 60, 22))
    write_image(inputs / "small.png", natural_image(40, 40, 23))
    report_path, csv_path = tmp_path / "r.json", tmp_path / "r.csv"
    argv = ["upscale", str(inputs), "-o", str(out), "--model", "bicubic", "--scale", "2", "--niqe", "-q"]
    assert main(argv + ["--report", str(report_path)]) == 0
    printed = capsys.readouterr().out
    report = json.loads(report_path.read_text())
    records = {Path(r["input"]).name: r for r in report["images"]}
    assert records["small.png"]["niqe"] is None
    for name in ("wide.png", "square.png", "gray.png"):
        result = read_image(out / name)
        assert records[name]["niqe"] == pytest.approx(_basicsr_niqe(result, 2), rel=1e-6), name
        assert records[name]["psnr"] is None  # no ground truth
    values = [r["niqe"] for r in report["images"] if r["niqe"] is not None]
    assert report["mean"]["niqe"] == pytest.approx(sum(values) / 3, rel=1e-12)
    assert "NIQE*" in printed and "weak proxy" in printed
    assert f"{records['square.png']['niqe']:.4f}" in printed

    assert main(argv + ["--skip-existing", "--report", str(csv_path)]) == 0  # read back, scored again
    with csv_path.open(newline="") as handle:
        rows = {Path(row["input"]).name: row for row in csv.DictReader(handle)}
    assert rows["small.png"]["niqe"] == "" and rows["wide.png"]["skipped"] == "True"
    assert float(rows["wide.png"]["niqe"]) == records["wide.png"]["niqe"]

    capsys.readouterr()
    assert main(argv[:-2] + ["-q", "--skip-existing", "--report", str(report_path)]) == 0  # without --niqe
    assert "NIQE" not in capsys.readouterr().out
    report = json.loads(report_path.read_text())
    assert all(r["niqe"] is None for r in report["images"]) and report["mean"]["niqe"] is None


def test_benchmark_niqe_rates_each_result(tmp_path, capsys):
    hr = natural_image(201, 250, 30)
    write_image(tmp_path / "hr.png", hr)
    report_path = tmp_path / "b.json"
    assert main(["benchmark", "--model", "bicubic", "--scale", "2", "--dataset", str(tmp_path), "--niqe",
                 "--no-lpips", "--report", str(report_path), "-q"]) == 0
    assert "weak proxy" in capsys.readouterr().out
    record = json.loads(report_path.read_text())["images"][0]
    result = upscale(imresize(hr[:200], scale=0.5), "bicubic", scale=2)  # the protocol's mod-crop, LR, x2
    assert record["niqe"] == pytest.approx(_basicsr_niqe(result, 2), rel=1e-6)
    assert record["psnr"] is not None
