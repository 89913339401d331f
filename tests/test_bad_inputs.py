"""The batch CLI against bad files and destroyed inputs: one run over a corpus of bad and unusual
files, kill -9 and resume, output folders that hold inputs, report locations checked up front,
stale temp files, --jpeg-quality and --suffix, gray+alpha through the upscaler."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import bad_images
import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from srapp._atomic import atomic_write
from srapp.archs import RCAN
from srapp.cli import main
from srapp.io.image_io import read_image
from srapp.engine.resize import imresize
from srapp.engine.upscale import Upscaler, upscale

PNG_COLOUR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> IHDR colour type


def _tree(folder: Path) -> dict[str, str]:
    """Every entry under ``folder`` (links not followed): content hash, inode and mtime of files,
    targets of links. Equal trees mean nothing was rewritten, replaced, added or removed."""
    entries = {}
    for root, folders, files in os.walk(folder):
        for name in folders + files:
            path = Path(root) / name
            status = path.lstat()
            if path.is_symlink():
                entries[str(path.relative_to(folder))] = f"link to {os.readlink(path)}"
            elif path.is_file():
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                entries[str(path.relative_to(folder))] = f"{digest} {status.st_ino} {status.st_mtime_ns}"
            else:
                entries[str(path.relative_to(folder))] = "folder"
    return entries


def _records(report_path: Path, root: Path) -> dict[str, dict]:
    report = json.loads(report_path.read_text())
    return {str(Path(record["input"]).relative_to(root)): record for record in report["images"]}


def _write(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)
    return path


def _bicubic(folder: Path, out: Path, *options: str) -> list[str]:
    return ["upscale", str(folder), "-o", str(out), "--model", "bicubic", "--scale", "2", "-q", *options]


# ----------------------------------------------------------------------------------------------
# one batch over every kind of bad or unusual file


def test_one_batch_over_the_corpus(tmp_path, capsys):
    corpus = tmp_path / "corpus"
    samples = bad_images.write_corpus(corpus)
    before = _tree(corpus)
    out, report_path = tmp_path / "out", tmp_path / "r.json"
    code = main(_bicubic(corpus, out, "--recursive", "--report", str(report_path)))
    captured = capsys.readouterr()
    log = (captured.out + captured.err).splitlines()
    assert code == 1, "some images failed"
    assert _tree(corpus) == before, "the input folder must be byte-identical afterwards"

    records = _records(report_path, corpus)
    assert set(records) == set(samples), "the report lists every input (and nothing else: no loop, folder, text)"
    assert json.loads(report_path.read_text())["failed"] == sum(bool(s.fails_in_batch) for s in samples.values())
    written = []
    for name, sample in samples.items():
        record, source = records[name], corpus / name
        if sample.fails_in_batch:
            assert record["error"] and sample.fails_in_batch in record["error"], (name, record["error"])
            assert record["error"].startswith(f"{source}: ") and record["output"] is None, name
            assert len([line for line in log if line.startswith(f"error: {source}: ")]) == 1, name
            continue
        assert record["error"] is None, (name, record["error"])
        output = out / Path(name).with_suffix(".png")
        written.append(str(output.relative_to(out)))
        expected = upscale(sample.pixels, "bicubic", scale=2)
        header = output.read_bytes()[16:26]
        width, height, depth, colour_type = int.from_bytes(header[:4], "big"), int.from_bytes(header[4:8], "big"), *header[8:]
        channels = 1 if expected.ndim == 2 else expected.shape[2]
        assert (height, width) == expected.shape[:2], name  # upright: EXIF orientation applied
        assert (depth, colour_type) == (expected.dtype.itemsize * 8, PNG_COLOUR_TYPES[channels]), name
        result = read_image(output)
        difference = np.abs(result.astype(float) - expected).mean()
        assert difference <= 1.5 * sample.tolerance, (name, difference)
        with Image.open(output) as image:
            assert image.info.get("icc_profile") == sample.icc_profile, name
            assert image.getexif().get(0x0112, 1) == 1, name
    with Image.open(out / "rotated_icc.png") as photo:
        assert photo.getexif()[0x010F] == "srapp test camera", "EXIF is carried over"
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == sorted(written)


# ----------------------------------------------------------------------------------------------
# kill -9 in the middle of a batch, then --skip-existing


def test_kill_minus_nine_leaves_only_complete_results_and_a_resume_finishes(tmp_path):
    folder, out = tmp_path / "in", tmp_path / "out"
    images = {f"img{i:02d}.png": bad_images.smooth((96, 96, 3), i) for i in range(40)}
    for name, image in images.items():
        _write(folder / name, image)
    argv = ["upscale", str(folder), "-o", str(out), "--model", "bicubic", "--scale", "4", "-q"]
    process = subprocess.Popen([sys.executable, "-m", "srapp.cli", *argv],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300

    def results() -> list[str]:
        return sorted(p.name for p in out.glob("*.png") if not p.name.startswith(".")) if out.is_dir() else []

    try:
        while not results():
            assert process.poll() is None, "the batch ended before the first result appeared"
            assert time.monotonic() < deadline
            time.sleep(0.002)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        process.kill()
    finished = results()
    assert 0 < len(finished) < len(images), "killed in the middle of the batch"
    for name in finished:  # every file with a final name is complete
        np.testing.assert_array_equal(read_image(out / name), upscale(images[name], "bicubic", scale=4))
    # A write cut short leaves only a temp file; one for an image not done yet stands for it.
    missing = sorted(set(images) - set(finished))
    (out / f".srapp-{missing[0]}.0dead000.part").write_bytes(b"\x89PNG half written")

    report_path = tmp_path / "resume.json"
    assert main(argv + ["--skip-existing", "--report", str(report_path)]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(images), "all results, no temp files"
    records = _records(report_path, folder)
    assert {name for name, record in records.items() if record["skipped"]} == set(finished)
    for name in missing:
        np.testing.assert_array_equal(read_image(out / name), upscale(images[name], "bicubic", scale=4))


# ----------------------------------------------------------------------------------------------
# inputs are never destroyed


def test_an_output_folder_that_is_the_input_folder_needs_a_suffix(tmp_path, capsys):
    photos = tmp_path / "photos"
    _write(photos / "a.png", bad_images.smooth((10, 12, 3), 1))
    _write(photos / "b.jpg", bad_images.smooth((12, 10, 3), 2))
    originals = _tree(photos)
    for given in (photos, photos / "a.png"):  # the folder itself, or a file in it
        assert main(_bicubic(given, photos)) == 2
        err = capsys.readouterr().err
        assert err.startswith("srapp: error: ") and "--suffix" in err and str(photos) in err, err
        assert _tree(photos) == originals

    argv = _bicubic(photos, photos, "--suffix", "x2")
    assert main(argv) == 0
    assert sorted(p.name for p in photos.iterdir()) == ["a.png", "a_x2.png", "b.jpg", "b_x2.png"]
    assert read_image(photos / "a_x2.png").shape == (20, 24, 3)
    first = _tree(photos)
    assert {name: first[name] for name in originals} == originals

    # Again: the results are not taken as inputs, and nothing in an input folder is replaced.
    report_path = tmp_path / "again.json"
    assert main(argv + ["--report", str(report_path)]) == 1
    capsys.readouterr()
    assert _tree(photos) == first
    records = _records(report_path, photos)
    assert set(records) == {"a.png", "b.jpg"}
    assert all("already exists in an input folder" in record["error"] for record in records.values())
    assert main(argv + ["--skip-existing"]) == 0
    assert _tree(photos) == first


def test_an_output_folder_inside_a_recursive_input_folder(tmp_path, capsys):
    root = tmp_path / "album"
    _write(root / "top.png", bad_images.smooth((10, 12, 3), 3))
    _write(root / "trip" / "beach.png", bad_images.smooth((12, 10, 3), 4))
    originals = _tree(root)
    assert main(_bicubic(root, root / "up", "--recursive")) == 2
    err = capsys.readouterr().err
    assert "inside the input folder" in err and "--suffix" in err, err
    assert _tree(root) == originals

    argv = _bicubic(root, root / "up", "--recursive", "--suffix", "x2")
    assert main(argv) == 0
    results = _tree(root / "up")
    assert sorted(name for name in results if name.endswith(".png")) == ["top_x2.png", "trip/beach_x2.png"]
    report_path = tmp_path / "second.json"
    assert main(argv + ["--skip-existing", "--report", str(report_path)]) == 0  # the same run again
    assert set(_records(report_path, root)) == {"top.png", "trip/beach.png"}, "its own results are not inputs"
    assert _tree(root / "up") == results
    assert main(argv) == 1, "the results are inside an input folder: they are not replaced"
    assert _tree(root / "up") == results

    # Without --recursive an output folder inside the input folder is fine: the scan stays on top.
    flat = _bicubic(root, root / "flat")
    assert main(flat) == 0 and main(flat + ["--report", str(report_path)]) == 0
    assert set(_records(report_path, root)) == {"top.png"}
    capsys.readouterr()


def test_an_output_that_is_an_input_file_is_refused_for_that_image(tmp_path, capsys):
    out, folder = tmp_path / "out", tmp_path / "in"
    precious = _write(out / "a.png", bad_images.smooth((10, 12, 3), 5))
    folder.mkdir()
    (folder / "a.png").symlink_to(precious)  # the input a.png is the very file out/a.png would be
    _write(folder / "b.png", bad_images.smooth((10, 12, 3), 6))
    kept = _tree(out)
    report_path = tmp_path / "r.json"
    assert main(_bicubic(folder, out, "--report", str(report_path))) == 1
    capsys.readouterr()
    records = _records(report_path, folder)
    assert "is an input file of this run" in records["a.png"]["error"]
    assert records["b.png"]["error"] is None
    assert _tree(out)["a.png"] == kept["a.png"]


# ----------------------------------------------------------------------------------------------
# the report location is checked before any work


@contextlib.contextmanager
def _read_only(folder: Path):
    """``folder`` made read-only for this process: mode 0555, or for root (whom modes do not stop)
    the immutable attribute."""
    folder.mkdir(parents=True, exist_ok=True)
    as_root = os.geteuid() == 0
    if as_root:
        subprocess.run(["chattr", "+i", str(folder)], check=True)
    else:
        os.chmod(folder, 0o555)
    try:
        yield folder
    finally:
        if as_root:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        else:
            os.chmod(folder, 0o755)


def test_a_read_only_report_location_fails_at_once(tmp_path, capsys):
    _write(tmp_path / "in" / "a.png", bad_images.smooth((10, 12, 3), 7))
    with _read_only(tmp_path / "locked") as locked:
        with pytest.raises(OSError):  # the location really is read-only
            (locked / "probe").write_bytes(b"")
        report = locked / "r.json"
        started = time.perf_counter()
        code = main(_bicubic(tmp_path / "in", tmp_path / "out", "--report", str(report)))
        seconds = time.perf_counter() - started
        assert list(locked.iterdir()) == []
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("srapp: error: ") and str(report) in err and "Traceback" not in err, err
    assert not (tmp_path / "out").exists(), "nothing was done before the report location was refused"
    assert seconds < 60


@pytest.mark.parametrize("where", ["under-a-file", "a-folder"])
def test_report_locations_that_cannot_work_are_usage_errors(tmp_path, capsys, where):
    _write(tmp_path / "in" / "a.png", bad_images.smooth((10, 12, 3), 8))
    (tmp_path / "afile").write_text("not a folder")
    (tmp_path / "taken.json").mkdir()
    report = tmp_path / "afile" / "r.json" if where == "under-a-file" else tmp_path / "taken.json"
    assert main(_bicubic(tmp_path / "in", tmp_path / "out", "--report", str(report))) == 2
    err = capsys.readouterr().err
    assert err.startswith("srapp: error: ") and str(report) in err, err
    assert not (tmp_path / "out").exists()


def test_a_report_that_fails_at_the_end_is_reported_without_a_traceback(tmp_path, capsys, monkeypatch):
    _write(tmp_path / "in" / "a.png", bad_images.smooth((10, 12, 3), 9))

    def full_disk(path, replace=True):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("srapp.batch.report.atomic_write", full_disk)
    assert main(_bicubic(tmp_path / "in", tmp_path / "out", "--report", str(tmp_path / "r.json"))) == 1
    err = capsys.readouterr().err
    assert "cannot write the report" in err and "No space left on device" in err and "Traceback" not in err
    assert read_image(tmp_path / "out" / "a.png").shape == (20, 24, 3), "the results are kept"


# ----------------------------------------------------------------------------------------------
# stale temp files, --jpeg-quality, --suffix


def test_a_run_removes_the_temp_files_a_killed_run_left(tmp_path, capsys):
    folder, out, reports = tmp_path / "in", tmp_path / "out", tmp_path / "reports"
    _write(folder / "a.png", bad_images.smooth((10, 12, 3), 10))
    _write(folder / "sub" / "b.png", bad_images.smooth((10, 12, 3), 11))
    old = time.time() - 3600
    planted = {
        out / ".srapp-a.png.abcdef01.part": "for an output of this run",
        out / "sub" / ".srapp-b.png.12345678.part": "for an output of this run, in a mirrored folder",
        out / ".srapp-gone.png.0000ffff.part": "abandoned, for another output",
        reports / ".srapp-r.json.a0a0a0a0.part": "for this run's report",
        out / ".thesis.docx.20241201.part": "a user's, of the shape srapp's temp files once had",
        out / ".a.png.abcdefgh.part": "a user's too: only srapp's marked names are srapp's",
    }
    for path in planted:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"partial")
        os.utime(path, (old, old))
    with atomic_write(out / "a.png") as busy:  # another run on this folder, writing throughout
        busy.write(b"the other run's")
        assert main(_bicubic(folder, out, "--recursive", "--report", str(reports / "r.json"))) == 0
        capsys.readouterr()
        hidden = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob(".*"))
    (written,) = [name for name in hidden if name.startswith("out/.srapp-a.png.")]
    assert hidden == sorted(["out/.a.png.abcdefgh.part", "out/.thesis.docx.20241201.part", written])
    assert (out / "a.png").read_bytes() == b"the other run's"  # it finished, after this run's


def test_jpeg_quality_is_validated_and_used(tmp_path, capsys):
    image = bad_images.smooth((16, 20, 3), 12)
    source = _write(tmp_path / "pic.png", image)
    for wrong in ("0", "101", "high", "9.5"):
        with pytest.raises(SystemExit) as exit_info:
            main(_bicubic(source, tmp_path / "out", "--ext", "jpg", "--jpeg-quality", wrong))
        assert exit_info.value.code == 2
        assert "--jpeg-quality" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    expected = upscale(image, "bicubic", scale=2)[:, :, ::-1].copy()
    for options, quality in (([], 95), (["--jpeg-quality", "30"], 30)):
        out = tmp_path / f"q{quality}"
        assert main(_bicubic(source, out, "--ext", "jpg", *options)) == 0
        ok, reference = cv2.imencode(".jpg", expected, [cv2.IMWRITE_JPEG_QUALITY, quality])
        assert (out / "pic.jpg").read_bytes() == reference.tobytes(), quality
    capsys.readouterr()


def test_suffix_names_results_and_is_validated(tmp_path, capsys):
    source = _write(tmp_path / "pic.png", bad_images.smooth((8, 10, 3), 13))
    assert main(_bicubic(source, tmp_path / "out", "--suffix", "sr")) == 0
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["pic_sr.png"]
    for wrong in ("", "a/b", ".."):
        with pytest.raises(SystemExit) as exit_info:
            main(_bicubic(source, tmp_path / "other", "--suffix", wrong))
        assert exit_info.value.code == 2
    assert "--suffix" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------
# gray+alpha stays gray+alpha


def test_the_upscaler_keeps_gray_alpha():
    torch.manual_seed(0)
    upscaler = Upscaler(RCAN(scale=2, num_groups=1, num_blocks=1, channels=8), device="cpu")
    image = bad_images.smooth((20, 18, 2), 14)
    result = upscaler(image)
    assert result.shape == (40, 36, 2) and result.dtype == np.uint8
    np.testing.assert_array_equal(result[:, :, 0], upscaler(image[:, :, 0]))  # gray goes through the network
    np.testing.assert_array_equal(result[:, :, 1], imresize(image[:, :, 1], output_shape=(40, 36)))
    deep = bad_images.smooth((9, 11, 2), 15, np.uint16)
    np.testing.assert_array_equal(Upscaler("bicubic", scale=3)(deep), imresize(deep, scale=3))
