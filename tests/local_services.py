"""What the tests that start servers or a browser share: a free port and the browser to drive."""

from __future__ import annotations

import contextlib
import shutil
import socket
from collections.abc import Iterator

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
_skip_without_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium found for the browser test: `make browser` installs Debian's chromium as root "
    "(or run `apt-get install chromium`)",
)


def needs_chromium(test):
    """A browser test: marked ``browser`` (the slow tier) and skipped, saying why, without Chromium."""
    return pytest.mark.browser(_skip_without_chromium(test))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def served(service, max_file_size: str) -> Iterator[str]:
    """The web app over ``service`` on a free local port, queued as the app runs it; yields its URL."""
    from srapp.web import build_app
    from srapp.web.ui import LAUNCH_OPTIONS

    app = build_app(service)
    app.queue(default_concurrency_limit=2)
    port = free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
               max_file_size=max_file_size, **LAUNCH_OPTIONS)  # as launch() serves it
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        app.close()
