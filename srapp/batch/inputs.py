"""Which files a batch run reads, where each result goes, and which share a torchrun rank takes."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..engine.image_io import READABLE_SUFFIXES
from ..errors import UsageError


@dataclass(frozen=True)
class Job:
    source: Path
    output: Path
    gt_key: str  # file stem the ground truth must share


def folder_images(folder: Path, recursive: bool = False) -> list[Path]:
    pattern = "**/*" if recursive else "*"
    return sorted(p for p in folder.glob(pattern) if p.is_file() and p.suffix.lower() in READABLE_SUFFIXES)


def plan_jobs(inputs: list[str | os.PathLike], outdir: Path, ext: str, recursive: bool = False) -> list[Job]:
    """One job per input file; folders contribute their images (subfolders with ``recursive``,
    mirrored under ``outdir``). Files named explicitly are taken whatever their suffix, so a
    mislabelled file gets a clear per-file error instead of being silently skipped."""
    jobs: list[Job] = []
    for item in map(Path, inputs):
        if item.is_dir():
            for source in folder_images(item, recursive):
                relative = source.relative_to(item).with_suffix(f".{ext}")
                jobs.append(Job(source, outdir / relative, source.stem))
        elif item.exists() or item.is_symlink():
            jobs.append(Job(item, outdir / f"{item.stem}.{ext}", item.stem))
        else:
            raise UsageError(f"{item}: no such file or folder")
    if not jobs:
        raise UsageError(f"no images found in {', '.join(map(str, inputs))} (readable: {', '.join(READABLE_SUFFIXES)})")
    seen: dict[Path, Path] = {}
    for job in jobs:
        if job.output in seen:
            raise UsageError(f"{seen[job.output]} and {job.source} would both be written to {job.output}")
        seen[job.output] = job.source
    return jobs


def shard(jobs: list[Job], rank: int, world_size: int) -> list[Job]:
    """Rank ``r`` of ``n`` takes every ``n``-th job from the ``r``-th: deterministic and balanced."""
    if not 0 <= rank < world_size:
        raise UsageError(f"RANK {rank} is outside WORLD_SIZE {world_size}")
    return jobs[rank::world_size]


def find_ground_truth(gt_dir: Path, stem: str) -> Path | None:
    for suffix in READABLE_SUFFIXES:
        for candidate in (gt_dir / f"{stem}{suffix}", gt_dir / f"{stem}{suffix.upper()}"):
            if candidate.is_file():
                return candidate
    return None
