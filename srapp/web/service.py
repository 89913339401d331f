"""What the web app does, without Gradio: upscale an upload, compare with bicubic, score, batch.

Everything the page and the HTTP API return comes from here, so the API's PNG is exactly what
``srapp.upscale`` gives with the same settings. Uploads are only ever read from the paths the
server itself received; the model must be one of the offered names (never a server path); files
are written under one private work folder that is swept as it ages and removed at exit.

Memory: each device runs ``Limits.per_device_concurrency`` requests at a time, and a request
decodes its uploads only once it holds its device's slot, so simultaneous uploads wait instead of
all being decoded at once. The page's before/after slider gets previews (long side at most
:data:`PREVIEW_LONG_SIDE`), never a second full-size image; the full-size bicubic upscale is made
only to score it against a ground truth.

Every operation reports its stages (``progress(stage, done, total)``) and takes a
``threading.Event``: setting it stops the run before its next tile or stage with
:class:`srapp.errors.Cancelled`, and whatever the run had written is removed.
"""

from __future__ import annotations

import atexit
import contextlib
import math
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..batch import BatchRunner, Job
from ..batch.runner import crop_border_for
from ..checkpoints import shipped_models, trained_for
from ..engine.devices import AUTO, device_names
from ..io.image_io import HeaderCheck, read_image_with_metadata, write_image
from ..io.metadata import ImageMetadata
from ..checkpoints.weights import user_models
from ..engine.model_catalog import BICUBIC, BICUBIC_MADE_FOR, MAX_MODEL_BYTES, ModelInfo, add_model, describe_file
from ..locations import models_dir
from ..engine.backends import precision_supports
from ..engine.precision import PRECISIONS
from ..engine.precision import available_precisions as precision_choices
from ..engine.resize import imresize
from ..engine.settings import DEFAULT_MODEL, DEFAULT_SETTINGS, PHOTO_MODEL, UpscaleSettings
from ..engine.upscale import Upscaler
from ..errors import Cancelled, CheckpointError, ImageError, UsageError
from ..metrics import score
from . import work_folders

DEFAULT_BICUBIC_SCALE = 4  # the page's scale for bicubic; networks have their own
PREVIEW_LONG_SIDE = 2048  # the slider's images: enough for a page, a fraction of a large result


@dataclass(frozen=True)
class Stage:
    """One step of a request, as progress reports name it; ``unit`` is what ``done`` / ``total``
    count when the step has more than one part."""

    name: str
    unit: str | None = None


WAITING = Stage("waiting for the device")
DECODING = Stage("decoding")
UPSCALING = Stage("upscaling", "tiles")
UPSCALING_IMAGES = Stage("upscaling", "images")
WRITING = Stage("writing the PNG")
PREVIEWS = Stage("making previews", "previews")
BICUBIC_FULL = Stage("bicubic at full size")
SCORING = Stage("scoring against the ground truth")
PACKING = Stage("packing the zip")

# progress(stage, done, total); total is None while it is not known yet (the tiles, until the first is done)
StageProgress = Callable[[Stage, int, "int | None"], None]


# The folders of an absolute path: "/" and one or more "name/" (names without blanks, colons or
# quotes, which end a path inside a message). Not after a word, a dot or a colon, so "1/2",
# "./x" and the "//" of a URL are left alone.
_PATH_FOLDERS = re.compile(r"(?<![\w.~/:-])/(?:[^/\s:'\"]+/)+")


@dataclass(frozen=True)
class Limits:
    max_pixels: int = 16_000_000  # input pixels per image
    max_output_pixels: int = 256_000_000  # result pixels per image (x4 of the largest input); see UpscaleSettings
    max_batch_files: int = 32
    # An uploaded image file: its pixels are bounded by max_pixels from its header, but reading its
    # header and metadata (an ICC profile, EXIF) can take memory up to the file's size.
    max_image_bytes: int = 50 << 20
    max_model_bytes: int = MAX_MODEL_BYTES  # an uploaded model file: what `srapp models --add` accepts
    per_device_concurrency: int = 1  # simultaneous runs per device; more wait for a slot
    work_ttl_seconds: float = 3600.0  # results older than this are deleted (a dead server's folder: at the next start)


