"""Per-image records of a batch run, their means, and the JSON / CSV / table forms of the report."""

from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .._atomic import atomic_write, check_writable
from ..errors import UsageError
from ..write_rule import ReadLocations

METRICS = ("psnr", "ssim", "lpips", "niqe")
NIQE_NOTE = ("NIQE: no-reference naturalness of the result (Mittal et al. 2013; lower looks more natural),\n"
             "  only a weak proxy for quality: it does not measure fidelity to any ground truth")
REPORT_SUFFIXES = (".json", ".csv")


def printable(text: str) -> str:
    """``text`` as it can be shown or stored as UTF-8.

    A file name that is not UTF-8 reaches Python as surrogate escapes (``os.fsdecode``), which a
    strict UTF-8 stream or file refuses; its stray bytes are shown as ``\\xNN`` instead (as
    ``ls -b`` does), and the rest of the text is unchanged."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        raw = text.encode("utf-8", "surrogateescape")  # the file name's own bytes
    except UnicodeEncodeError:  # a surrogate that no file name produced: escape it as it is
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


def _report_format(path: Path) -> str:
    if path.suffix.lower() not in REPORT_SUFFIXES:
        raise UsageError(f"{path}: a report is .json or .csv, not {path.suffix or 'a file without a suffix'}")
    return path.suffix.lower()


def check_report_path(path: str | os.PathLike, reads: ReadLocations | None = None) -> Path:
    """The report file, checked before any work starts: a .json or .csv name, not a folder, not
    a file the run ``reads`` (links followed), in a folder that exists or can be created and that
    takes a file (really written: a read-only or full disk fails here, not after the images)."""
    path = Path(path)
    _report_format(path)
    if reads is not None:
        reads.check_report(path)
    if path.is_dir():
        raise UsageError(f"{path}: is a folder, not a report file")
    try:
        check_writable(path.parent)
    except OSError as error:
        raise UsageError(f"{path}: cannot write the report there ({error.strerror or error}: "
                         f"{error.filename or path.parent})") from error
    return path


@dataclass
class ImageRecord:
    input: str
    output: str | None = None
    width: int | None = None  # of the result
    height: int | None = None
    seconds: float | None = None
    psnr: float | None = None
    ssim: float | None = None
    lpips: float | None = None
    niqe: float | None = None  # no-reference, on the result (--niqe); None when not asked for or under 2 blocks
    error: str | None = None
    skipped: bool = False  # --skip-existing found the output already there


@dataclass
class Report:
    model: str
    scale: float | None
    images: list[ImageRecord] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(record.error is not None for record in self.images)

    def mean(self) -> dict[str, float | None]:
        """Mean of each metric over the images that have it (None when none has)."""
        means = {}
        for metric in METRICS:
            values = [getattr(r, metric) for r in self.images if getattr(r, metric) is not None]
            means[metric] = math.fsum(values) / len(values) if values else None
        return means

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "scale": self.scale,
            "images": [asdict(record) for record in self.images],
            "mean": self.mean(),
            "failed": self.failed,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        return cls(data["model"], data["scale"], [ImageRecord(**record) for record in data["images"]])

    def to_csv(self) -> str:
        """One row per image; the text is UTF-8 throughout (file names that are not UTF-8 are
        shown as :func:`printable` shows them)."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=[f.name for f in fields(ImageRecord)], lineterminator="\n")
        writer.writeheader()
        for record in self.images:
            writer.writerow({key: printable(value) if isinstance(value, str) else value
                             for key, value in asdict(record).items()})
        return buffer.getvalue()

    def write(self, path: str | os.PathLike) -> Path:
        """JSON or CSV by the file's suffix, written atomically. JSON escapes every character it
        cannot write in ASCII, so a file name that is not UTF-8 is kept exactly (``\\udcNN``,
        which ``json.loads`` and ``os.fsencode`` turn back into the name's bytes)."""
        path = Path(path)
        text = json.dumps(self.to_dict(), indent=2) + "\n" if _report_format(path) == ".json" else self.to_csv()
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path) as handle:
            handle.write(text.encode("utf-8"))
        return path

    def table(self) -> str:
        """The per-image rows, the mean and the failures as a plain-text table (printable, see
        :func:`printable`, so it can be printed on any stream). A NIQE column, with a footnote
        saying what it is worth, appears when some image has a NIQE value."""
        names = [printable(Path(r.input).name) for r in self.images]
        name_width = max([len("image"), *map(len, names)])
        with_niqe = any(r.niqe is not None for r in self.images)
        header = f"{'image':<{name_width}}  {'size':>11}  {'seconds':>7}  {'PSNR':>7}  {'SSIM':>6}  {'LPIPS':>6}"
        lines = [header + (f"  {'NIQE*':>7}" if with_niqe else "")]

        def cell(value: float | None, digits: int, width: int) -> str:
            return f"{value:>{width}.{digits}f}" if value is not None else f"{'-':>{width}}"

        def scores(values: dict[str, Any]) -> str:
            text = f"{cell(values['psnr'], 2, 7)}  {cell(values['ssim'], 4, 6)}  {cell(values['lpips'], 4, 6)}"
            return text + (f"  {cell(values['niqe'], 4, 7)}" if with_niqe else "")

        for name, r in zip(names, self.images):
            error = None if r.error is None else printable(r.error)
            if error is not None and r.width is None:
                lines.append(f"{name:<{name_width}}  error: {error}")
                continue
            size = f"{r.width}x{r.height}" if r.width else "-"
            lines.append(f"{name:<{name_width}}  {size:>11}  {cell(r.seconds, 2, 7)}  {scores(asdict(r))}"
                         + (f"  error: {error}" if error else ""))
        lines.append(f"{'mean':<{name_width}}  {'':>11}  {'':>7}  {scores(self.mean())}")
        ok = len(self.images) - self.failed
        lines.append(f"{ok} of {len(self.images)} images succeeded" + (f", {self.failed} failed" if self.failed else ""))
        if with_niqe:
            lines.append(f"* {NIQE_NOTE}")
        return "\n".join(lines)


def merge(reports: list[Report]) -> Report:
    """One report from the per-rank reports of a distributed run, images sorted by input path."""
    images = sorted((record for report in reports for record in report.images), key=lambda r: r.input)
    return Report(reports[0].model, reports[0].scale, images)
