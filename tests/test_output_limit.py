"""The output limit (issue 23, item 7): a result, and every image made on the way to it, is bounded
by ``max_output_pixels``, checked before any work, in the API, the command line and the web app."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import srapp
import srapp.io.image_io as image_io
import srapp.engine.upscale as upscale_module
from srapp import UpscaleSettings, Upscaler
from srapp.archs import RCAN
from srapp.cli import main
from srapp.io.image_io import check_writable_size, read_image, write_image
from srapp.engine.settings import DEFAULT_MAX_OUTPUT_PIXELS
from srapp.errors import ImageError, UsageError
from srapp.web import Limits, RunRequest, WebService

REPOSITORY = Path(__file__).resolve().parents[1]


def _noise(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


@pytest.fixture
def no_resize(monkeypatch):
    """Any resize fails the test: a refused size must be refused before the work starts."""
    def forbidden(*args, **kwargs):
        raise AssertionError("imresize ran for a size that is over the limit")

    monkeypatch.setattr(upscale_module, "imresize", forbidden)


@pytest.fixture(scope="module")
def tiny_x4():
    torch.manual_seed(0)
    return RCAN(scale=4, num_groups=1, num_blocks=1, channels=8).eval()


# -- settings ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [0, -1, "5", 2.5, True])
def test_the_limit_must_be_a_positive_whole_number(value):
    with pytest.raises(UsageError, match="max output pixels"):
        UpscaleSettings(max_output_pixels=value)


def test_the_default_limit_is_checked_by_the_api():
    assert UpscaleSettings().max_output_pixels == DEFAULT_MAX_OUTPUT_PIXELS
    with pytest.raises(ImageError, match="over the limit of 400 megapixels of output"):
        Upscaler("bicubic", scale=400).check_size(80, 80)  # 32000x32000: 1024 megapixels


# -- the API ----------------------------------------------------------------------------------------

def test_a_huge_bicubic_scale_is_refused_before_any_work(no_resize):
    image = _noise(40, 50)
    with pytest.raises(ImageError, match=r"50x40 upscaled x1e\+06 makes the result 50000000x40000000 .*over the limit"):
        srapp.upscale(image, "bicubic", scale=1_000_000)


def test_a_huge_outscale_is_refused_before_any_work(no_resize):
    with pytest.raises(ImageError, match="over the limit of 1 megapixels of output"):
        srapp.upscale(_noise(40, 50), "bicubic", outscale=1e6, max_output_pixels=1_000_000)


def test_the_limit_is_inclusive():
    upscaler = Upscaler("bicubic", scale=2, max_output_pixels=80 * 100)
    assert upscaler(_noise(40, 50)).shape == (80, 100, 3)
    with pytest.raises(ImageError):
        upscaler(_noise(40, 51))


def test_the_network_output_before_outscale_counts_too(tiny_x4, monkeypatch):
    # x4 then back to the input's size: the result is small, the network's output 16 times larger
    upscaler = Upscaler(tiny_x4, outscale=1.0, backend="torch", precision="fp32", max_output_pixels=10 * 20 * 20)
    ran = []
    monkeypatch.setattr(upscaler, "_run_network", lambda *args: ran.append(args))
    with pytest.raises(ImageError, match=r"makes the network's x4 output 80x80 \(0\.0064 megapixels\)"):
        upscaler(_noise(20, 20))
    assert not ran
    wide = Upscaler(tiny_x4, outscale=1.0, backend="torch", precision="fp32", max_output_pixels=16 * 20 * 20)
    assert wide(_noise(20, 20)).shape == (20, 20, 3)


def test_a_path_is_refused_from_its_header_before_decoding(tmp_path, monkeypatch):
    path = write_image(tmp_path / "photo.png", _noise(30, 40))

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded an image whose result is over the limit")

    monkeypatch.setattr(image_io, "_decode", no_decoding)
    with pytest.raises(ImageError, match=r"photo\.png: 40x30 upscaled x8 makes the result 320x240") as error:
        srapp.upscale(path, "bicubic", scale=8, max_output_pixels=50_000)
    assert error.value.path == path


def test_the_header_check_sees_the_upright_size(tmp_path):
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 6  # stored 40 wide and 20 high, shown 20 wide and 40 high
    path = tmp_path / "turned.jpg"
    Image.fromarray(_noise(20, 40)).save(path, exif=exif.tobytes())
    with pytest.raises(ImageError, match=r"20x40 upscaled x2 makes the result 40x80"):
        Upscaler("bicubic", scale=2, max_output_pixels=100)(path)


# -- output formats ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("suffix", "longest"), [(".jpg", 65500), (".jpeg", 65500), (".webp", 16383)])
def test_a_format_refuses_sides_its_encoder_cannot_hold(suffix, longest, tmp_path):
    check_writable_size(tmp_path / f"a{suffix}", 1, longest)
    with pytest.raises(ImageError, match=f"does not fit in {suffix}.*at most {longest} pixels"):
        check_writable_size(tmp_path / f"a{suffix}", longest + 1, 1)
    # and write_image says the same instead of the encoder's own failure
    with pytest.raises(ImageError, match="does not fit"):
        write_image(tmp_path / f"b{suffix}", np.zeros((1, longest + 1), np.uint8))
    check_writable_size(tmp_path / "a.png", longest + 1, longest + 1)


# -- the command line -------------------------------------------------------------------------------

def test_cli_refuses_an_outscale_past_the_limit_per_image_before_any_work(tmp_path, capsys, no_resize):
    folder = tmp_path / "in"
    folder.mkdir()
    write_image(folder / "small.png", _noise(40, 50))
    code = main(["upscale", str(folder), "-o", str(tmp_path / "out"), "--model", "bicubic", "--outscale", "1e6",
                 "-q", "--no-lpips"])
    captured = capsys.readouterr()
    assert code == 1, captured
    assert "small.png" in captured.out and "over the limit of 400 megapixels of output" in captured.out
    assert list((tmp_path / "out").iterdir()) == []


def test_cli_limit_option_refuses_one_image_and_keeps_the_others(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    write_image(folder / "big.png", _noise(20, 30))  # x2: 1200 * 2 = 2400 pixels
    write_image(folder / "ok.png", _noise(10, 10))  # x2: 400 pixels
    code = main(["upscale", str(folder), "-o", str(tmp_path / "out"), "--model", "bicubic", "--scale", "2",
                 "--max-output-pixels", "1000", "-q"])
    captured = capsys.readouterr()
    assert code == 1
    assert "big.png: 30x20 upscaled x2 makes the result 60x40" in captured.out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["ok.png"]
    assert read_image(tmp_path / "out" / "ok.png").shape == (20, 20, 3)


def test_cli_refuses_a_jpeg_too_wide_for_the_format_before_upscaling(tmp_path, capsys, no_resize):
    image = write_image(tmp_path / "strip.png", np.zeros((1, 16400, 3), np.uint8))
    code = main(["upscale", str(image), "-o", str(tmp_path / "out"), "--model", "bicubic", "--scale", "4",
                 "--ext", "jpg", "-q"])
    captured = capsys.readouterr()
    assert code == 1
    assert "a 65600x4 result does not fit in .jpg" in captured.out
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("value", ["0", "-5", "many"])
def test_cli_limit_below_one_is_a_usage_error(value, tmp_path, capsys):
    image = write_image(tmp_path / "small.png", _noise(8, 8))
    with pytest.raises(SystemExit) as exit_info:
        main(["upscale", str(image), "-o", str(tmp_path / "out"), "--model", "bicubic", "--scale", "2",
              "--max-output-pixels", value, "-q"])
    assert exit_info.value.code == 2
    assert "--max-output-pixels" in capsys.readouterr().err


# -- the web app ------------------------------------------------------------------------------------

@pytest.fixture
def service(tmp_path):
    return WebService(Limits(max_pixels=1_000_000, max_output_pixels=100_000), work_root=tmp_path / "work")


def test_web_refuses_a_result_over_its_limit_before_decoding(service, tmp_path, monkeypatch):
    path = write_image(tmp_path / "upload.png", _noise(100, 100))
    settings = RunRequest("bicubic", UpscaleSettings(scale=60))
    decoded = []
    original = image_io._decode
    monkeypatch.setattr(image_io, "_decode", lambda *args: decoded.append(args) or original(*args))
    with pytest.raises(ImageError, match=r"upload\.png: 100x100 upscaled x60 makes the result 6000x6000 .*"
                                        r"over the limit of 0\.1 megapixels of output"):
        service.upscale_to_png(path, settings)
    with pytest.raises(ImageError, match="over the limit of 0.1 megapixels"):
        service.compare(path, settings)
    assert not decoded


def test_a_request_cannot_raise_the_servers_limit(service, tmp_path):
    path = write_image(tmp_path / "upload.png", _noise(100, 100))
    greedy = RunRequest("bicubic", UpscaleSettings(scale=4, max_output_pixels=10**12))
    assert service.upscaler(greedy).settings.max_output_pixels == 100_000
    with pytest.raises(ImageError, match="over the limit of 0.1 megapixels"):
        service.upscale_to_png(path, greedy)
    # within the limit it runs, and a request may lower the limit for itself
    assert read_image(service.upscale_to_png(path, RunRequest("bicubic", UpscaleSettings(scale=3)))).shape == (300, 300, 3)
    assert service.upscaler(RunRequest("bicubic", UpscaleSettings(scale=2, max_output_pixels=10))) \
        .settings.max_output_pixels == 10


def test_web_batch_fails_only_the_image_over_the_limit(service, tmp_path):
    big = write_image(tmp_path / "big.png", _noise(100, 100))
    small = write_image(tmp_path / "small.png", _noise(20, 20))
    outcome = service.batch([str(big), str(small)], RunRequest("bicubic", UpscaleSettings(scale=4)))
    assert outcome.total == 2 and [name for name, _ in outcome.failures] == ["big.png"]
    assert "over the limit of 0.1 megapixels of output" in outcome.failures[0][1]


@pytest.mark.parametrize("given", [{"argv": ["--max-output-pixels", "0"]}, {"env": "-3"}])
def test_app_refuses_an_output_limit_below_one_before_serving(given):
    environment = {**os.environ, "SRAPP_MAX_OUTPUT_PIXELS": given["env"]} if "env" in given else os.environ
    completed = subprocess.run([sys.executable, str(REPOSITORY / "app.py"), *given.get("argv", [])],
                               capture_output=True, text=True, timeout=120, env=environment)
    assert completed.returncode == 2, completed.stderr
    assert "--max-output-pixels" in completed.stderr and "must be at least 1" in completed.stderr
