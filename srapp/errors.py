"""The three kinds of error srapp raises on purpose, each carrying what went wrong as fields.

* :class:`ImageError`: one image (a file, an upload, an array) cannot be read, used or written.
  A batch records it against that image and goes on.
* :class:`CheckpointError`: a model file or state dict cannot be loaded.
* :class:`UsageError`: the request itself is wrong (an argument, a folder, a combination of options).

The command line maps them to its exit statuses in one place (:mod:`srapp.cli.exit_status`).
"""

from __future__ import annotations

import os
from pathlib import Path


class SrappError(Exception):
    """Base of srapp's own errors; ``str(error)`` is the message shown to a user."""


class Cancelled(SrappError):
    """A run stopped because its caller asked (a cancel event was set); not a failure of any image."""


class UsageError(SrappError, ValueError):
    """A problem with the request (arguments, options, folders), not with one image."""


class _ErrorAbout(SrappError, ValueError):
    """An error about one file or object: ``subject`` (a path, or ``None`` for an in-memory object)
    and ``reason``; the message is ``"subject: reason"``."""

    def __init__(self, subject: str | os.PathLike | None, reason: str) -> None:
        self.subject = None if subject is None else str(subject)
        self.reason = reason
        super().__init__(reason if self.subject is None else f"{self.subject}: {reason}")

    def about(self, subject: str | os.PathLike | None):
        """The same error naming another subject (e.g. the name a user uploaded instead of a server path)."""
        return type(self)(subject, self.reason)


class ImageError(_ErrorAbout):
    """An image that cannot be read, used or written: ``path`` (``None`` for an array) and ``reason``."""

    @property
    def path(self) -> Path | None:
        return None if self.subject is None else Path(self.subject)


class CheckpointError(_ErrorAbout):
    """A checkpoint that cannot be loaded or exported: ``source`` (a path, a name, or ``None`` for a state
    dict in memory) and ``reason``."""

    @property
    def source(self) -> str | None:
        return self.subject


__all__ = ["Cancelled", "CheckpointError", "ImageError", "SrappError", "UsageError"]
