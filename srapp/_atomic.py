"""Atomic file writes: a temp file in the target's folder, given the target's name when complete.

Temp files are named ``.srapp-NAME.XXXXXXXX.part`` (eight random hex digits; a NAME too long for the
folder's name limit is cut, at a UTF-8 character, and ends in ``~`` and a hash of the whole name).
The ``.srapp-`` prefix is the marker: clean-up only ever touches names of this shape, so a user's
own ``.thesis.docx.20241201.part`` is left alone. An extended attribute would be a stronger marker,
but FAT, exFAT, many network shares and older tmpfs have none, so clean-up could not rely on it.

The writer holds an exclusive ``flock`` on its temp file from creation until the file has its
final name, so clean-up, which removes only the temp files it can lock, never removes one that is
being written, by this or any other process, however old it looks. ``flock`` rather than ``fcntl``
record locks: those are per process, so a second thread of the writing process could take them.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import re
import secrets
import stat
from pathlib import Path
from typing import IO, Iterator

_PREFIX, _SUFFIX, _RANDOM_BYTES = ".srapp-", ".part", 4  # the random part is twice as many hex digits
_TEMPORARY = re.compile(rf"{re.escape(_PREFIX)}.*\.[0-9a-f]{{{2 * _RANDOM_BYTES}}}{re.escape(_SUFFIX)}", re.DOTALL)
_HASH_DIGITS = 8
_NAME_MAX = 255  # bytes in a name on nearly every file system, where the folder does not say
# Hard links are unsupported on some file systems (FAT, exFAT, some network shares).
_NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS}
# flock is refused by some network and FUSE file systems (an NFS mount without a lock daemon).
_NO_LOCKS = {errno.ENOLCK, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS}


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _name_limit(folder: Path) -> int:
    try:
        limit = os.pathconf(folder, "PC_NAME_MAX")  # eCryptfs, for one, allows fewer than 255 bytes
    except (OSError, ValueError):
        return _NAME_MAX
    return limit if limit > 0 else _NAME_MAX


def temporary_stem(name: str, limit: int = _NAME_MAX) -> str:
    """The ``.srapp-NAME.`` that starts a temp file's name for target ``name``, cut so that the whole
    temp name fits in ``limit`` bytes: a target name that fits would otherwise fail for its temp."""
    encoded = os.fsencode(name)
    room = limit - len(_PREFIX) - 1 - 2 * _RANDOM_BYTES - len(_SUFFIX)
    if len(encoded) > room:
        # The hash keeps two long names with one beginning apart, for a person reading the folder.
        digest = hashlib.sha256(encoded).hexdigest()[:_HASH_DIGITS]
        end = max(room - 1 - _HASH_DIGITS, 0)
        while 0 < end < len(encoded) and encoded[end] & 0xC0 == 0x80:  # not inside a UTF-8 character
            end -= 1
        encoded = encoded[:end] + f"~{digest}".encode()
    return f"{_PREFIX}{os.fsdecode(encoded)}."


def _locked_temporary(folder: Path, name: str) -> tuple[int, str]:
    """Create and lock a new temp file for target ``name`` in ``folder``; returns its descriptor
    (the lock lasts until it is closed) and path."""
    stem = temporary_stem(name, _name_limit(folder))
    while True:
        path = os.path.join(folder, f"{stem}{secrets.token_hex(_RANDOM_BYTES)}{_SUFFIX}")
        try:
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            continue
        try:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX)  # a clean-up holds it only while it removes the file
            except OSError as error:
                if error.errno in _NO_LOCKS:
                    return descriptor, path  # clean-up cannot lock it either, so it leaves it alone
                raise
            if os.path.samestat(os.fstat(descriptor), os.stat(path, follow_symlinks=False)):
                return descriptor, path
        except FileNotFoundError:
            pass  # a clean-up locked and removed it between its creation and our lock: take another
        except BaseException:
            os.close(descriptor)
            raise
        os.close(descriptor)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, replace: bool = True) -> Iterator[IO[bytes]]:
    """Yield a binary file; on success it becomes ``path`` whole, on failure nothing changes.

    ``replace=False`` refuses (FileExistsError) when ``path`` already exists. The result gets the
    permissions a plain ``open(path, "wb")`` would give (a new temp file's are 0600).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = _locked_temporary(path.parent, path.name)
    # Renamed or removed before the descriptor, and with it the lock, goes: unlocked, it is stale.
    with os.fdopen(descriptor, "wb") as handle:
        try:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
            os.fchmod(handle.fileno(), _default_mode())
            if replace:
                os.replace(temporary, path)
            else:
                _give_new_name(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


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


def check_writable(folder: str | os.PathLike) -> None:
    """Raise OSError unless files can be written in ``folder``, or in the nearest existing folder
    above it when it does not exist yet (nothing is created but a probe file, removed at once).
    Permission bits do not tell (root, read-only mounts, ACLs), so a small file is really written."""
    folder = Path(folder).absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "not a folder", str(folder))
    # A temp file like any other, so that one a killed process left is cleaned up like the others.
    descriptor, probe = _locked_temporary(folder, "probe")
    with os.fdopen(descriptor, "wb") as handle:
        try:
            handle.write(b"\0" * 4096)  # one block: a full disk fails here rather than at the end of a run
            handle.flush()
            os.fsync(handle.fileno())
        finally:
            Path(probe).unlink(missing_ok=True)


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Remove the temp files in ``folder`` that :func:`atomic_write` (or :func:`check_writable`) left
    when its process was killed: those no writer holds locked, whatever their age. Returns what was
    removed."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if _TEMPORARY.fullmatch(entry.name) is None or not entry.is_file(follow_symlinks=False):
            continue
        with contextlib.suppress(OSError):  # gone already, locked by its writer, or not ours to remove
            if _remove_if_unlocked(entry.path):
                removed.append(Path(entry.path))
    return removed


def _remove_if_unlocked(path: str) -> bool:
    # O_NONBLOCK: a FIFO given the name since the scan must not hang the open.
    descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises while a writer holds it
        locked = os.fstat(descriptor)
        # Still that file under that name: its writer may have renamed it to its target since our open.
        if not stat.S_ISREG(locked.st_mode) or not os.path.samestat(locked, os.stat(path, follow_symlinks=False)):
            return False
        os.unlink(path)
        return True
    finally:
        os.close(descriptor)
