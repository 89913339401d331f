"""load_model: every checkpoint layout, srapp's own format, and clear refusals."""

from __future__ import annotations

import pytest
import torch

import srapp
import srapp._compat  # noqa: F401  (BasicSR, a reference here, imports a module torchvision removed)
from srapp import CheckpointError, load_model, save_checkpoint
from srapp.archs import RCAN, SAN
from srapp.checkpoints import dequantize_int8, quantize_int8


def _official_rcan_state(model: RCAN) -> dict[str, torch.Tensor]:
    """Rename srapp's RCAN to the EDSR-style layout of the official RCAN release."""
    ours = model.state_dict()
    num_groups, num_blocks = model.config["num_groups"], model.config["num_blocks"]
    official = {f"head.0.{p}": ours[f"head.{p}"] for p in ("weight", "bias")}
    for g in range(num_groups):
        for b in range(num_blocks):
            src, dst = f"groups.{g}.blocks.{b}", f"body.{g}.body.{b}.body"
            for p in ("weight", "bias"):
                official[f"{dst}.0.{p}"] = ours[f"{src}.conv1.{p}"]
                official[f"{dst}.2.{p}"] = ours[f"{src}.conv2.{p}"]
                official[f"{dst}.3.conv_du.0.{p}"] = ours[f"{src}.attention.fc_reduce.{p}"]
                official[f"{dst}.3.conv_du.2.{p}"] = ours[f"{src}.attention.fc_expand.{p}"]
        for p in ("weight", "bias"):
            official[f"body.{g}.body.{num_blocks}.{p}"] = ours[f"groups.{g}.conv.{p}"]
    for p in ("weight", "bias"):
        official[f"body.{num_groups}.{p}"] = ours[f"body_conv.{p}"]
        official[f"tail.1.{p}"] = ours[f"tail.{p}"]
        for i in range(0, len(model.upsampler), 2):
            official[f"tail.0.{i}.{p}"] = ours[f"upsampler.{i}.{p}"]
    mean = torch.tensor(model.config["rgb_mean"])
    official["sub_mean.weight"] = torch.eye(3).view(3, 3, 1, 1)
    official["sub_mean.bias"] = -255.0 * mean
    official["add_mean.weight"] = torch.eye(3).view(3, 3, 1, 1)
    official["add_mean.bias"] = 255.0 * mean
    return official


def _randomise(model: torch.nn.Module) -> torch.nn.Module:
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0, 0.05)
    return model.eval()


def _same_outputs(a: torch.nn.Module, b: torch.nn.Module, size=(2, 3, 10, 9)) -> bool:
    x = torch.rand(*size)
    with torch.no_grad():
        return torch.equal(a(x), b(x))


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_official_rcan_layout_round_trip(scale):
    torch.manual_seed(0)
    model = _randomise(RCAN(scale=scale, num_groups=2, num_blocks=3, channels=16, reduction=4))
    loaded = load_model(_official_rcan_state(model)).network
    assert loaded.config["num_groups"] == 2 and loaded.config["num_blocks"] == 3
    assert loaded.config["channels"] == 16 and loaded.config["scale"] == scale
    assert loaded.config["attention_kwargs"] == {"reduction": 4}
    assert torch.allclose(torch.tensor(loaded.config["rgb_mean"]), torch.tensor(model.config["rgb_mean"]))
    assert _same_outputs(model, loaded)


def test_basicsr_wrappers_and_module_prefix(tmp_path):
    from basicsr.archs.rcan_arch import RCAN as BasicSRRCAN

    torch.manual_seed(0)
    reference = BasicSRRCAN(3, 3, num_feat=16, num_group=2, num_block=2, squeeze_factor=4, upscale=2).eval()
    wrapped = {"params_ema": {f"module.{k}": v for k, v in reference.state_dict().items()}, "params": {}}
    path = tmp_path / "net_g_latest.pth"
    torch.save(wrapped, path)
    loaded = load_model(path).network
    assert _same_outputs(reference, loaded)
    assert not loaded.training


