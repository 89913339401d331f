"""Which files a batch run reads, where each result goes, and which share a torchrun rank takes.

Inputs are never destroyed: an output folder that is an input folder (or, with ``recursive``,
inside one) needs a ``suffix`` for the results' names, and then no existing file there is
replaced; a recursive scan skips the output folder; a job whose output would be one of the
run's input files, or whose output name another input shares, fails on its own.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from ..engine.image_files import list_images
from ..engine.image_io import READABLE_SUFFIXES
from ..errors import ImageError, UsageError


@dataclass(frozen=True)
class Job:
    source: Path
    output: Path
    gt_key: str  # file stem the ground truth must share
    replace: bool = True  # False when the output folder holds inputs: an existing file there is kept
    problem: ImageError | None = None  # why this job cannot run; recorded as its error


def output_name(source: Path, ext: str, suffix: str | None = None) -> str:
    """``photo.jpg`` -> ``photo.png``, or ``photo_S.png`` with suffix ``S``."""
    return f"{source.stem}_{suffix}.{ext}" if suffix else f"{source.stem}.{ext}"


def _location(path: Path) -> Path:
    """Where a name is, with links resolved above it but not the name itself: a link is
    replaced by a write, its target is not."""
    return path.absolute().parent.resolve() / path.name


def _same_folder(a: Path, b: Path) -> bool:
    return a == b or (a.exists() and b.exists() and os.path.samefile(a, b))


def _input_folder_holding(outdir: Path, folders: list[tuple[Path, bool]]) -> tuple[Path, bool] | None:
    """(input folder, equal) for the input folder ``outdir`` is, or is inside of when that folder
    is scanned recursively; None when the results stay apart from the inputs."""
    target = outdir.absolute().resolve()
    for folder, recursive in folders:
        if _same_folder(target, folder):
            return folder, True
        if recursive and any(_same_folder(parent, folder) for parent in target.parents):
            return folder, False
    return None


def plan_jobs(
    inputs: list[str | os.PathLike],
    outdir: Path,
    ext: str,
    recursive: bool = False,
    suffix: str | None = None,
) -> list[Job]:
    """One job per input file; folders contribute their images (subfolders with ``recursive``,
    mirrored under ``outdir``). Files named explicitly are taken whatever their suffix, so a
    mislabelled file gets a clear per-file error instead of being silently skipped. ``suffix``
    names results ``STEM_SUFFIX.EXT``; it is required when ``outdir`` holds inputs (see the
    module docstring)."""
    candidates: list[tuple[Path, Path]] = []
    folders: list[tuple[Path, bool]] = []  # (resolved input folder, scanned recursively)
    for item in map(Path, inputs):
        if item.is_dir():
            folders.append((item.resolve(), recursive))
            for source in list_images(item, recursive, skip=outdir):
                relative = source.relative_to(item)
                candidates.append((source, outdir / relative.parent / output_name(source, ext, suffix)))
        elif item.exists() or item.is_symlink():
            folders.append((item.absolute().parent.resolve(), False))
            candidates.append((item, outdir / output_name(item, ext, suffix)))
        else:
            raise UsageError(f"{item}: no such file or folder")
    if not candidates:
        raise UsageError(f"no images found in {', '.join(map(str, inputs))} (readable: {', '.join(READABLE_SUFFIXES)})")
    holder = _input_folder_holding(outdir, folders)
    if holder is not None and not suffix:
        folder, equal = holder
        raise UsageError(
            f"{outdir} is {'the' if equal else 'inside the'} input folder {folder}: the results would mix with "
            "(and could replace) the originals; choose another output folder or give --suffix S (photo.png -> photo_S.png)"
        )
    return _jobs(candidates, replace=holder is None)


def _jobs(candidates: list[tuple[Path, Path]], replace: bool) -> list[Job]:
    # Results of this same command (from an earlier run) are not inputs of this one.
    outputs = {_location(output) for _, output in candidates}
    unique: dict[tuple[Path, Path], tuple[Path, Path]] = {}
    for source, output in candidates:
        if _location(source) not in outputs:
            unique.setdefault((_location(source), _location(output)), (source, output))
    sources_by_output: dict[Path, list[Path]] = defaultdict(list)
    for source, output in unique.values():
        sources_by_output[_location(output)].append(source)
    input_files = {source.resolve() for source, _ in unique.values()}
    jobs = []
    for source, output in unique.values():
        problem = None
        others = [other for other in sources_by_output[_location(output)] if other != source]
        if others:
            problem = ImageError(source, f"{', '.join(map(str, others))} would be written to the same {output}; "
                                 "rename one of them")
        elif _location(output) in input_files:
            problem = ImageError(source, f"its output {output} is an input file of this run; not overwritten")
        jobs.append(Job(source, output, source.stem, replace, problem))
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
