"""Atomic file writes: a temp file in the target's folder, given the target's name when complete.

Temp files are named ``.NAME.XXXXXXXX.part`` (``tempfile.mkstemp``'s eight random characters),
so one left by a killed process can be recognised and removed by a later run.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Iterator

STALE_AFTER_SECONDS = 300  # a write in progress touches its temp file far more often than this
_TEMPORARY = re.compile(r"\.(?P<name>.+)\.[a-z0-9_]{8}\.part")
# Hard links are unsupported on some file systems (FAT, exFAT, some network shares).
_NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS}


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _give_new_name(temporary: str, path: Path) -> None:
    """Rename ``temporary`` to ``path`` only if nothing has that name (FileExistsError otherwise)."""
    try:
        os.link(temporary, path)  # fails on an existing name, so nothing is ever replaced
    except OSError as error:
        if error.errno not in _NO_HARD_LINKS:
            raise
        if os.path.lexists(path):
            raise FileExistsError(errno.EEXIST, "file exists", str(path)) from error
        os.replace(temporary, path)
        return
    os.unlink(temporary)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, replace: bool = True) -> Iterator[IO[bytes]]:
    """Yield a binary file; on success it becomes ``path`` whole, on failure nothing changes.

    ``replace=False`` refuses (FileExistsError) when ``path`` already exists. The result gets the
    permissions a plain ``open(path, "wb")`` would give (mkstemp's are 0600).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, _default_mode())
        if replace:
            os.replace(temporary, path)
        else:
            _give_new_name(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def check_writable(folder: str | os.PathLike) -> None:
    """Raise OSError unless files can be written in ``folder``, or in the nearest existing folder
    above it when it does not exist yet (nothing is created but a probe file, removed at once).
    Permission bits do not tell (root, read-only mounts, ACLs), so a small file is really written."""
    folder = Path(folder).absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "not a folder", str(folder))
    descriptor, probe = tempfile.mkstemp(dir=folder, prefix=".srapp-probe.", suffix=".part")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(b"\0" * 4096)  # one block: a full disk fails here rather than at the end of a run
            handle.flush()
            os.fsync(handle.fileno())
    finally:
        Path(probe).unlink(missing_ok=True)


def remove_stale_temporaries(folder: str | os.PathLike, names: Iterable[str] = (),
                             older_than: float = STALE_AFTER_SECONDS) -> list[Path]:
    """Remove the temp files :func:`atomic_write` left in ``folder``: those for a target in
    ``names`` (whose writer, this run, has not started yet) and any untouched for ``older_than``
    seconds. Returns what was removed."""
    names, now, removed = set(names), time.time(), []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMPORARY.fullmatch(entry.name)
        if match is None or not entry.is_file(follow_symlinks=False):
            continue
        with contextlib.suppress(OSError):  # gone already, or not ours to remove
            if match["name"] in names or now - entry.stat(follow_symlinks=False).st_mtime > older_than:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed
