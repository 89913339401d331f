"""The benchmark scripts of ``benchmarks/`` import and parse their arguments (so they cannot rot
unseen), and their shared helper reads memory and alternates contenders as it says."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPTS = sorted(path.stem for path in BENCHMARKS.glob("*.py") if path.stem != "measure")


@pytest.fixture(scope="module")
def on_path():
    """``benchmarks/`` on ``sys.path``, as when a script runs as ``python benchmarks/NAME.py``."""
    sys.path.insert(0, str(BENCHMARKS))
    yield
    sys.path.remove(str(BENCHMARKS))


def test_the_benchmarks_are_there():
    assert {"backends", "bad_inputs", "bounded", "inference", "memory", "precision", "web_flow"} <= set(SCRIPTS)


@pytest.mark.parametrize("name", SCRIPTS)
def test_each_benchmark_imports_and_answers_help(name, on_path, capsys):
    module = importlib.import_module(name)
    assert module.__doc__ and module.__doc__.strip().splitlines()[0]
    with pytest.raises(SystemExit) as exit_status:
        module.main(["--help"])
    assert exit_status.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_peak_memory_of_a_fresh_process_counts_an_allocation(on_path):
    from measure import MIB, run_python

    code = """
import numpy as np
from measure import peak_bytes, reset_peak, resident_bytes
before = peak_bytes()
block = np.ones(96 * 2**20, np.uint8)  # written, so resident
grown = peak_bytes()
resident = resident_bytes()
del block
reset = reset_peak()
print(before, grown, resident, int(reset), peak_bytes(), resident_bytes())
"""
    before, grown, resident, reset, after_reset, resident_after = map(int, run_python(code).split())
    assert grown - before >= 90 * MIB
    assert before <= grown and resident <= grown
    if reset:  # the kernel let the process reset its peak: it is back near what stays resident
        assert after_reset < grown - 64 * MIB and after_reset >= resident_after - MIB


def test_run_python_reports_the_childs_error(on_path):
    from measure import run_python

    with pytest.raises(RuntimeError, match="status 3"):
        run_python("import sys; sys.exit(3)")


def test_alternate_warms_each_up_then_takes_turns(on_path):
    from measure import alternate

    calls: list[str] = []
    first: dict[str, float] = {}
    seconds = alternate({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, 3, first)
    assert calls == ["a", "b"] * 4  # one untimed warm-up each, then three rounds in turn
    assert set(seconds) == set(first) == {"a", "b"}
    assert all(value >= 0 for value in [*seconds.values(), *first.values()])