def upload_limit(limits: Limits) -> int:
    """The web server's cap on any upload, in bytes. The server has one cap for every file, so it
    is the larger of the image and the model limits: every model file srapp accepts can be
    uploaded, and an image file between the two limits is refused by the service itself
    (:meth:`WebService.check_image_size`), before it is read."""
    return max(limits.max_image_bytes, limits.max_model_bytes)


def available_devices() -> list[str]:
    return device_names()


def available_precisions() -> list[str]:
    """The precisions some device of this machine offers (srapp.engine.precision's policy)."""
    offered: list[str] = []
    for name in available_devices():
        if name != AUTO:
            device = torch.device(name)
            offered += [p for p in precision_choices(device, precision_supports(device)) if p not in offered]
    return [p for p in PRECISIONS if p in offered]


def preview_shape(height: int, width: int, long_side: int = PREVIEW_LONG_SIDE) -> tuple[int, int]:
    """``height x width`` shrunk (never enlarged) so that its long side is at most ``long_side``."""
    factor = min(1.0, long_side / max(height, width))
    return max(1, min(long_side, round(height * factor))), max(1, min(long_side, round(width * factor)))


@dataclass(frozen=True)
class RunRequest:
    """One run's choices, as the page and the API take them: the model and its upscale settings."""

    model: str
    upscale: UpscaleSettings = DEFAULT_SETTINGS


@dataclass(frozen=True)
class RunInfo:
    """What ran, as the :class:`Upscaler` resolved it, and how long the run took."""

    model: str
    scale: float
    device: str
    backend: str
    precision: str
    seconds: float

    @classmethod
    def of(cls, model: str, upscaler: Upscaler, seconds: float) -> RunInfo:
        return cls(model, upscaler.final_scale, str(upscaler.device), upscaler.backend, upscaler.precision,
                   round(seconds, 2))

    def describe(self) -> str:
        return (f"{self.model} x{self.scale:g} on {self.device} ({self.backend} backend, {self.precision}), "
                f"{self.seconds:.1f} s")


@dataclass(frozen=True)
class Comparison:
    """A single-image result: the full-size PNG (exactly ``srapp.upscale``'s), the slider's two
    previews (the result resized, and the input resized straight to the same size), the metrics
    table (rows: result and bicubic; columns: method, PSNR, SSIM, LPIPS; empty without a ground
    truth) and what ran."""

    result_png: Path
    result_preview: Path
    bicubic_preview: Path
    table: list[list]
    run: RunInfo
    size: tuple[int, int]  # width, height of the result
    preview_size: tuple[int, int]

    def describe(self) -> str:
        (width, height), (preview_width, preview_height) = self.size, self.preview_size
        return (f"{self.run.describe()}; result {width}x{height} (the download), "
                f"slider previews {preview_width}x{preview_height}")


@dataclass(frozen=True)
class BatchOutcome:
    """A batch: the zip of PNG results, the CSV report, the files that failed with their errors
    (named as the user sent them), how many images there were, and what ran."""

    archive: Path
    report: Path
    failures: list[tuple[str, str]]
    total: int
    run: RunInfo

    def describe(self) -> str:
        done = self.total - len(self.failures)
        failed = f", {len(self.failures)} failed" if self.failures else ""
        return f"{done} of {self.total} images done{failed}; {self.run.describe()}"


class _Steps:
    """A run's progress reports and cancel checks: each stage begins only if the run is not cancelled."""

    def __init__(self, progress: StageProgress | None, cancel: threading.Event) -> None:
        self.progress, self.cancel = progress, cancel

    def __call__(self, stage: Stage, done: int = 0, total: int | None = 1) -> None:
        self.check()
        self.report(stage, done, total)

    def check(self) -> None:
        if self.cancel.is_set():
            raise Cancelled("cancelled")

    def report(self, stage: Stage, done: int, total: int | None) -> None:
        if self.progress is not None:
            self.progress(stage, done, total)

    def counter(self, stage: Stage, total: int | None = None) -> Callable[[int, int], None]:
        """A ``progress(done, total)`` for the engine (the engine checks the cancel event itself).

        The stage is reported as begun at once (``total``: None when not known yet): the engine
        reports only finished parts, and an image that runs in one piece would otherwise show the
        previous stage for its whole run."""
        self(stage, 0, total)
        return lambda done, total: self.report(stage, done, total)


