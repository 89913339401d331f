"""Offline LPIPS (AlexNet v0.1): official values on the calibration pairs, input handling, caching."""

from __future__ import annotations

import importlib
import importlib.util
import socket
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from srapp.data import calibration_dir

# Not `from srapp.metrics import lpips`: srapp.metrics may re-export the function under that name.
lpips_mod = importlib.import_module("srapp.metrics.lpips")
_converter = Path(__file__).resolve().parents[1] / "scripts" / "convert_lpips_weights.py"
_spec = importlib.util.spec_from_file_location("convert_lpips_weights", _converter)
convert_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(convert_mod)
lpips = lpips_mod.lpips

# Official LPIPS (AlexNet, v0.1, RGB in [-1, 1]) of ref/<name>.png vs dist/<name>.png.
OFFICIAL = {"I03": 0.7237, "I04": 0.2572, "I06": 0.0508, "I08": 0.0521, "I19": 0.4253}


def _read_rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, f"cannot read {path}"
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _pair(name: str) -> tuple[np.ndarray, np.ndarray]:
    calibration = calibration_dir()
    return _read_rgb(calibration / "dist" / f"{name}.png"), _read_rgb(calibration / "ref" / f"{name}.png")


@pytest.fixture(scope="module")
def images() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    ref = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    noise = rng.integers(-40, 41, ref.shape)
    return np.clip(ref.astype(int) + noise, 0, 255).astype(np.uint8), ref


@pytest.mark.needs_data("calibration")
@pytest.mark.parametrize("name", sorted(OFFICIAL))
def test_calibration_pairs_match_official_values(name):
    dist, ref = _pair(name)
    value = lpips(dist, ref)
    assert abs(value - OFFICIAL[name]) < 1e-3, f"{name}: got {value:.5f}, official {OFFICIAL[name]}"


def test_identical_images_give_zero(images):
    img, _ = images
    assert abs(lpips(img, img.copy())) < 1e-6


def test_uint8_uint16_and_float_inputs_agree(images):
    img, ref = images
    expected = lpips(img, ref)
    assert expected > 0.01
    assert lpips(img.astype(np.float32) / 255, ref.astype(np.float64) / 255) == pytest.approx(expected, abs=1e-5)
    assert lpips(img.astype(np.uint16) * 257, ref.astype(np.uint16) * 257) == pytest.approx(expected, abs=1e-5)
    assert lpips(img, ref.astype(np.float32) / 255) == pytest.approx(expected, abs=1e-5)  # mixed dtypes


def test_grayscale_is_replicated_and_alpha_dropped(images):
    img, ref = images
    gray_img, gray_ref = img[:, :, 0], ref[:, :, 0]
    expected = lpips(np.repeat(gray_img[..., None], 3, 2), np.repeat(gray_ref[..., None], 3, 2))
    assert 0 < lpips(gray_img, gray_ref) == pytest.approx(expected, abs=1e-6)
    assert lpips(gray_img[..., None], gray_ref[..., None]) == pytest.approx(expected, abs=1e-6)
    alpha = np.full(img.shape[:2] + (1,), 7, np.uint8)
    rgba_img, rgba_ref = np.concatenate([img, alpha], 2), np.concatenate([ref, 255 - alpha], 2)
    assert lpips(rgba_img, rgba_ref) == pytest.approx(lpips(img, ref), abs=1e-6)


def test_bad_inputs_raise(images):
    img, ref = images
    with pytest.raises(ValueError, match=r"\(48, 64, 3\).*\(48, 63, 3\)"):
        lpips(img, ref[:, :63])
    with pytest.raises(ValueError, match="same shape"):
        lpips(img[:, :, 0], ref)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        lpips(img.astype(np.float32), ref.astype(np.float32))  # 0..255 floats
    with pytest.raises(TypeError):
        lpips(img.astype(np.int32), ref.astype(np.int32))
    with pytest.raises(ValueError, match="at least"):
        lpips(img[:20, :20], ref[:20, :20])


def test_batched_tensor_matches_numpy(images):
    img, ref = images
    x = torch.from_numpy(np.stack([img, ref])).permute(0, 3, 1, 2).float() / 255
    y = torch.from_numpy(np.stack([ref, ref])).permute(0, 3, 1, 2).float() / 255
    values = lpips_mod.lpips_tensor(x, y)
    assert values.shape == (2,)
    assert values[0].item() == pytest.approx(lpips(img, ref), abs=1e-6)
    assert abs(values[1].item()) < 1e-6


