"""BasicSR-style training data: HR sub-images and their MATLAB-bicubic LR counterparts.

BasicSR trains from folders of equally named HR and LR images (``PairedImageDataset``); its DIV2K
recipe cuts the HR images into overlapping sub-images first, so a data loader decodes small files
instead of 2K images. :func:`prepare_data` does the same for any folders of HR images::

    OUT/HR_sub/NAME_s001.png                      crops of crop_size x crop_size, every `step` pixels
    OUT/LR_bicubic/X2_sub/NAME_s001.png           imresize(HR crop, 1/2), MATLAB-compatible bicubic
    OUT/LR_bicubic/X3_sub/...                     (one folder per scale)

(``prefix="DIV2K_train_"`` gives BasicSR's DIV2K names: ``OUT/DIV2K_train_HR_sub`` and so on.)

With ``lmdb=True`` the folders become LMDB databases in BasicSR's layout (``OUT/HR_sub.lmdb``,
``OUT/LR_bicubic/X2_sub.lmdb``: ``data.mdb`` plus ``meta_info.txt`` lines ``name (h,w,c) compression``,
keyed by the name without extension) for ``io_backend: {type: lmdb}``.

Each LR image is the HR crop resized on its own, so a pair is exactly ``(crop, imresize(crop, 1/s))``.
The crop size must be a multiple of every scale. Crops start every ``step`` pixels, plus one flush
with the far edge when more than ``thresh_size`` pixels would be left over (BasicSR's rule).
Images smaller than a crop are skipped (reported, not an error); unreadable images are reported
and skipped. Lossless WebP (``image_format="webp"``) stores the same pixels in about two thirds of
the PNG size.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Protocol

import cv2
import numpy as np

from .._atomic import atomic_write
from ..archs.common import SUPPORTED_SCALES
from ..io.files import list_images
from ..io.image_io import READABLE_SUFFIXES, read_image
from ..engine.resize import imresize
from ..errors import UsageError
from ..pixels import to_rgb8

HR_FOLDER = "HR_sub"
LR_FOLDER = "LR_bicubic"
IMAGE_FORMATS = ("png", "webp")
PNG_COMPRESSION = 3  # BasicSR's level for sub-images: a good size / speed trade-off
WEBP_LOSSLESS = 101  # OpenCV's WebP "quality" above 100 selects lossless coding
LMDB_MAP_SIZE = 1 << 40  # address space only: the file grows with the data


def lr_folder_name(scale: int) -> str:
    return f"X{scale}_sub"


@dataclass
class PreparationReport:
    """What :func:`prepare_data` did: counts, and the images it skipped or could not read."""

    images: int = 0
    sub_images: int = 0
    too_small: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


@dataclass
class _SubImage:
    name: str
    hr: bytes
    lr: dict[int, bytes]
    shapes: dict[int, tuple[int, int, int]]  # scale (1 = HR) -> (h, w, c)


def crop_origins(length: int, crop_size: int, step: int, thresh_size: int) -> list[int]:
    """Start offsets of the crops along one axis (empty when the axis is shorter than a crop)."""
    origins = list(range(0, length - crop_size + 1, step))
    if origins and length - (origins[-1] + crop_size) > thresh_size:
        origins.append(length - crop_size)
    return origins


def encode(image: np.ndarray, image_format: str) -> bytes:
    """PNG or lossless WebP bytes of an RGB image."""
    params = [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION] if image_format == "png" else [
        cv2.IMWRITE_WEBP_QUALITY, WEBP_LOSSLESS]
    ok, data = cv2.imencode(f".{image_format}", np.ascontiguousarray(image[:, :, ::-1]), params)
    if not ok:
        raise ValueError(f"encoding a {image.shape} image as {image_format} failed")
    return data.tobytes()


def _key(path: Path) -> str:
    """An ASCII name without dots: LMDB keys are ASCII and BasicSR cuts meta-info names at the first dot."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", path.stem)


