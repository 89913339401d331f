"""Foreign models through srapp's engine: every architecture is built here from spandrel's own
classes at a small configuration with random weights, saved as .pth and .safetensors, loaded by
srapp and checked against spandrel's own call (the independent reference); then the refusals
(code-running pickles, TorchScript, truncated files, wrong shapes, models that are not SR), the
licence flag of ``spandrel_extra_arches`` architectures, and the command line over a models folder."""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import spandrel
import torch
from spandrel.architectures.Compact import Compact
from spandrel.architectures.DAT import DAT
from spandrel.architectures.ESRGAN import ESRGAN
from spandrel.architectures.HAT import HAT
from spandrel.architectures.OmniSR import OmniSR
from spandrel.architectures.PLKSR import RealPLKSR
from spandrel.architectures.RCAN import RCAN as SpandrelRCAN
from spandrel.architectures.SPAN import SPAN
from spandrel.architectures.SwinIR import SwinIR
from torch import nn

import srapp
import srapp.engine.upscale as upscale_module
from srapp import CheckpointError, load_model
from srapp.checkpoints import foreign
from srapp.checkpoints.descriptor import SizeRequirements
from srapp.cli import main
from srapp.io.image_io import read_image, write_image
from srapp.engine import kernels
from srapp.engine.backends.torch import TorchBackend
from srapp.engine.precision import resolve_precision, unsafe_precisions
from srapp.engine.resize import imresize
from srapp.metrics import psnr

TORCH = {"backend": "torch", "device": "cpu", "precision": "fp32"}

# Each architecture at a small configuration (spandrel's classes, its default random init).
ARCHITECTURES = {
    "ESRGAN": lambda: ESRGAN(in_nc=3, out_nc=3, num_filters=16, num_blocks=1, scale=4),
    "ESRGAN-unshuffle": lambda: ESRGAN(in_nc=12, out_nc=3, num_filters=16, num_blocks=1, scale=4, shuffle_factor=2),
    "Compact": lambda: Compact(num_in_ch=3, num_out_ch=3, num_feat=16, num_conv=4, upscale=4),
    "SPAN": lambda: SPAN(num_in_ch=3, num_out_ch=3, feature_channels=16, upscale=2),
    "SwinIR": lambda: SwinIR(upscale=2, img_size=16, window_size=4, embed_dim=12, depths=[2], num_heads=[2],
                             mlp_ratio=2, upsampler="pixelshuffle"),
    "HAT": lambda: HAT(upscale=2, img_size=16, window_size=4, compress_ratio=3, squeeze_factor=6, embed_dim=12,
                       depths=[2], num_heads=[2], mlp_ratio=2, upsampler="pixelshuffle", overlap_ratio=0.5),
    "DAT": lambda: DAT(upscale=2, img_size=16, embed_dim=16, depth=[2], num_heads=[2], split_size=[2, 4],
                       expansion_factor=2),
    "OmniSR": lambda: OmniSR(num_in_ch=3, num_out_ch=3, num_feat=16, res_num=1, up_scale=2, window_size=4,
                             block_num=1),
    "RealPLKSR": lambda: RealPLKSR(dim=16, n_blocks=2, upscaling_factor=2, kernel_size=7),
    "RCAN": lambda: SpandrelRCAN(scale=2, n_resgroups=2, n_resblocks=2, n_feats=16, reduction=4),
}
# spandrel's id of each (RealPLKSR is its PLKSR architecture); srapp reads official RCAN itself.
SPANDREL_IDS = {"ESRGAN-unshuffle": "ESRGAN", "RealPLKSR": "PLKSR"}
SRAPP_LAYOUTS = {"RCAN": "official-rcan"}
# Where srapp's tiling differs from spandrel's claim (srapp.checkpoints.foreign.TILING_OVERRIDES).
SRAPP_TILING = {"OmniSR": "discouraged"}


def _state(name: str) -> dict[str, torch.Tensor]:
    torch.manual_seed(sum(map(ord, name)))
    network = ARCHITECTURES[name]().eval()
    # contiguous copies: safetensors refuses tensors that share memory
    return {key: value.detach().clone().contiguous() for key, value in network.state_dict().items()}