@pytest.mark.parametrize("build", [lambda: RCAN(scale=4, num_groups=2, num_blocks=3, channels=16, reduction=4),
                                   lambda: SAN(scale=3, num_groups=2, num_blocks=2, channels=16, reduction=4)])
def test_srapp_training_checkpoint_loads_its_ema_weights(tmp_path, build):
    """``srapp train`` writes BasicSR's {params, params_ema} with srapp's own key names."""
    torch.manual_seed(0)
    raw, ema = _randomise(build()), _randomise(build())
    path = tmp_path / "net_g_1000.pth"
    torch.save({"params": raw.state_dict(), "params_ema": ema.state_dict()}, path)
    loaded = load_model(path).network
    assert loaded.config == ema.config
    assert _same_outputs(ema, loaded) and not _same_outputs(raw, loaded)


@pytest.mark.parametrize("build", [lambda: RCAN(scale=3, attention="eca", num_groups=2, num_blocks=2, channels=16),
                                   lambda: SAN(scale=2, num_groups=2, num_blocks=2, channels=16, reduction=4)])
def test_srapp_checkpoint_carries_its_config(tmp_path, build):
    torch.manual_seed(0)
    model = _randomise(build())
    path = save_checkpoint(model, tmp_path / "model.pth")
    assert not list(tmp_path.glob("*.tmp"))
    loaded = load_model(str(path)).network
    assert type(loaded) is type(model) and loaded.config == model.config
    assert _same_outputs(model, loaded)


def test_half_precision_checkpoint_is_smaller_and_close(tmp_path):
    torch.manual_seed(0)
    model = _randomise(RCAN(scale=2, num_groups=2, num_blocks=2, channels=16))
    full = save_checkpoint(model, tmp_path / "full.pth")
    half = save_checkpoint(model, tmp_path / "half.pth", dtype=torch.float16)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    loaded = load_model(half).network
    assert next(loaded.parameters()).dtype == torch.float32
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        assert (loaded(x) - model(x)).abs().max() < 1e-2


def test_int8_quantization_is_within_half_a_step_per_output_channel():
    torch.manual_seed(0)
    weight = torch.randn(6, 4, 3, 3) * torch.tensor([1e-3, 0.1, 1.0, 5.0, 0.0, 0.2]).view(6, 1, 1, 1)
    quantized, scale = quantize_int8(weight)
    assert quantized.dtype == torch.int8 and quantized.shape == weight.shape
    for channel in range(6):  # the formula, channel by channel
        largest = weight[channel].abs().max().item()
        if largest > 0:
            assert scale[channel].item() == pytest.approx(largest / 127)
            assert quantized[channel].abs().max().item() == 127
        assert quantized[channel].abs().max().item() <= 127
    error = (dequantize_int8(quantized, scale) - weight).abs()
    assert (error <= scale.view(6, 1, 1, 1) / 2 + 1e-9).all()
    assert not dequantize_int8(quantized, scale)[4].any()  # an all-zero channel stays zero


def test_int8_checkpoint_is_a_quarter_and_close(tmp_path):
    torch.manual_seed(0)
    model = _randomise(RCAN(scale=2, num_groups=2, num_blocks=2, channels=32))
    full = save_checkpoint(model, tmp_path / "full.pth")
    small = save_checkpoint(model, tmp_path / "int8.pth", dtype=torch.int8)
    assert small.stat().st_size < 0.35 * full.stat().st_size
    stored = torch.load(small, weights_only=True)
    state = model.state_dict()
    for key, quantized in stored["int8_params"].items():
        assert quantized.dtype == torch.int8 and state[key].numel() >= 1024
    assert all(value.dtype == torch.float16 for value in stored["params"].values() if value.is_floating_point())
    assert "groups.0.blocks.0.conv1.weight" in stored["int8_params"]
    assert "groups.0.blocks.0.attention.fc_reduce.weight" in stored["params"]  # 32 x 2: too small to quantize
    loaded = load_model(small).network
    for key, value in loaded.state_dict().items():  # half a step (int8) or float16 rounding (the rest)
        bound = stored["int8_scales"][key].view(-1, *[1] * (value.dim() - 1)) / 2 if key in stored["int8_params"] else 1e-3
        assert ((value - state[key]).abs() <= bound + 1e-7).all(), key
    x = torch.rand(1, 3, 12, 12)
    with torch.no_grad():
        assert (loaded(x) - model(x)).abs().max() < 2e-2


