"""Pack training images losslessly (WebP) so they travel compactly to a GPU machine.

Lossless WebP is about 2/3 of PNG for photographs, and ``read_image`` returns the very same pixels,
so LR images and sub-images can be made where training runs (``srapp prepare-data`` reads WebP).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..io.files import list_images
from ..io.image_io import read_image, write_image
from ..errors import ImageError, UsageError
from ..write_rule import ReadLocations


@dataclass
class PackReport:
    written: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    bytes_in: int = 0
    bytes_out: int = 0


def pack_images(sources: list[str | os.PathLike], out_dir: str | os.PathLike) -> PackReport:
    """Write every image of the ``sources`` folders to ``out_dir/<folder name>/<stem>.webp``
    (lossless, 8-bit; 16-bit images are refused rather than silently rounded). Nothing read is
    written over (:mod:`srapp.write_rule`): an output folder that is a source folder is a usage
    error, and images that would share one ``.webp`` (``a.png`` and ``a.jpg``) are each refused."""
    report = PackReport()
    out_dir = Path(out_dir)
    reads, targets, pairs = ReadLocations(), {}, []
    for folder in map(Path, sources):
        if not folder.is_dir():
            raise UsageError(f"{folder}: no such folder")
        target = out_dir / folder.name
        if target in targets:  # two folders with one name would merge into one
            raise UsageError(f"{targets[target]} and {folder} would both be packed into {target}; rename one")
        targets[target] = folder
        reads.add_folder(folder)
        for path in list_images(folder):
            reads.add_file(path)
            pairs.append((path, target / f"{path.stem}.webp"))
    for target in targets:  # the names keep no suffix: packing into a source folder is refused
        reads.check_output_folder(target, distinct_names=False, remedy="choose another output folder")
    for (path, target), problem in zip(pairs, reads.write_problems(pairs)):
        try:
            if problem is not None:
                raise ImageError(path, problem)
            image = read_image(path)
            if image.dtype != "uint8":
                raise ImageError(path, "16-bit images would lose precision in WebP; keep them as PNG")
            written = write_image(target, image)
        except ImageError as error:
            report.failed.append((path, str(error)))
            continue
        report.written.append(written)
        report.bytes_in += path.stat().st_size
        report.bytes_out += written.stat().st_size
    return report
