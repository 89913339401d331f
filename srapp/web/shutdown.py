"""Clean-up on SIGTERM (what Docker and systemd stop a server with) and SIGHUP (its terminal closed).

Python turns SIGINT into ``KeyboardInterrupt``, so Gradio closes the server and ``atexit`` handlers
run; SIGTERM's and SIGHUP's default action ends the process on the spot, with no ``atexit``. The
handler here cleans up and then ends the process as it would have ended without it.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable

# The signals that end a server without Python's own clean-up (SIGHUP does not exist on Windows).
TERMINATING_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


def clean_up_on_termination(clean_up: Callable[[], None]) -> None:
    """On SIGTERM or SIGHUP run ``clean_up`` (once, whichever comes first), then hand the signal on:
    to the handler installed before this one, or, where that was the default action, to the
    default action (the process ends with the signal's status). Only the main thread can install
    handlers; elsewhere nothing is installed, and a signal that is ignored (``nohup`` ignores
    SIGHUP) stays ignored."""
    if threading.current_thread() is not threading.main_thread():
        return
    done = threading.Lock()

    for signum in TERMINATING_SIGNALS:
        previous = signal.getsignal(signum)
        if previous == signal.SIG_IGN:
            continue

        def handle(received: int, frame, previous=previous) -> None:
            signal.signal(received, previous if callable(previous) else signal.SIG_DFL)
            try:
                if done.acquire(blocking=False):  # a second signal during the clean-up only ends the process
                    clean_up()
            finally:
                if callable(previous):
                    previous(received, frame)
                else:
                    os.kill(os.getpid(), received)

        signal.signal(signum, handle)


__all__ = ["TERMINATING_SIGNALS", "clean_up_on_termination"]
