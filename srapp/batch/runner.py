"""Upscale many files: one record per image, failures recorded and the rest carried on."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from tqdm import tqdm

from .._atomic import check_writable, remove_stale_temporaries
from ..io.header import ImageHeader
from ..io.image_io import (
    DEFAULT_JPEG_QUALITY, check_writable_size, read_header, read_image, read_image_with_metadata, write_image,
)
from ..errors import Cancelled, ImageError
from ..engine.upscale import Upscaler
from ..metrics import niqe, score
from .inputs import Job
from .report import ImageRecord, Report, printable

DEFAULT_MAX_PIXELS = 100_000_000


def check_output_folder(outdir: Path) -> None:
    """Create the output folder and write a probe file in it, or fail before any work with a
    message naming it."""
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ImageError(outdir, f"cannot create the output folder ({error.strerror or error})") from error
    try:
        check_writable(outdir)
    except OSError as error:
        raise ImageError(outdir, f"the output folder is not writable ({error.strerror or error})") from error


def remove_stale_temporaries_for(jobs: list[Job]) -> None:
    """Temp files a killed run left in these jobs' output folders (not those another run is writing)."""
    for folder in dict.fromkeys(job.output.parent for job in jobs):
        remove_stale_temporaries(folder)


def crop_border_for(upscaler: Upscaler) -> int:
    """Papers crop ``scale`` pixels before PSNR/SSIM; with ``outscale`` the final factor, rounded."""
    return max(0, round(upscaler.final_scale))


class BatchRunner:
    """Runs an :class:`Upscaler` over jobs, writing each result atomically and scoring it against
    the job's ground truth when it has one (found when the jobs were planned), and on its own
    with NIQE when ``with_niqe``."""

    def __init__(
        self,
        upscaler: Upscaler,
        *,
        with_lpips: bool = True,
        with_niqe: bool = False,
        skip_existing: bool = False,
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
        show_progress: bool = False,
        jpeg_quality: int = DEFAULT_JPEG_QUALITY,
    ) -> None:
        self.upscaler, self.with_lpips, self.with_niqe = upscaler, with_lpips, with_niqe
        self.skip_existing, self.max_pixels, self.show_progress = skip_existing, max_pixels, show_progress
        self.jpeg_quality = jpeg_quality

    def run(
        self, jobs: list[Job], progress: Callable[[int, int], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> Report:
        """Process every job; ``progress(done, total)`` is called after each image; a set ``cancel``
        event stops the run (:class:`srapp.errors.Cancelled`) before the next tile. Temp files a
        killed run left for these outputs are removed first."""
        remove_stale_temporaries_for(jobs)
        report = Report(str(self.upscaler.name), self.upscaler.final_scale)
        bar = tqdm(jobs, desc="images", unit="img", disable=not self.show_progress, dynamic_ncols=True)
        for job in bar:
            bar.set_postfix_str(printable(job.source.name))
            record = self.process(job, bar, cancel)
            if record.error:  # printable: a name that is not UTF-8 must not stop the batch on a strict stdout
                bar.write(f"error: {printable(record.error)}")
            report.images.append(record)
            if progress is not None:
                progress(len(report.images), len(jobs))
        return report

    def process(self, job: Job, bar: tqdm | None = None, cancel: threading.Event | None = None) -> ImageRecord:
        """Upscale, write and score one job; every failure ends up in the record's ``error``."""
        record = ImageRecord(input=str(job.source))
        started = time.perf_counter()
        try:
            if job.problem is not None:
                raise job.problem
            if self.skip_existing and job.output.is_file():
                record.skipped = True
                result = read_image(job.output) if self._scored(job) else None
                width, height = read_header(job.output).upright_size
            else:
                if not job.replace and os.path.lexists(job.output):
                    raise ImageError(job.source, f"{job.output} already exists in an input folder and srapp never "
                                     "replaces files there (--skip-existing keeps it)")
                image, metadata = read_image_with_metadata(job.source, self.max_pixels, self._size_check(job))
                result = self.upscaler(image, self._tile_progress(bar), cancel)
                write_image(job.output, result, self.jpeg_quality, metadata, replace=job.replace)
                height, width = result.shape[:2]
            record.output = str(job.output)
            record.height, record.width = height, width
            if self._scored(job):
                self._score(record, result, job)
        except Cancelled:
            raise
        except ImageError as error:
            record.error = str(error if error.path is not None else error.about(job.source))
        except Exception as error:  # noqa: BLE001 (any failure, third-party ones too, is this image's)
            record.error = str(ImageError(job.source, f"{type(error).__name__}: {error}"))
        record.seconds = round(time.perf_counter() - started, 4)
        return record

    def _size_check(self, job: Job):
        """Before an input is decoded: the result it makes must be within the upscaler's output
        limit and fit the output's format."""
        def check(header: ImageHeader) -> None:
            width, height = header.upright_size
            check_writable_size(job.output, *self.upscaler.check_size(height, width, header.path))

        return check

    def _scored(self, job: Job) -> bool:
        return job.ground_truth is not None or self.with_niqe

    def _score(self, record: ImageRecord, result, job: Job) -> None:
        if self.with_niqe:
            record.niqe = niqe(result, crop_border_for(self.upscaler))
        gt_path = job.ground_truth
        if gt_path is None:
            return
        try:
            scores = score(
                result, read_image(gt_path), crop_border_for(self.upscaler),
                with_lpips=self.with_lpips, device=self.upscaler.device,
            )
        except ValueError as error:
            raise ImageError(gt_path, str(error)) from error
        record.psnr, record.ssim, record.lpips = scores.psnr, scores.ssim, scores.lpips

    def _tile_progress(self, bar: tqdm | None):
        if bar is None or bar.disable:
            return None
        state: dict[str, tqdm] = {}

        def update(done: int, total: int) -> None:
            if total <= 1:
                return
            if "tiles" not in state:
                state["tiles"] = tqdm(total=total, desc="tiles", unit="tile", leave=False, dynamic_ncols=True)
            state["tiles"].update(done - state["tiles"].n)
            if done == total:
                state.pop("tiles").close()

        return update
