"""Where the benchmarks find the evaluation datasets."""

from __future__ import annotations

from pathlib import Path


def dataset_folder(name: str) -> Path:
    """The HR folder of dataset ``name`` (e.g. ``Set5``): ``shared/datasets/<name>`` beside the repository."""
    return Path(__file__).resolve().parents[3] / "shared" / "datasets" / name
