"""Where srapp finds the benchmark data: datasets, calibration pairs and reference outputs.

The data lives outside the repository in one folder laid out as::

    datasets/<Name>/      HR images of one dataset (Set5, Set14, BSD100, T91, BSD200, ...)
    calibration/          TID2013 reference/distorted pairs (ref/, dist/) for PSNR and LPIPS
    reference/            outputs of the papers' official code, for tests

That folder is the one named by the environment variable ``SRAPP_DATA``; when it is unset (or
empty), the folder ``shared`` beside the repository root of a source checkout; otherwise there is none.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import UsageError
from .locations import DATA_ENV, data_root

HOW_TO_POINT = (
    f"set {DATA_ENV} to the folder that holds datasets/<Name>/ (and calibration/, reference/), "
    "or put that folder beside the repository as ../shared"
)


def data_path(relative: str | os.PathLike) -> Path | None:
    """``relative`` (e.g. ``datasets/Set5``) inside the data folder, or ``None`` when it is not there."""
    root = data_root()
    if root is None or not (root / relative).exists():
        return None
    return root / relative


def calibration_dir() -> Path | None:
    """The calibration pairs (``ref/``, ``dist/``), or ``None`` when the data folder has none."""
    return data_path("calibration")


def reference_dir() -> Path | None:
    """The official-code reference outputs, or ``None`` when the data folder has none."""
    return data_path("reference")


def dataset_names() -> list[str]:
    """The datasets of the data folder (its ``datasets/`` subfolders), sorted."""
    folder = data_path("datasets")
    if folder is None or not folder.is_dir():
        return []
    return sorted(entry.name for entry in folder.iterdir() if entry.is_dir())


def dataset_path(name_or_path: str | os.PathLike) -> Path:
    """A dataset folder from a path or a name.

    A path that exists is returned as it is; a bare name (``Set5``) is looked up as
    ``datasets/<name>`` in the data folder. Anything else raises :class:`UsageError` listing the
    datasets found and saying how to point srapp at the data.
    """
    given = Path(os.path.expanduser(str(name_or_path)))
    if given.exists():
        return given
    is_name = len(given.parts) == 1 and str(name_or_path) not in (".", "..")
    root = data_root()
    if is_name and root is not None and (root / "datasets" / given.name).is_dir():
        return root / "datasets" / given.name
    if root is None:
        where = f"no data folder ({HOW_TO_POINT})"
    else:
        names = dataset_names()
        found = f"datasets there: {', '.join(names)}" if names else "no datasets there"
        origin = f"{DATA_ENV}={root}" if os.environ.get(DATA_ENV) else f"{root}"
        where = f"data folder {origin}: {found}; {HOW_TO_POINT}"
    problem = "no dataset of that name and no such folder" if is_name else "no such dataset folder"
    raise UsageError(f"{name_or_path}: {problem}; {where}")


__all__ = [
    "DATA_ENV", "calibration_dir", "data_path", "data_root", "dataset_names", "dataset_path", "reference_dir",
]