def test_int8_checkpoint_without_its_scales_is_refused_by_name(tmp_path):
    model = RCAN(scale=2, num_groups=1, num_blocks=1, channels=32)
    path = save_checkpoint(model, tmp_path / "int8.pth", dtype=torch.int8)
    stored = torch.load(path, weights_only=True)
    del stored["int8_scales"]["groups.0.conv.weight"]
    torch.save(stored, path)
    with pytest.raises(CheckpointError, match=r"int8\.pth: int8 weight groups\.0\.conv\.weight lacks its 32 per-channel scales"):
        load_model(path)


def test_partial_checkpoint_names_missing_and_unexpected_keys():
    model = RCAN(scale=2, num_groups=2, num_blocks=2, channels=16)
    state = _official_rcan_state(model)
    del state["body.1.body.0.body.2.weight"]
    state["body.0.body.0.body.9.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointError) as error:
        load_model(state)
    message = str(error.value)
    assert "nothing was loaded" in message
    assert "groups.1.blocks.0.conv2.weight" in message
    assert "body.0.body.0.body.9.weight" in message


def test_shape_mismatch_is_reported():
    model = RCAN(scale=2, num_groups=1, num_blocks=1, channels=16)
    state = {"format": "srapp", "arch": "RCAN", "config": dict(model.config, channels=32), "params": model.state_dict()}
    with pytest.raises(CheckpointError, match="shape mismatches"):
        load_model(state)


def test_unrecognised_layout_corrupt_file_and_unknown_name(tmp_path):
    with pytest.raises(CheckpointError, match="unrecognised checkpoint layout"):
        load_model({"encoder.weight": torch.zeros(2)})
    corrupt = tmp_path / "broken.pth"
    corrupt.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="broken.pth: not a readable PyTorch checkpoint"):
        load_model(corrupt)
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        load_model(tmp_path / "absent.pth")
    with pytest.raises(CheckpointError, match="neither a shipped model"):
        load_model("rcan-x5")


def test_pickled_code_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"params": {"x": torch.zeros(1)}, "hook": torch.nn.ReLU()}, path)
    with pytest.raises(CheckpointError, match="evil.pth"):
        load_model(path)


def test_top_level_api():
    assert srapp.load_model is load_model
    assert isinstance(srapp.shipped_models(), dict)


def test_load_model_says_what_it_loaded(tmp_path):
    model = _randomise(RCAN(scale=3, num_groups=1, num_blocks=2, channels=16, reduction=4))
    loaded = load_model(_official_rcan_state(model))
    assert (loaded.arch, loaded.scale, loaded.layout, loaded.source) == ("RCAN", 3, "official-rcan", None)
    assert loaded.config == loaded.network.config and loaded.parameter_count == sum(p.numel() for p in model.parameters())
    path = save_checkpoint(model, tmp_path / "mine.pth")
    from_file = load_model(path)
    assert (from_file.layout, from_file.source) == ("srapp", str(path.resolve()))
    assert _same_outputs(model, from_file.network)


def test_every_layout_detects_only_its_own_keys():
    """Each layout object owns its detection: a state dict is recognised by exactly one layout."""
    from srapp.checkpoints import LAYOUTS

    san = SAN(scale=2, num_groups=1, num_blocks=1, channels=16, reduction=4)
    rcan = RCAN(scale=2, num_groups=1, num_blocks=1, channels=16, reduction=4)
    states = {"srapp-rcan": rcan.state_dict(), "srapp-san": san.state_dict(),
              "official-rcan": _official_rcan_state(rcan)}  # official SAN: tests/test_official_san.py
    for name, state in states.items():
        assert [layout.name for layout in LAYOUTS if layout.detect(state)] == [name]
