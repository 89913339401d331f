"""A checkpoint's config is checked before any network is built (issue 23, item 8): keys, types,
ranges, the size it plans against the tensors present, and finite weights. Each refusal is a
CheckpointError naming the file and the problem, and nothing is built for real before it."""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import safetensors.torch
import torch

from srapp import CheckpointError, load_model, save_checkpoint
from srapp.archs import RCAN, SAN
from srapp.archs.config import SETTINGS, arguments, attention_arguments, check_config, planned_tensors
from srapp.attention import ATTENTION_NAMES
from srapp.checkpoints.exports import safetensors_contents
from srapp.checkpoints.srapp_format import srapp_contents
from srapp.cli import main

TINY = {"scale": 2, "num_groups": 1, "num_blocks": 1, "channels": 8, "reduction": 4}


@pytest.fixture
def builds(monkeypatch) -> list[tuple[str, dict]]:
    """Every RCAN and SAN built while the test runs, with its device ("meta": nothing allocated)."""
    seen: list[tuple[str, dict]] = []
    for cls in (RCAN, SAN):
        @functools.wraps(cls.__init__)
        def recording(self, *args, __init__=cls.__init__, **config):
            seen.append((torch.empty(0).device.type, config))
            __init__(self, *args, **config)
        monkeypatch.setattr(cls, "__init__", recording)
    return seen


def _real_builds(builds: list[tuple[str, dict]]) -> list[dict]:
    return [config for device, config in builds if device != "meta"]


def _stored(model: torch.nn.Module, path: Path, dtype: torch.dtype | None = None) -> dict:
    save_checkpoint(model, path, dtype)
    return torch.load(path, weights_only=True)


def _with_config(tmp_path: Path, config: object, arch: str = "RCAN", suffix: str = ".pth") -> Path:
    """A tiny srapp checkpoint (PyTorch or safetensors) whose stored config is replaced by ``config``."""
    torch.manual_seed(0)
    contents = srapp_contents(RCAN(**TINY) if arch == "RCAN" else SAN(**TINY))
    path = tmp_path / f"bad{suffix}"
    if suffix == ".safetensors":
        tensors, metadata = safetensors_contents(contents)
        safetensors.torch.save_file(tensors, path, dict(metadata, config=json.dumps(config)))
    else:
        torch.save(dict(contents, config=config), path)
    return path


def _tiny_config(**changes: object) -> dict:
    return {**RCAN(**TINY).config, **changes}


BAD_CONFIGS = {  # id: (architecture, config, what the message must say)
    "num_groups 100000": ("RCAN", _tiny_config(num_groups=100000), "num_groups: 100000 is outside 1..1000"),
    "channels 65536": ("RCAN", _tiny_config(channels=65536), "channels: 65536 is outside 1..4096"),
    "channels -5": ("RCAN", _tiny_config(channels=-5), "channels: -5 is outside 1..4096"),
    "channels '64'": ("RCAN", _tiny_config(channels="64"), "channels: expected an integer, got '64'"),
    "channels true": ("RCAN", _tiny_config(channels=True), "channels: expected an integer, got True"),
    "blocks 2.0": ("RCAN", _tiny_config(num_blocks=2.0), "num_blocks: expected an integer, got 2.0"),
    "scale 5": ("RCAN", _tiny_config(scale=5), "scale: 5 is not one of 2, 3, 4, 8"),
    "scale 4.0": ("RCAN", _tiny_config(scale=4.0), "scale: 4.0 is not one of 2, 3, 4, 8"),
    "attention": ("RCAN", _tiny_config(attention="magic"), "attention: 'magic' is not one of 'none', 'se'"),
    "unknown key": ("RCAN", _tiny_config(colour="blue"), "unknown key 'colour' (RCAN takes scale, attention"),
    "unknown option": ("RCAN", _tiny_config(attention_kwargs={"reduction": 4, "depth": 3}),
                       "unknown key 'attention_kwargs.depth' (attention 'ca' takes reduction)"),
    "option type": ("RCAN", _tiny_config(attention_kwargs={"reduction": "4"}),
                    "attention_kwargs.reduction: expected an integer, got '4'"),
    "img_range 0": ("RCAN", _tiny_config(img_range=0), "img_range: 0 is not positive"),
    "rgb_mean nan": ("RCAN", _tiny_config(rgb_mean=[0.5, math.nan, 0.5]),
                     "rgb_mean: [0.5, nan, 0.5]: nan is not a finite number"),
    "SAN reduction none": ("SAN", {**SAN(**TINY).config, "reduction": None},
                           "reduction: expected an integer, got None"),
    "SAN iterations 10**9": ("SAN", {**SAN(**TINY).config, "iterations": 10**9},
                             "iterations: 1000000000 is outside 1..100"),
    "not a mapping": ("RCAN", [["channels", 8]], "expected a mapping of RCAN's arguments, got a list"),
}


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
@pytest.mark.parametrize("case", BAD_CONFIGS, ids=str)
def test_a_bad_config_is_refused_by_key_before_anything_is_built(case, suffix, tmp_path, builds):
    arch, config, fragment = BAD_CONFIGS[case]
    path = _with_config(tmp_path, config, arch, suffix)
    builds.clear()
    with pytest.raises(CheckpointError) as error:
        load_model(path)
    assert error.value.source == str(path.resolve())
    assert str(error.value).startswith(f"{path.resolve()}: {arch} config refused: {fragment}")
    assert builds == []  # not even on the meta device


