"""The command line's exit statuses, decided in one place.

* 0: everything asked for succeeded;
* 1: the run went through but some images failed (each named in the output and the report), or
  the report could not be written at the end;
* 2: the request could not run at all: a usage error, an unloadable model, a folder that cannot
  be read or written, a bad option file (any :class:`srapp.errors.SrappError` that reaches the
  top of a command);
* 130: interrupted (Ctrl-C).
"""

from __future__ import annotations

import sys

from ..batch.report import printable
from ..errors import SrappError

SUCCESS = 0
SOME_FAILED = 1
CANNOT_RUN = 2
INTERRUPTED = 130


def of_failures(failed: int) -> int:
    return SOME_FAILED if failed else SUCCESS


def report_error(error: BaseException) -> int:
    """Say what stopped the command (one line, naming what it is about) and return its status."""
    print(f"srapp: error: {printable(str(error))}", file=sys.stderr)  # printable: it may name a non-UTF-8 file
    return CANNOT_RUN


def run_command(command, args) -> int:
    """Run a command's ``run(args)``; srapp's own errors become one message and status 2."""
    try:
        return command(args)
    except SrappError as error:
        return report_error(error)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return INTERRUPTED
