"""What travels to a lent machine: the working tree git would see, plus the ignored paths carried.

The device machine receives tracked files, untracked files that git does not ignore, and the
ignored paths a call names in ``carry``: at most :data:`TRAVEL_LIMIT` bytes in all. Checking the
sum here, before asking for a machine, keeps a refused transfer from costing device time.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable
from pathlib import Path

from ..errors import UsageError

TRAVEL_LIMIT = 64 * 2**20


def _files_under(path: Path) -> Iterable[Path]:
    if path.is_file() or path.is_symlink():
        yield path
        return
    for folder, _, names in os.walk(path):
        for name in names:
            yield Path(folder) / name


def travelling_bytes(repo: Path, carried: Iterable[str | os.PathLike] = ()) -> int:
    """Bytes of ``repo``'s working tree as git sees it (tracked and untracked-not-ignored files)
    plus every file under the ``carried`` paths (relative to ``repo``)."""
    try:
        listed = subprocess.run(["git", "-C", str(repo), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                                check=True, capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        raise UsageError(f"{repo}: not a git working tree ({error})") from error
    files = {repo / os.fsdecode(name) for name in listed.split(b"\0") if name}
    for path in carried:
        if not (repo / path).exists():
            raise UsageError(f"{repo / path}: a carried path that does not exist")
        files.update(_files_under(repo / path))
    return sum(path.lstat().st_size for path in files if path.is_symlink() or path.is_file())