def test_a_config_planning_far_more_than_the_file_holds_is_refused_unbuilt(tmp_path, builds):
    """Within every range, yet 500 x 40 blocks from a file of one block: refused on the size it plans."""
    config = _tiny_config(num_groups=500, num_blocks=40)
    path = _with_config(tmp_path, config)
    held = len(RCAN(**TINY).state_dict())
    builds.clear()
    with pytest.raises(CheckpointError) as error:
        load_model(path)
    assert str(error.value) == (
        f"{path.resolve()}: its RCAN config (num_groups 500, num_blocks 40) plans a network of "
        f"{planned_tensors('RCAN', config)} tensors, the checkpoint holds {held}: the config does not "
        "describe these weights; nothing was built")
    assert builds and _real_builds(builds) == []
    assert max(built["num_groups"] for _, built in builds) <= 2  # only the tiny probes


@pytest.mark.parametrize("changes, fragment", [
    ({"channels": 16}, "shape mismatches (checkpoint vs model): head.weight (8, 3, 3, 3) vs (16, 3, 3, 3)"),
    ({"num_blocks": 2}, "missing keys: groups.0.blocks.1.attention.fc_expand.bias"),
    ({"attention": "eca", "attention_kwargs": {}}, "unexpected keys: groups.0.blocks.0.attention.fc_expand.bias"),
    ({"scale": 4}, "missing keys: upsampler.2.bias, upsampler.2.weight"),
])
def test_a_config_its_tensors_do_not_match_is_compared_on_the_meta_device(changes, fragment, tmp_path, builds):
    path = _with_config(tmp_path, _tiny_config(**changes))
    builds.clear()
    with pytest.raises(CheckpointError) as error:
        load_model(path)
    assert str(error.value).startswith(f"{path.resolve()}: does not match RCAN")
    assert fragment in str(error.value)
    assert builds and _real_builds(builds) == []


@pytest.mark.parametrize("dtype", [None, torch.float16], ids=["fp32", "fp16"])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nan_or_infinite_weights_are_refused_by_name(bad, dtype, tmp_path, builds):
    torch.manual_seed(0)
    stored = _stored(RCAN(**TINY), tmp_path / "weights.pth", dtype)
    builds.clear()
    for key in ("groups.0.conv.weight", "tail.bias"):
        stored["params"][key].view(-1)[1] = bad
    path = tmp_path / "weights.pth"
    torch.save(stored, path)
    with pytest.raises(CheckpointError) as error:
        load_model(path)
    assert str(error.value) == (f"{path.resolve()}: NaN or infinite weights in groups.0.conv.weight, tail.bias; "
                                "nothing was loaded")
    assert _real_builds(builds) == []


def test_nan_weights_in_a_state_dict_are_refused(builds):
    state = RCAN(**TINY).state_dict()
    builds.clear()
    state["head.weight"][0, 0, 0, 0] = math.nan
    with pytest.raises(CheckpointError, match=r"^\(srapp-rcan layout\): NaN or infinite weights in head\.weight;"):
        load_model(state)
    assert _real_builds(builds) == []


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_int8_scales_must_be_finite(bad, tmp_path):
    torch.manual_seed(0)
    stored = _stored(RCAN(**{**TINY, "channels": 32}), tmp_path / "int8.pth", torch.int8)
    stored["int8_scales"]["groups.0.conv.weight"][3] = bad
    path = tmp_path / "int8.pth"
    torch.save(stored, path)
    with pytest.raises(CheckpointError) as error:
        load_model(path)
    assert str(error.value) == (f"{path.resolve()}: int8 weight groups.0.conv.weight has NaN or infinite "
                                "per-channel scales")