def _save(state: dict[str, torch.Tensor], path: Path) -> Path:
    if path.suffix == ".safetensors":
        safetensors.torch.save_file(state, str(path))
    else:
        torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> dict[tuple[str, str], Path]:
    folder = tmp_path_factory.mktemp("foreign")
    files = {}
    for name in ARCHITECTURES:
        state = _state(name)
        for suffix in (".pth", ".safetensors"):
            files[name, suffix] = _save(state, folder / f"{name}{suffix}")
    return files


def smooth(height: int, width: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    """A smooth float32 image in [0, 1] (bicubic-upsampled noise)."""
    noise = np.random.default_rng(seed).random((height // 4 + 2, width // 4 + 2, channels))
    return np.clip(imresize(noise, output_shape=(height, width)), 0, 1).astype(np.float32)


def spandrel_output(descriptor, image: np.ndarray) -> np.ndarray:
    """spandrel's own call on an HxWxC float image (it pads to its size requirements and clamps)."""
    x = torch.from_numpy(image.transpose(2, 0, 1).copy())[None]
    return descriptor(x)[0].permute(1, 2, 0).numpy()


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_srapp_runs_each_architecture_as_spandrel_does(name, suffix, saved):
    path = saved[name, suffix]
    descriptor = spandrel.ModelLoader().load_from_file(path).eval()
    loaded = load_model(path)
    assert loaded.scale == descriptor.scale and loaded.source == str(path.resolve())
    assert (loaded.input_channels, loaded.output_channels) == (descriptor.input_channels, descriptor.output_channels)
    if name in SRAPP_LAYOUTS:  # srapp's own layouts come first
        assert (loaded.arch, loaded.layout) == (descriptor.architecture.id, SRAPP_LAYOUTS[name])
    else:
        assert (loaded.arch, loaded.layout) == (SPANDREL_IDS.get(name, name), "spandrel")
        required = descriptor.size_requirements
        assert loaded.size_requirements == SizeRequirements(required.minimum, required.multiple_of, required.square)
        assert loaded.tiling == SRAPP_TILING.get(name, descriptor.tiling.name.lower())
        assert loaded.purpose == descriptor.purpose
        assert (loaded.supports_fp16, loaded.supports_bf16) == (descriptor.supports_half, descriptor.supports_bfloat16)
        assert loaded.licence == foreign.PERMISSIVE_LICENCE
        assert loaded.parameter_count == sum(p.numel() for p in descriptor.model.parameters())

    image = smooth(21, 26)  # sides that need padding where an architecture wants multiples
    expected = spandrel_output(descriptor, image)
    whole = srapp.Upscaler(path, tile=0, **TORCH)
    assert whole.backend == "torch"
    result = whole.run_unit(image)
    assert result.shape == expected.shape
    assert np.abs(result - expected).max() < 1e-5

    if loaded.tiling == "supported":  # tiles against the whole image, each tile as the model wants it
        large = smooth(64, 72, seed=1)
        tiled = srapp.Upscaler(path, tile=48, tile_overlap=24, **TORCH).run_unit(large)
        assert psnr(tiled, whole.run_unit(large)) >= 50.0


def test_official_rcan_is_read_by_srapp_and_equals_spandrels_rcan(saved):
    """Detected by both srapp's official-rcan layout and spandrel: srapp's wins, with srapp's RCAN."""
    loaded = load_model(saved["RCAN", ".pth"])
    assert loaded.layout == "official-rcan" and type(loaded.network).__module__.startswith("srapp.")
    assert foreign.detect(_state("RCAN")).architecture.id == "RCAN"


def test_tiles_follow_the_size_requirements_without_padding(saved):
    """ESRGAN with pixel-unshuffle wants sides in multiples of 4: tiles cut from the image are
    chosen so; only a tile covering a whole axis of another length is padded (and cropped)."""
    upscaler = srapp.Upscaler(saved["ESRGAN-unshuffle", ".pth"], tile=32, tile_overlap=6, **TORCH)
    assert upscaler.model.size_requirements.multiple_of == 4
    seen = []
    forward = upscaler._network_forward
    upscaler._network_forward = lambda x: seen.append(tuple(x.shape[-2:])) or forward(x)
    image = smooth(30, 61, seed=2)
    tiled = upscaler.run_unit(image)
    assert all(h % 4 == 0 and w % 4 == 0 for h, w in seen) and len(set(seen)) == 1 and len(seen) >= 3
    assert seen[0][0] == 32 and seen[0][1] < 61  # the 30-pixel axis, covered by one tile, padded to 32
    assert tiled.shape == (60, 122, 3)
    whole = srapp.Upscaler(saved["ESRGAN-unshuffle", ".pth"], tile=0, **TORCH).run_unit(image)
    assert psnr(tiled, whole) >= 50.0


@pytest.mark.parametrize("name", ["SwinIR", "OmniSR"])
def test_a_model_that_discourages_tiling_runs_whole_within_the_bound_and_warns_beyond(name, saved, monkeypatch):
    monkeypatch.setattr(upscale_module, "AUTO_TILE_PIXELS", 24 * 24)  # the whole-image bound, made tiny
    monkeypatch.setattr(upscale_module, "DEFAULT_TILE", 20)
    upscaler = srapp.Upscaler(saved[name, ".pth"], tile_overlap=8, **TORCH)
    assert upscaler.model.tiling == "discouraged"
    image = smooth(20, 24)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        within = upscaler.run_unit(image)  # within the bound: whole, no warning
    np.testing.assert_array_equal(within, srapp.Upscaler(saved[name, ".pth"], tile=0, **TORCH).run_unit(image))
    with pytest.warns(UserWarning, match=rf"{name} uses context from the whole image.*30x28 image is tiled by 20, over"):
        upscaler.run_unit(smooth(28, 30))


def _far_influence(name: str, distance: int) -> float:
    """How much the input pixels ``distance`` or more pixels away from an output pixel move it,
    against its own input pixel: the figure ``benchmarks/tiling_reach.py`` prints, by its code."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "tiling_reach.py"
    spec = importlib.util.spec_from_file_location("tiling_reach_for_tests", path)
    tiling_reach = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tiling_reach)
    network = ARCHITECTURES[name]().eval()
    network.load_state_dict(_state(name))
    return tiling_reach.far_influence(network, distance)


def test_omnisr_output_depends_on_pixels_beyond_any_tile_overlap(saved):
    """Why srapp discourages tiling OmniSR although spandrel supports it: its grid attention makes an
    output pixel depend on input pixels farther away than the default overlap (by over 0.1% of its
    own pixel's influence; a convolutional network's: none)."""
    from srapp.engine.settings import DEFAULT_TILE_OVERLAP

    distance = DEFAULT_TILE_OVERLAP + 8
    assert _far_influence("Compact", distance) == 0.0
    assert _far_influence("OmniSR", distance) > 1e-3
    assert load_model(saved["OmniSR", ".pth"]).tiling == "discouraged"


def test_gray_rgba_restoration_and_x8_models(tmp_path):
    torch.manual_seed(5)
    gray = _save(ESRGAN(in_nc=1, out_nc=1, num_filters=8, num_blocks=1, scale=2).state_dict(), tmp_path / "gray.pth")
    descriptor = spandrel.ModelLoader().load_from_file(gray)
    image = smooth(12, 14, channels=3, seed=3)
    # a gray image runs once; an RGB image runs per colour plane
    as_gray = srapp.Upscaler(gray, **TORCH).run_unit(image[:, :, :1])
    assert np.abs(as_gray - spandrel_output(descriptor, image[:, :, :1])).max() < 1e-5
    per_plane = srapp.Upscaler(gray, **TORCH).run_unit(image)
    for plane in range(3):
        expected = spandrel_output(descriptor, image[:, :, plane:plane + 1])[:, :, 0]
        assert np.abs(per_plane[:, :, plane] - expected).max() < 1e-5
    pixels = np.round(image[:, :, 0] * 255).astype(np.uint8)
    assert srapp.upscale(pixels, gray, **TORCH).shape == (24, 28)

    rgba = _save(Compact(num_in_ch=4, num_out_ch=4, num_feat=8, num_conv=2, upscale=2).state_dict(),
                 tmp_path / "rgba.pth")
    descriptor = spandrel.ModelLoader().load_from_file(rgba)
    opaque = np.dstack([image, np.ones(image.shape[:2], np.float32)])
    result = srapp.Upscaler(rgba, **TORCH).run_unit(image)  # RGB in: an opaque alpha plane is added
    assert np.abs(result - spandrel_output(descriptor, opaque)[:, :, :3]).max() < 1e-5

    for scale in (1, 8):
        path = _save(Compact(num_in_ch=3, num_out_ch=3, num_feat=8, num_conv=2, upscale=scale).state_dict(),
                     tmp_path / f"x{scale}.pth")
        loaded = load_model(path)
        assert loaded.scale == scale and loaded.purpose == ("Restoration" if scale == 1 else "SR")
        descriptor = spandrel.ModelLoader().load_from_file(path)
        result = srapp.Upscaler(path, **TORCH).run_unit(image)
        assert result.shape == (12 * scale, 14 * scale, 3)
        assert np.abs(result - spandrel_output(descriptor, image)).max() < 1e-5


def test_auto_precision_never_picks_what_the_architecture_is_not_safe_in(saved, monkeypatch):
    monkeypatch.setattr(kernels, "torch_has_fast_bf16", lambda device: True)
    cpu = torch.device("cpu")
    fast = TorchBackend.precision_support(cpu)
    assert resolve_precision("auto", cpu, fast).precision == "bf16"
    assert resolve_precision("auto", cpu, fast, unsafe={"bf16"}).precision == "fp32"
    swinir = load_model(saved["SwinIR", ".pth"])
    assert unsafe_precisions(swinir.supports_fp16, swinir.supports_bf16) == {"fp16"}  # as spandrel states
    no_bf16 = dataclasses.replace(swinir, supports_bf16=False)
    assert srapp.Upscaler(no_bf16, backend="torch", device="cpu").precision == "fp32"
    with pytest.warns(UserWarning, match="SwinIR does not support bf16"):
        upscaler = srapp.Upscaler(no_bf16, backend="torch", device="cpu", precision="bf16")
    assert upscaler.precision == "fp32"
    assert srapp.Upscaler(swinir, backend="torch", device="cpu").precision == "bf16"


# --- what is refused, and how ----------------------------------------------------------------

class RunsCode:
    """A pickle payload that would write ``marker`` when unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return Path.write_text, (self.marker, "the payload ran")


def test_a_pickle_that_runs_code_is_refused_and_does_not_run(tmp_path, saved):
    marker = tmp_path / "ran.txt"
    evil = tmp_path / "evil.pth"
    torch.save({**_state("Compact"), "payload": RunsCode(marker)}, evil)
    with pytest.raises(CheckpointError, match=r"evil\.pth: its pickle asks for code to run when loaded "
                                              r"\(Unsupported global: GLOBAL \w+"):
        load_model(evil)
    assert not marker.exists()
    with open(evil, "rb") as handle:  # the payload is real: plain pickle would have run it
        torch.load(handle, weights_only=False)
    assert marker.read_text() == "the payload ran"


def test_torchscript_is_refused(tmp_path):
    scripted = torch.jit.script(nn.Sequential(nn.Conv2d(3, 12, 3, padding=1), nn.PixelShuffle(2)))
    for name in ("model.pt", "model.pth"):
        scripted.save(str(tmp_path / name))
        with pytest.raises(CheckpointError, match=rf"{name}: a TorchScript archive: it holds compiled code"):
            load_model(tmp_path / name)


def test_truncated_files_are_named(saved, tmp_path):
    for suffix, what in ((".pth", "not a readable PyTorch checkpoint"), (".safetensors", "not a readable safetensors")):
        data = saved["SPAN", suffix].read_bytes()
        truncated = tmp_path / f"cut{suffix}"
        truncated.write_bytes(data[:len(data) // 2])
        with pytest.raises(CheckpointError, match=rf"cut\{suffix}: {what}"):
            load_model(truncated)


def test_a_recognised_architecture_that_cannot_be_built_names_itself_and_the_keys(tmp_path):
    state = _state("ESRGAN")
    key = "model.1.sub.0.RDB1.conv2.0.weight"
    state[key] = torch.zeros(8, 3, 3, 3)
    path = _save(state, tmp_path / "wrong.pth")
    with pytest.raises(CheckpointError, match=rf"wrong\.pth: recognised by spandrel as ESRGAN, but it cannot be built "
                                              rf"from these weights; nothing was loaded; .*size mismatch for {key}"):
        load_model(path)
    state = _state("Compact")
    del state["body.2.weight"]
    with pytest.raises(CheckpointError, match=r"recognised by spandrel as Compact.*body\.2\.weight"):
        load_model(state)


def test_what_nothing_recognises_is_refused_naming_the_keys():
    with pytest.raises(CheckpointError, match=r"unrecognised checkpoint layout .* architectures spandrel knows\); "
                                              r"first keys: encoder\.weight"):
        load_model({"encoder.weight": torch.zeros(2, 2)})


# --- spandrel_extra_arches: loaded where installed, flagged with its licence ------------------

class TinyUpscaler(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fake_extra = nn.Conv2d(3, 12, 3, padding=1)
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.fake_extra(x))


def _fake_architecture(key: str, purpose: str):
    """An architecture as spandrel_extra_arches defines one (its class in that package)."""

    class FakeArch(spandrel.Architecture):
        def __init__(self) -> None:
            super().__init__(id=f"Fake{purpose}", detect=lambda state: key in state)

        def load(self, state):
            if purpose == "Inpainting":
                return spandrel.MaskedImageModelDescriptor(
                    TinyUpscaler(), {k.replace("fake_inpaint", "fake_extra"): v for k, v in state.items()}, self,
                    purpose="Inpainting", tags=[], supports_half=True, supports_bfloat16=True, input_channels=3,
                    output_channels=3)
            return spandrel.ImageModelDescriptor(TinyUpscaler(), state, self, purpose="SR", tags=[],
                                                 supports_half=True, supports_bfloat16=True, scale=2,
                                                 input_channels=3, output_channels=3)

    FakeArch.__module__ = "spandrel_extra_arches.architectures.Fake"
    return FakeArch()


@pytest.fixture
def extra_arches(monkeypatch):
    registry = spandrel.ArchRegistry()
    registry.add(spandrel.ArchSupport.from_architecture(_fake_architecture("fake_extra.weight", "SR")),
                 spandrel.ArchSupport.from_architecture(_fake_architecture("fake_inpaint.weight", "Inpainting")))
    module = types.ModuleType(foreign.EXTRA_PACKAGE)
    module.EXTRA_REGISTRY = registry
    monkeypatch.setitem(sys.modules, foreign.EXTRA_PACKAGE, module)
    return registry


def test_extra_architectures_load_where_installed_and_carry_their_licence(extra_arches, tmp_path):
    torch.manual_seed(0)
    path = _save(TinyUpscaler().state_dict(), tmp_path / "extra.pth")
    loaded = load_model(path)
    assert (loaded.arch, loaded.licence) == ("FakeSR", foreign.RESTRICTED_LICENCE)
    assert loaded.licence != load_model(_state("SPAN")).licence
    models = tmp_path / "models"
    models.mkdir()
    (models / "extra.pth").write_bytes(path.read_bytes())
    assert main(["models", "--models-dir", str(models)]) == 0


def test_extra_architectures_need_the_package(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, foreign.EXTRA_PACKAGE, None)  # import fails: not installed
    with pytest.raises(CheckpointError, match="unrecognised checkpoint layout"):
        load_model(TinyUpscaler().state_dict())


def test_models_that_are_not_super_resolution_are_refused(extra_arches):
    state = {"fake_inpaint.weight": torch.zeros(12, 3, 3, 3), "fake_inpaint.bias": torch.zeros(12)}
    with pytest.raises(CheckpointError, match="FakeInpainting is an inpainting model .* srapp does not run it"):
        load_model(state)


# --- the command line ----------------------------------------------------------------------

def test_cli_upscales_a_batch_with_a_foreign_model_file(saved, tmp_path, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    images = {name: np.round(smooth(18 + i, 20, seed=i) * 255).astype(np.uint8) for i, name in enumerate("ab")}
    for name, image in images.items():
        write_image(inputs / f"{name}.png", image)
    model = saved["SPAN", ".safetensors"]
    assert main(["upscale", str(inputs), "-o", str(tmp_path / "out"), "--model", str(model), "--backend", "torch",
                 "--precision", "fp32", "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    assert "srapp: SPAN x2 on cpu: torch backend, fp32" in err
    for name, image in images.items():
        np.testing.assert_array_equal(read_image(tmp_path / "out" / f"{name}.png"), srapp.upscale(image, model, **TORCH))


def test_models_lists_the_models_folder_and_add_validates_and_copies(saved, tmp_path, capsys, monkeypatch):
    folder = tmp_path / "models"
    assert main(["models", "--models-dir", str(folder), "--add", str(saved["HAT", ".safetensors"])]) == 0
    assert (folder / "HAT.safetensors").read_bytes() == saved["HAT", ".safetensors"].read_bytes()
    assert "added HAT" in capsys.readouterr().out
    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"not a model")
    assert main(["models", "--models-dir", str(folder), "--add", str(broken)]) == 2
    assert "broken.pth: not a readable PyTorch checkpoint" in capsys.readouterr().err and not (folder / "broken.pth").exists()
    # nothing a user owns is written over
    assert main(["models", "--models-dir", str(folder), "--add", str(saved["HAT", ".safetensors"])]) == 2
    assert "already" in capsys.readouterr().err

    assert main(["models", "--models-dir", str(folder)]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("HAT "))
    hat = load_model(folder / "HAT.safetensors")
    assert "HAT" in row and "x2" in row and f"{hat.parameter_count:,}" in row and foreign.PERMISSIVE_LICENCE in row

    monkeypatch.setenv("SRAPP_MODELS", str(folder))  # the models folder's names work as model names
    image = np.round(smooth(20, 20) * 255).astype(np.uint8)
    np.testing.assert_array_equal(srapp.upscale(image, "HAT", **TORCH), srapp.upscale(image, hat, **TORCH))
    assert main(["models"]) == 0
    assert any(line.startswith("HAT ") for line in capsys.readouterr().out.splitlines())



# --- OpenVINO: tried for every architecture, cached, torch where it cannot ------------------

# Measured with OpenVINO 2026.4 and spandrel 0.4.2: what converts; the others run with torch after
# one warning (SPAN's eval pass rewrites its weights, which torch.export cannot trace; DAT and
# RealPLKSR crash OpenVINO, so srapp does not try them). The slowest part of the suite: SwinIR,
# HAT and OmniSR take one to three minutes each to convert on a 2-core CPU.
CONVERTS = {"ESRGAN", "ESRGAN-unshuffle", "Compact", "SwinIR", "HAT", "OmniSR", "RCAN"}


def test_openvino_runs_what_it_converts_as_torch_does_and_torch_runs_the_rest(saved, tmp_path, monkeypatch):
    monkeypatch.setenv("SRAPP_OPENVINO_CACHE", str(tmp_path / "cache"))
    image = smooth(20, 24, seed=4)
    converted, notes = set(), {}
    for name in ARCHITECTURES:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            upscaler = srapp.Upscaler(saved[name, ".pth"], device="cpu", precision="fp32", tile=0)
        said = [str(w.message) for w in caught if "OpenVINO" in str(w.message)]  # decided when it is made
        with warnings.catch_warnings(record=True) as running:
            warnings.simplefilter("always")
            result = upscaler.run_unit(image)
        assert not [w for w in running if "OpenVINO" in str(w.message)], name
        reference = srapp.Upscaler(saved[name, ".pth"], tile=0, **TORCH).run_unit(image)
        if upscaler.backend == "openvino":
            converted.add(name)
            assert psnr(result, reference) >= 50.0, name
            assert not said
        else:  # torch ran it: one line said why
            assert upscaler.backend == "torch" and len(said) == 1 and "running it with torch" in said[0], (name, said)
            assert np.abs(result - reference).max() == 0
            notes[name] = said[0]
    print("OpenVINO converts:", sorted(converted), "; torch runs:", notes)
    assert converted == CONVERTS
