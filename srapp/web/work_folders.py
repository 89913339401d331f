"""The web app's work folders in the temp folder: claimed while a server lives, removed by the next
start once their server is gone.

A server holds an exclusive ``flock`` on a lock file inside its folder for as long as it runs; the
kernel drops the lock when the process ends in any way (SIGKILL, a crash, a closed terminal), so a
folder whose lock can be taken is abandoned, while a running server's folder, however old, never
is. Only folders that carry srapp's lock file are touched: nothing else in the temp folder is
ever removed.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import IO

try:
    import fcntl
except ImportError:  # Windows: no flock, so nothing is claimed and nothing is removed
    fcntl = None

PREFIX = "srapp-web-"
LOCK_NAME = ".srapp-web.lock"


def _try_lock(handle: IO[bytes]) -> bool:
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def claim(folder: Path) -> IO[bytes] | None:
    """Mark ``folder`` as a running server's; keep the returned handle open for the server's life
    (closing it, or the process ending, releases the claim)."""
    if fcntl is None:
        return None
    # Locked before it gets its name, so no other start can ever see the lock file unlocked.
    descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=".srapp-web-lock.", suffix=".part")
    handle = os.fdopen(descriptor, "wb")
    if not _try_lock(handle):
        handle.close()
        raise OSError(f"{folder}: cannot lock {LOCK_NAME}")
    os.replace(temporary, folder / LOCK_NAME)
    return handle


def remove_abandoned(parent: str | os.PathLike | None = None) -> list[Path]:
    """Remove the work folders in ``parent`` (the temp folder by default) whose server has ended:
    named ``srapp-web-*``, real folders (not links) of this user, with srapp's lock file, and the
    lock free. Returns the folders removed."""
    if fcntl is None:
        return []
    removed = []
    for folder in Path(parent or tempfile.gettempdir()).glob(f"{PREFIX}*"):
        try:
            info = folder.lstat()
            if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
                continue
            # held while the folder is removed; never through a link
            handle = os.fdopen(os.open(folder / LOCK_NAME, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)), "rb")
        except OSError:  # not srapp's (no lock file), or gone meanwhile
            continue
        with handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode) or not _try_lock(handle):
                continue  # its server is running (or another start is removing it)
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


__all__ = ["LOCK_NAME", "PREFIX", "claim", "remove_abandoned"]