def test_int8_scales_that_overflow_float32_are_refused(tmp_path):
    """A finite scale times 127 can still be infinite: the dequantized weights are checked too."""
    torch.manual_seed(0)
    stored = _stored(RCAN(**{**TINY, "channels": 32}), tmp_path / "int8.pth", torch.int8)
    stored["int8_scales"]["groups.0.conv.weight"][0] = torch.finfo(torch.float32).max
    path = tmp_path / "int8.pth"
    torch.save(stored, path)
    with pytest.raises(CheckpointError, match=r"int8\.pth: NaN or infinite weights in groups\.0\.conv\.weight;"):
        load_model(path)


def test_stored_parts_that_are_not_tensors_are_refused(tmp_path):
    stored = _stored(RCAN(**TINY), tmp_path / "odd.pth")
    stored["params"]["head.weight"] = [1.0, 2.0]
    torch.save(stored, tmp_path / "odd.pth")
    with pytest.raises(CheckpointError, match=r"odd\.pth: srapp checkpoint whose params is not a mapping of tensors"):
        load_model(tmp_path / "odd.pth")


def test_a_good_checkpoint_is_built_for_real_once(tmp_path, builds):
    torch.manual_seed(0)
    model = RCAN(**TINY).eval()
    path = save_checkpoint(model, tmp_path / "good.pth")
    builds.clear()
    loaded = load_model(path)
    assert [device for device, _ in builds] == ["meta"] * 4 + ["cpu"]  # three probes, the planned state, the network
    x = torch.rand(1, 3, 6, 5)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_every_constructor_argument_has_a_setting():
    """A new argument of a network or an attention module needs its type and range in SETTINGS,
    or every checkpoint recording it would be refused as an unknown key."""
    names = set(arguments(RCAN)) | set(arguments(SAN))
    for attention in ("none", *ATTENTION_NAMES):
        names |= set(attention_arguments(attention))
    assert names - set(SETTINGS) == set()
    assert set(SETTINGS) - names == set()  # and no setting outlives its argument


def test_none_is_taken_where_the_constructor_defaults_to_none():
    assert check_config("RCAN", {"reduction": None, "attention_kwargs": None})["reduction"] is None
    assert check_config("SAN", {"soca_window": None})["soca_window"] is None
    assert check_config("RCAN", {"attention": "eca", "attention_kwargs": {"kernel_size": None}})
    with pytest.raises(ValueError, match="num_groups: expected an integer, got None"):
        check_config("RCAN", {"num_groups": None})


@pytest.mark.parametrize("build", [
    *(lambda attention=attention: RCAN(scale=3, attention=attention, num_groups=3, num_blocks=2, channels=16)
      for attention in ("none", *ATTENTION_NAMES)),
    lambda: SAN(scale=4, num_groups=3, num_blocks=4, channels=16, nonlocal_subsample=True),
], ids=[*("RCAN-" + name for name in ("none", *ATTENTION_NAMES)), "SAN"])
def test_planned_tensors_counts_the_state_dict(build):
    """The count extrapolated from three tiny meta builds is the real state dict's."""
    network = build()
    arch = type(network).__name__
    assert planned_tensors(arch, network.config) == len(network.state_dict())


def _image(tmp_path: Path) -> Path:
    path = tmp_path / "small.png"
    cv2.imwrite(str(path), np.full((6, 5, 3), 128, np.uint8))
    return path


@pytest.mark.parametrize("case", ["num_groups 100000", "channels '64'", "unknown key"])
def test_upscale_with_a_bad_config_exits_with_one_line(case, tmp_path, capsys):
    arch, config, fragment = BAD_CONFIGS[case]
    path = _with_config(tmp_path, config, arch)
    code = main(["upscale", str(_image(tmp_path)), "-o", str(tmp_path / "out"), "--model", str(path), "-q"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith(f"srapp: error: {path.resolve()}: RCAN config refused: {fragment}")
    assert not (tmp_path / "out").exists()


def test_upscale_with_nan_weights_exits_with_one_line(tmp_path, capsys):
    stored = _stored(RCAN(**TINY), tmp_path / "nan.pth")
    stored["params"]["tail.weight"].fill_(math.nan)
    torch.save(stored, tmp_path / "nan.pth")
    code = main(["upscale", str(_image(tmp_path)), "-o", str(tmp_path / "out"), "--model", str(tmp_path / "nan.pth"),
                 "-q"])
    assert code == 2
    assert capsys.readouterr().err == (f"srapp: error: {(tmp_path / 'nan.pth').resolve()}: NaN or infinite weights "
                                       "in tail.weight; nothing was loaded\n")
    assert not (tmp_path / "out").exists()
