"""Clean-up on SIGTERM, the signal Docker and systemd stop a server with.

Python turns SIGINT into ``KeyboardInterrupt``, so Gradio closes the server and ``atexit`` handlers
run; SIGTERM's default action ends the process on the spot, with no ``atexit``. The handler here
cleans up and then ends the process as it would have ended without it.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable


def clean_up_on_sigterm(clean_up: Callable[[], None]) -> None:
    """On SIGTERM run ``clean_up``, then hand the signal on: to the handler installed before this
    one, or, where that was the default action, to the default action (the process ends with
    SIGTERM's status). Only the main thread can install handlers; elsewhere, and where SIGTERM is
    ignored, nothing is installed."""
    if threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous == signal.SIG_IGN:
        return

    def handle(signum: int, frame) -> None:
        signal.signal(signum, previous if callable(previous) else signal.SIG_DFL)
        try:
            clean_up()
        finally:
            if callable(previous):
                previous(signum, frame)
            else:
                os.kill(os.getpid(), signum)

    signal.signal(signal.SIGTERM, handle)


__all__ = ["clean_up_on_sigterm"]
