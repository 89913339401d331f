"""Which files of a folder are images: one listing for batches, benchmarks, training data and packing."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from .image_io import READABLE_SUFFIXES


def _is_image_entry(path: Path) -> bool:
    """Anything but a folder named like an image: an image file, or a broken link, a FIFO or a
    device named like one (reported when read, not skipped)."""
    return path.suffix.lower() in READABLE_SUFFIXES and not path.is_dir()


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_dev, status.st_ino


def _walk(folder: Path, skip: Path | None, reached: list[Path]) -> Iterator[Path]:
    """Every file under ``folder``, following links to folders but entering each folder once
    (a link loop ends there) and never ``skip``. ``reached`` gets every folder of the tree,
    resolved, ``skip`` included when the tree holds it (perhaps through a link)."""
    entered = {_identity(folder)}
    skipped = _identity(skip) if skip is not None else None
    reached.append(folder.resolve())
    for root, folders, files in os.walk(folder, followlinks=True):
        kept = []
        for name in sorted(folders):
            identity = _identity(Path(root) / name)
            if identity is not None and identity not in entered:
                reached.append((Path(root) / name).resolve())
            if identity is None or identity in entered or identity == skipped:
                continue
            entered.add(identity)
            kept.append(name)
        folders[:] = kept
        yield from (Path(root) / name for name in files)


def scan_images(folder: Path, recursive: bool = False, skip: Path | None = None) -> tuple[list[Path], list[Path]]:
    """The images in ``folder`` (and its subfolders with ``recursive``, except ``skip``), sorted,
    and the folders that scan reads from, resolved: with ``recursive`` every folder of the tree,
    ``skip`` included when the tree holds it (a link to it is as much the tree as a subfolder)."""
    reached: list[Path] = []
    entries = _walk(folder, skip, reached) if recursive else folder.iterdir()
    images = sorted(path for path in entries if _is_image_entry(path))
    return images, reached if recursive else [folder.resolve()]


def list_images(folder: Path, recursive: bool = False, skip: Path | None = None) -> list[Path]:
    """The images in ``folder`` (and its subfolders with ``recursive``, except ``skip``), sorted."""
    return scan_images(folder, recursive, skip)[0]
