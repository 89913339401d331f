"""Backends: OpenVINO against torch fp32 (several attentions, SAN in both non-local modes), what
``auto`` resolves to, the fallback to torch decided when the backend is built, numpy tiles for
OpenVINO, the caches, and every engine feature on OpenVINO."""

from __future__ import annotations

import copy
import sys
import threading
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import srapp
from srapp.archs import RCAN, SAN
from srapp.checkpoints import describe
from srapp.engine import kernels
from srapp.engine.backends import build_backend
from srapp.engine.backends import openvino as ov_backend
from srapp.engine.backends.openvino import OpenVINOBackend
from srapp.engine.resize import imresize
from srapp.engine.tiling import SHAPE_STEP, ShapePolicy, axis_plan, mirror_pad, tiled_forward
from srapp.errors import Cancelled, ImageError, UsageError
from srapp.metrics import psnr

pytestmark = pytest.mark.openvino

CPU = torch.device("cpu")
EVEN_SIDES = ShapePolicy(SHAPE_STEP, 2)  # what SAN's export asks for


@pytest.fixture(autouse=True, scope="module")
def disk_cache(openvino_cache):
    return openvino_cache


def smooth_image(height: int, width: int, channels: int = 3, dtype=np.uint8, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).random((height // 4 + 2, width // 4 + 2, channels))
    peak = np.iinfo(dtype).max
    return np.round(np.clip(imresize(noise, output_shape=(height, width)), 0, 1) * peak).astype(dtype)


def as_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image.transpose(2, 0, 1).astype(np.float32) / np.iinfo(image.dtype).max)[None]


def tiny_rcan(attention: str = "ca", seed: int = 0) -> RCAN:
    torch.manual_seed(seed)
    return RCAN(scale=2, attention=attention, num_groups=1, num_blocks=2, channels=16).eval()


def tiny_san(nonlocal_subsample: bool, soca_window: int | None = None) -> SAN:
    torch.manual_seed(1)
    network = SAN(scale=2, num_groups=1, num_blocks=1, channels=16, nonlocal_subsample=nonlocal_subsample,
                  soca_window=soca_window).eval()
    block = network.non_local.block
    with torch.no_grad():  # the non-local output projection and the share-source weight start at zero
        block.project.weight.normal_(0, 0.2)
        network.share_source_weight.fill_(0.5)
        # Smaller embeddings keep the softmax over features of 0-255 scale from saturating, where
        # float32 rounding alone (torch's too, against float64) reaches 1e-4.
        for embedding in (block.theta, block.phi):  # phi is Sequential(conv, pool) when pooled
            next(embedding.parameters()).mul_(0.25)
    return network


@pytest.fixture(scope="module")
def rcan() -> RCAN:
    return tiny_rcan()


def openvino_matches_torch(network: nn.Module, shapes: list[tuple[int, int]]) -> float:
    backend = OpenVINOBackend(network, "fp32")
    worst = 0.0
    for height, width in shapes:
        x = torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(height * width))
        with torch.no_grad():
            expected = network(x).numpy()
        result = backend(x.numpy())
        assert isinstance(result, np.ndarray) and result.shape == expected.shape and result.dtype == np.float32
        worst = max(worst, float(np.abs(result - expected).max()))
    return worst


@pytest.mark.parametrize("attention", ["ca", "eca", "gct", "soca", "fca", "dia"])
def test_openvino_fp32_matches_torch_fp32_for_rcan(attention):
    # three shapes: the later ones reuse the symbolic export (every even side), reshaped
    assert openvino_matches_torch(tiny_rcan(attention), [(32, 64), (64, 32), (38, 22)]) <= 1e-4


@pytest.mark.parametrize("subsample", [False, True], ids=["full-nonlocal", "pooled-nonlocal"])
def test_openvino_fp32_matches_torch_fp32_for_san(subsample):
    assert openvino_matches_torch(tiny_san(subsample), [(32, 64), (64, 64), (42, 26)]) <= 1e-4


def test_rcan_runs_any_side_and_san_even_sides():
    assert OpenVINOBackend(tiny_rcan(seed=3), "fp32").shapes == ShapePolicy(SHAPE_STEP, 1)
    assert OpenVINOBackend(tiny_san(True), "fp32").shapes == EVEN_SIDES


