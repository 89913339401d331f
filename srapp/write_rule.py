"""Which paths srapp may write: one rule for every command that writes next to what it reads.

A run *reads* from input files, input folders (their whole tree when scanned recursively, links
followed) and ground-truth folders. Against those, srapp writes a path only when:

* it is not a file the run reads: not the path itself, not where a write to it lands (links
  above the name followed), not what it resolves to (the name's own link followed);
* it does not lie in a folder the run reads from (for a tree: anywhere under it), unless the
  caller names its results so that they cannot be the names read there (``--suffix``); even then
  nothing already there is replaced, since any file in such a folder may be the user's;
* no other result of the same run goes to the same path (the later one would replace the first).

Reports (.json / .csv) and srapp's own temp files (``.NAME.XXXXXXXX.part``) have names no folder
scan reads, so only the first point applies to them.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .errors import UsageError


def write_location(path: str | os.PathLike) -> Path:
    """Where a write to ``path`` lands: the folders above it resolved, the name itself not (an
    atomic write replaces a link by a file; the link's target is left alone)."""
    path = Path(path)
    return path.absolute().parent.resolve() / path.name


def _same_folder(a: Path, b: Path) -> bool:
    return a == b or (a.exists() and b.exists() and os.path.samefile(a, b))


@dataclass(frozen=True)
class ReadFolder:
    path: Path  # resolved
    what: str  # "input folder", "ground-truth folder": for messages
    tree: bool  # its subfolders are read too


@dataclass
class ReadLocations:
    """What one run reads, collected while it is planned, and the checks of what it may write."""

    files: dict[Path, str] = field(default_factory=dict)  # resolved file -> what it is, for messages
    folders: list[ReadFolder] = field(default_factory=list)

    def add_file(self, path: str | os.PathLike, what: str = "an input file") -> None:
        self.files.setdefault(Path(path).resolve(), what)

    def add_folder(self, path: str | os.PathLike, what: str = "input folder", tree: bool = False) -> None:
        self.folders.append(ReadFolder(Path(path).resolve(), what, tree))

    def file_at(self, target: str | os.PathLike) -> str | None:
        """What the run reads at ``target`` (see the module docstring), or None."""
        for candidate in (write_location(target), Path(target).resolve()):
            if candidate in self.files:
                return self.files[candidate]
        return None

    def folder_holding(self, folder: str | os.PathLike) -> tuple[ReadFolder, bool] | None:
        """(read folder, equal) for the read folder ``folder`` is, or lies in (a tree's), else None."""
        target = Path(folder).absolute().resolve()
        for read in self.folders:
            if _same_folder(target, read.path):
                return read, True
            if read.tree and any(_same_folder(parent, read.path) for parent in target.parents):
                return read, False
        return None

    def check_output_folder(self, folder: str | os.PathLike, distinct_names: bool, remedy: str) -> bool:
        """Refuse (UsageError) results in ``folder`` when it is or lies in a read folder and the
        results' names are not made distinct; ``remedy`` says what the user can do. Returns
        whether results there may replace existing files (only outside read folders)."""
        held = self.folder_holding(folder)
        if held is None:
            return True
        if not distinct_names:
            read, equal = held
            raise UsageError(f"{folder} is {'the' if equal else 'inside the'} {read.what} {read.path}: the results "
                             f"would mix with (and could replace) the files read there; {remedy}")
        return False

    def check_report(self, path: str | os.PathLike) -> None:
        """Refuse (UsageError) a report that would replace a file the run reads."""
        what = self.file_at(path)
        if what is not None:
            raise UsageError(f"{path}: is {what} of this run; the report would replace it")

    def write_problems(self, pairs: Sequence[tuple[Path, Path]]) -> list[str | None]:
        """For each (source, target) of a run: why ``target`` may not be written, or None."""
        sources_by_target: dict[Path, list[Path]] = defaultdict(list)
        for source, target in pairs:
            sources_by_target[write_location(target)].append(source)
        problems: list[str | None] = []
        for source, target in pairs:
            others = [other for other in sources_by_target[write_location(target)] if other != source]
            what = self.file_at(target)
            if others:
                problems.append(f"{', '.join(map(str, others))} would be written to the same {target}; "
                                "rename one of them")
            elif what is not None:
                problems.append(f"its output {target} is {what} of this run; not overwritten")
            else:
                problems.append(None)
        return problems


__all__ = ["ReadFolder", "ReadLocations", "write_location"]
