"""File names that are not UTF-8 (a Latin-1 camera card, an old archive): the batch goes on, the
summary table prints on a strict UTF-8 stdout, the CSV is UTF-8 and the JSON keeps the name exactly."""

from __future__ import annotations

import csv
import io
import json
import os
import sys

import numpy as np
import pytest

from srapp.batch.report import ImageRecord, Report, printable
from srapp.cli import main
from srapp.io.image_io import write_image

LATIN1_NAME = b"caf\xe9.png"  # "café.png" as Latin-1: not UTF-8
SHOWN = "caf\\xe9.png"


def strict_stdout(monkeypatch) -> io.TextIOWrapper:
    """stdout as a UTF-8 terminal or a pipe under PYTHONIOENCODING=utf-8 has it: refusing what is
    not UTF-8. (Set in the test itself: pytest puts its own capture back between setup and call.)"""
    stream = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict", write_through=True)
    monkeypatch.setattr(sys, "stdout", stream)
    return stream


def _text(stream: io.TextIOWrapper) -> str:
    return stream.buffer.getvalue().decode("utf-8")


def test_printable_shows_stray_bytes_and_keeps_the_rest():
    assert printable("photo é.png") == "photo é.png"
    assert printable(os.fsdecode(LATIN1_NAME)) == SHOWN
    assert printable("lone \ud800 surrogate") == "lone \\ud800 surrogate"


@pytest.mark.skipif(sys.platform == "darwin", reason="macOS file systems refuse names that are not UTF-8")
def test_a_batch_with_non_utf8_names_finishes_and_writes_both_reports(tmp_path, monkeypatch):
    inputs = tmp_path / "in"
    inputs.mkdir()
    write_image(inputs / "plain.png", np.zeros((6, 8, 3), np.uint8))
    image = write_image(inputs / "tmp.png", np.full((6, 8, 3), 90, np.uint8))
    os.rename(image, os.path.join(os.fsencode(inputs), LATIN1_NAME))
    with open(os.path.join(os.fsencode(inputs), b"broken-\xff.png"), "wb") as broken:  # fails, after the names above
        broken.write(b"not an image")
    stdout = strict_stdout(monkeypatch)
    for report in ("report.csv", "report.json"):
        status = main(["upscale", str(inputs), "-o", str(tmp_path / "out"), "--model", "bicubic", "--scale", "2",
                       "--report", str(tmp_path / report), "-q"])
        assert status == 1  # one image failed; the others were written
    printed = _text(stdout)
    assert SHOWN in printed and "broken-\\xff.png" in printed and "2 of 3 images succeeded, 1 failed" in printed
    assert os.path.exists(os.path.join(os.fsencode(tmp_path / "out"), LATIN1_NAME))
    rows = list(csv.DictReader((tmp_path / "report.csv").read_text(encoding="utf-8").splitlines()))
    assert sorted(os.path.basename(row["input"]) for row in rows) == ["broken-\\xff.png", SHOWN, "plain.png"]
    data = json.loads((tmp_path / "report.json").read_text(encoding="ascii"))
    names = sorted(os.fsencode(os.path.basename(image["input"])) for image in data["images"])
    assert names == [b"broken-\xff.png", LATIN1_NAME, b"plain.png"]  # the exact bytes, for scripts


def test_the_table_and_csv_of_a_report_with_such_names_are_utf8():
    name = os.fsdecode(b"/data/" + LATIN1_NAME)
    report = Report("bicubic", 2.0, [ImageRecord(name, error=f"{name}: not a readable image")])
    assert report.table().encode("utf-8").count(SHOWN.encode()) == 2
    assert report.to_csv().encode("utf-8").count(SHOWN.encode()) == 2
