"""The ``srapp`` command line: upscale (modes, reports, ground truth, options, usage errors),
benchmark (dataset names, published bicubic numbers on Set5), models, ``python -m srapp.cli`` and torchrun."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from srapp import save_checkpoint
from srapp.archs import RCAN
from srapp.cli import main
from srapp.io.image_io import read_image
from srapp.engine.resize import imresize
from srapp.engine.upscale import upscale
from srapp.metrics import lpips, psnr, ssim
from local_services import free_port
from synthetic import write_natural_images

REPORT_FIELDS = ["input", "output", "width", "height", "seconds", "psnr", "ssim", "lpips", "niqe", "error",
                 "skipped"]


# ----------------------------------------------------------------------------------------------
# helpers


def _smooth(shape: tuple[int, ...], seed: int, dtype=np.uint8) -> np.ndarray:
    """A smooth random image (blurred noise stretched to the dtype's range): realistic PSNR values."""
    rng = np.random.default_rng(seed)
    noise = rng.random(shape).astype(np.float32)
    blurred = cv2.GaussianBlur(noise, (0, 0), 2.0)
    blurred = (blurred - blurred.min()) / (blurred.max() - blurred.min())
    return np.round(blurred * np.iinfo(dtype).max).astype(dtype)


def _noise(shape: tuple[int, ...], seed: int, dtype=np.uint8) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, np.iinfo(dtype).max + 1, shape, dtype=dtype)


def _write_png(path: Path, image: np.ndarray) -> Path:
    """RGB(A)/gray, 8- or 16-bit, written with OpenCV (Pillow cannot write 16-bit RGB)."""
    if image.ndim == 3 and image.shape[2] == 3:
        image = image[:, :, ::-1]
    elif image.ndim == 3 and image.shape[2] == 4:
        image = image[:, :, [2, 1, 0, 3]]
    assert cv2.imwrite(str(path), np.ascontiguousarray(image))
    return path


def _write_exif_jpeg(path: Path, stored: np.ndarray, orientation: int = 6) -> Path:
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(stored).save(path, quality=95, exif=exif)
    return path


def _write_broken(path: Path) -> Path:
    path.write_bytes(np.random.default_rng(99).bytes(300))
    return path


