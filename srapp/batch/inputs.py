"""Which files a batch run reads, where each result goes, and which share a torchrun rank takes.

Inputs and ground truths are never destroyed: what the run reads is collected while planning and
every result is checked against it by the one rule of :mod:`srapp.write_rule`. An output folder
that is an input or ground-truth folder (or lies in a tree scanned with ``recursive``, links
followed) needs a ``suffix`` for the results' names, and then no existing file there is replaced;
a recursive scan skips the output folder; a job whose output would be a file the run reads, or
whose output name another input shares, fails on its own, as does one without a ground truth.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..io.files import scan_images
from ..io.image_io import READABLE_SUFFIXES
from ..errors import ImageError, UsageError
from ..write_rule import ReadLocations, write_location


@dataclass(frozen=True)
class Job:
    source: Path
    output: Path
    gt_key: str  # file stem the ground truth must share
    replace: bool = True  # False when the output folder holds inputs: an existing file there is kept
    problem: ImageError | None = None  # why this job cannot run; recorded as its error
    ground_truth: Path | None = None  # found while planning: the run scores the result against it


@dataclass(frozen=True)
class Plan:
    jobs: list[Job]
    reads: ReadLocations  # what the run reads: a report must not replace any of it


def output_name(source: Path, ext: str, suffix: str | None = None) -> str:
    """``photo.jpg`` -> ``photo.png``, or ``photo_S.png`` with suffix ``S``."""
    return f"{source.stem}_{suffix}.{ext}" if suffix else f"{source.stem}.{ext}"


SUFFIX_REMEDY = "choose another output folder or give --suffix S (photo.png -> photo_S.png)"


def plan_batch(
    inputs: list[str | os.PathLike],
    outdir: Path,
    ext: str,
    *,
    recursive: bool = False,
    suffix: str | None = None,
    gt_dir: Path | None = None,
) -> Plan:
    """One job per input file; folders contribute their images (subfolders with ``recursive``,
    mirrored under ``outdir``). Files named explicitly are taken whatever their suffix, so a
    mislabelled file gets a clear per-file error instead of being silently skipped. ``suffix``
    names results ``STEM_SUFFIX.EXT``; it is required when results would go into a folder the run
    reads (see :mod:`srapp.write_rule`). With ``gt_dir`` each job's ground truth is found here,
    before any image is upscaled: an image without one fails on its own."""
    candidates: list[tuple[Path, Path]] = []
    reads = ReadLocations()
    for item in map(Path, inputs):
        if item.is_dir():
            images, folders = scan_images(item, recursive, skip=outdir)
            for folder in folders:
                inside = any(parent == folders[0] for parent in folder.parents)
                what = "input folder" if folder == folders[0] or inside else f"input folder (a link in {item} leads to)"
                reads.add_folder(folder, what, tree=recursive)
            for source in images:
                relative = source.relative_to(item)
                candidates.append((source, outdir / relative.parent / output_name(source, ext, suffix)))
        elif item.exists() or item.is_symlink():
            # results beside a file named on the command line would mix with its neighbours
            reads.add_folder(item.absolute().parent, "input folder")
            candidates.append((item, outdir / output_name(item, ext, suffix)))
        else:
            raise UsageError(f"{item}: no such file or folder")
    if not candidates:
        raise UsageError(f"no images found in {', '.join(map(str, inputs))} (readable: {', '.join(READABLE_SUFFIXES)})")
    if gt_dir is not None:
        reads.add_folder(gt_dir, "ground-truth folder")
    replace = {folder: reads.check_output_folder(folder, bool(suffix), SUFFIX_REMEDY)
               for folder in dict.fromkeys([outdir, *(output.parent for _, output in candidates)])}
    return Plan(_jobs(candidates, replace, reads, gt_dir), reads)


def plan_jobs(
    inputs: list[str | os.PathLike],
    outdir: Path,
    ext: str,
    *,
    recursive: bool = False,
    suffix: str | None = None,
    gt_dir: Path | None = None,
) -> list[Job]:
    """The jobs of :func:`plan_batch`."""
    return plan_batch(inputs, outdir, ext, recursive=recursive, suffix=suffix, gt_dir=gt_dir).jobs


def _jobs(candidates: list[tuple[Path, Path]], replace: dict[Path, bool], reads: ReadLocations,
          gt_dir: Path | None) -> list[Job]:
    # Results of this same command (from an earlier run) are not inputs of this one.
    outputs = {write_location(output) for _, output in candidates}
    unique: dict[tuple[Path, Path], tuple[Path, Path]] = {}
    for source, output in candidates:
        if write_location(source) not in outputs:
            unique.setdefault((write_location(source), write_location(output)), (source, output))
    pairs = list(unique.values())
    truths: list[Path | None] = []
    for source, _ in pairs:
        reads.add_file(source)
        truths.append(find_ground_truth(gt_dir, source.stem) if gt_dir is not None else None)
        if truths[-1] is not None:
            reads.add_file(truths[-1], "a ground truth")
    jobs = []
    for (source, output), truth, problem in zip(pairs, truths, reads.write_problems(pairs)):
        if problem is None and gt_dir is not None and truth is None:
            problem = f"no ground truth named {source.stem}.* in {gt_dir}"
        jobs.append(Job(source, output, source.stem, replace[output.parent],
                        None if problem is None else ImageError(source, problem), truth))
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
