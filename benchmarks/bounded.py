"""Memory bounded by the strip or tile, not the image: peak resident memory and time of whole-image work.

    python benchmarks/bounded.py                      # every section
    python benchmarks/bounded.py --section bicubic    # one section
    python benchmarks/bounded.py --case bicubic-4mp   # one case, in this process (prints JSON)

Each case runs in a fresh interpreter, so one case's peak cannot hide another's, and is compared
with a tiny run of the same flow: the difference is what the image's size costs. A section is a
function of the repeat count returning its printed lines, listed in ``SECTIONS``; a case builds its
work (untimed) and returns the call to measure, listed in ``CASES``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bad_inputs import bomb_header_section
from measure import GIB, MIB, peak_bytes
from web_flow import web_flow_section

TINY = (40, 64)  # height, width
FOUR_MEGAPIXELS = (1600, 2560)
BICUBIC_SECONDS_TARGET = 5.0
BICUBIC_GROWTH_TARGET = 1 * GIB

Work = Callable[[], object]


def photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A photo-like RGB uint8 image: smooth gradients with blocky detail (compresses like a photo, not noise)."""
    rng = np.random.default_rng(seed)
    detail = np.repeat(np.repeat(rng.integers(0, 64, (height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8), 8, 0), 8, 1)
    ramp = (np.arange(height)[:, None, None] * 96 // height + np.arange(width)[None, :, None] * 96 // width)
    return (detail[:height, :width] + ramp.astype(np.uint8)).astype(np.uint8)


def _bicubic_call(size: tuple[int, int]) -> Work:
    from srapp.engine.upscale import Upscaler

    image, upscaler = photo(*size), Upscaler("bicubic", scale=4)
    return lambda: upscaler(image)


def _bicubic_batch(size: tuple[int, int]) -> Work:
    """Read a PNG, upscale x4 bicubic and write the PNG, as ``srapp upscale --model bicubic --scale 4`` does."""
    from srapp.batch import BatchRunner, plan_jobs
    from srapp.io.image_io import write_image
    from srapp.engine.upscale import Upscaler

    folder = Path(tempfile.mkdtemp(prefix="srapp-bounded-"))
    source = write_image(folder / "photo.png", photo(*size))
    runner = BatchRunner(Upscaler("bicubic", scale=4), with_lpips=False)

    def run() -> None:
        try:
            report = runner.run(plan_jobs([source], folder / "out", "png"))
        finally:
            shutil.rmtree(folder)
        if report.failed:
            raise RuntimeError(f"the batch run failed: {report.images[0].error}")

    return run


CASES: dict[str, Callable[[], Work]] = {
    "bicubic-tiny": lambda: _bicubic_call(TINY),
    "bicubic-4mp": lambda: _bicubic_call(FOUR_MEGAPIXELS),
    "bicubic-batch-tiny": lambda: _bicubic_batch(TINY),
    "bicubic-batch-4mp": lambda: _bicubic_batch(FOUR_MEGAPIXELS),
}
_REPEATABLE = {"bicubic-tiny", "bicubic-4mp"}  # a batch case deletes its files when done


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread of this process
    return usage.ru_utime + usage.ru_stime


def run_case(name: str, repeats: int) -> dict:
    """Build case ``name`` and time its work (medians of ``repeats``); call in a fresh process."""
    work = CASES[name]()
    seconds, cpu = [], []
    for _ in range(repeats if name in _REPEATABLE else 1):
        start, start_cpu = time.perf_counter(), _cpu_seconds()
        work()
        seconds.append(time.perf_counter() - start)
        cpu.append(_cpu_seconds() - start_cpu)
    return {"case": name, "seconds": statistics.median(seconds), "cpu_seconds": statistics.median(cpu),
            "runs": len(seconds), "peak_bytes": peak_bytes()}


def measure_case(name: str, repeats: int = 3) -> dict:
    """Run case ``name`` in a fresh interpreter and return its figures."""
    output = subprocess.run(
        [sys.executable, __file__, "--case", name, "--repeats", str(repeats)],
        check=True, capture_output=True, text=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def _verdict(ok: bool) -> str:
    return "meets" if ok else "MISSES"


def bicubic_section(repeats: int = 3) -> list[str]:
    """Bicubic x4 of a 4-megapixel RGB photo against a tiny one: time and peak RSS, in memory and
    through the batch flow (PNG decode and encode included; no target)."""
    (height, width), (tiny_h, tiny_w) = FOUR_MEGAPIXELS, TINY
    lines = [
        f"Bicubic x4 (MATLAB imresize), {width}x{height} RGB uint8 -> {4 * width}x{4 * height} "
        f"(result {height * width * 3 * 16 / MIB:.0f} MiB), against {tiny_w}x{tiny_h}; each case in a fresh process",
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (other work slows the wall clock; "
        "CPU seconds count all of the process's threads)", "",
        f"{'case':<40}{'seconds':>10}{'CPU s':>8}{'peak RSS':>14}{'above tiny':>14}",
    ]
    flows = (("Upscaler call, in memory", "bicubic-tiny", "bicubic-4mp", True),
             ("srapp upscale flow: PNG in, PNG out", "bicubic-batch-tiny", "bicubic-batch-4mp", False))
    for label, tiny_case, large_case, has_targets in flows:
        tiny, large = measure_case(tiny_case, repeats), measure_case(large_case, repeats)
        growth = large["peak_bytes"] - tiny["peak_bytes"]
        rows = ((f"{label}: tiny", tiny, ""), (f"{label}: 4 MP", large, f"{growth / MIB:.0f} MiB"))
        for name, figures, above in rows:
            lines.append(f"{name:<40}{figures['seconds']:>9.2f}s{figures['cpu_seconds']:>8.2f}"
                         f"{figures['peak_bytes'] / MIB:>10.0f} MiB{above:>14}")
        if has_targets:
            fast, small = large["seconds"] < BICUBIC_SECONDS_TARGET, growth <= BICUBIC_GROWTH_TARGET
            lines.append(f"  targets: < {BICUBIC_SECONDS_TARGET:.0f} s ({_verdict(fast)}, median of {large['runs']}), "
                         f"<= {BICUBIC_GROWTH_TARGET / GIB:.0f} GiB above tiny ({_verdict(small)})")
    return lines


SECTIONS: dict[str, Callable[[int], list[str]]] = {
    "bicubic": bicubic_section,
    "bomb-header": lambda repeats: bomb_header_section(),
    "web-flow": lambda repeats: web_flow_section(),  # minutes: rcan-x4 on a 4-megapixel photo
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--section", choices=sorted(SECTIONS), action="append",
                        help="run only this section (repeatable; default: all)")
    parser.add_argument("--case", choices=sorted(CASES), help="measure one case in this process, print JSON")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per repeatable case (median)")
    args = parser.parse_args(argv)
    if args.case:
        print(json.dumps(run_case(args.case, args.repeats)))
        return
    for name in args.section or SECTIONS:
        print("\n".join(SECTIONS[name](args.repeats)) + "\n", flush=True)


if __name__ == "__main__":
    main()
