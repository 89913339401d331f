"""Exports, each loaded by its consumer: ONNX by onnxruntime, OpenVINO IR by OpenVINO, the official
RCAN layout by spandrel, the official SAN layout and safetensors by load_model; and the refusals."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime
import openvino
import pytest
import safetensors
import safetensors.torch
import spandrel
import torch

from srapp import CheckpointError, UsageError, load_model, save_checkpoint, shipped_models
from srapp.archs import RCAN, SAN
from srapp.attention import ATTENTION_NAMES
from srapp.checkpoints import describe, export_model, export_onnx, official_state_dict
from srapp.cli import main
from srapp.data import data_path
from test_checkpoints import _official_rcan_state

TOLERANCE = 1e-3  # outputs in [0, 1], float32 on both sides
SIZES = ((1, 3, 17, 23), (2, 3, 30, 12))  # two different input sizes (and batches)
OFFICIAL_SAN = "reference/official_san"

NETWORKS = {
    "rcan": lambda: RCAN(scale=3, num_groups=2, num_blocks=2, channels=16, reduction=4),
    "san": lambda: SAN(scale=2, num_groups=2, num_blocks=2, channels=16, reduction=4),
    "san-pooled": lambda: SAN(scale=2, num_groups=2, num_blocks=2, channels=16, reduction=4,
                              nonlocal_subsample=True, soca_window=1000),
}


def _randomise(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random weights everywhere, including SAN's zero-initialised non-local output and share-source weight."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.05)
    return model.eval()


def _inputs(*shapes: tuple[int, ...]) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return [torch.rand(*shape, generator=generator) for shape in shapes]


def _torch_output(model: torch.nn.Module, x: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return model(x).numpy()


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> dict:
    """Name -> (randomised network, its srapp checkpoint file)."""
    folder = tmp_path_factory.mktemp("models")
    return {name: (network := _randomise(build()), save_checkpoint(network, folder / f"{name}.pth"))
            for name, build in NETWORKS.items()}


def _leftovers(folder) -> list[str]:
    return [path.name for path in folder.iterdir() if path.name.startswith(".")]


@pytest.mark.parametrize("name", list(NETWORKS))
def test_onnx_runs_in_onnxruntime_like_torch_at_two_sizes(name, saved, tmp_path):
    network, path = saved[name]
    export = export_model(path, tmp_path / "model.onnx")
    assert export.format == "onnx" and export.paths == (tmp_path / "model.onnx",) and not _leftovers(tmp_path)
    graph = onnx.load(str(export.paths[0]))
    onnx.checker.check_model(graph)
    dims = graph.graph.input[0].type.tensor_type.shape.dim
    assert [(d.dim_param, d.dim_value) for d in dims] == [("batch", 0), ("", 3), ("height", 0), ("width", 0)]
    session = onnxruntime.InferenceSession(str(export.paths[0]), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input"] and [o.name for o in session.get_outputs()] == ["output"]
    scale = network.scale
    for x in _inputs(*SIZES):
        (out,) = session.run(None, {"input": x.numpy()})
        assert out.shape == (x.shape[0], 3, scale * x.shape[2], scale * x.shape[3])
        assert np.abs(out - _torch_output(network, x)).max() < TOLERANCE
    if name.startswith("san"):  # the note says so: a 1-pixel side leaves the non-local block an empty quarter
        assert any("at least 2 pixels" in note for note in export.notes)
        with pytest.raises(Exception):
            session.run(None, {"input": _inputs((1, 3, 1, 6))[0].numpy()})


@pytest.mark.parametrize("attention", ATTENTION_NAMES)
def test_onnx_of_every_attention_or_a_clear_refusal(attention, tmp_path):
    network = _randomise(RCAN(scale=2, attention=attention, num_groups=1, num_blocks=2, channels=8))
    output = tmp_path / "model.onnx"
    if attention == "fca":  # adaptive pooling to a fixed grid: no ONNX operator for dynamic sizes
        with pytest.raises(CheckpointError, match="cannot be exported to ONNX: .*adaptive_avg_pool2d"):
            export_onnx(describe(network), output)
        assert not output.exists() and not _leftovers(tmp_path)
        return
    export_onnx(describe(network), output)
    session = onnxruntime.InferenceSession(str(output), providers=["CPUExecutionProvider"])
    for x in _inputs((1, 3, 11, 14), (2, 3, 20, 9)):
        assert np.abs(session.run(None, {"input": x.numpy()})[0] - _torch_output(network, x)).max() < TOLERANCE


@pytest.mark.parametrize("name, first_side", [("rcan", 2), ("san", 2), ("san-pooled", 4)])
@pytest.mark.openvino
def test_openvino_ir_runs_like_torch_at_two_sizes(name, first_side, saved, tmp_path):
    """The first inference has a single key per non-local quarter: OpenVINO's fused attention
    kernel, were it left in the IR, would get every later input wrong."""
    network, path = saved[name]
    export = export_model(path, tmp_path / "model.xml")
    xml_path, bin_path = export.paths
    assert export.format == "openvino" and bin_path == xml_path.with_suffix(".bin")
    assert xml_path.is_file() and bin_path.is_file() and not _leftovers(tmp_path)
    # f32: OpenVINO computes bf16 by default on CPUs with AVX512-BF16 or AMX
    compiled = openvino.Core().compile_model(str(xml_path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    assert compiled.input(0).get_any_name() == "input" and compiled.output(0).get_any_name() == "output"
    for x in _inputs((1, 3, first_side, first_side), *SIZES):
        out = compiled(x.numpy())[0]
        assert out.shape == (x.shape[0], 3, network.scale * x.shape[2], network.scale * x.shape[3])
        assert np.abs(out - _torch_output(network, x)).max() < TOLERANCE
    if name == "san-pooled":
        assert any("at least 4 pixels" in note for note in export.notes)
        with pytest.raises(RuntimeError):
            compiled(_inputs((1, 3, 3, 8))[0].numpy())


def test_graphs_of_a_soca_window_match_within_it(tmp_path):
    network = _randomise(SAN(scale=2, num_groups=1, num_blocks=2, channels=16, reduction=4, soca_window=12))
    export = export_onnx(describe(network), tmp_path / "model.onnx")
    assert any("top-left 12x12" in note for note in export.notes)
    session = onnxruntime.InferenceSession(str(export.paths[0]), providers=["CPUExecutionProvider"])
    for x in _inputs((1, 3, 12, 12), (1, 3, 7, 11)):
        assert np.abs(session.run(None, {"input": x.numpy()})[0] - _torch_output(network, x)).max() < TOLERANCE


@pytest.mark.parametrize("scale", [2, 3, 4, 8])
def test_official_rcan_loads_in_spandrel_as_rcan(scale, tmp_path):
    network = _randomise(RCAN(scale=scale, num_groups=2, num_blocks=2, channels=16, reduction=4,
                              rgb_mean=(0.5, 0.4, 0.3)))  # not DIV2K's: spandrel must take it from the file
    export = export_model(save_checkpoint(network, tmp_path / "srapp.pth"), tmp_path / "official.pth", "official")
    assert export.paths == (tmp_path / "official.pth",) and export.notes == ()
    state = torch.load(export.paths[0], weights_only=True)
    reference = _official_rcan_state(network)  # the layout renamed by hand
    assert sorted(state) == sorted(reference) and all(torch.equal(state[key], reference[key]) for key in reference)
    for descriptor in (spandrel.ModelLoader().load_from_state_dict(state),
                       spandrel.ModelLoader().load_from_file(export.paths[0])):  # as chaiNNer opens it
        assert descriptor.architecture.id == "RCAN" and descriptor.scale == scale
        for x in _inputs((1, 3, 9, 13), (1, 3, 16, 7)):
            with torch.no_grad():  # spandrel takes [0, 1] (scaling a copy in place) and clamps its output
                out = descriptor(x.clone()).numpy()
            assert np.abs(out - np.clip(_torch_output(network, x), 0, 1)).max() < 1e-5
    loaded = load_model(export.paths[0])
    assert loaded.layout == "official-rcan" and loaded.scale == scale
    assert {k: v for k, v in loaded.config.items() if k != "rgb_mean"} == \
        {k: v for k, v in network.config.items() if k != "rgb_mean"}
    assert loaded.config["rgb_mean"] == pytest.approx(network.config["rgb_mean"])


def test_official_san_loads_back_through_the_official_layout(saved, tmp_path):
    network, path = saved["san-pooled"]
    export = export_model(path, tmp_path / "san.pth", "official")
    assert export.notes == ()  # soca_window 1000: what the official code does
    state = torch.load(export.paths[0], weights_only=True)
    assert "non_local.non_local.g.0.weight" in state and "RG.1.rcab.1.conv_first.2.bias" in state
    loaded = load_model(export.paths[0])
    assert loaded.layout == "official-san"
    assert {k: v for k, v in loaded.config.items() if k != "rgb_mean"} == \
        {k: v for k, v in network.config.items() if k != "rgb_mean"}
    for x in _inputs(*SIZES):
        assert np.abs(_torch_output(loaded.network, x) - _torch_output(network, x)).max() < 1e-6


@pytest.mark.needs_data(OFFICIAL_SAN)
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_official_san_export_is_the_authors_state_dict(scale):
    """Against the official code's own state_dict(): every key and shape, and every tensor its
    forward uses (the modules it never runs are written as zeros)."""
    reference = torch.load(data_path(OFFICIAL_SAN) / f"san_x{scale}.pt", weights_only=True)["state_dict"]
    state = official_state_dict(load_model(reference))
    assert {key: value.shape for key, value in state.items()} == {key: value.shape for key, value in reference.items()}
    unused = {"conv_last.weight", "conv_last.bias"} | {key for key in state if key.startswith("non_local.soca.")} \
        | {key for key in state if key.startswith("RG.") and key.endswith(".gamma")}
    assert all(torch.equal(state[key], reference[key]) for key in state if key not in unused)
    assert all(not state[key].any() for key in unused)


def test_official_san_of_another_soca_window_says_where_it_differs(tmp_path):
    network = _randomise(SAN(scale=2, num_groups=1, num_blocks=1, channels=16, reduction=4, nonlocal_subsample=True))
    export = export_model(save_checkpoint(network, tmp_path / "san.pth"), tmp_path / "official.pth", "official")
    (note,) = export.notes
    assert "central 1000x1000" in note and "whole feature maps" in note


@pytest.mark.parametrize("build, reason", [
    (lambda: RCAN(scale=2, attention="eca", num_groups=1, num_blocks=1, channels=16), "'eca' attention"),
    (lambda: RCAN(scale=2, num_groups=1, num_blocks=1, channels=16, res_scale=0.1), "res_scale 0.1"),
    (lambda: RCAN(scale=2, num_groups=1, num_blocks=1, channels=16, img_range=1.0), "img_range 1.0"),
    (lambda: SAN(scale=2, num_groups=1, num_blocks=1, channels=16, reduction=4), r"nonlocal_subsample=False"),
    (lambda: SAN(scale=2, num_groups=1, num_blocks=1, channels=16, reduction=4, nonlocal_subsample=True,
                 iterations=3), "3 Newton-Schulz iterations"),
], ids=["rcan-eca", "rcan-res-scale", "rcan-img-range", "san-full-resolution", "san-iterations"])
def test_official_layout_refuses_what_it_cannot_hold(build, reason, tmp_path):
    source = save_checkpoint(build(), tmp_path / "model.pth")
    with pytest.raises(CheckpointError, match=f"cannot hold this network: .*{reason}") as error:
        export_model(source, tmp_path / "official.pth", "official")
    assert error.value.source == str(source.resolve())
    assert not (tmp_path / "official.pth").exists() and not _leftovers(tmp_path)


@pytest.mark.parametrize("storage, dtype", [("fp32", torch.float32), ("fp16", torch.float16)])
def test_safetensors_carry_the_config_and_load_back(storage, dtype, saved, tmp_path):
    network, path = saved["san-pooled"]
    export = export_model(path, tmp_path / "san.safetensors", storage=storage)
    with safetensors.safe_open(str(export.paths[0]), framework="pt") as handle:
        metadata, keys = handle.metadata(), set(handle.keys())
        dtypes = {handle.get_tensor(key).dtype for key in keys}
    assert metadata["format"] == "srapp" and metadata["arch"] == "SAN"
    assert json.loads(metadata["config"])["nonlocal_subsample"] is True
    assert keys == set(network.state_dict()) and dtypes == {dtype}
    loaded = load_model(export.paths[0])
    assert (loaded.layout, loaded.arch, loaded.config) == ("srapp", "SAN", network.config)
    x = _inputs(SIZES[0])[0]
    assert np.abs(_torch_output(loaded.network, x) - _torch_output(network, x)).max() <= (0 if storage == "fp32" else 1e-2)


def test_safetensors_stored_keeps_int8_weights_and_their_scales(tmp_path):
    network = _randomise(RCAN(scale=2, num_groups=1, num_blocks=2, channels=32, reduction=4))
    int8 = save_checkpoint(network, tmp_path / "int8.pth", dtype=torch.int8)
    export = export_model(int8, tmp_path / "int8.safetensors", storage="stored")
    tensors = safetensors.torch.load_file(str(export.paths[0]))
    stored = torch.load(int8, weights_only=True)
    for key, quantized in stored["int8_params"].items():
        assert torch.equal(tensors[key], quantized) and torch.equal(tensors[f"int8_scales.{key}"], stored["int8_scales"][key])
    assert export.paths[0].stat().st_size < 0.4 * export_model(int8, tmp_path / "fp32.safetensors").paths[0].stat().st_size
    x = _inputs(SIZES[1])[0]
    assert np.array_equal(_torch_output(load_model(export.paths[0]).network, x), _torch_output(load_model(int8).network, x))


def test_safetensors_of_another_layout_goes_through_layout_detection(tmp_path):
    network = _randomise(RCAN(scale=2, num_groups=1, num_blocks=2, channels=16, reduction=4))
    path = tmp_path / "official_rcan.bin"  # no suffix to go by: found by its header
    safetensors.torch.save_file(_official_rcan_state(network), str(path))
    loaded = load_model(path)
    assert loaded.layout == "official-rcan"
    x = _inputs(SIZES[0])[0]
    assert np.array_equal(_torch_output(loaded.network, x), _torch_output(network, x))


def test_broken_safetensors_are_refused_by_name(tmp_path):
    path = tmp_path / "broken.safetensors"
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(CheckpointError, match=r"broken\.safetensors: not a readable safetensors file"):
        load_model(path)
    network = RCAN(scale=2, num_groups=1, num_blocks=1, channels=16)
    tensors = {key: value.contiguous() for key, value in network.state_dict().items()}
    bad_config = tmp_path / "bad_config.safetensors"
    safetensors.torch.save_file(tensors, str(bad_config), metadata={"format": "srapp", "arch": "RCAN", "config": "{"})
    with pytest.raises(CheckpointError, match="bad_config.safetensors: srapp safetensors metadata without a readable"):
        load_model(bad_config)


def test_cli_infers_the_format_and_writes_atomically(saved, tmp_path, capsys):
    _, path = saved["rcan"]
    assert main(["export", str(path), "-o", str(tmp_path / "rcan.safetensors")]) == 0
    assert main(["export", str(path), "-o", str(tmp_path / "out" / "rcan.pth"), "--format", "official"]) == 0
    printed = capsys.readouterr().out
    assert "rcan.safetensors: safetensors" in printed and "rcan.pth: official" in printed
    assert load_model(tmp_path / "out" / "rcan.pth").layout == "official-rcan"
    assert not _leftovers(tmp_path) and not _leftovers(tmp_path / "out")


@pytest.mark.parametrize("argv, message", [
    (["-o", "{tmp}/model.bin"], "cannot tell the export format from the suffix .bin"),
    (["-o", "{tmp}/model.pth"], "cannot tell the export format from the suffix .pth"),
    (["-o", "{tmp}/model.onnx", "--format", "safetensors"], "the suffix .onnx is for onnx files, not safetensors"),
    (["-o", "{tmp}/model.ir", "--format", "openvino"], r"OpenVINO IR is an \.xml file"),
    (["-o", "{source}", "--format", "official"], "would overwrite the model being exported"),
], ids=["unknown-suffix", "official-without-flag", "suffix-disagrees", "ir-without-xml", "overwrite-source"])
def test_cli_usage_errors_exit_2_with_a_message(argv, message, tmp_path, capsys):
    source = save_checkpoint(RCAN(scale=2, num_groups=1, num_blocks=1, channels=16), tmp_path / "model.pth")
    before = source.read_bytes()
    argv = [arg.format(tmp=tmp_path, source=source) for arg in argv]
    assert main(["export", str(source), *argv]) == 2
    error = capsys.readouterr().err
    assert error.startswith("srapp: error: ") and message.replace("\\", "") in error.replace("\\", "")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pth"] and source.read_bytes() == before


def test_cli_refuses_the_shipped_san_x4_in_the_official_layout(tmp_path, capsys):
    if "san-x4" not in shipped_models():
        pytest.skip("weights/san-x4.pth is not installed")
    assert main(["export", "san-x4", "-o", str(tmp_path / "san.pth"), "--format", "official"]) == 2
    error = capsys.readouterr().err
    assert "san-x4.pth: the official-san layout cannot hold this network" in error
    assert "nonlocal_subsample=False" in error and not (tmp_path / "san.pth").exists()


def test_usage_errors_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="unknown export format 'tflite'"):
        export_model("rcan-x2", tmp_path / "m.onnx", "tflite")
    with pytest.raises(UsageError, match="unknown storage 'bf8'"):
        export_model("rcan-x2", tmp_path / "m.safetensors", storage="bf8")
