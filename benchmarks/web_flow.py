"""Peak memory and time of the web app's single-image flow on a large photo.

    python benchmarks/web_flow.py [--megapixels 4] [--model rcan-x4]

The server runs as ``python app.py`` in a subprocess, with a private temporary folder. A
generated photo goes through the page's endpoint (``/compare``: upload, upscale, result PNG,
previews) with gradio_client at the page's defaults (tile, precision and device ``auto``). Memory
is the server process's peak resident set (``VmHWM`` in ``/proc/<pid>/status``, reset once the
server is idle where the kernel allows) against its resident set when idle; time is the client's,
from upload to the files downloaded.
"""

from __future__ import annotations

import argparse
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np

from measure import GIB, MIB, peak_bytes, reset_peak, resident_bytes
from srapp import locations
from srapp.io.image_io import write_image

TARGET_ABOVE_IDLE = 1.5 * GIB  # what the flow may add to the idle server
STARTUP_SECONDS = 600


def synthetic_photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A photo-like RGB image: smooth colour fields at several scales, hard-edged shapes, sensor noise."""
    rng = np.random.default_rng(seed)
    image = np.zeros((height, width, 3), np.float32)
    for cells, weight in ((4, 0.5), (24, 0.3), (160, 0.2)):
        field = rng.random((cells, max(1, cells * width // height), 3)).astype(np.float32)
        image += weight * cv2.resize(field, (width, height), interpolation=cv2.INTER_CUBIC)
    image = np.clip(image * 255, 0, 255).astype(np.uint8)
    for _ in range(40):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        size = int(rng.integers(height // 40, height // 6))
        if rng.random() < 0.5:
            cv2.circle(image, (x, y), size, colour, -1, cv2.LINE_AA)
        else:
            cv2.rectangle(image, (x, y), (x + size, y + size // 2), colour, -1)
    noise = rng.normal(0, 3, image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8)


def photo_shape(megapixels: float) -> tuple[int, int]:
    """Height and width of a 4:3 photo of about ``megapixels``."""
    width = round(math.sqrt(megapixels * 1e6 * 4 / 3))
    return round(width * 3 / 4), width


def app_script() -> Path:
    """The web app's start script, ``app.py`` of the source checkout."""
    checkout = locations.source_checkout()
    if checkout is None or not (checkout / "app.py").is_file():
        raise RuntimeError("the web-flow benchmark starts app.py of a source checkout; srapp runs from none")
    return checkout / "app.py"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_serving(server: subprocess.Popen, url: str) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with status {server.returncode}")
        try:
            urllib.request.urlopen(url, timeout=5)
            return
        except OSError:
            time.sleep(1)
    raise RuntimeError(f"the server did not answer within {STARTUP_SECONDS} s")


def measure_flow(megapixels: float, model: str = "rcan-x4") -> dict:
    """One single-image flow against a fresh server; sizes in bytes, times in seconds."""
    from gradio_client import Client, handle_file

    with tempfile.TemporaryDirectory(prefix="srapp-bench-web-") as folder:
        folder = Path(folder)
        height, width = photo_shape(megapixels)
        photo = write_image(folder / "photo.png", synthetic_photo(height, width))
        photo_bytes = photo.stat().st_size
        app = app_script()
        paths = [str(app.parent), *filter(None, [os.environ.get("PYTHONPATH")])]
        env = {**os.environ, "TMPDIR": str(folder), "GRADIO_ANALYTICS_ENABLED": "False",
               "PYTHONPATH": os.pathsep.join(paths)}
        env.pop("GRADIO_TEMP_DIR", None)
        port = _free_port()
        url = f"http://127.0.0.1:{port}/"
        log = open(folder / "server.log", "w")
        server = subprocess.Popen([sys.executable, str(app), "--port", str(port)], env=env, cwd=folder,
                                  stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_until_serving(server, url)
            client = Client(url, verbose=False, download_files=str(folder / "downloads"))
            time.sleep(2)  # let start-up work settle before taking the idle figure
            reset = reset_peak(server.pid)
            idle = resident_bytes(server.pid)
            started = time.perf_counter()
            _, download, _, status = client.predict(
                handle_file(str(photo)), None, model, "4", "auto", "auto", "auto", False, api_name="/compare")
            seconds = time.perf_counter() - started
            peak = peak_bytes(server.pid)
            result_bytes = Path(download).stat().st_size
        finally:
            server.terminate()
            server.wait(timeout=120)
            log.close()
    return {"height": height, "width": width, "photo_bytes": photo_bytes, "idle_rss": idle,
            "peak": peak, "peak_reset": reset, "seconds": seconds, "status": status,
            "result_bytes": result_bytes}


def web_flow_section(megapixels: float = 4.0, model: str = "rcan-x4") -> list[str]:
    """The flow's figures as printed lines: peak above the idle server against the target, and time."""
    figures = measure_flow(megapixels, model)
    above = figures["peak"] - figures["idle_rss"]
    verdict = "within" if above <= TARGET_ABOVE_IDLE else "OVER"
    since = "since idle" if figures["peak_reset"] else "since start-up (VmHWM could not be reset)"
    return [
        f"web single-image flow: python app.py, /compare at the page's defaults, {model}",
        f"  photo {figures['width']}x{figures['height']} ({figures['width'] * figures['height'] / 1e6:.2f} MP, "
        f"PNG {figures['photo_bytes'] / MIB:.1f} MiB), result PNG {figures['result_bytes'] / MIB:.1f} MiB",
        f"  server: {figures['status']}",
        f"  end to end (upload, run, previews, downloads): {figures['seconds']:.1f} s",
        f"  server RSS idle {figures['idle_rss'] / GIB:.2f} GiB, peak {since} {figures['peak'] / GIB:.2f} GiB: "
        f"+{above / GIB:.2f} GiB above idle, {verdict} the {TARGET_ABOVE_IDLE / GIB:g} GiB target",
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megapixels", type=float, nargs="+", default=[4.0])
    parser.add_argument("--model", default="rcan-x4")
    args = parser.parse_args(argv)
    for megapixels in args.megapixels:
        print("\n".join(web_flow_section(megapixels, args.model)) + "\n", flush=True)


if __name__ == "__main__":
    main()