class WebService:
    """Serves the shipped models, the models folder's (``models_folder``, default
    :func:`srapp.locations.models_dir`), ``extra_models`` by name (``{"mine-x4": path}``), and the
    model files users upload (:meth:`add_upload`)."""

    def __init__(
        self, limits: Limits = Limits(), work_root: Path | None = None, extra_models: dict[str, Path] | None = None,
        models_folder: Path | None = None,
    ) -> None:
        self.limits = limits
        self.models_folder = Path(models_folder) if models_folder is not None else models_dir()
        self.extra_models = {name: Path(path) for name, path in (extra_models or {}).items()}
        self._described: dict[Path, tuple[float, ModelInfo]] = {}
        if work_root is None:
            # A server killed outright (SIGKILL, a crash) could not clean up: its uploads and results
            # go now. Only folders of servers that have ended, by their lock (see work_folders).
            work_folders.remove_abandoned()
        self.work_root = Path(work_root or tempfile.mkdtemp(prefix=work_folders.PREFIX))
        self.results_root = self.work_root / "results"  # one folder per request, swept as it ages
        self.results_root.mkdir(parents=True, exist_ok=True)
        self._claim = work_folders.claim(self.work_root)  # held open while this server lives
        atexit.register(shutil.rmtree, self.work_root, ignore_errors=True)
        self._device_slots: dict[str, threading.BoundedSemaphore] = {}
        self._active: set[threading.Event] = set()  # cancel events of the runs in progress
        self._busy: set[Path] = set()  # result folders being written: never swept
        self._guard = threading.Lock()

    # -- models and settings -------------------------------------------------------------------
    def served_files(self) -> dict[str, Path]:
        """The model files served by name beyond the shipped ones: the models folder's (read at
        each call, so a model added meanwhile appears), then ``extra_models`` and uploads."""
        return {**user_models(self.models_folder), **self.extra_models}

    def model_names(self) -> list[str]:
        return [*shipped_models(), *self.served_files(), BICUBIC]

    def describe(self, name: str, path: Path) -> ModelInfo | None:
        """What a served file holds (architecture, scale, licence), read once per version of the
        file; None when it cannot be read."""
        try:
            modified = path.stat().st_mtime
        except OSError:
            return None
        known = self._described.get(path)
        if known is None or known[0] != modified:
            known = self._described[path] = (modified, describe_file(name, path, ""))
        return None if known[1].problem else known[1]

    def model_choices(self) -> list[tuple[str, str]]:
        """(label, name) of every model, the label saying what inputs it is made for, or for a
        model file its architecture, scale and licence (where it states one)."""
        described = {name: trained_for(name) for name in shipped_models()} | {BICUBIC: BICUBIC_MADE_FOR}
        for name, path in self.served_files().items():
            info = self.describe(name, path)
            if info is not None:
                described[name] = ", ".join(filter(None, (f"{info.arch} x{info.scale}", info.licence)))
        return [(f"{name} ({described[name]})" if name in described else name, name) for name in self.model_names()]

    def add_upload(self, path: str | Path | None, keep: bool = False) -> str:
        """Validate an uploaded model file (size, suffix, and that it loads without running any
        code) and serve it by its name: kept in the models folder when ``keep``, else in this
        server's work folder until it ends. Returns the name it is served by."""
        if not path:
            raise UsageError("no model file uploaded")
        path = Path(path)
        name = re.sub(r"[^\w.+-]", "_", path.stem).strip(".") or "model"
        while name in self.model_names():
            name += "_"
        folder = self.models_folder if keep else self.work_root / "models"
        try:
            stored, _ = add_model(path, folder, f"{name}{path.suffix.lower()}", self.limits.max_model_bytes)
        except (CheckpointError, ImageError) as error:  # name the file the user sent, not the upload's path
            raise error.about(path.name) from error
        if not keep:
            with self._guard:
                self.extra_models[name] = stored
        return name

    def default_model(self) -> str:
        """The photo model where it is shipped (people bring photos), else the API's default."""
        names = self.model_names()
        return next((name for name in (PHOTO_MODEL, DEFAULT_MODEL) if name in names), names[0])

    def upscaler(self, settings: RunRequest) -> Upscaler:
        if settings.model not in self.model_names():
            raise UsageError(f"unknown model {settings.model!r}; choose one of {', '.join(self.model_names())}")
        if settings.upscale.device not in available_devices():
            raise UsageError(f"unknown device {settings.upscale.device!r}; choose one of {', '.join(available_devices())}")
        # the server's output limit holds whatever a request asks for
        upscale = settings.upscale.replace(
            max_output_pixels=min(settings.upscale.max_output_pixels, self.limits.max_output_pixels))
        # a network's scale must be its own (None: its own), as on the command line
        return Upscaler(self.served_files().get(settings.model, settings.model), upscale)

    # -- runs: slots, cancelling, clean-up ---------------------------------------------------------
    @contextlib.contextmanager
    def _run(self, device: torch.device, progress: StageProgress | None,
             cancel: threading.Event | None) -> Iterator[_Steps]:
        """Hold ``device``'s slot for one run (reporting the wait, which a cancel ends too)."""
        cancel = cancel if cancel is not None else threading.Event()
        steps = _Steps(progress, cancel)
        with self._guard:
            slot = self._device_slots.setdefault(
                str(device), threading.BoundedSemaphore(self.limits.per_device_concurrency))
            self._active.add(cancel)
        try:
            if not slot.acquire(blocking=False):
                steps(WAITING)
                while not slot.acquire(timeout=0.1):
                    steps.check()
            try:
                yield steps
            finally:
                slot.release()
        finally:
            with self._guard:
                self._active.discard(cancel)

    def close(self) -> None:
        """Cancel every run (each stops before its next tile) and remove the work folder."""
        with self._guard:
            for cancel in self._active:
                cancel.set()
        shutil.rmtree(self.work_root, ignore_errors=True)
        if self._claim is not None:
            self._claim.close()

    @contextlib.contextmanager
    def _folder(self) -> Iterator[Path]:
        """A new result folder, never swept while in use and removed again if the request fails or
        is cancelled."""
        self.sweep()
        folder = self.results_root / uuid.uuid4().hex
        folder.mkdir()
        with self._guard:
            self._busy.add(folder)
        try:
            yield folder
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        finally:
            with self._guard:
                self._busy.discard(folder)

    def sweep(self) -> None:
        """Delete result folders older than the time-to-live; safe while other requests sweep too."""
        cutoff = time.time() - self.limits.work_ttl_seconds
        with self._guard:
            busy = set(self._busy)
        for folder in self.results_root.iterdir():
            if folder in busy:
                continue
            try:
                expired = folder.stat().st_mtime < cutoff
            except FileNotFoundError:  # another sweep removed it first
                continue
            if expired:
                shutil.rmtree(folder, ignore_errors=True)

    def scrub(self, message: str) -> str:
        """``message`` with every server path reduced to its last part (the file's name), for the
        page and API clients: the README promises that no web message shows a server path.

        The folders this server knows of (its work folder, the temp folder, the served
        checkpoints' folders) go first and exactly, since their names may hold blanks; then
        anything else that reads as the folders of an absolute path."""
        known = {self.work_root, Path(tempfile.gettempdir()), self.models_folder,
                 *(path.parent for path in self.extra_models.values())}
        for folder in sorted({str(folder.absolute()) for folder in known}, key=len, reverse=True):
            message = message.replace(folder + os.sep, "")
        return _PATH_FOLDERS.sub("", message)

    def read_upload_with_metadata(self, path: str | Path | None, what: str = "image",
                                  check: HeaderCheck | None = None) -> tuple[np.ndarray, ImageMetadata]:
        """The upload's upright pixels and its ICC profile and EXIF (which results carry on, as the
        command line's do); ``check`` may refuse its header before it is decoded."""
        if not path:
            raise UsageError(f"no {what} uploaded")
        try:
            self.check_image_size(path)
            return read_image_with_metadata(path, self.limits.max_pixels, check)
        except ImageError as error:
            # the upload's temporary path means nothing to the user: name the file they sent
            raise error.about(Path(path).name) from error

    def check_image_size(self, path: str | Path) -> None:
        """Refuse an uploaded image file over :attr:`Limits.max_image_bytes` before it is read (the
        server's own cap admits files up to the model limit: :func:`upload_limit`)."""
        size = Path(path).stat().st_size
        if size > self.limits.max_image_bytes:
            raise ImageError(path, f"{size / 1e6:.4g} MB is over the limit of {self.limits.max_image_bytes / 1e6:.4g} "
                             "MB for an image file")

    def read_upload(self, path: str | Path | None, what: str = "image") -> np.ndarray:
        return self.read_upload_with_metadata(path, what)[0]

    # -- operations --------------------------------------------------------------------------------
    def upscale_to_png(
        self, path: str | Path | None, settings: RunRequest, progress: StageProgress | None = None,
        cancel: threading.Event | None = None,
    ) -> Path:
        """The upscaled upload as a lossless PNG (named after the upload)."""
        upscaler = self.upscaler(settings)
        with self._run(upscaler.device, progress, cancel) as steps:
            steps(DECODING)
            image, metadata = self.read_upload_with_metadata(path, check=upscaler.check_header)
            result = upscaler(image, steps.counter(UPSCALING), steps.cancel)
            steps(WRITING)
            with self._folder() as folder:
                return write_image(folder / f"{Path(path).stem}_{settings.model}.png", result, metadata=metadata)

    def compare(
        self, path: str | Path | None, settings: RunRequest, gt_path: str | Path | None = None,
        progress: StageProgress | None = None, cancel: threading.Event | None = None,
    ) -> Comparison:
        """The result PNG, the slider's previews of it and of bicubic, and the metrics when a
        ground truth is given (see :class:`Comparison`)."""
        upscaler = self.upscaler(settings)
        with self._run(upscaler.device, progress, cancel) as steps:
            steps(DECODING)
            image, metadata = self.read_upload_with_metadata(path, check=upscaler.check_header)
            truth = self.read_upload(gt_path, "ground truth") if gt_path else None
            result_height, result_width = upscaler.output_shape(*image.shape[:2])
            if truth is not None and truth.shape[:2] != (result_height, result_width):
                raise UsageError(f"the ground truth is {truth.shape[1]}x{truth.shape[0]} but the result will be "
                                f"{result_width}x{result_height}")  # found before the run, not after
            started = time.perf_counter()
            result = upscaler(image, steps.counter(UPSCALING), steps.cancel)
            run = RunInfo.of(settings.model, upscaler, time.perf_counter() - started)
            shape = preview_shape(*result.shape[:2])
            with self._folder() as folder:
                steps(WRITING)
                result_png = write_image(folder / f"{Path(path).stem}_{settings.model}.png", result,
                                         metadata=metadata)
                steps(PREVIEWS, 0, 2)
                # the previews carry the profile too, so the browser shows both sides in the input's colours
                result_preview = result_png if shape == result.shape[:2] else write_image(
                    folder / "preview-result.png", imresize(result, output_shape=shape), metadata=metadata)
                steps(PREVIEWS, 1, 2)
                # straight from the input, with the same resize: bicubic gets no second resampling
                bicubic_preview = write_image(folder / "preview-bicubic.png", imresize(image, output_shape=shape),
                                              metadata=metadata)
                steps.report(PREVIEWS, 2, 2)
                table: list[list] = []
                if truth is not None:
                    steps(BICUBIC_FULL)
                    bicubic = imresize(image, output_shape=result.shape[:2])
                    steps(SCORING, 0, 2)
                    for index, (name, candidate) in enumerate(((settings.model, result), (BICUBIC, bicubic))):
                        s = self.evaluate_arrays(candidate, truth, crop_border_for(upscaler))
                        table.append([name, s["psnr"], s["ssim"], s["lpips"]])
                        steps.report(SCORING, index + 1, 2)
        return Comparison(result_png, result_preview, bicubic_preview, table, run,
                          (result.shape[1], result.shape[0]), (shape[1], shape[0]))

    def evaluate_arrays(self, image: np.ndarray, truth: np.ndarray, crop_border: int) -> dict[str, float | None]:
        try:
            scores = score(image, truth, crop_border)
        except ValueError as error:
            raise UsageError(str(error)) from error
        # identical images have infinite PSNR, which JSON cannot carry: reported as null
        return {"psnr": round(scores.psnr, 4) if math.isfinite(scores.psnr) else None, "ssim": round(scores.ssim, 4),
                "lpips": None if scores.lpips is None else round(scores.lpips, 4)}

    def evaluate(
        self, path: str | Path | None, gt_path: str | Path | None, crop_border: int = 0,
        progress: StageProgress | None = None, cancel: threading.Event | None = None,
    ) -> dict:
        """PSNR / SSIM (Y channel, ``crop_border`` pixels dropped) and LPIPS of an image against its ground truth."""
        if crop_border < 0:
            raise UsageError(f"crop_border must be >= 0, got {crop_border}")
        with self._run(torch.device("cpu"), progress, cancel) as steps:  # the metrics run on the CPU
            steps(DECODING)
            image, truth = self.read_upload(path), self.read_upload(gt_path, "ground truth")
            steps(SCORING)
            return self.evaluate_arrays(image, truth, crop_border)

    def batch(
        self, paths: list[str] | None, settings: RunRequest, progress: StageProgress | None = None,
        cancel: threading.Event | None = None,
    ) -> BatchOutcome:
        """Upscale several uploads: a zip of the PNG results, a CSV report, and the failures listed."""
        if not paths:
            raise UsageError("no files uploaded")
        if len(paths) > self.limits.max_batch_files:
            raise UsageError(f"{len(paths)} files is over the limit of {self.limits.max_batch_files} per batch")
        upscaler = self.upscaler(settings)
        with self._run(upscaler.device, progress, cancel) as steps, self._folder() as folder:
            results = folder / "results"
            jobs, used = [], set()
            for path in map(Path, paths):
                stem = path.stem
                while stem in used:  # two uploads with one name must not overwrite each other
                    stem += "_"
                used.add(stem)
                try:
                    self.check_image_size(path)
                    problem = None
                except ImageError as error:  # that file fails, the others run
                    problem = error
                jobs.append(Job(path, results / f"{stem}.png", stem, problem=problem))
            count = steps.counter(UPSCALING_IMAGES, len(jobs))
            started = time.perf_counter()
            report = BatchRunner(upscaler, max_pixels=self.limits.max_pixels).run(jobs, count, steps.cancel)
            run = RunInfo.of(settings.model, upscaler, time.perf_counter() - started)
            steps(PACKING)
            failures = []
            for job, record in zip(jobs, report.images):  # name the files the user sent, not server paths
                record.input = job.source.name
                if record.error:
                    record.error = self.scrub(record.error)
                    failures.append((record.input, record.error))
            archive = folder / "results.zip"
            with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as bundle:  # PNGs are compressed already
                for record in report.images:
                    if record.output:
                        bundle.write(record.output, Path(record.output).name)
                        record.output = Path(record.output).name
            shutil.rmtree(results, ignore_errors=True)  # the zip holds them
            return BatchOutcome(archive, report.write(folder / "report.csv"), failures, len(jobs), run)


__all__ = [
    "BatchOutcome", "Comparison", "Limits", "PREVIEW_LONG_SIDE", "RunInfo", "RunRequest", "Stage", "StageProgress",
    "WebService", "available_devices", "available_precisions", "preview_shape", "upload_limit",
]
