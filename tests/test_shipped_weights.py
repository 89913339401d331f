"""Every SR model in weights/ loads, stays within its size budget and beats bicubic on Set5."""

from __future__ import annotations

from pathlib import Path

import pytest

import srapp
from srapp.batch import benchmark
from srapp.checkpoints import WEIGHTS_DIR

SET5 = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "Set5"
FILE_LIMIT = 8 * 2**20
FOLDER_LIMIT = 24 * 2**20


def test_weights_folder_fits_its_budget():
    files = list(WEIGHTS_DIR.glob("*"))
    assert sum(f.stat().st_size for f in files if f.is_file()) <= FOLDER_LIMIT
    assert all(f.stat().st_size <= FILE_LIMIT for f in WEIGHTS_DIR.glob("*.pth"))


@pytest.mark.parametrize("name", sorted(srapp.shipped_models()) or ["(none shipped)"])
def test_shipped_model_beats_bicubic_on_set5(name):
    if name == "(none shipped)":
        assert srapp.shipped_models() == {}
        return
    model = srapp.load_model(name)
    scale = model.scale
    ours = benchmark(srapp.Upscaler(model, device="cpu"), SET5, with_lpips=False).mean()
    bicubic = benchmark(srapp.Upscaler("bicubic", scale=scale), SET5, with_lpips=False).mean()
    assert ours["psnr"] > bicubic["psnr"] + 1.0 and ours["ssim"] > bicubic["ssim"]