def _cut(path: Path, scales: tuple[int, ...], crop_size: int, step: int, thresh_size: int,
         image_format: str) -> list[_SubImage]:
    """All sub-images of one HR image (empty when it is smaller than a crop)."""
    image = to_rgb8(read_image(path))
    height, width = image.shape[:2]
    sub_images = []
    tops, lefts = crop_origins(height, crop_size, step, thresh_size), crop_origins(width, crop_size, step, thresh_size)
    for index, (top, left) in enumerate(((t, l) for t in tops for l in lefts), start=1):
        crop = image[top:top + crop_size, left:left + crop_size]
        lrs = {scale: imresize(crop, 1.0 / scale) for scale in scales}
        sub_images.append(_SubImage(
            name=f"{_key(path)}_s{index:03d}",
            hr=encode(crop, image_format),
            lr={scale: encode(lr, image_format) for scale, lr in lrs.items()},
            shapes={1: crop.shape, **{scale: lr.shape for scale, lr in lrs.items()}},
        ))
    return sub_images


def _cut_or_error(job: tuple) -> list[_SubImage] | str:
    """Worker entry point: the sub-images, or the reason the image could not be used."""
    try:
        return _cut(*job)
    except Exception as error:  # a bad input image is reported, never fatal for the others
        return f"{type(error).__name__}: {error}"


class _Sink(Protocol):
    def put(self, name: str, data: bytes, shape: tuple[int, int, int]) -> None: ...
    def close(self) -> None: ...


class _FolderSink:
    """Image files in a folder, each written atomically."""

    def __init__(self, folder: Path, suffix: str) -> None:
        self.folder, self.suffix = folder, suffix
        folder.mkdir(parents=True, exist_ok=True)

    def put(self, name: str, data: bytes, shape: tuple[int, int, int]) -> None:
        with atomic_write(self.folder / f"{name}{self.suffix}") as handle:
            handle.write(data)

    def close(self) -> None:
        pass


class _LmdbSink:
    """An LMDB database in BasicSR's layout, built under a temporary name and renamed when complete."""

    def __init__(self, database: Path, suffix: str, compression: int) -> None:
        import lmdb

        self.database, self.suffix, self.compression = database, suffix, compression
        self.partial = database.with_name(f".{database.name}.part")
        shutil.rmtree(self.partial, ignore_errors=True)  # left by an interrupted run
        self.partial.mkdir(parents=True)
        self.env = lmdb.open(str(self.partial), map_size=LMDB_MAP_SIZE)
        self.meta_lines: list[str] = []

    def put(self, name: str, data: bytes, shape: tuple[int, int, int]) -> None:
        with self.env.begin(write=True) as transaction:
            transaction.put(name.encode("ascii"), data)
        height, width, channels = shape
        self.meta_lines.append(f"{name}{self.suffix} ({height},{width},{channels}) {self.compression}\n")

    def close(self) -> None:
        self.env.close()
        with atomic_write(self.partial / "meta_info.txt") as handle:
            handle.write("".join(self.meta_lines).encode("ascii"))
        os.replace(self.partial, self.database)


def _hr_images(hr_dirs: Iterable[Path]) -> list[Path]:
    images: dict[str, Path] = {}
    for folder in hr_dirs:
        if not folder.is_dir():
            raise UsageError(f"{folder}: no such folder")
        for path in list_images(folder):
            if _key(path) in images:
                raise UsageError(f"{path} and {images[_key(path)]} would give sub-images of the same name")
            images[_key(path)] = path
    if not images:
        raise UsageError(f"no images ({', '.join(READABLE_SUFFIXES)}) in {', '.join(map(str, hr_dirs))}")
    return list(images.values())


