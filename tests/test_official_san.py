"""The official SAN: its state dicts load through load_model and give the authors' outputs; the
shipped san-x4 keeps its full-resolution non-local block; SOCA's window; small and odd inputs."""

from __future__ import annotations

import re
import types
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from srapp import CheckpointError, load_model, save_checkpoint
from srapp.archs import SAN
from srapp.archs.san import NonLocalBlock, RegionNonLocal
from srapp.attention import SecondOrderChannelAttention
from srapp.attention.soca import OFFICIAL_WINDOW
from srapp.checkpoints import read_checkpoint, shipped_models
from srapp.data import data_path

OFFICIAL_TOLERANCE = 1e-4  # outputs in [0, 1], float32 on both sides


OFFICIAL_SAN = "reference/official_san"
needs_official_san = pytest.mark.needs_data(OFFICIAL_SAN)


def _official_files() -> list:
    """The official fixtures, or one placeholder that the ``needs_data`` mark skips when they are absent."""
    folder = data_path(OFFICIAL_SAN)
    files = sorted(folder.glob("*.pt")) if folder is not None else []
    return [pytest.param(path, id=path.stem) for path in files] or [pytest.param(None, id="absent")]


def _read_reference(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


@needs_official_san
@pytest.mark.parametrize("path", _official_files())
def test_official_state_dict_loads_and_matches_the_official_outputs(path):
    reference = _read_reference(path)
    official = reference["config"]
    loaded = load_model(reference["state_dict"])
    model = loaded.network
    assert isinstance(model, SAN) and loaded.layout == "official-san"
    config = model.config
    assert (config["scale"], config["num_groups"], config["num_blocks"], config["channels"], config["reduction"]) == (
        official["scale"], official["n_resgroups"], official["n_resblocks"], official["n_feats"], official["reduction"]
    )
    assert config["nonlocal_subsample"] is True and config["soca_window"] == OFFICIAL_WINDOW
    assert len(reference["inputs"]) == len(reference["outputs"]) > 0
    with torch.no_grad():
        for x, expected in zip(reference["inputs"], reference["outputs"]):
            out = model(x)
            assert out.shape == expected.shape
            difference = (out - expected).abs().max().item()
            assert difference < OFFICIAL_TOLERANCE, f"{path.name} input {tuple(x.shape)}: off by {difference:.2e}"


@needs_official_san
@pytest.mark.parametrize("path", _official_files())
def test_official_network_keeps_its_options_in_an_srapp_checkpoint(path, tmp_path):
    reference = _read_reference(path)
    model = load_model(reference["state_dict"]).network
    again = load_model(save_checkpoint(model, tmp_path / "san.pth")).network
    assert again.config == model.config
    x = reference["inputs"][1]
    with torch.no_grad():
        assert torch.equal(again(x), model(x))


@needs_official_san
@pytest.mark.parametrize("path", _official_files())
def test_official_outputs_need_the_max_pooled_non_local(path):
    """The reference discriminates: the same weights in a full-resolution non-local block miss it."""
    reference = _read_reference(path)
    pooled = load_model(reference["state_dict"]).network
    full = SAN(**{**pooled.config, "nonlocal_subsample": False})
    full.load_state_dict(
        {re.sub(r"^non_local\.block\.(g|phi)\.0\.", r"non_local.block.\1.", key): value
         for key, value in pooled.state_dict().items()}
    )
    x, expected = reference["inputs"][0], reference["outputs"][0]
    with torch.no_grad():
        assert (full.eval()(x) - expected).abs().max().item() > 100 * OFFICIAL_TOLERANCE


@needs_official_san
@pytest.mark.parametrize("path", _official_files())
def test_official_layout_without_the_pooled_keys_is_refused(path):
    state = dict(_read_reference(path)["state_dict"])
    for name in ("g", "phi"):
        for p in ("weight", "bias"):
            state[f"non_local.non_local.{name}.{p}"] = state.pop(f"non_local.non_local.{name}.0.{p}")
    with pytest.raises(CheckpointError):
        load_model(state)


def _previous_non_local_forward(self: NonLocalBlock, x: torch.Tensor) -> torch.Tensor:
    """NonLocalBlock.forward as it was before the max-pooled variant existed."""
    batch, _, height, width = x.shape
    if height * width == 0:
        return x

    def tokens(conv):
        return conv(x).flatten(2).transpose(1, 2).unsqueeze(1)

    attended = F.scaled_dot_product_attention(tokens(self.theta), tokens(self.phi), tokens(self.g), scale=1.0)
    attended = attended.squeeze(1).transpose(1, 2).reshape(batch, self.inter_channels, height, width)
    return x + self.project(attended)


def test_shipped_san_x4_keeps_its_full_resolution_non_local():
    path = shipped_models().get("san-x4")
    if path is None:
        pytest.skip("weights/san-x4.pth is not installed")
    assert "nonlocal_subsample" not in read_checkpoint(path)["config"]  # so the default applies
    model = load_model(path).network
    assert model.config["nonlocal_subsample"] is False and model.config["soca_window"] is None
    generator = torch.Generator().manual_seed(0)
    inputs = [torch.rand(1, 3, 37, 29, generator=generator), torch.rand(1, 3, 3, 5, generator=generator)]
    with torch.no_grad():
        now = [model(x) for x in inputs]
        model.non_local.block.forward = types.MethodType(_previous_non_local_forward, model.non_local.block)
        before = [model(x) for x in inputs]
    for a, b in zip(now, before):
        assert torch.equal(a, b)


def _naive_pooled_non_local(block: NonLocalBlock, x: torch.Tensor) -> torch.Tensor:
    """Explicit softmax over keys and values max-pooled by 2 with nn.MaxPool2d (sides >= 2)."""
    batch, _, height, width = x.shape
    pool = torch.nn.MaxPool2d(2)
    theta = block.theta(x).reshape(batch, block.inter_channels, -1)
    phi = pool(block.phi[0](x)).reshape(batch, block.inter_channels, -1)
    g = pool(block.g[0](x)).reshape(batch, block.inter_channels, -1)
    affinity = torch.softmax(theta.transpose(1, 2) @ phi, dim=-1)  # (B, M, M / 4)
    y = (affinity @ g.transpose(1, 2)).transpose(1, 2).reshape(batch, block.inter_channels, height, width)
    return x + block.project(y)


def _pooled_block(channels: int = 8, inter: int = 2) -> NonLocalBlock:
    torch.manual_seed(0)
    block = NonLocalBlock(channels, inter, subsample=True).double()
    torch.nn.init.normal_(block.project.weight)  # starts at zero: make the branch visible
    return block


def test_pooled_block_keys_follow_the_official_names():
    keys = set(_pooled_block().state_dict())
    assert {"g.0.weight", "g.0.bias", "phi.0.weight", "phi.0.bias", "theta.weight", "project.weight"} <= keys
    assert "g.weight" not in keys and "phi.weight" not in keys


@pytest.mark.parametrize("size", [(6, 8), (5, 7), (2, 3), (9, 2)])
def test_pooled_block_matches_explicit_attention_with_floor_pooling(size):
    block = _pooled_block()
    x = torch.randn(2, 8, *size, dtype=torch.float64)
    assert torch.allclose(block(x), _naive_pooled_non_local(block, x), atol=1e-10)


def test_pooled_block_keeps_a_single_row_unpooled_along_it():
    block = _pooled_block()
    x = torch.randn(1, 8, 1, 7, dtype=torch.float64)
    theta = block.theta(x).reshape(1, 2, 7)
    # Along the row: pairs of columns, the odd last one dropped; the single row itself is kept.
    phi = block.phi[0](x)[..., :6].reshape(1, 2, 3, 2).amax(-1)
    g = block.g[0](x)[..., :6].reshape(1, 2, 3, 2).amax(-1)
    y = (torch.softmax(theta.transpose(1, 2) @ phi, dim=-1) @ g.transpose(1, 2)).transpose(1, 2).reshape(1, 2, 1, 7)
    assert torch.allclose(block(x), x + block.project(y), atol=1e-10)
    one = torch.randn(1, 8, 1, 1, dtype=torch.float64)  # one key: softmax 1, value g(x) itself
    assert torch.allclose(block(one), one + block.project(block.g[0](one)), atol=1e-10)


@pytest.mark.parametrize("size", [(1, 1), (1, 6), (2, 2), (3, 3), (3, 7), (4, 5)])
def test_pooled_san_runs_on_inputs_the_official_code_cannot_take(size):
    """The official network fails below 4 pixels a side (a region of one row pools to nothing)."""
    torch.manual_seed(0)
    model = SAN(scale=2, num_groups=1, num_blocks=1, channels=16, reduction=4, nonlocal_subsample=True).eval()
    torch.nn.init.normal_(model.non_local.block.project.weight)
    with torch.no_grad():
        out = model(torch.rand(1, 3, *size))
    assert out.shape == (1, 3, 2 * size[0], 2 * size[1]) and torch.isfinite(out).all()


def test_region_non_local_shares_one_pooled_block_over_the_quadrants():
    torch.manual_seed(0)
    module = RegionNonLocal(8, 2, subsample=True).double()
    torch.nn.init.normal_(module.block.project.weight)
    x = torch.randn(1, 8, 9, 11, dtype=torch.float64)
    expected = torch.empty_like(x)
    for rows in (slice(0, 4), slice(4, 9)):
        for cols in (slice(0, 5), slice(5, 11)):
            expected[:, :, rows, cols] = _naive_pooled_non_local(module.block, x[:, :, rows, cols])
    assert torch.allclose(module(x), expected, atol=1e-10)


def _soca_pair(window: int) -> tuple[SecondOrderChannelAttention, SecondOrderChannelAttention]:
    torch.manual_seed(0)
    whole = SecondOrderChannelAttention(8, reduction=2).double()
    windowed = SecondOrderChannelAttention(8, reduction=2, window=window).double()
    windowed.load_state_dict(whole.state_dict())
    return whole, windowed


@pytest.mark.parametrize(
    "size, rows, cols",
    [((11, 7), slice(3, 7), slice(1, 5)), ((10, 3), slice(3, 7), slice(0, 3)), ((4, 4), slice(0, 4), slice(0, 4))],
)
def test_soca_window_takes_its_statistics_from_the_central_crop(size, rows, cols):
    whole, windowed = _soca_pair(window=4)
    x = torch.randn(2, 8, *size, dtype=torch.float64)
    crop = x[:, :, rows, cols]
    assert torch.allclose(windowed.descriptor(x), whole.descriptor(crop), atol=1e-12)
    gate = torch.sigmoid(whole.fc_expand(torch.relu(whole.fc_reduce(whole.descriptor(crop)))))
    assert torch.allclose(windowed(x), x * gate, atol=1e-12)  # the gate scales the whole map


def test_soca_window_changes_large_maps_only_and_is_checked():
    whole, windowed = _soca_pair(window=4)
    small = torch.randn(1, 8, 3, 4, dtype=torch.float64)
    assert torch.equal(windowed(small), whole(small))
    large = torch.randn(1, 8, 9, 9, dtype=torch.float64)
    assert not torch.allclose(windowed.descriptor(large), whole.descriptor(large))
    with pytest.raises(ValueError):
        SecondOrderChannelAttention(8, window=0)


def test_san_passes_its_soca_window_to_every_group():
    model = SAN(scale=2, num_groups=3, num_blocks=1, channels=16, reduction=4, soca_window=12)
    assert [group.attention.window for group in model.groups] == [12, 12, 12]
    assert SAN(scale=2, num_groups=1, num_blocks=1, channels=16, reduction=4).groups[0].attention.window is None


def test_training_checkpoint_of_a_pooled_san_loads_pooled(tmp_path):
    """``srapp train`` saves srapp's key names without a config: the pooled keys tell the block."""
    torch.manual_seed(0)
    model = SAN(scale=2, num_groups=1, num_blocks=1, channels=16, reduction=4, nonlocal_subsample=True).eval()
    path = tmp_path / "net_g_10.pth"
    torch.save({"params": model.state_dict()}, path)
    loaded = load_model(path)
    assert loaded.layout == "srapp-san" and loaded.config["nonlocal_subsample"] is True
    x = torch.rand(1, 3, 12, 10)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