def test_odd_images_on_openvino_match_torch(rcan):
    # RCAN's export admits any side: an odd image runs unpadded, as on torch
    image = smooth_image(31, 45)
    on_openvino, on_torch = (upscaler(image) for upscaler in upscalers(rcan, tile=0))
    assert np.abs(on_openvino.astype(np.int64) - on_torch).max() <= 1


def test_san_with_a_soca_window_is_exported_per_shape(monkeypatch):
    # The window's crop branches on the map size in a way the symbolic export cannot carry.
    network = tiny_san(True, soca_window=40)
    exported = []
    export = ov_backend._export
    monkeypatch.setattr(ov_backend, "_export",
                        lambda net, shape, step=1: exported.append(shape) or export(net, shape, step))
    backend = OpenVINOBackend(network, "fp32")
    assert exported == [None, None, (1, 3, 64, 64)]  # at build: any side, even sides, the example shape
    assert backend.shapes == ShapePolicy(SHAPE_STEP, 1)
    assert openvino_matches_torch(network, [(64, 64), (48, 64)]) <= 1e-4  # the window crops these maps
    assert exported == [None, None, (1, 3, 64, 64), (1, 3, 48, 64)]  # the example shape again from the disk cache


class OnlyAtItsExampleSide(nn.Module):
    """Exports at 64x64 (its example shape) and at no other shape."""

    scale = 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != 64:
            raise ValueError("this network takes 64 pixels wide inputs only")
        return x.repeat_interleave(2, -1).repeat_interleave(2, -2)


def test_a_shape_that_fails_to_export_after_the_build_is_an_error_naming_it():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        upscaler = srapp.Upscaler(OnlyAtItsExampleSide(), device="cpu", precision="fp32", tile=0)
    assert upscaler.backend == "openvino" and caught == []  # it converts at its example shape
    assert upscaler(np.zeros((64, 64, 3), np.uint8)).shape == (128, 128, 3)
    with pytest.raises(ImageError, match="OpenVINO cannot convert OnlyAtItsExampleSide for a 32x32 input"):
        upscaler(np.zeros((32, 32, 3), np.uint8))
    assert upscaler.backend == "openvino"  # no switch to torch


def test_dia_state_is_untouched_by_conversion():
    network = tiny_rcan("dia")
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        before = network(x)
    OpenVINOBackend(network, "fp32")(x.numpy())
    assert all(group.shared_state._state is None for group in network.groups)
    with torch.no_grad():
        torch.testing.assert_close(network(x), before, rtol=0, atol=0)


def test_openvino_bf16_stays_close_to_fp32(rcan):
    # On CPUs without AVX512-BF16 / AMX OpenVINO ignores the hint and computes in f32.
    image = smooth_image(32, 32)
    x = as_tensor(image)
    with torch.no_grad():
        exact = rcan(x).clamp(0, 1)
    fast = torch.from_numpy(OpenVINOBackend(rcan, "bf16")(x.numpy())).clamp(0, 1)
    quantise = lambda t: np.round(t[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)  # noqa: E731
    assert psnr(quantise(fast), quantise(exact)) > 40.0


# --- shapes the tiler hands a fixed-shape backend ------------------------------------------------

@pytest.mark.parametrize("length,tile,overlap",
                         [(40, 256, 16), (600, 256, 16), (257, 256, 16), (70, 48, 8), (20, 16, 2)])
def test_fixed_shape_plans_cover_the_axis_with_multiples_of_the_step(length, tile, overlap):
    cut, run = axis_plan(length, tile, overlap, EVEN_SIDES)
    assert run % 2 == 0 and run >= cut
    if cut < length:  # a tile cut from the axis: a multiple of the shape step, no padding
        assert cut == run and cut % SHAPE_STEP == 0
    else:  # a tile that covers the axis runs at its length, an odd one padded by one
        assert run - length == length % 2
    assert run - axis_plan(length, tile, overlap)[0] < SHAPE_STEP  # at most one step more than the fitted tile


@pytest.mark.parametrize("length,cut,run", [(40, 40, 40), (41, 41, 42), (600, 224, 224), (257, 160, 160)])
def test_fixed_shape_plans_by_example(length, cut, run):
    assert axis_plan(length, 256, 16, EVEN_SIDES) == (cut, run)
    any_side = axis_plan(length, 256, 16, ShapePolicy(SHAPE_STEP, 1))
    assert any_side == ((length, length) if cut == length else (cut, run))
    assert axis_plan(length, 256, 16) == (axis_plan(length, 256, 16)[0],) * 2  # torch: fitted tiles, no padding


def test_mirror_padding_reflects_about_the_edge_at_any_length():
    x = torch.arange(3.0).reshape(1, 1, 1, 3)
    assert mirror_pad(x, 1, 10).flatten().tolist() == [0, 1, 2, 1, 0, 1, 2, 1, 0, 1]
    assert torch.equal(mirror_pad(x, 1, 4), torch.nn.functional.pad(x, (0, 1, 0, 0), mode="reflect"))
    assert mirror_pad(torch.ones(1, 1, 1, 1), 32, 32).shape == (1, 1, 32, 32)
    tile = torch.rand(1, 3, 5, 7)  # numpy tiles (OpenVINO's) pad as torch's
    np.testing.assert_array_equal(mirror_pad(tile.numpy(), 12, 20), mirror_pad(tile, 12, 20).numpy())


def plain_and_fixed_shape_outputs(network: nn.Module, height: int, width: int):
    """The network's output on a random image whole, the tiler's with even sides, and the shapes it ran."""
    x = torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(0))
    seen = []
    with torch.no_grad():
        plain = network(x)[0].permute(1, 2, 0).numpy()
        fixed = tiled_forward(lambda t: seen.append(tuple(t.shape)) or network(t), x, scale=2, tile=512, overlap=16,
                              shapes=EVEN_SIDES)
    return plain, fixed, seen