def _all_files(folder: Path) -> list[str]:
    """Every entry (hidden temp files included), relative, sorted."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def _load_report(path: Path) -> dict:
    return json.loads(path.read_text())


def _by_name(report: dict) -> dict[str, dict]:
    return {Path(record["input"]).name: record for record in report["images"]}



@pytest.fixture(scope="module")
def tiny_x2(tmp_path_factory) -> Path:
    """A tiny randomly initialised RCAN x2 checkpoint (one group, one block, 8 channels)."""
    torch.manual_seed(0)
    net = RCAN(scale=2, num_groups=1, num_blocks=1, channels=8)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pth"
    save_checkpoint(net, path)
    return path


@pytest.fixture
def mixed_folder(tmp_path) -> tuple[Path, dict[str, np.ndarray]]:
    """RGB, RGBA, 16-bit RGB, gray PNGs, an EXIF-rotated JPEG and a corrupt PNG."""
    folder = tmp_path / "in"
    folder.mkdir()
    images = {
        "rgb.png": _smooth((20, 24, 3), 1),
        "rgba.png": _smooth((22, 26, 4), 2),
        "deep.png": _smooth((24, 20, 3), 3, np.uint16),
        "gray.png": _smooth((21, 27), 4),
    }
    for name, image in images.items():
        _write_png(folder / name, image)
    # stored 28 wide x 20 tall; orientation 6 means the upright picture is 20 wide x 28 tall
    yy, xx = np.mgrid[0:20, 0:28]
    stored = np.dstack([xx * 9, yy * 12, np.full_like(xx, 60)]).astype(np.uint8)
    images["photo.jpg"] = stored
    _write_exif_jpeg(folder / "photo.jpg", stored)
    _write_broken(folder / "broken.png")
    return folder, images


# ----------------------------------------------------------------------------------------------
# 1. the main scenario: every mode, one corrupt file, JSON report


def test_mixed_folder_every_mode_and_one_corrupt_file(mixed_folder, tmp_path, capsys):
    folder, images = mixed_folder
    out, report_path = tmp_path / "out", tmp_path / "out.json"
    code = main(["upscale", str(folder), "-o", str(out), "--model", "bicubic", "--scale", "2",
                 "--report", str(report_path), "-q"])
    captured = capsys.readouterr()
    assert code == 1, "one image failed, so the exit status must be 1"

    # exactly the five results, no temp files (.name.xxx.part) left behind
    assert _all_files(out) == ["deep.png", "gray.png", "photo.png", "rgb.png", "rgba.png"]

    rgb = read_image(out / "rgb.png")
    assert rgb.dtype == np.uint8 and rgb.shape == (40, 48, 3)
    assert np.array_equal(rgb, upscale(images["rgb.png"], "bicubic", scale=2))

    rgba = read_image(out / "rgba.png")
    assert rgba.dtype == np.uint8 and rgba.shape == (44, 52, 4)
    assert np.array_equal(rgba, upscale(images["rgba.png"], "bicubic", scale=2))

    deep = read_image(out / "deep.png")
    assert deep.dtype == np.uint16 and deep.shape == (48, 40, 3)
    assert np.array_equal(deep, upscale(images["deep.png"], "bicubic", scale=2))
    assert deep.max() > 255, "16-bit data must not be squeezed into 8 bits"

    gray = read_image(out / "gray.png")
    assert gray.dtype == np.uint8 and gray.shape == (42, 54)
    assert np.array_equal(gray, upscale(images["gray.png"], "bicubic", scale=2))

    # the JPEG is stored 28x20 (WxH) with orientation 6: the result is upright, 2*20 wide x 2*28 tall
    photo = read_image(out / "photo.png")
    assert photo.dtype == np.uint8 and photo.shape == (56, 40, 3)
    with Image.open(folder / "photo.jpg") as stored:
        upright = np.asarray(ImageOps.exif_transpose(stored).convert("RGB"))
    assert upright.shape == (28, 20, 3)
    expected = upscale(upright, "bicubic", scale=2).astype(np.int16)
    # decoders may differ by a level or two; a wrong rotation/flip would be off by tens of levels
    assert np.abs(photo.astype(np.int16) - expected).mean() < 2.0
    assert np.abs(photo.astype(np.int16) - expected[::-1, ::-1]).mean() > 20.0

    report = _load_report(report_path)
    assert report["model"] == "bicubic" and report["scale"] == 2
    assert len(report["images"]) == 6 and report["failed"] == 1
    records = _by_name(report)
    assert set(records) == {"rgb.png", "rgba.png", "deep.png", "gray.png", "photo.jpg", "broken.png"}
    broken = records.pop("broken.png")
    assert broken["error"] and "broken.png" in broken["error"]
    assert broken["output"] is None and broken["width"] is None
    for name, record in records.items():
        result = read_image(record["output"])
        assert record["error"] is None, name
        assert Path(record["output"]).parent == out
        assert (record["width"], record["height"]) == (result.shape[1], result.shape[0]), name
        assert record["skipped"] is False
        assert record["psnr"] is None and record["ssim"] is None and record["lpips"] is None
        assert record["niqe"] is None  # not asked for
    assert report["mean"] == {"psnr": None, "ssim": None, "lpips": None, "niqe": None}

    assert "5 of 6" in captured.out
    assert "broken.png" in captured.out + captured.err


# ----------------------------------------------------------------------------------------------
# 2. scoring against ground truth


def test_ground_truth_scores_match_independent_metrics(tmp_path, capsys):
    lr_dir, gt_dir, out = tmp_path / "lr", tmp_path / "gt", tmp_path / "out"
    lr_dir.mkdir()
    gt_dir.mkdir()
    gts = {"rgb": _smooth((48, 40, 3), 11), "rgba": _smooth((36, 44, 4), 12), "gray": _smooth((32, 38), 13)}
    for stem, gt in gts.items():
        _write_png(gt_dir / f"{stem}.png", gt)
        _write_png(lr_dir / f"{stem}.png", imresize(gt, scale=0.5))
    report_path = tmp_path / "scores.json"
    code = main(["upscale", str(lr_dir), "-o", str(out), "--model", "bicubic", "--scale", "2",
                 "--gt", str(gt_dir), "--report", str(report_path), "--device", "cpu", "-q"])
    assert code == 0, capsys.readouterr()
    report = _load_report(report_path)
    assert report["failed"] == 0
    records = _by_name(report)
    assert set(records) == {"rgb.png", "rgba.png", "gray.png"}
    for stem, gt in gts.items():
        record = records[f"{stem}.png"]
        result = read_image(out / f"{stem}.png")
        assert result.shape == gt.shape
        a, b = (result[:, :, :3], gt[:, :, :3]) if gt.ndim == 3 else (result, gt)  # alpha is not scored
        assert record["psnr"] == pytest.approx(psnr(a, b, crop_border=2, y_channel=True), abs=1e-9), stem
        assert record["ssim"] == pytest.approx(ssim(a, b, crop_border=2, y_channel=True), abs=1e-9), stem
        assert record["lpips"] is not None, f"{stem}: LPIPS must be computed for {gt.shape[:2]} images"
        assert record["lpips"] == pytest.approx(lpips(a, b, device="cpu"), abs=1e-5), stem
        assert 25.0 < record["psnr"] < 60.0 and 0.5 < record["ssim"] <= 1.0
    for metric in ("psnr", "ssim", "lpips"):
        values = [r[metric] for r in report["images"]]
        assert report["mean"][metric] == pytest.approx(sum(values) / len(values), rel=1e-12)


def test_ground_truth_of_the_wrong_size_fails_that_image_only(tmp_path, capsys):
    lr_dir, gt_dir, out = tmp_path / "lr", tmp_path / "gt", tmp_path / "out"
    lr_dir.mkdir()
    gt_dir.mkdir()
    good_gt = _smooth((32, 36, 3), 21)
    _write_png(gt_dir / "good.png", good_gt)
    _write_png(lr_dir / "good.png", imresize(good_gt, scale=0.5))
    _write_png(lr_dir / "odd.png", _smooth((16, 20, 3), 22))  # result 40 wide x 32 tall
    _write_png(gt_dir / "odd.png", _smooth((30, 26, 3), 23))  # ground truth 26 wide x 30 tall
    _write_png(lr_dir / "lonely.png", _smooth((16, 16, 3), 24))  # no ground truth at all
    report_path = tmp_path / "r.json"
    code = main(["upscale", str(lr_dir), "-o", str(out), "--model", "bicubic", "--scale", "2",
                 "--gt", str(gt_dir), "--report", str(report_path), "--no-lpips", "-q"])
    capsys.readouterr()
    assert code == 1
    records = _by_name(_load_report(report_path))
    odd = records["odd.png"]
    assert odd["error"] is not None
    assert "26x30" in odd["error"] and "40x32" in odd["error"], odd["error"]
    assert "odd.png" in odd["error"]
    assert odd["psnr"] is None
    # the result itself is still written (and reported)
    assert read_image(out / "odd.png").shape == (32, 40, 3)
    assert odd["output"] is not None and (odd["width"], odd["height"]) == (40, 32)
    lonely = records["lonely.png"]
    assert lonely["error"] is not None and "lonely" in lonely["error"] and "ground truth" in lonely["error"]
    assert not (out / "lonely.png").exists()  # a missing ground truth is found while planning, before any upscaling
    good = records["good.png"]
    assert good["error"] is None and good["psnr"] is not None and good["lpips"] is None  # --no-lpips


# ----------------------------------------------------------------------------------------------
# 3. CSV report


def test_csv_report_has_one_row_per_image(mixed_folder, tmp_path, capsys):
    folder, _ = mixed_folder
    report_path = tmp_path / "nested" / "report.CSV"  # suffix is case-insensitive; parents are made
    code = main(["upscale", str(folder), "-o", str(tmp_path / "out"), "--model", "bicubic", "--scale", "2",
                 "--report", str(report_path), "-q"])
    capsys.readouterr()
    assert code == 1
    with report_path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == REPORT_FIELDS
        rows = list(reader)
    assert len(rows) == 6
    rows_by_name = {Path(row["input"]).name: row for row in rows}
    assert "broken.png" in rows_by_name["broken.png"]["error"]
    assert rows_by_name["broken.png"]["output"] == ""
    assert (rows_by_name["rgb.png"]["width"], rows_by_name["rgb.png"]["height"]) == ("48", "40")
    assert (rows_by_name["photo.jpg"]["width"], rows_by_name["photo.jpg"]["height"]) == ("40", "56")
    assert sum(bool(row["error"]) for row in rows) == 1


# ----------------------------------------------------------------------------------------------
# 4. usage errors: exit 2, a message on stderr, nothing written


def _usage_cases():
    def unknown_model(tmp, image, ckpt):
        return ["upscale", str(image), "-o", str(tmp / "out"), "--model", "no-such-model"], "no-such-model"

    def bicubic_without_scale(tmp, image, ckpt):
        return ["upscale", str(image), "-o", str(tmp / "out"), "--model", "bicubic"], "scale"

    def scale_disagrees(tmp, image, ckpt):
        return ["upscale", str(image), "-o", str(tmp / "out"), "--model", str(ckpt), "--scale", "3"], "outscale"

    def missing_input(tmp, image, ckpt):
        return ["upscale", str(tmp / "nope.png"), "-o", str(tmp / "out"), "--model", "bicubic",
                "--scale", "2"], "nope.png"

    def empty_folder(tmp, image, ckpt):
        (tmp / "empty").mkdir()
        return ["upscale", str(tmp / "empty"), "-o", str(tmp / "out"), "--model", "bicubic",
                "--scale", "2"], "no images"

    def bad_report_suffix(tmp, image, ckpt):
        return ["upscale", str(image), "-o", str(tmp / "out"), "--model", "bicubic", "--scale", "2",
                "--report", str(tmp / "out.txt")], "out.txt"

    def missing_gt_folder(tmp, image, ckpt):
        return ["upscale", str(image), "-o", str(tmp / "out"), "--model", "bicubic", "--scale", "2",
                "--gt", str(tmp / "no-gt")], "no-gt"

    def output_under_a_file(tmp, image, ckpt):
        (tmp / "afile").write_text("not a folder")
        return ["upscale", str(image), "-o", str(tmp / "afile" / "out"), "--model", "bicubic",
                "--scale", "2"], "afile"

    def benchmark_bad_report(tmp, image, ckpt):
        return ["benchmark", "--model", "bicubic", "--scale", "2", "--dataset", str(tmp),
                "--report", str(tmp / "out.txt")], "out.txt"

    def benchmark_missing_dataset(tmp, image, ckpt):
        return ["benchmark", "--model", "bicubic", "--scale", "2", "--dataset", str(tmp / "nodata")], "nodata"

    return [unknown_model, bicubic_without_scale, scale_disagrees, missing_input, empty_folder,
            bad_report_suffix, missing_gt_folder, output_under_a_file, benchmark_bad_report,
            benchmark_missing_dataset]


@pytest.mark.parametrize("case", _usage_cases(), ids=lambda case: case.__name__)
def test_usage_errors_exit_2_with_a_message(case, tmp_path, tiny_x2, capsys):
    image = _write_png(tmp_path / "small.png", _noise((20, 24, 3), 0))
    argv, fragment = case(tmp_path, image, tiny_x2)
    code = main(argv + ["-q"])
    captured = capsys.readouterr()
    assert code == 2, captured
    assert captured.err.startswith("srapp: error: "), captured.err
    assert fragment in captured.err, captured.err
    assert "Traceback" not in captured.err
    assert not (tmp_path / "out").exists(), "a usage error must not create the output folder"
    assert not list(tmp_path.glob("out.*")), "a usage error must not write a report"


def test_scale_mismatch_message_names_both_scales(tmp_path, tiny_x2, capsys):
    image = _write_png(tmp_path / "small.png", _noise((20, 24, 3), 0))
    code = main(["upscale", str(image), "-o", str(tmp_path / "out"), "--model", str(tiny_x2), "--scale", "3"])
    err = capsys.readouterr().err
    assert code == 2
    assert "x2" in err and "x3" in err and "outscale" in err, err


# ----------------------------------------------------------------------------------------------
# 5.-10. options


def test_outscale_resizes_a_network_result(tmp_path, tiny_x2, capsys):
    image = _write_png(tmp_path / "small.png", _smooth((20, 24, 3), 5))
    report_path = tmp_path / "r.json"
    code = main(["upscale", str(image), "-o", str(tmp_path / "out"), "--model", str(tiny_x2),
                 "--outscale", "3", "--device", "cpu", "--report", str(report_path), "-q"])
    capsys.readouterr()
    assert code == 0
    result = read_image(tmp_path / "out" / "small.png")
    assert result.shape == (60, 72, 3) and result.dtype == np.uint8
    report = _load_report(report_path)
    assert report["scale"] == 3
    assert (report["images"][0]["width"], report["images"][0]["height"]) == (72, 60)


def test_skip_existing_keeps_results_and_marks_them(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    _write_png(folder / "a.png", _smooth((20, 22, 3), 6))
    _write_png(folder / "b.png", _smooth((18, 24, 3), 7))
    out = tmp_path / "out"
    argv = ["upscale", str(folder), "-o", str(out), "--model", "bicubic", "--scale", "2", "-q"]
    assert main(argv) == 0
    old = 1_000_000_000  # make any rewrite visible whatever the file system's mtime resolution
    for name in ("a.png", "b.png"):
        os.utime(out / name, ns=(old, old))
    (out / "b.png").unlink()  # b is missing: it is made again

    report_path = tmp_path / "r.json"
    assert main(argv + ["--skip-existing", "--report", str(report_path)]) == 0
    capsys.readouterr()
    assert (out / "a.png").stat().st_mtime_ns == old, "--skip-existing rewrote an existing result"
    assert (out / "b.png").is_file()
    records = _by_name(_load_report(report_path))
    assert records["a.png"]["skipped"] is True
    assert (records["a.png"]["width"], records["a.png"]["height"]) == (44, 40)
    assert records["a.png"]["output"] == str(out / "a.png")
    assert records["b.png"]["skipped"] is False

    # without the flag the result is written again
    assert main(argv) == 0
    assert (out / "a.png").stat().st_mtime_ns != old


def test_recursive_mirrors_subfolders(tmp_path, capsys):
    folder = tmp_path / "in"
    (folder / "sub" / "deeper").mkdir(parents=True)
    _write_png(folder / "top.png", _noise((12, 10, 3), 1))
    _write_png(folder / "sub" / "inner.png", _noise((10, 12, 3), 2))
    _write_png(folder / "sub" / "deeper" / "leaf.png", _noise((11, 11), 3))
    (folder / "sub" / "notes.txt").write_text("not an image")

    flat = tmp_path / "flat"
    assert main(["upscale", str(folder), "-o", str(flat), "--model", "bicubic", "--scale", "2", "-q"]) == 0
    assert _all_files(flat) == ["top.png"]

    mirrored = tmp_path / "mirrored"
    code = main(["upscale", str(folder), "-o", str(mirrored), "--model", "bicubic", "--scale", "2",
                 "--recursive", "-q"])
    capsys.readouterr()
    assert code == 0
    assert _all_files(mirrored) == ["sub", "sub/deeper", "sub/deeper/leaf.png", "sub/inner.png", "top.png"]
    assert read_image(mirrored / "sub" / "inner.png").shape == (20, 24, 3)
    assert read_image(mirrored / "sub" / "deeper" / "leaf.png").shape == (22, 22)


def test_max_pixels_refuses_a_large_image(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    _write_png(folder / "big.png", _noise((20, 20, 3), 1))  # 400 pixels
    _write_png(folder / "ok.png", _noise((8, 10, 3), 2))  # 80 pixels
    report_path = tmp_path / "r.json"
    code = main(["upscale", str(folder), "-o", str(tmp_path / "out"), "--model", "bicubic", "--scale", "2",
                 "--max-pixels", "100", "--report", str(report_path), "-q"])
    captured = capsys.readouterr()
    assert code == 1
    records = _by_name(_load_report(report_path))
    error = records["big.png"]["error"]
    assert error is not None and "big.png" in error and "megapixels" in error, error
    assert "big.png" in captured.out + captured.err and "megapixels" in captured.out + captured.err
    assert records["ok.png"]["error"] is None
    assert _all_files(tmp_path / "out") == ["ok.png"]


@pytest.mark.parametrize("channels", [3, 4])
def test_webp_output_is_lossless(tmp_path, channels, capsys):
    image = _noise((18, 22, channels), channels)
    if channels == 4:
        image[4:12, 6:14, 3] = 0  # a fully transparent patch: its colour must survive too
    source = _write_png(tmp_path / "pic.png", image)
    code = main(["upscale", str(source), "-o", str(tmp_path / "out"), "--model", "bicubic", "--scale", "2",
                 "--ext", "webp", "-q"])
    capsys.readouterr()
    assert code == 0
    assert _all_files(tmp_path / "out") == ["pic.webp"]
    with Image.open(tmp_path / "out" / "pic.webp") as written:
        assert written.format == "WEBP"
    back, expected = read_image(tmp_path / "out" / "pic.webp"), upscale(image, "bicubic", scale=2)
    assert back.shape == expected.shape and back.dtype == expected.dtype
    if channels == 4:
        visible = expected[:, :, 3] > 0
        assert np.array_equal(back[:, :, 3], expected[:, :, 3]), "alpha must be stored losslessly"
        assert np.array_equal(back[visible], expected[visible]), "visible pixels must be stored losslessly"
        hidden = ~visible
        assert hidden.sum() > 0
        assert np.array_equal(back[hidden], expected[hidden]), (
            "SOURCE BUG (srapp/io/image_io.py write_image, the .webp params): 'lossless' WebP rewrites "
            f"the RGB of {int(np.any(back[hidden] != expected[hidden], axis=1).sum())} fully transparent "
            "pixels (libwebp drops invisible colour unless told to keep it). Pass "
            "cv2.IMWRITE_WEBP_LOSSLESS_MODE, cv2.IMWRITE_WEBP_LOSSLESS_PRESERVE_COLOR (OpenCV >= 4.12) "
            "or write with Pillow lossless=True, exact=True."
        )
    assert np.array_equal(back, expected)


def test_tiled_and_whole_image_results_agree(tmp_path, tiny_x2, capsys):
    image = _write_png(tmp_path / "pic.png", _noise((40, 48, 3), 8))
    results = {}
    for tile in (16, 0):
        out = tmp_path / f"tile{tile}"
        code = main(["upscale", str(image), "-o", str(out), "--model", str(tiny_x2), "--tile", str(tile),
                     "--device", "cpu", "-q"])
        assert code == 0
        results[tile] = read_image(out / "pic.png")
    capsys.readouterr()
    tiled, whole = results[16], results[0]
    assert tiled.shape == whole.shape == (80, 96, 3)
    assert whole.std() > 5, "the tiny network's output should not be flat"
    agreement = psnr(tiled, whole)
    assert agreement >= 50.0, (
        f"SOURCE BUG (srapp/engine/tiling.py blend_window/_axis_windows): --tile 16 differs from --tile 0 "
        f"by only {agreement:.2f} dB PSNR (max {np.abs(tiled.astype(int) - whole).max()} levels). The "
        "linear blend ramp gives a tile's outermost, zero-padding-spoiled output pixels non-zero weight "
        "(0.5/ramp, 1.5/ramp, ...), so even a network whose receptive field fits in the overlap is not "
        "reproduced; zero weight near interior tile edges fixes it."
    )


# ----------------------------------------------------------------------------------------------
# 11. benchmark: the published bicubic numbers on Set5

PUBLISHED_BICUBIC_SET5 = {2: 33.66, 3: 30.39, 4: 28.42}


@pytest.mark.needs_data("datasets/Set5")
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_benchmark_bicubic_reproduces_published_set5_psnr(scale, tmp_path, capsys):
    report_path = tmp_path / "r.json"
    code = main(["benchmark", "--model", "bicubic", "--dataset", "Set5", "--scale", str(scale),
                 "--report", str(report_path), "--no-lpips", "-q"])
    out = capsys.readouterr().out
    assert code == 0
    report = _load_report(report_path)
    assert report["model"] == "bicubic" and report["scale"] == scale
    assert report["failed"] == 0
    assert sorted(Path(r["input"]).name for r in report["images"]) == [
        "baby.png", "bird.png", "butterfly.png", "head.png", "woman.png"]
    assert report["mean"]["psnr"] == pytest.approx(PUBLISHED_BICUBIC_SET5[scale], abs=0.02)
    assert report["mean"]["lpips"] is None
    assert all(r["lpips"] is None for r in report["images"])
    assert "5 of 5" in out and f"x{scale}" in out


@pytest.mark.needs_data("datasets/Set5")
def test_benchmark_with_lpips(tmp_path, capsys):
    report_path = tmp_path / "r.json"
    code = main(["benchmark", "--model", "bicubic", "--dataset", "Set5", "--scale", "4",
                 "--report", str(report_path), "--device", "cpu", "-q"])
    capsys.readouterr()
    assert code == 0
    report = _load_report(report_path)
    mean_lpips = report["mean"]["lpips"]
    assert isinstance(mean_lpips, float) and 0.2 < mean_lpips < 0.5
    assert all(isinstance(r["lpips"], float) for r in report["images"])


def _data_folder(tmp_path: Path, monkeypatch) -> Path:
    """A data folder of generated scenes, datasets/Mine (two images) and an empty datasets/Other,
    named by SRAPP_DATA; the current folder is one where neither name is a folder."""
    root = tmp_path / "data"
    write_natural_images(root / "datasets" / "Mine", [(50, 61), (64, 47)])
    (root / "datasets" / "Other").mkdir()
    monkeypatch.setenv("SRAPP_DATA", str(root))
    monkeypatch.chdir(tmp_path)
    return root


def test_benchmark_takes_a_dataset_name_from_srapp_data(tmp_path, monkeypatch, capsys):
    root = _data_folder(tmp_path, monkeypatch)
    report_path = tmp_path / "r.json"
    code = main(["benchmark", "--model", "bicubic", "--dataset", "Mine", "--scale", "3",
                 "--report", str(report_path), "--no-lpips", "-q"])
    capsys.readouterr()
    assert code == 0
    records = _load_report(report_path)["images"]
    assert sorted(Path(r["input"]) for r in records) == sorted((root / "datasets" / "Mine").iterdir())
    for record in records:  # the protocol, step by step
        hr = read_image(record["input"])
        hr = hr[: hr.shape[0] - hr.shape[0] % 3, : hr.shape[1] - hr.shape[1] % 3]
        sr = imresize(imresize(hr, 1 / 3), 3)
        assert record["psnr"] == pytest.approx(psnr(sr, hr, crop_border=3, y_channel=True), abs=1e-9)
        assert record["ssim"] == pytest.approx(ssim(sr, hr, crop_border=3, y_channel=True), abs=1e-9)


def test_benchmark_unknown_dataset_name_lists_the_datasets_found(tmp_path, monkeypatch, capsys):
    _data_folder(tmp_path, monkeypatch)
    code = main(["benchmark", "--model", "bicubic", "--dataset", "Set6", "--scale", "2", "-q"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("srapp: error: Set6: ") and "Mine, Other" in err and "SRAPP_DATA" in err, err
    # a folder without images is a usage error too
    assert main(["benchmark", "--model", "bicubic", "--dataset", "Other", "--scale", "2", "-q"]) == 2
    assert "Other: no images" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------
# 12. models


def test_models_lists_bicubic(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "bicubic" in out
    assert out.splitlines()[0].split()[:2] == ["name", "architecture"]


def test_models_dir_names_the_models_folder_of_every_command_that_takes_a_model(tmp_path, tiny_x2, capsys,
                                                                                monkeypatch):
    folder = tmp_path / "my models"
    assert main(["models", "--models-dir", str(folder), "--add", str(tiny_x2)]) == 0
    (folder / "tiny.pth").rename(folder / "mine-x2.pth")
    monkeypatch.setenv("SRAPP_MODELS", str(tmp_path / "elsewhere"))  # the default folder: without the model
    image = _smooth((20, 24, 3), 3)
    (tmp_path / "in").mkdir()
    source = _write_png(tmp_path / "in" / "photo.png", image)
    torch_cpu = ["--backend", "torch", "--precision", "fp32", "--device", "cpu", "-q"]
    capsys.readouterr()

    assert main(["upscale", str(source), "-o", str(tmp_path / "out"), "--model", "mine-x2",
                 "--models-dir", str(folder), *torch_cpu]) == 0
    np.testing.assert_array_equal(read_image(tmp_path / "out" / "photo.png"),
                                  upscale(image, tiny_x2, backend="torch", precision="fp32", device="cpu"))
    assert main(["upscale", str(source), "-o", str(tmp_path / "out2"), "--model", "mine-x2", *torch_cpu]) == 2
    err = capsys.readouterr().err
    assert "'mine-x2' is neither" in err and str(tmp_path / "elsewhere") in err, err  # names the folder searched

    assert main(["benchmark", "--model", "mine-x2", "--models-dir", str(folder), "--dataset", str(tmp_path / "in"),
                 "--no-lpips", *torch_cpu]) == 0
    assert capsys.readouterr().out.startswith("mine-x2 x2 on ")
    assert main(["export", "mine-x2", "--models-dir", str(folder), "-o", str(tmp_path / "mine.safetensors")]) == 0
    assert main(["models", "--models-dir", str(folder)]) == 0
    assert any(line.startswith("mine-x2 ") for line in capsys.readouterr().out.splitlines())
    assert main(["upscale", str(source), "-o", str(tmp_path / "out3"), "--model", "other", "--models-dir",
                 str(folder), *torch_cpu]) == 2
    assert f"{folder}: mine-x2" in capsys.readouterr().err  # what the folder has


@pytest.mark.parametrize("text, size", [("123", 123), ("50mb", 50 * 1024 ** 2), ("1GB", 1024 ** 3), ("1.5kb", None),
                                        ("2m", 2 * 1024 ** 2), ("0", None), ("50 parsecs", None), ("-1mb", None)])
def test_byte_size_reads_sizes_as_the_web_server_does(text, size):
    import argparse

    from gradio.utils import _parse_file_size
    from srapp.cli.arguments import byte_size

    if size is None:
        with pytest.raises(argparse.ArgumentTypeError):
            byte_size(text)
    else:
        assert byte_size(text) == size
        if text.lower().endswith("b") and not text.isdigit():
            assert _parse_file_size(text) == size  # Gradio's own reading of --max-upload's old value


# ----------------------------------------------------------------------------------------------
# 13.-14. real processes: python -m srapp.cli, and a torchrun split


def test_python_dash_m_entry_point(tmp_path):
    image = _write_png(tmp_path / "pic.png", _noise((12, 14, 3), 9))
    out = tmp_path / "out"
    completed = subprocess.run(
        [sys.executable, "-m", "srapp.cli", "upscale", str(image), "-o", str(out), "--model", "bicubic",
         "--scale", "2", "-q"],
        capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert read_image(out / "pic.png").shape == (24, 28, 3)
    assert "1 of 1" in completed.stdout


def test_torchrun_splits_inputs_and_rank0_writes_merged_report(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for index, name in enumerate(["a.png", "c.png", "d.png", "e.png"]):
        _write_png(folder / name, _noise((10 + index, 12, 3), index))
    # sorted second, so rank 1 (of 2) gets it: a failing non-zero rank must not lose rank 0's report
    _write_broken(folder / "b_broken.png")
    out, report_path = tmp_path / "out", tmp_path / "rep.json"
    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    completed = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port", str(free_port()),
         "-m", "srapp.cli", "upscale", str(folder), "-o", str(out), "--model", "bicubic", "--scale", "2",
         "--report", str(report_path), "-q"],
        capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path,
    )
    log = completed.stdout + completed.stderr
    # torchrun exits 1 (ChildFailedError) when any rank exits non-zero; both ranks report failure here
    assert completed.returncode == 1, log
    assert _all_files(out) == ["a.png", "c.png", "d.png", "e.png"], log
    for index, name in enumerate(["a.png", "c.png", "d.png", "e.png"]):
        assert read_image(out / name).shape == (2 * (10 + index), 24, 3)
    report = _load_report(report_path)
    inputs = [record["input"] for record in report["images"]]
    assert [Path(p).name for p in inputs] == ["a.png", "b_broken.png", "c.png", "d.png", "e.png"]
    assert inputs == sorted(inputs)
    assert report["failed"] == 1
    assert "b_broken.png" in _by_name(report)["b_broken.png"]["error"]
    assert "4 of 5" in completed.stdout, log  # rank 0 prints the merged table once
    assert completed.stdout.count("4 of 5") == 1


@pytest.mark.parametrize("value", ["0", "-5", "many"])
def test_max_pixels_below_one_is_a_usage_error(value, tmp_path, capsys):
    image = _write_png(tmp_path / "small.png", _noise((20, 24, 3), 0))
    with pytest.raises(SystemExit) as exit_info:
        main(["upscale", str(image), "-o", str(tmp_path / "out"), "--model", "bicubic", "--scale", "2",
              "--max-pixels", value, "-q"])
    assert exit_info.value.code == 2
    assert "--max-pixels" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
