"""UpscaleSettings: one default and one check per setting, whichever door (API, CLI, web) a value comes through;
and a torch-only core that leaves BasicSR unloaded."""

from __future__ import annotations

import inspect
import math
import subprocess
import sys

import numpy as np
import pytest

import srapp
from srapp.cli import build_parser, main
from srapp.engine.settings import DEFAULT_MODEL, DEFAULT_SETTINGS, PHOTO_MODEL, SETTING_NAMES, UpscaleSettings
from srapp.errors import UsageError
from srapp.web import ui
from srapp.web.service import DEFAULT_BICUBIC_SCALE, WebService


def _upscale_parser():
    return build_parser()._subparsers._group_actions[0].choices["upscale"]


def test_cli_defaults_are_the_settings_defaults():
    args = _upscale_parser().parse_args(["in.png", "-o", "out"])
    for name in SETTING_NAMES:
        assert getattr(args, name) == getattr(DEFAULT_SETTINGS, name), name
    assert args.model == DEFAULT_MODEL


def test_api_defaults_are_the_settings_defaults():
    assert inspect.signature(srapp.upscale).parameters["model"].default == DEFAULT_MODEL
    assert inspect.signature(srapp.Upscaler).parameters["model"].default == DEFAULT_MODEL
    upscaler = srapp.Upscaler("bicubic", scale=2)
    assert upscaler.settings == DEFAULT_SETTINGS.replace(scale=2)


def test_web_defaults_are_the_settings_defaults():
    settings = ui._settings(DEFAULT_MODEL, None, None, None, None, False)
    assert settings.upscale == DEFAULT_SETTINGS  # a network's scale is its own
    assert ui._settings("bicubic", None, None, None, None, False).upscale == \
        DEFAULT_SETTINGS.replace(scale=DEFAULT_BICUBIC_SCALE)
    service = WebService()
    # the web app starts on the photo model where it is shipped (people bring photos)
    assert service.default_model() == (PHOTO_MODEL if PHOTO_MODEL in srapp.shipped_models() else DEFAULT_MODEL)
    network_run = service.upscaler(settings)
    assert network_run.settings.scale is None  # networks keep their own scale


@pytest.mark.parametrize(("changes", "message"), [
    ({"scale": 0}, "scale must be >= 1"),
    ({"scale": -2}, "scale must be >= 1"),
    ({"scale": 2.5}, "scale must be a whole number"),
    ({"scale": True}, "scale must be a whole number"),
    ({"tile": 2.5}, "tile must be a whole number"),
    ({"tile": -1}, "tile must be >= 0"),
    ({"tile_overlap": -3}, "tile overlap must be >= 0"),
    ({"outscale": math.inf}, "outscale must be a positive finite number"),
    ({"outscale": math.nan}, "outscale must be a positive finite number"),
    ({"outscale": 0}, "outscale must be a positive finite number"),
    ({"precision": "int4"}, "unknown precision 'int4'"),
    ({"backend": "tensorflow"}, "unknown backend 'tensorflow'"),
    ({"threads": 0}, "threads must be >= 1"),
    ({"colour": "red"}, "unknown setting colour"),
])
def test_every_setting_is_checked_once_with_one_message(changes, message):
    with pytest.raises(UsageError, match=message):
        DEFAULT_SETTINGS.replace(**changes)
    with pytest.raises(UsageError, match=message):
        srapp.upscale(np.zeros((4, 4, 3), np.uint8), "bicubic", **{"scale": 2, **changes})


@pytest.mark.parametrize("argv, message", [
    (["--scale", "0"], "scale must be >= 1"),
    (["--scale", "-2"], "scale must be >= 1"),
    (["--outscale", "inf"], "outscale must be a positive finite number"),
    (["--tile", "-5"], "tile must be >= 0"),
])
def test_cli_refuses_bad_numbers_with_exit_status_2(tmp_path, capsys, argv, message):
    image = tmp_path / "in.png"
    srapp.io.image_io.write_image(image, np.zeros((8, 8, 3), np.uint8))
    status = main(["upscale", str(image), "-o", str(tmp_path / "out"), "--model", "bicubic", *(
        [] if "--scale" in argv else ["--scale", "2"]), *argv])
    assert status == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_web_refuses_bad_numbers_with_the_same_message():
    with pytest.raises(UsageError, match="tile must be a whole number"):
        ui._settings(DEFAULT_MODEL, 2, "2.5", "auto", "auto", False)
    with pytest.raises(UsageError, match="scale must be >= 1"):
        ui._settings("bicubic", "0", "auto", "auto", "auto", False)
    assert ui._settings("bicubic", "3", "128", "auto", "auto", False).upscale.scale == 3  # strings, as the API sends


def test_settings_are_frozen():
    with pytest.raises(AttributeError):
        DEFAULT_SETTINGS.tile = 3  # type: ignore[misc]
    assert UpscaleSettings(outscale=2).outscale == 2.0


@pytest.mark.parametrize("module", ["srapp", "srapp.engine.upscale", "srapp.metrics", "srapp.metrics.niqe",
                                    "srapp.batch", "srapp.cli", "srapp.web"])
def test_the_core_never_loads_basicsr(module):
    code = (f"import sys, importlib; importlib.import_module({module!r}); "
            "print('basicsr' in sys.modules, 'torchvision.transforms.functional_tensor' in sys.modules)")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert completed.stdout.split() == ["False", "False"]