def test_an_even_image_runs_unpadded(rcan):
    plain, fixed, seen = plain_and_fixed_shape_outputs(rcan, 40, 52)
    assert seen == [(1, 3, 40, 52)]
    np.testing.assert_array_equal(fixed, plain)


def test_padded_and_cropped_output_equals_the_unpadded_away_from_the_padding(rcan):
    plain, padded, seen = plain_and_fixed_shape_outputs(rcan, 41, 51)
    assert seen == [(1, 3, 42, 52)] and padded.shape == plain.shape
    difference = np.abs(padded - plain)
    # This network's 3x3 convolutions reach 9 pixels: 10 LR pixels from the padded edges nothing changes.
    assert difference[:2 * (41 - 10), :2 * (51 - 10)].max() <= 1e-6
    assert difference.max() > 1e-3  # the padding does reach the edge rows


# --- the engine's features on OpenVINO ---------------------------------------------------------

def upscalers(network: nn.Module, **settings) -> tuple[srapp.Upscaler, srapp.Upscaler]:
    # fp32 on both: "auto" picks bf16 on CPUs with fast bf16 (AVX512-BF16, AMX)
    return (srapp.Upscaler(network, backend="openvino", device="cpu", precision="fp32", **settings),
            srapp.Upscaler(network, backend="torch", device="cpu", precision="fp32", **settings))


def test_tiled_equals_whole_on_openvino(rcan):
    image = smooth_image(64, 96)  # neither the whole image nor tiles of 32 are padded
    whole = srapp.upscale(image, rcan, backend="openvino", tile=0, device="cpu")
    tiled = srapp.upscale(image, rcan, backend="openvino", tile=32, device="cpu")
    assert psnr(tiled, whole) >= 50.0


@pytest.mark.parametrize("case", ["self_ensemble", "alpha", "gray", "sixteen_bit", "outscale"])
def test_engine_features_on_openvino_match_torch(rcan, case):
    # 30x46: even sides, so nothing is padded and the two backends compare closely
    settings = {"self_ensemble": {"self_ensemble": True}, "outscale": {"outscale": 3}}.get(case, {})
    image = {"alpha": smooth_image(30, 46, channels=4), "gray": smooth_image(30, 46, channels=1)[:, :, 0],
             "sixteen_bit": smooth_image(30, 46, dtype=np.uint16)}.get(case, smooth_image(30, 46))
    on_openvino, on_torch = (upscaler(image) for upscaler in upscalers(rcan, **settings))
    assert on_openvino.shape == on_torch.shape and on_openvino.dtype == on_torch.dtype
    assert np.abs(on_openvino.astype(np.int64) - on_torch).max() <= 1
    if case == "alpha":
        np.testing.assert_array_equal(on_openvino[:, :, 3], imresize(image[:, :, 3], scale=2))