def test_batched_tensor_matches_the_lpips_package_forward(images):
    img, ref = images
    x = torch.from_numpy(np.stack([img, ref, img[::-1]])).permute(0, 3, 1, 2).float() / 255
    y = torch.from_numpy(np.stack([ref, img, ref])).permute(0, 3, 1, 2).float() / 255
    official = lpips_mod.lpips_model("cpu")(x, y, normalize=True).reshape(-1)
    assert torch.allclose(lpips_mod.lpips_tensor(x, y), official, rtol=1e-6, atol=0)


@pytest.mark.parametrize(
    "shape, dtype, tile",
    [
        ((40, 360, 3), np.uint8, 48),  # columns 96:144, 144:192 and 192:240 read their whole halo
        ((37, 150), np.uint16, 16),  # thin and gray: tiles that keep nothing of the deepest layers
        ((100, 97, 4), np.uint8, 48),
    ],
)
def test_tiles_give_the_whole_image_value(monkeypatch, shape, dtype, tile):
    rng = np.random.default_rng(sum(shape))
    top = np.iinfo(dtype).max
    ref = rng.integers(0, top + 1, shape, dtype=dtype)
    img = np.clip(ref + rng.normal(0, top / 10, shape), 0, top).astype(dtype)
    rgb = [torch.from_numpy(lpips_mod.to_rgb(a).astype(np.float32) / top).permute(2, 0, 1)[None] for a in (img, ref)]
    whole = lpips_mod.lpips_model("cpu")(*rgb, normalize=True).item()

    run_sides = []
    distance_maps = lpips_mod._distance_maps

    def spy(model, x, y):
        run_sides.append(max(x.shape[-2:]))
        return distance_maps(model, x, y)

    monkeypatch.setattr(lpips_mod, "TILE", tile)
    monkeypatch.setattr(lpips_mod, "_distance_maps", spy)
    assert lpips(img, ref) == pytest.approx(whole, rel=1e-6)
    assert len(run_sides) == -(-shape[0] // tile) * -(-shape[1] // tile)
    assert max(run_sides) <= tile + 2 * lpips_mod._HALO


def test_model_is_built_once_and_cached(monkeypatch, images):
    builds = []
    real_load = lpips_mod._load_model
    monkeypatch.setattr(lpips_mod, "_load_model", lambda device: builds.append(device) or real_load(device))
    lpips_mod._cached_model.cache_clear()
    img, ref = images
    lpips(img, ref)
    model = lpips_mod.lpips_model()
    lpips(ref, img)
    assert builds == ["cpu"]
    assert lpips_mod.lpips_model("cpu") is model is lpips_mod.lpips_model(torch.device("cpu"))
    assert not model.training
    assert not any(p.requires_grad for p in model.parameters())


def test_model_build_never_touches_the_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("LPIPS tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    model = lpips_mod._load_model("cpu")  # uncached build
    assert model.net.slice1[0].weight.dtype == torch.float32


def test_missing_weights_name_the_regeneration_command(monkeypatch, tmp_path):
    monkeypatch.setattr(lpips_mod, "weights_path", lambda: tmp_path / "lpips_alexnet.pth")
    with pytest.raises(FileNotFoundError, match="convert_lpips_weights"):
        lpips_mod._load_model("cpu")


def test_weights_file_is_small_and_complete():
    path = lpips_mod.weights_path()
    assert path.is_file(), f"missing {path}"
    assert path.stat().st_size <= 6_000_000
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert sorted(state) == sorted(f"features.{i}.{p}" for i in (0, 3, 6, 8, 10) for p in ("weight", "bias"))
    assert state["features.0.weight"].shape == (64, 3, 11, 11)


def test_converter_transposes_hwio_to_oihw():
    shapes = [(11, 11, 3, 64), (5, 5, 64, 192), (3, 3, 192, 384), (3, 3, 384, 256), (3, 3, 256, 256)]
    rng = np.random.default_rng(1)
    params = {"AlexNet_0": {f"Conv_{k}": {"kernel": rng.standard_normal(s).astype(np.float32),
                                          "bias": rng.standard_normal(s[3]).astype(np.float32)}
                            for k, s in enumerate(shapes)}}
    state = convert_mod.convert(params)
    kernel = params["AlexNet_0"]["Conv_1"]["kernel"]
    assert state["features.3.weight"][7, 5, 1, 3].item() == kernel[1, 3, 5, 7]
    assert torch.equal(state["features.10.bias"], torch.from_numpy(params["AlexNet_0"]["Conv_4"]["bias"]))
