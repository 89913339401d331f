"""srapp.upscale / Upscaler and the tiling engine, checked against direct computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import srapp
from srapp.archs import RCAN
from srapp.attention import ATTENTION_NAMES
from srapp.engine.resize import imresize
from srapp.engine.tiling import blend_window, fitted_tile, tile_starts, tiled_forward
from srapp.engine.upscale import Upscaler, self_ensemble_forward, upscale
from srapp.metrics import psnr


class NearestUpsample(nn.Module):
    """A purely local model: each output pixel depends on one input pixel."""

    def __init__(self, scale: int) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.repeat_interleave(self.scale, -1).repeat_interleave(self.scale, -2)


class RefusesLargeInputs(NearestUpsample):
    """Raises CUDA's out-of-memory error for inputs with a side over ``limit`` pixels."""

    def __init__(self, scale: int, limit: int) -> None:
        super().__init__(scale)
        self.limit, self.sizes = limit, []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.sizes.append(tuple(x.shape[-2:]))
        if max(x.shape[-2:]) > self.limit:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return super().forward(x)


def smooth_image(height: int, width: int, channels: int = 3, dtype=np.uint8, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).random((height // 4 + 2, width // 4 + 2, channels))
    image = imresize(noise, output_shape=(height, width))
    peak = np.iinfo(dtype).max
    return np.round(np.clip(image, 0, 1) * peak).astype(dtype)


@pytest.fixture(scope="module")
def tiny_rcan() -> RCAN:
    torch.manual_seed(0)
    return RCAN(scale=2, num_groups=2, num_blocks=2, channels=16).eval()


@pytest.mark.parametrize("length,tile,overlap", [(100, 32, 8), (33, 32, 8), (64, 32, 0), (1000, 256, 16), (50, 48, 20)])
def test_tile_starts_cover_the_axis_with_at_least_the_overlap(length, tile, overlap):
    starts = tile_starts(length, tile, overlap)
    covered = np.zeros(length, bool)
    for start in starts:
        covered[start:start + tile] = True
    assert covered.all() and starts[0] == 0 and starts[-1] + tile == length
    assert all(b - a <= tile - overlap for a, b in zip(starts, starts[1:]))
    # the fewest tiles that can do it
    assert len(starts) == 1 + int(np.ceil((length - tile) / (tile - overlap)))


@pytest.mark.parametrize("length,tile,overlap", [(600, 256, 16), (257, 256, 16), (1000, 128, 8), (100, 200, 16)])
def test_fitted_tiles_cover_the_axis_with_the_same_count_and_little_redundancy(length, tile, overlap):
    fitted = fitted_tile(length, tile, overlap)
    starts = tile_starts(length, fitted, overlap)
    assert fitted <= tile and len(starts) == len(tile_starts(length, min(tile, length), overlap))
    assert starts[-1] + fitted == length
    assert len(starts) * fitted - length <= (len(starts) - 1) * overlap + len(starts)  # overlaps only, +rounding


def test_blend_window_ramps_are_complementary_over_an_overlap():
    before, after = blend_window(40, 0, 10), blend_window(40, 10, 0)
    np.testing.assert_allclose(before[30:] + after[:10], 1.0, atol=1e-6)
    assert before[:30].min() == 1.0 and after[10:].min() == 1.0 and after[0] > 0


@pytest.mark.parametrize("tile,overlap", [(8, 2), (13, 4), (40, 0), (7, 3)])
def test_tiled_forward_of_a_local_model_equals_the_whole_image(tile, overlap):
    x = torch.rand(1, 3, 29, 37)
    expected = NearestUpsample(3)(x)[0].permute(1, 2, 0).numpy()
    result = tiled_forward(NearestUpsample(3), x, scale=3, tile=tile, overlap=overlap)
    np.testing.assert_allclose(result, expected, atol=1e-6)


def test_tiled_forward_streams_rows_through_finish():
    x = torch.rand(1, 3, 30, 20)
    seen = []

    def finish(rows: np.ndarray) -> np.ndarray:
        seen.append(rows.shape[0])
        return np.round(rows * 255).astype(np.uint8)

    result = tiled_forward(NearestUpsample(2), x, scale=2, tile=8, overlap=2, finish=finish)
    assert result.dtype == np.uint8 and sum(seen) == 60 and len(seen) > 1
    np.testing.assert_array_equal(result, np.round(NearestUpsample(2)(x)[0].permute(1, 2, 0).numpy() * 255))


# Tests that compare with a direct torch forward pass, or count the calls a module sees, pin the
# torch backend: the OpenVINO path pads whole images to multiples of 32 (its own checks, with the
# measured tolerance, are in test_backends.py) and runs a converted graph, not the module.
TORCH = {"backend": "torch", "device": "cpu", "precision": "fp32"}


def test_tiled_rcan_agrees_with_whole_image_at_default_overlap(tiny_rcan):
    image = smooth_image(72, 88)
    whole = upscale(image, tiny_rcan, tile=0, **TORCH)
    tiled = upscale(image, tiny_rcan, tile=32, **TORCH)
    assert psnr(tiled, whole) >= 50.0


def test_network_output_matches_a_direct_forward_pass(tiny_rcan):
    image = smooth_image(20, 24)
    with torch.no_grad():
        x = torch.from_numpy(image.transpose(2, 0, 1).copy()).float()[None] / 255
        expected = tiny_rcan(x)[0].permute(1, 2, 0).clamp(0, 1).numpy()
    result = upscale(image, tiny_rcan, **TORCH)
    assert result.dtype == np.uint8 and result.shape == (40, 48, 3)
    np.testing.assert_array_equal(result, np.round(expected * 255).astype(np.uint8))


@pytest.mark.parametrize("attention", ATTENTION_NAMES)
def test_every_attention_runs_through_the_channels_last_engine(attention):
    torch.manual_seed(0)
    network = RCAN(scale=2, attention=attention, num_groups=1, num_blocks=2, channels=16).eval()
    image = smooth_image(20, 24)
    with torch.no_grad():
        x = torch.from_numpy(image.transpose(2, 0, 1).copy()).float()[None] / 255
        expected = network(x)[0].permute(1, 2, 0).clamp(0, 1).numpy() * 255  # plain NCHW
    result = upscale(image, network, **TORCH)
    assert np.abs(result - expected).max() <= 0.5 + 1e-3


def test_sixteen_bit_input_gives_sixteen_bit_output(tiny_rcan):
    image = smooth_image(20, 24, dtype=np.uint16)
    with torch.no_grad():
        x = torch.from_numpy(image.transpose(2, 0, 1).astype(np.float32))[None] / 65535
        expected = tiny_rcan(x)[0].permute(1, 2, 0).clamp(0, 1).numpy()
    result = upscale(image, tiny_rcan, **TORCH)
    assert result.dtype == np.uint16
    assert np.abs(result.astype(np.int64) - np.round(expected * 65535)).max() <= 1


def test_gray_stays_single_channel_and_alpha_is_upscaled(tiny_rcan):
    rgba = smooth_image(20, 24, channels=4)
    result = upscale(rgba, tiny_rcan, device="cpu", precision="fp32")
    assert result.shape == (40, 48, 4)
    np.testing.assert_array_equal(result[:, :, 3], imresize(rgba[:, :, 3], scale=2))
    np.testing.assert_array_equal(result[:, :, :3], upscale(rgba[:, :, :3], tiny_rcan, device="cpu", precision="fp32"))

    gray = smooth_image(20, 24, channels=1)[:, :, 0]
    as_rgb = upscale(np.dstack([gray] * 3), tiny_rcan, device="cpu", precision="fp32").astype(np.float64)
    result = upscale(gray, tiny_rcan, device="cpu", precision="fp32")
    assert result.shape == (40, 48) and result.dtype == np.uint8
    assert np.abs(result - as_rgb.mean(axis=2)).max() <= 1.0
    assert upscale(gray[:, :, None], tiny_rcan, device="cpu", precision="fp32").shape == (40, 48, 1)


@pytest.mark.parametrize("shape,dtype", [((17, 23, 3), np.uint8), ((17, 23), np.uint16), ((17, 23, 4), np.uint8)])
def test_bicubic_is_matlab_imresize_in_every_mode(shape, dtype):
    image = np.random.default_rng(1).integers(0, np.iinfo(dtype).max, shape, dtype=dtype)
    result = upscale(image, "bicubic", scale=3)
    np.testing.assert_array_equal(result, imresize(image, scale=3))
    assert result.dtype == dtype


def test_outscale_resizes_the_network_output(tiny_rcan):
    image = smooth_image(20, 24)
    result = upscale(image, tiny_rcan, outscale=3, device="cpu")
    assert result.shape == (60, 72, 3)
    native = upscale(image, tiny_rcan, device="cpu").astype(np.float64) / 255
    expected = np.round(np.clip(imresize(native, output_shape=(60, 72)), 0, 1) * 255)
    assert np.abs(result - expected).max() <= 1
    assert upscale(image, "bicubic", outscale=1.5).shape == (30, 36, 3)


def test_self_ensemble_is_the_mean_over_the_eight_symmetries():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(3, 12, 3, padding=1), nn.PixelShuffle(2))  # not flip-invariant
    x = torch.rand(1, 3, 9, 13)
    variants = []
    with torch.no_grad():
        for k in range(4):
            for flip in (False, True):
                t = x.flip(-1) if flip else x
                y = model(torch.rot90(t, k, (-2, -1)))
                y = torch.rot90(y, -k, (-2, -1))
                variants.append(y.flip(-1) if flip else y)
        expected = torch.stack(variants).mean(0)
        result = self_ensemble_forward(model, x)
    torch.testing.assert_close(result, expected, rtol=1e-5, atol=1e-6)
    assert (model(x) - expected).abs().max() > 1e-3  # the ensemble changed something


def test_upscale_self_ensemble_of_an_equivariant_model_changes_nothing():
    image = smooth_image(16, 20)
    plain = upscale(image, NearestUpsample(2), device="cpu")
    np.testing.assert_array_equal(upscale(image, NearestUpsample(2), self_ensemble=True, device="cpu"), plain)


def test_out_of_memory_retries_with_smaller_tiles():
    model = RefusesLargeInputs(scale=2, limit=64)
    image = smooth_image(150, 130)
    result = upscale(image, model, tile=0, **TORCH)
    np.testing.assert_array_equal(result, image.repeat(2, 0).repeat(2, 1))
    assert max(model.sizes[0]) == 150 and max(model.sizes[-1]) <= 64


def test_out_of_memory_at_the_smallest_tile_is_raised():
    with pytest.raises(torch.OutOfMemoryError):
        upscale(smooth_image(100, 100), RefusesLargeInputs(scale=2, limit=8), **TORCH)


@pytest.mark.filterwarnings("ignore:bf16 has no fast kernels")  # CPUs without AVX-512 run it slowly
def test_bf16_stays_close_to_fp32(tiny_rcan):
    image = smooth_image(24, 24)
    exact = upscale(image, tiny_rcan, device="cpu")
    fast = upscale(image, tiny_rcan, precision="bf16", device="cpu")
    assert psnr(fast, exact) > 35.0


def test_path_input_is_read_upright(tmp_path):
    stored = smooth_image(12, 20)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    Image.fromarray(stored).save(tmp_path / "photo.jpg", exif=exif, quality=100)
    assert upscale(tmp_path / "photo.jpg", "bicubic", scale=2).shape == (40, 24, 3)


def test_checkpoint_paths_and_modules_give_the_same_result(tmp_path, tiny_rcan):
    srapp.save_checkpoint(tiny_rcan, tmp_path / "tiny.pth")
    image = smooth_image(16, 16)
    np.testing.assert_array_equal(
        upscale(image, tmp_path / "tiny.pth", device="cpu"), upscale(image, tiny_rcan, device="cpu")
    )


def test_settings_that_cannot_work_are_refused(tiny_rcan):
    with pytest.raises(srapp.CheckpointError, match="no-such-model"):
        Upscaler("no-such-model", device="cpu")
    with pytest.raises(ValueError, match="outscale"):
        Upscaler(tiny_rcan, scale=4, device="cpu")
    with pytest.raises(ValueError, match="bicubic needs a scale"):
        Upscaler("bicubic")
    with pytest.raises(ValueError, match="fp16 needs a CUDA device"):
        Upscaler("bicubic", scale=2, precision="fp16", device="cpu")
    with pytest.raises(ValueError, match="precision"):
        Upscaler("bicubic", scale=2, precision="int4")
    with pytest.raises(ValueError, match="pass scale"):
        Upscaler(nn.Conv2d(3, 3, 1), device="cpu")
    with pytest.raises(srapp.io.image_io.ImageError, match="float32"):
        upscale(np.zeros((4, 4, 3), np.float32), "bicubic", scale=2)
    with pytest.raises(srapp.io.image_io.ImageError, match="shape"):
        upscale(np.zeros((4, 4, 5), np.uint8), "bicubic", scale=2)


def test_a_set_cancel_event_stops_before_the_next_tile():
    import threading

    from srapp.errors import Cancelled

    network = RCAN(scale=2, num_groups=1, num_blocks=1, channels=8, reduction=4)
    cancel, seen = threading.Event(), []

    def progress(done, total):
        seen.append(done)
        if done == 2:
            cancel.set()

    image = np.zeros((64, 64, 3), np.uint8)
    with pytest.raises(Cancelled):
        srapp.Upscaler(network, tile=16, tile_overlap=4, device="cpu")(image, progress, cancel)
    assert seen == [1, 2]  # the tiles after the request never ran


class _Overflowing(nn.Module):
    """x2 nearest-neighbour with one tile's worth of values overflowing, as fp16 activations can."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.repeat_interleave(2, -1).repeat_interleave(2, -2)
        y[..., 0, 0] = self.value
        return y


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_network_output_fails_the_image_instead_of_a_black_result(value, tmp_path):
    from srapp.batch import BatchRunner, Job
    from srapp.io.image_io import write_image
    from srapp.errors import ImageError

    upscaler = Upscaler(_Overflowing(value), scale=2, backend="torch", precision="fp32", tile=16, tile_overlap=4)
    image = np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    with pytest.raises(ImageError, match="NaN or infinite values"):
        upscaler(image)
    source = write_image(tmp_path / "photo.png", image)
    record = BatchRunner(upscaler).process(Job(source, tmp_path / "out" / "photo.png", "photo"))
    assert record.error is not None and "photo.png" in record.error and "NaN or infinite" in record.error
    assert not (tmp_path / "out" / "photo.png").exists()
    # a finite output of the same module is upscaled as usual
    assert Upscaler(_Overflowing(0.5), scale=2, backend="torch", precision="fp32")(image).shape == (80, 80, 3)