def test_progress_and_cancel_on_openvino(rcan):
    cancel, seen = threading.Event(), []

    def progress(done, total):
        seen.append(done)
        if done == 2:
            cancel.set()

    with pytest.raises(Cancelled):
        srapp.Upscaler(rcan, backend="openvino", tile=32, tile_overlap=4, device="cpu")(
            np.zeros((96, 96, 3), np.uint8), progress, cancel)
    assert seen == [1, 2]


def test_openvino_allocation_failures_retry_with_smaller_tiles(rcan, monkeypatch):
    sizes = []
    run = ov_backend._Compiled.run

    def refuse_large(self, x):
        sizes.append(x.shape[-2:])
        if max(x.shape[-2:]) > 64:
            raise RuntimeError("Exception from src/inference/src/cpp/infer_request.cpp: std::bad_alloc")
        return run(self, x)

    monkeypatch.setattr(ov_backend._Compiled, "run", refuse_large)
    image = smooth_image(100, 100)
    result = srapp.upscale(image, rcan, backend="openvino", tile=0, device="cpu")
    assert max(sizes[0]) == 100 and max(sizes[-1]) <= 64 and result.shape == (200, 200, 3)


def test_threads_share_one_conversion_and_agree(monkeypatch):
    network = tiny_rcan(seed=5)
    exports = []
    export = ov_backend._export
    monkeypatch.setattr(ov_backend, "_export",
                        lambda net, shape, step=1: exports.append(shape) or export(net, shape, step))
    upscaler = srapp.Upscaler(network, backend="openvino", device="cpu")
    image = smooth_image(32, 32)
    results = [None] * 3

    def work(index):
        results[index] = upscaler(image)

    threads = [threading.Thread(target=work, args=(index,)) for index in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert exports == [None]
    assert all(np.array_equal(result, results[0]) for result in results)



def test_reading_the_weights_version_waits_while_the_exporter_holds_fake_tensors(monkeypatch):
    # torch.export swaps the module's tensors for fake ones while it traces: a second thread
    # asking for the network's state then (a concurrent Upscaler call) must wait, not raise.
    network = tiny_rcan(seed=6)
    errors, readers = [], []

    def read_state():
        try:
            ov_backend._state(network)
        except RuntimeError as error:
            errors.append(error)

    def during_trace(module, args):
        if not readers:
            reader = threading.Thread(target=read_state)
            readers.append(reader)
            reader.start()
            reader.join(timeout=0.5)

    hook = network.register_forward_pre_hook(during_trace)
    try:
        ov_backend._export(network, (1, 3, 32, 32))
    finally:
        hook.remove()
    readers[0].join()
    assert readers and errors == []


# --- the caches ---------------------------------------------------------------------------------

def count_compilations(monkeypatch) -> list:
    """Record every compilation from now on (one entry each)."""
    compiles, core = [], kernels.openvino_core()

    class CountingCore:
        def __getattr__(self, name):
            return getattr(core, name)

        def compile_model(self, *args, **kwargs):
            compiles.append(1)
            return core.compile_model(*args, **kwargs)

    monkeypatch.setattr(ov_backend, "openvino_core", lambda: CountingCore())
    return compiles


def test_compiled_models_are_reused_in_memory_and_conversions_on_disk(monkeypatch, disk_cache):
    network = tiny_rcan(seed=7)
    exports, export = [], ov_backend._export
    monkeypatch.setattr(ov_backend, "_export",
                        lambda net, shape, step=1: exports.append(shape) or export(net, shape, step))
    compiles = count_compilations(monkeypatch)
    first = srapp.Upscaler(network, backend="openvino", device="cpu")
    first(smooth_image(20, 24)), first(smooth_image(20, 24))
    assert (len(exports), len(compiles)) == (1, 1)
    first(smooth_image(40, 20))  # a new shape, compiled from the same conversion
    assert (len(exports), len(compiles)) == (1, 2)

    twin = copy.deepcopy(network)  # another module, the same weights: the converted model comes from disk
    srapp.Upscaler(twin, backend="openvino", device="cpu")(smooth_image(20, 24))
    assert len(exports) == 1 and len(list(disk_cache.glob("models/*.xml"))) >= 1

    with torch.no_grad():  # weights changed in place: converted again
        network.tail.bias.add_(0.1)
    first(smooth_image(20, 24))
    assert len(exports) == 2


def test_the_compiled_cache_is_bounded(rcan, monkeypatch):
    monkeypatch.setattr(ov_backend, "COMPILED_CACHE_SIZE", 2)
    backend = OpenVINOBackend(rcan, "fp32")
    for width in (32, 64, 96):
        backend(np.random.default_rng(width).random((1, 3, 32, width), dtype=np.float32))
    assert len(ov_backend._COMPILED) <= 2


def test_backends_taking_turns_keep_their_last_compiled_model(monkeypatch):
    # three networks and a shared cache of one: each call would evict the next one's model
    monkeypatch.setattr(ov_backend, "COMPILED_CACHE_SIZE", 1)
    networks = [tiny_rcan(seed=20 + index) for index in range(3)]
    backends = [OpenVINOBackend(network, "fp32") for network in networks]
    x = torch.rand(1, 3, 24, 24)
    compiles = count_compilations(monkeypatch)
    for _ in range(3):
        for network, backend in zip(networks, backends):
            with torch.no_grad():
                torch.testing.assert_close(torch.from_numpy(backend(x.numpy())), network(x), rtol=0, atol=1e-4)
    assert len(compiles) == 3
    with torch.no_grad():  # weights changed in place: the kept model is not used
        networks[0].tail.bias.add_(0.1)
        torch.testing.assert_close(torch.from_numpy(backends[0](x.numpy())), networks[0](x), rtol=0, atol=1e-4)
    assert len(compiles) == 4


# --- what auto resolves to, and the fallback to torch -------------------------------------------

def without_openvino(monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)  # `import openvino` now raises ImportError


def bf16_fast_in_both_backends(monkeypatch, fast: bool) -> None:
    """What both backends' kernels report about bf16 on this machine."""
    monkeypatch.setattr(kernels, "torch_has_fast_bf16", lambda device: fast)
    monkeypatch.setattr(kernels, "openvino_cpu_has_fast_bf16", lambda: fast)


@pytest.mark.parametrize("fast_bf16", [True, False], ids=["fast-bf16", "slow-bf16"])
@pytest.mark.parametrize("installed", [True, False], ids=["openvino", "no-openvino"])
def test_auto_resolution(rcan, monkeypatch, fast_bf16, installed):
    bf16_fast_in_both_backends(monkeypatch, fast_bf16)
    if not installed:
        without_openvino(monkeypatch)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        upscaler = srapp.Upscaler(rcan, device="cpu")
    assert (upscaler.backend, upscaler.precision) == ("openvino" if installed else "torch",
                                                      "bf16" if fast_bf16 else "fp32")
    notes = [str(warning.message) for warning in caught]
    assert len(notes) == (0 if installed else 1) and all("OpenVINO is not installed" in note for note in notes)


def test_cuda_auto_is_torch_and_openvino_there_is_refused(rcan, monkeypatch):
    bf16_fast_in_both_backends(monkeypatch, True)
    cuda = torch.device("cuda")
    backend, notes = build_backend(describe(rcan), "auto", "auto", cuda)
    assert (backend.name, backend.precision, notes) == ("torch", "bf16", [])
    with pytest.raises(UsageError, match="runs on the CPU"):
        build_backend(describe(rcan), "openvino", "auto", cuda)


def test_openvino_asked_for_without_openvino_is_a_usage_error(rcan, monkeypatch):
    without_openvino(monkeypatch)
    with pytest.raises(UsageError, match="OpenVINO is not installed"):
        srapp.Upscaler(rcan, backend="openvino", device="cpu")


class DataDependent(nn.Module):
    """Branches on pixel values: no exporter can turn that into a graph."""

    scale = 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.repeat_interleave(2, -1).repeat_interleave(2, -2)
        return x * 0.5 if x.mean() > 0.5 else x


def test_a_network_that_does_not_convert_runs_on_torch_with_one_warning_at_build(monkeypatch):
    exports, export = [], ov_backend._export
    monkeypatch.setattr(ov_backend, "_export",
                        lambda net, shape, step=1: exports.append(shape) or export(net, shape, step))
    network, image = DataDependent(), smooth_image(16, 16) // 4  # dark: the same branch however padded
    with pytest.warns(UserWarning, match="OpenVINO cannot convert DataDependent") as caught:
        upscaler = srapp.Upscaler(network, device="cpu")
    assert len(caught) == 1 and "running it with torch" in str(caught[0].message)
    assert upscaler.backend == "torch" and exports == [None, None, (1, 3, 64, 64)]  # tried once, at build
    with warnings.catch_warnings(record=True) as later:
        warnings.simplefilter("always")
        result = upscaler(image)
    assert later == [] and upscaler.backend == "torch"
    np.testing.assert_array_equal(result, srapp.upscale(image, network, backend="torch", device="cpu"))
    with pytest.warns(UserWarning, match="OpenVINO cannot convert DataDependent") as again:
        assert srapp.Upscaler(network, device="cpu").backend == "torch"  # remembered: not tried again
    assert len(again) == 1 and len(exports) == 3
    with pytest.raises(UsageError, match="backend openvino: OpenVINO cannot convert DataDependent"):
        srapp.Upscaler(network, backend="openvino", device="cpu")


def test_explicit_openvino_reports_a_failed_conversion_as_a_usage_error_at_build():
    class AlsoDataDependent(DataDependent):
        pass

    with pytest.raises(UsageError, match="backend openvino: OpenVINO cannot convert AlsoDataDependent"):
        srapp.Upscaler(AlsoDataDependent(), backend="openvino", device="cpu")


def test_what_runs_is_decided_at_build_and_reading_it_converts_nothing(monkeypatch):
    network = tiny_rcan(seed=8)
    upscaler = srapp.Upscaler(network, device="cpu", precision="fp32")
    backend = upscaler.backend_runner
    fixed = (upscaler.backend, upscaler.precision, backend.shapes)
    assert fixed == ("openvino", "fp32", ShapePolicy(SHAPE_STEP, 1))
    monkeypatch.setattr(ov_backend, "_export", lambda *args: pytest.fail("converted after the build"))
    upscaler(smooth_image(20, 28))
    assert (upscaler.backend, upscaler.precision, backend.shapes) == fixed and upscaler.backend_runner is backend


@pytest.mark.parametrize("case", ["plain", "self_ensemble", "padded"])
def test_openvino_gets_numpy_tiles_and_no_tile_becomes_a_tensor(rcan, monkeypatch, case):
    # padded: SAN's even sides, so the 21-row image is mirrored to 22 rows (in numpy)
    network, image = (tiny_san(True), smooth_image(21, 30)) if case == "padded" else (rcan, smooth_image(24, 32))
    settings = {"backend": "openvino", "device": "cpu", "precision": "fp32", "tile": 0,
                "self_ensemble": case == "self_ensemble"}
    upscaler = srapp.Upscaler(network, **settings)
    seen, run = [], OpenVINOBackend.__call__

    def recording(self, x):
        y = run(self, x)
        seen.append((type(x), x.shape, type(y)))
        return y

    monkeypatch.setattr(OpenVINOBackend, "__call__", recording)
    conversions, from_numpy = [], torch.from_numpy
    monkeypatch.setattr(torch, "from_numpy", lambda array: conversions.append(array.shape) or from_numpy(array))
    result = upscaler(image)
    assert {(kind_in, kind_out) for kind_in, _, kind_out in seen} == {(np.ndarray, np.ndarray)} and conversions == []
    assert len(seen) == (8 if case == "self_ensemble" else 1)
    if case == "padded":
        assert seen[0][1] == (1, 3, 22, 30) and result.shape == (42, 60, 3)
        return
    monkeypatch.undo()
    on_torch = srapp.Upscaler(network, **{**settings, "backend": "torch"})(image)
    assert np.abs(result.astype(np.int64) - on_torch).max() <= 1


def test_bf16_asked_of_openvino_without_its_bf16_kernels_runs_fp32_with_a_warning(rcan, monkeypatch):
    monkeypatch.setattr(kernels, "openvino_cpu_has_fast_bf16", lambda: False)
    with pytest.warns(UserWarning, match="bf16 has no fast kernels in OpenVINO on this CPU"):
        upscaler = srapp.Upscaler(rcan, backend="openvino", precision="bf16", device="cpu")
    assert (upscaler.backend, upscaler.precision) == ("openvino", "fp32")
    monkeypatch.setattr(kernels, "openvino_cpu_has_fast_bf16", lambda: True)
    assert srapp.Upscaler(rcan, backend="openvino", precision="auto", device="cpu").precision == "bf16"
