"""What the benchmarks share: the units, a process's resident memory, and alternating timings.

Peak memory is the kernel's high-water mark of the resident set, ``VmHWM`` in
``/proc/<pid>/status`` (Linux), not ``getrusage``'s ``ru_maxrss``: the latter survives exec, so a
child process would report its parent's peak. A figure that must not include earlier work is
measured in a fresh process: :func:`run_python` starts one that can import this module.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

MIB = 2**20
GIB = 2**30

BENCHMARKS_DIR = Path(__file__).resolve().parent


def _status_bytes(field: str, pid: int | str) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key == field:
                return int(value.split()[0]) * 1024  # the kernel writes kB
    raise RuntimeError(f"/proc/{pid}/status has no {field} (peak memory is read on Linux only)")


def peak_bytes(pid: int | str = "self") -> int:
    """The peak resident set of process ``pid`` (this one by default) since it started or since
    :func:`reset_peak`."""
    return _status_bytes("VmHWM", pid)


def resident_bytes(pid: int | str = "self") -> int:
    """The resident set of process ``pid`` now."""
    return _status_bytes("VmRSS", pid)


def reset_peak(pid: int | str = "self") -> bool:
    """Set ``pid``'s peak back to its resident set now (Linux ``clear_refs``); whether the kernel allowed it."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


def run_python(code: str, *args: str) -> str:
    """Run ``code`` in a fresh interpreter (``python -c code args...``) that can ``import measure``;
    its standard output. A failure raises with the child's standard error."""
    paths = [str(BENCHMARKS_DIR), *filter(None, [os.environ.get("PYTHONPATH")])]
    completed = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                               env={**os.environ, "PYTHONPATH": os.pathsep.join(paths)})
    if completed.returncode != 0:
        raise RuntimeError(f"the measured process exited with status {completed.returncode}:\n{completed.stderr}")
    return completed.stdout


def alternate(contenders: dict[str, Callable[[], object]], repeats: int,
              first_calls: dict[str, float] | None = None) -> dict[str, float]:
    """Median seconds of each contender over ``repeats`` rounds in which they take turns, so a
    drift in the machine's speed hits all of them alike. Each first runs once untimed (warm-up:
    kernel selection, compilation); with ``first_calls`` that call's seconds are stored there."""
    for name, run in contenders.items():
        started = time.perf_counter()
        run()
        if first_calls is not None:
            first_calls[name] = time.perf_counter() - started
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, run in contenders.items():
            started = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in times.items()}