def _check_arguments(scales: tuple[int, ...], crop_size: int, step: int, thresh_size: int, image_format: str) -> None:
    if not scales or any(scale not in SUPPORTED_SCALES for scale in scales):
        raise UsageError(f"scales must be among {SUPPORTED_SCALES}, got {list(scales)}")
    if crop_size <= 0 or any(crop_size % scale for scale in scales):
        raise UsageError(f"crop size {crop_size} must be a positive multiple of every scale {list(scales)}")
    if step <= 0 or thresh_size < 0:
        raise UsageError(f"step must be positive and thresh_size not negative, got {step} and {thresh_size}")
    if image_format not in IMAGE_FORMATS:
        raise UsageError(f"image format must be one of {', '.join(IMAGE_FORMATS)}, got {image_format!r}")


def _outputs(out_dir: Path, scales: tuple[int, ...], lmdb: bool, prefix: str) -> dict[int, Path]:
    """Scale (1 = HR) -> output folder or database; refuses to mix with an earlier preparation."""
    suffix = ".lmdb" if lmdb else ""
    outputs = {1: out_dir / f"{prefix}{HR_FOLDER}{suffix}"}
    outputs.update({scale: out_dir / f"{prefix}{LR_FOLDER}" / f"{lr_folder_name(scale)}{suffix}" for scale in scales})
    for path in outputs.values():
        if path.exists() and any(path.iterdir()):
            raise UsageError(f"{path} already holds data; remove it or choose another output folder")
    return outputs


def _results(jobs: list[tuple], workers: int) -> Iterator[list[_SubImage] | str]:
    if workers <= 1:
        yield from map(_cut_or_error, jobs)
        return
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(_cut_or_error, jobs)


def prepare_data(
    hr_dirs: str | os.PathLike | Iterable[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    scales: Iterable[int] = (2, 3, 4),
    crop_size: int = 192,
    step: int = 96,
    thresh_size: int = 0,
    image_format: str = "png",
    lmdb: bool = False,
    workers: int = 1,
    prefix: str = "",
) -> PreparationReport:
    """Cut the HR images of ``hr_dirs`` into sub-images and write them with their LR versions.

    The defaults (192-pixel crops every 96 pixels) hold an LR patch of 48 pixels (the RCAN / SAN
    papers' training patch) at x4 and divide by 2, 3, 4 and 8. Raises ValueError for unusable
    arguments (nothing written); a bad image is listed in the report's ``failed`` and skipped.
    ``prefix`` goes before the folder names: ``DIV2K_train_`` gives BasicSR's DIV2K layout
    (``DIV2K_train_HR_sub``, ``DIV2K_train_LR_bicubic/X4_sub``).
    """
    scales = tuple(sorted(set(int(scale) for scale in scales)))
    _check_arguments(scales, crop_size, step, thresh_size, image_format)
    folders = [Path(hr_dirs)] if isinstance(hr_dirs, (str, os.PathLike)) else [Path(p) for p in hr_dirs]
    paths = _hr_images(folders)
    outputs = _outputs(Path(out_dir), scales, lmdb, prefix)

    suffix = f".{image_format}"
    compression = PNG_COMPRESSION if image_format == "png" else WEBP_LOSSLESS
    sinks: dict[int, _Sink] = {
        scale: _LmdbSink(path, suffix, compression) if lmdb else _FolderSink(path, suffix)
        for scale, path in outputs.items()
    }
    report = PreparationReport()
    jobs = [(path, scales, crop_size, step, thresh_size, image_format) for path in paths]
    for path, result in zip(paths, _results(jobs, workers)):
        if isinstance(result, str):
            report.failed.append((path, result))
            continue
        if not result:
            report.too_small.append(path)
            continue
        report.images += 1
        report.sub_images += len(result)
        for sub_image in result:
            sinks[1].put(sub_image.name, sub_image.hr, sub_image.shapes[1])
            for scale in scales:
                sinks[scale].put(sub_image.name, sub_image.lr[scale], sub_image.shapes[scale])
    for sink in sinks.values():
        sink.close()
    return report
