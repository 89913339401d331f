"""What the web app does, without Gradio: upscale an upload, compare with bicubic, score, batch.

Everything the page and the HTTP API return comes from here, so the API's PNG is exactly what
``srapp.upscale`` gives with the same settings. Uploads are only ever read from the paths the
server itself received; the model must be one of the offered names (never a server path); files
are written under one private work folder that is swept as it ages and removed at exit.
"""

from __future__ import annotations

import atexit
import math
import shutil
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..batch import BatchRunner, Job
from ..checkpoints import shipped_models
from ..engine.devices import AUTO, device_names
from ..engine.image_io import read_image, write_image
from ..engine.models import BICUBIC
from ..engine.precision import PRECISIONS
from ..engine.precision import available_precisions as precision_choices
from ..engine.settings import DEFAULT_MODEL, DEFAULT_SETTINGS, UpscaleSettings
from ..engine.upscale import Upscaler
from ..errors import ImageError, SrappError
from ..metrics import score

Progress = Callable[[int, int], None]
DEFAULT_BICUBIC_SCALE = 4  # the page's scale for bicubic; networks have their own


class UserError(ValueError):
    """A problem with what the user sent; the page shows the message as it is."""


@dataclass(frozen=True)
class Limits:
    max_pixels: int = 16_000_000  # input pixels per image
    max_batch_files: int = 32
    per_device_concurrency: int = 1  # simultaneous runs per device; more wait in the queue
    work_ttl_seconds: float = 3600.0  # results older than this are deleted


def available_devices() -> list[str]:
    return device_names()


def available_precisions() -> list[str]:
    """The precisions some device of this machine offers (srapp.engine.precision's policy)."""
    offered: list[str] = []
    for name in available_devices():
        if name != AUTO:
            offered += [p for p in precision_choices(torch.device(name)) if p not in offered]
    return [p for p in PRECISIONS if p in offered]


@dataclass(frozen=True)
class Settings:
    """One run's choices, as the page and the API take them: the model and its upscale settings."""

    model: str
    upscale: UpscaleSettings = DEFAULT_SETTINGS


