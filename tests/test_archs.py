"""RCAN and SAN: shapes, every attention, BasicSR equivalence and registration, SAN's parts."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import srapp
import srapp._compat  # noqa: F401  (BasicSR, a reference here, imports a module torchvision removed)
from srapp.archs import RCAN, SAN
from srapp.archs.san import NonLocalBlock, RegionNonLocal
from srapp.attention import ATTENTION_NAMES

TINY_RCAN = dict(num_groups=2, num_blocks=2, channels=16)
TINY_SAN = dict(num_groups=2, num_blocks=2, channels=16, reduction=4)


@pytest.mark.parametrize("scale", [2, 3, 4, 8])
@pytest.mark.parametrize("arch", ["rcan", "san"])
def test_output_size_for_every_scale(arch, scale):
    model = RCAN(scale=scale, **TINY_RCAN) if arch == "rcan" else SAN(scale=scale, **TINY_SAN)
    with torch.no_grad():
        out = model(torch.rand(1, 3, 7, 5))
    assert out.shape == (1, 3, 7 * scale, 5 * scale)


def test_unsupported_scale_is_a_clear_error():
    with pytest.raises(ValueError, match="scale 5 is not supported"):
        RCAN(scale=5, **TINY_RCAN)


@pytest.mark.parametrize("attention", ATTENTION_NAMES)
def test_rcan_forward_backward_with_every_attention(attention):
    torch.manual_seed(0)
    model = RCAN(scale=2, attention=attention, **TINY_RCAN).train()
    x = torch.rand(2, 3, 8, 8)
    out = model(x)
    assert out.shape == (2, 3, 16, 16)
    F.l1_loss(out, torch.rand_like(out)).backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name
    assert model.head.weight.grad.abs().sum() > 0


def test_rcan_with_dia_shares_one_cell_per_group_and_resets_it():
    torch.manual_seed(0)
    model = RCAN(scale=2, attention="dia", **TINY_RCAN).eval()
    group = model.groups[0]
    cells = {id(block.attention.cell) for block in group.blocks}
    assert cells == {id(group.shared_state)}
    assert id(model.groups[1].shared_state) != id(group.shared_state)
    cell_keys = [key for key in model.state_dict() if "input_gates.0.weight" in key]
    assert cell_keys == ["groups.0.shared_state.input_gates.0.weight", "groups.1.shared_state.input_gates.0.weight"]
    x = torch.rand(1, 3, 6, 6)
    with torch.no_grad():
        first, second = model(x), model(x)
        model(torch.rand(3, 3, 6, 6))  # another batch size in between must not leak state
        third = model(x)
    assert torch.equal(first, second) and torch.equal(first, third)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_rcan_equals_basicsr_rcan_with_its_weights(scale):
    from basicsr.archs.rcan_arch import RCAN as BasicSRRCAN

    torch.manual_seed(scale)
    reference = BasicSRRCAN(3, 3, num_feat=16, num_group=2, num_block=3, squeeze_factor=4, upscale=scale).eval()
    model = srapp.load_model({"params": reference.state_dict()})
    assert model.config["num_groups"] == 2 and model.config["num_blocks"] == 3 and model.config["scale"] == scale
    x = torch.rand(2, 3, 11, 9)
    with torch.no_grad():
        assert (model(x) - reference(x)).abs().max() <= 1e-5


@pytest.mark.parametrize("scale", [2, 3, 4, 8])
def test_paper_config_parameter_count_equals_basicsr(scale):
    from basicsr.archs.rcan_arch import RCAN as BasicSRRCAN

    ours = sum(p.numel() for p in RCAN(scale=scale).parameters())
    theirs = sum(p.numel() for p in BasicSRRCAN(3, 3, num_block=20, upscale=scale).parameters())
    assert ours == theirs
    if scale == 4:
        assert abs(ours - 15.59e6) < 0.01e6


def test_san_paper_config_parameter_count():
    count = sum(p.numel() for p in SAN(scale=4).parameters())
    # Paper: about 15.7 M; 20 x (10 x 2 convs + SOCA + conv) + head, non-local, upsampler, tail.
    conv = 64 * 64 * 9 + 64
    expected = (
        (3 * 64 * 9 + 64)  # head
        + 20 * (10 * 2 * conv + (64 * 4 + 4 + 4 * 64 + 64) + conv)  # LSRAGs
        + 1  # share-source weight
        + 3 * (64 * 8 + 8) + (8 * 64 + 64)  # non-local g, theta, phi, W
        + 2 * (64 * 256 * 9 + 256)  # x4 upsampler
        + (64 * 3 * 9 + 3)  # tail
    )
    assert count == expected
    assert 15.7e6 <= count <= 15.9e6


def test_basicsr_builds_srapp_networks_from_an_option_dict():
    import srapp.training  # noqa: F401  (registers srapp's networks with BasicSR)
    from basicsr.archs import build_network
    from basicsr.utils.registry import ARCH_REGISTRY

    assert "SrappRCAN" in ARCH_REGISTRY and "SrappSAN" in ARCH_REGISTRY and "RCAN" in ARCH_REGISTRY
    net = build_network({"type": "SrappRCAN", "scale": 2, "attention": "eca", **TINY_RCAN})
    assert isinstance(net, RCAN) and net.config["attention"] == "eca"
    san = build_network({"type": "SrappSAN", "scale": 3, **TINY_SAN})
    assert isinstance(san, SAN)
    with torch.no_grad():
        assert net(torch.rand(1, 3, 4, 4)).shape == (1, 3, 8, 8)


def _naive_non_local(block: NonLocalBlock, x: torch.Tensor) -> torch.Tensor:
    batch, channels, height, width = x.shape
    theta = block.theta(x).reshape(batch, -1, height * width)
    phi = block.phi(x).reshape(batch, -1, height * width)
    g = block.g(x).reshape(batch, -1, height * width)
    affinity = torch.softmax(theta.transpose(1, 2) @ phi, dim=-1)  # (B, M, M)
    y = (affinity @ g.transpose(1, 2)).transpose(1, 2).reshape(batch, -1, height, width)
    return x + block.project(y)


def test_non_local_block_matches_explicit_softmax_attention():
    torch.manual_seed(0)
    block = NonLocalBlock(8, 2).double()
    torch.nn.init.normal_(block.project.weight)  # starts at zero: make the branch visible
    x = torch.randn(2, 8, 5, 6, dtype=torch.float64)
    assert torch.allclose(block(x), _naive_non_local(block, x), atol=1e-10)


def test_region_non_local_applies_the_block_to_each_quadrant_separately():
    torch.manual_seed(0)
    module = RegionNonLocal(8, 2).double()
    torch.nn.init.normal_(module.block.project.weight)
    x = torch.randn(1, 8, 7, 9, dtype=torch.float64)
    expected = torch.empty_like(x)
    for rows in (slice(0, 3), slice(3, 7)):
        for cols in (slice(0, 4), slice(4, 9)):
            expected[:, :, rows, cols] = _naive_non_local(module.block, x[:, :, rows, cols])
    assert torch.allclose(module(x), expected, atol=1e-10)
    assert module(torch.randn(1, 8, 1, 1, dtype=torch.float64)).shape == (1, 8, 1, 1)


def test_soca_inside_san_matches_the_centring_matrix_formulation():
    torch.manual_seed(0)
    san = SAN(scale=2, **TINY_SAN).double()
    soca = san.groups[0].attention
    x = torch.randn(2, 16, 6, 5, dtype=torch.float64)
    batch, channels, height, width = x.shape
    m = height * width
    centring = -torch.ones(m, m, dtype=torch.float64) / m / m + torch.eye(m, dtype=torch.float64) / m
    features = x.reshape(batch, channels, m)
    covariance = features @ centring @ features.transpose(1, 2)
    trace = covariance.diagonal(dim1=1, dim2=2).sum(1)[:, None, None]
    y, z, eye = covariance / trace, torch.eye(channels, dtype=torch.float64), torch.eye(channels, dtype=torch.float64)
    for _ in range(5):
        t = 0.5 * (3 * eye - z @ y)
        y, z = y @ t, t @ z
    descriptor = (y * trace.sqrt()).mean(1)[:, :, None, None]
    gate = torch.sigmoid(soca.fc_expand(torch.relu(soca.fc_reduce(descriptor))))
    assert torch.allclose(soca(x), x * gate, atol=1e-10)


@pytest.mark.parametrize("nonlocal_subsample", [False, True])
def test_san_forward_backward(nonlocal_subsample):
    torch.manual_seed(0)
    model = SAN(scale=2, nonlocal_subsample=nonlocal_subsample, **TINY_SAN)
    out = model(torch.rand(1, 3, 8, 8))
    out.mean().backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name


@pytest.mark.parametrize("cls, folded", [(RCAN, {"reduction"}), (SAN, set())])
def test_config_records_every_constructor_argument(cls, folded):
    """A network's saved config comes from its constructor, so no argument can be dropped from checkpoints."""
    import inspect

    parameters = set(inspect.signature(cls.__init__).parameters) - {"self"}
    model = cls(scale=2, num_groups=1, num_blocks=1, channels=16, reduction=4)
    assert set(model.config) == parameters - folded
    assert cls(**model.config).config == model.config
