"""A non-editable install carries the shipped models: the wheel holds ``weights/`` as
``srapp/shipped_weights/``, and srapp installed from it, with no source checkout anywhere on its
path, finds them through :mod:`srapp.locations` and upscales with them."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from srapp import locations

REPO = Path(__file__).resolve().parents[1]
SHIPPED = sorted(path.name for path in (REPO / "weights").iterdir() if path.suffix in (".pth", ".json", ".md"))

pytestmark = pytest.mark.packaging


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel ``pip wheel .`` builds from a copy of the sources (the checkout is left untouched)."""
    root = tmp_path_factory.mktemp("packaging")
    source = root / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    shutil.copytree(REPO / "weights", source / "weights")
    shutil.copytree(REPO / "srapp", source / "srapp", symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    str(source), "-w", str(root / "dist")], check=True, cwd=root, capture_output=True)
    (built,) = (root / "dist").glob("srapp-*.whl")
    return built


def test_the_wheel_holds_every_shipped_file_as_it_is(wheel):
    assert {"rcan-x4.pth", "lpips_alexnet.pth", "training_history.json", "README.md"} <= set(SHIPPED)
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        for name in SHIPPED:
            member = f"srapp/shipped_weights/{name}"
            assert member in names, member
            assert digest(archive.read(member)) == digest((REPO / "weights" / name).read_bytes()), name
    assert not any(name.startswith(("weights/", "tests/", "benchmarks/", "experiments/")) for name in names)


def test_an_installed_srapp_finds_and_runs_the_shipped_models(wheel, tmp_path):
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    program = """
import json
import numpy as np
import srapp
from srapp import locations
out = srapp.upscale(np.full((12, 10, 3), 128, np.uint8), "rcan-x2", backend="torch", device="cpu")
print(json.dumps({"package": srapp.__file__, "checkout": locations.source_checkout() is not None,
                  "weights": str(locations.weights_dir()), "models": sorted(srapp.shipped_models()),
                  "shape": list(out.shape), "mean": float(out.mean())}))
"""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("SRAPP_")}
    environment["PYTHONPATH"] = str(site)  # ahead of the editable install of the checkout
    completed = subprocess.run([sys.executable, "-c", program], cwd=tmp_path, env=environment,
                               capture_output=True, text=True, timeout=240)
    assert completed.returncode == 0, completed.stderr
    found = json.loads(completed.stdout.splitlines()[-1])
    assert Path(found["package"]).is_relative_to(site)
    assert not found["checkout"]
    assert Path(found["weights"]) == site / "srapp" / locations.INSTALLED_WEIGHTS.name
    assert found["models"] == sorted(path.stem for path in (REPO / "weights").glob("*.pth")
                                     if path.stem != "lpips_alexnet")
    assert found["shape"] == [24, 20, 3]
    assert abs(found["mean"] - 128) < 8  # a flat grey stays about the same grey