class WebService:
    """``extra_models`` serves checkpoints beyond the shipped ones, by name (``{"mine-x4": path}``)."""

    def __init__(
        self, limits: Limits = Limits(), work_root: Path | None = None, extra_models: dict[str, Path] | None = None,
    ) -> None:
        self.limits = limits
        self.extra_models = {name: Path(path) for name, path in (extra_models or {}).items()}
        self.work_root = Path(work_root or tempfile.mkdtemp(prefix="srapp-web-"))
        self.results_root = self.work_root / "results"  # one folder per request, swept as it ages
        self.results_root.mkdir(parents=True, exist_ok=True)
        atexit.register(shutil.rmtree, self.work_root, ignore_errors=True)
        self._device_slots: dict[str, threading.BoundedSemaphore] = {}
        self._slots_guard = threading.Lock()

    # -- models and settings -------------------------------------------------------------------
    def model_names(self) -> list[str]:
        return [*shipped_models(), *self.extra_models, BICUBIC]

    def default_model(self) -> str:
        names = self.model_names()
        return DEFAULT_MODEL if DEFAULT_MODEL in names else names[0]

    def upscaler(self, settings: Settings) -> Upscaler:
        if settings.model not in self.model_names():
            raise UserError(f"unknown model {settings.model!r}; choose one of {', '.join(self.model_names())}")
        if settings.upscale.device not in available_devices():
            raise UserError(f"unknown device {settings.upscale.device!r}; choose one of {', '.join(available_devices())}")
        upscale = settings.upscale if settings.model == BICUBIC else settings.upscale.replace(scale=None)
        try:
            return Upscaler(self.extra_models.get(settings.model, settings.model), upscale)
        except SrappError as error:
            raise UserError(str(error)) from error

    def _device_slot(self, device: torch.device) -> threading.BoundedSemaphore:
        with self._slots_guard:
            return self._device_slots.setdefault(
                str(device), threading.BoundedSemaphore(self.limits.per_device_concurrency)
            )

    # -- files -------------------------------------------------------------------------------------
    def _new_folder(self) -> Path:
        self.sweep()
        folder = self.results_root / uuid.uuid4().hex
        folder.mkdir()
        return folder

    def sweep(self) -> None:
        """Delete result folders older than the time-to-live."""
        cutoff = time.time() - self.limits.work_ttl_seconds
        for folder in self.results_root.iterdir():
            if folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)

    def read_upload(self, path: str | Path | None, what: str = "image") -> np.ndarray:
        if not path:
            raise UserError(f"no {what} uploaded")
        try:
            return read_image(path, max_pixels=self.limits.max_pixels)
        except ImageError as error:
            # the upload's temporary path means nothing to the user: name the file they sent
            raise UserError(str(error.about(Path(path).name))) from error

    # -- operations --------------------------------------------------------------------------------
    def run(self, upscaler: Upscaler, image: np.ndarray, progress: Progress | None = None) -> np.ndarray:
        with self._device_slot(upscaler.device):
            return upscaler(image, progress)

    def upscale_to_png(self, path: str | Path | None, settings: Settings, progress: Progress | None = None) -> Path:
        """The upscaled upload as a lossless PNG (named after the upload)."""
        image = self.read_upload(path)
        result = self.run(self.upscaler(settings), image, progress)
        return write_image(self._new_folder() / f"{Path(path).stem}_{settings.model}.png", result)

    def compare(
        self, path: str | Path | None, settings: Settings, gt_path: str | Path | None = None,
        progress: Progress | None = None,
    ) -> tuple[Path, Path, list[list]]:
        """Result PNG, bicubic PNG of the same input at the same scale, and a metrics table when a
        ground truth is given (rows: result and bicubic; columns: PSNR, SSIM, LPIPS)."""
        image = self.read_upload(path)
        upscaler = self.upscaler(settings)
        result = self.run(upscaler, image, progress)
        bicubic = Upscaler(BICUBIC, scale=upscaler.scale)(image)
        folder = self._new_folder()
        result_png = write_image(folder / f"{Path(path).stem}_{settings.model}.png", result)
        bicubic_png = write_image(folder / f"{Path(path).stem}_bicubic.png", bicubic)
        table: list[list] = []
        if gt_path:
            truth = self.read_upload(gt_path, "ground truth")
            for name, candidate in ((settings.model, result), (BICUBIC, bicubic)):
                s = self.evaluate_arrays(candidate, truth, upscaler.scale)
                table.append([name, s["psnr"], s["ssim"], s["lpips"]])
        return result_png, bicubic_png, table

    def evaluate_arrays(self, image: np.ndarray, truth: np.ndarray, crop_border: int) -> dict[str, float | None]:
        try:
            scores = score(image, truth, crop_border)
        except ValueError as error:
            raise UserError(str(error)) from error
        # identical images have infinite PSNR, which JSON cannot carry: reported as null
        return {"psnr": round(scores.psnr, 4) if math.isfinite(scores.psnr) else None, "ssim": round(scores.ssim, 4),
                "lpips": None if scores.lpips is None else round(scores.lpips, 4)}

    def evaluate(self, path: str | Path | None, gt_path: str | Path | None, crop_border: int = 0) -> dict:
        """PSNR / SSIM (Y channel, ``crop_border`` pixels dropped) and LPIPS of an image against its ground truth."""
        if crop_border < 0:
            raise UserError(f"crop_border must be >= 0, got {crop_border}")
        return self.evaluate_arrays(self.read_upload(path), self.read_upload(gt_path, "ground truth"), crop_border)

    def batch(self, paths: list[str] | None, settings: Settings, progress: Progress | None = None) -> tuple[Path, Path]:
        """Upscale several uploads: a zip of the PNG results and a CSV report (failures listed in it)."""
        if not paths:
            raise UserError("no files uploaded")
        if len(paths) > self.limits.max_batch_files:
            raise UserError(f"{len(paths)} files is over the limit of {self.limits.max_batch_files} per batch")
        upscaler = self.upscaler(settings)
        folder = self._new_folder()
        results = folder / "results"
        jobs, used = [], set()
        for path in map(Path, paths):
            stem = path.stem
            while stem in used:  # two uploads with one name must not overwrite each other
                stem += "_"
            used.add(stem)
            jobs.append(Job(path, results / f"{stem}.png", stem))
        with self._device_slot(upscaler.device):
            report = BatchRunner(upscaler, max_pixels=self.limits.max_pixels).run(jobs, progress)
        for job, record in zip(jobs, report.images):  # name the files the user sent, not the upload paths
            record.input = job.source.name
            if record.error:
                record.error = record.error.replace(str(job.source), job.source.name)
        archive = folder / "results.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as bundle:  # PNGs are compressed already
            for record in report.images:
                if record.output:
                    bundle.write(record.output, Path(record.output).name)
                    record.output = Path(record.output).name
        return archive, report.write(folder / "report.csv")


__all__ = ["Limits", "Settings", "UserError", "WebService", "available_devices", "available_precisions"]
