"""Contract tests shared by every channel-attention module, the factory and the import shim."""

from __future__ import annotations

import copy
import itertools
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from srapp.attention import (
    ATTENTION_CLASSES,
    ATTENTION_NAMES,
    SqueezeExcite,
    create_attention,
    create_shared_state,
)

C = 32  # bilinear then reduces to m = 2 (3 pairs), GSoP to d = 32


def perturbed(module: nn.Module, std: float = 0.5, seed: int = 0) -> nn.Module:
    """A copy with every parameter drawn at random (GCT's gamma = 0 would block gradients)."""
    module = copy.deepcopy(module)
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            nn.init.normal_(p, std=std)
    torch.random.set_rng_state(generator_state)
    return module


def test_attention_names_are_the_eleven_modules():
    assert set(ATTENTION_NAMES) == {"se", "enc", "gsop", "fca", "bilinear", "eca", "ca", "dia", "srm", "gct", "soca"}
    assert len(ATTENTION_NAMES) == 11


# --------------------------------------------------------------------------------------------
# 1. shape, tiny maps, bfloat16 autocast, gradients
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ATTENTION_NAMES)
@pytest.mark.parametrize("train", [True, False])
def test_output_shape_equals_input_shape(name, train):
    torch.manual_seed(0)
    module = create_attention(name, C).train(train)
    for shape in [(2, C, 8, 8), (3, C, 5, 7)]:
        x = torch.randn(shape)
        with torch.no_grad():
            out = module(x)
        assert out.shape == x.shape
        assert out.dtype == x.dtype
        assert torch.isfinite(out).all()


SIZES = list(itertools.product((1, 2, 5), repeat=2))


@pytest.mark.parametrize("name", ATTENTION_NAMES)
@pytest.mark.parametrize("precision", ["float32", "bfloat16-autocast"])
def test_train_mode_batch_one_tiny_maps(name, precision):
    torch.manual_seed(1)
    for module in (create_attention(name, C), perturbed(create_attention(name, C))):
        module.train()
        for h, w in SIZES:
            x = torch.randn(1, C, h, w)
            with torch.no_grad():
                if precision == "float32":
                    out = module(x)
                    assert out.dtype == torch.float32
                else:
                    with torch.autocast("cpu", dtype=torch.bfloat16):
                        out = module(x.bfloat16())
                    assert out.dtype == torch.bfloat16, name  # a gate must not promote the features
            assert out.shape == x.shape, (name, h, w)
            assert torch.isfinite(out.float()).all(), (name, h, w)


def _assert_useful_grads(named_parameters):
    named_parameters = list(named_parameters)
    assert named_parameters, "module has no parameters"
    for pname, p in named_parameters:
        assert p.grad is not None, f"{pname}: no gradient"
        assert torch.isfinite(p.grad).all(), f"{pname}: non-finite gradient"
        assert p.grad.abs().sum() > 0, f"{pname}: gradient is all zero"


@pytest.mark.parametrize("name", [n for n in ATTENTION_NAMES if n != "dia"])
def test_gradient_reaches_every_parameter(name):
    torch.manual_seed(2)
    module = perturbed(create_attention(name, C)).train()
    x = torch.randn(2, C, 5, 5, requires_grad=True)
    out = module(x)
    (out * torch.randn_like(out)).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    _assert_useful_grads(module.named_parameters())


def test_gradient_reaches_every_parameter_dia_shared_cell():
    """DIA: a stage of two blocks sharing one cell (fresh state) trains every cell weight."""
    torch.manual_seed(3)
    cell = perturbed(create_shared_state("dia", C))
    blocks = [create_attention("dia", C, shared=cell) for _ in range(2)]
    assert all(list(b.parameters()) == [] for b in blocks)  # the blocks only hold a reference
    cell.reset()
    x = torch.randn(2, C, 5, 5, requires_grad=True)
    out = blocks[1](blocks[0](x))
    (out * torch.randn_like(out)).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    _assert_useful_grads(cell.named_parameters())


def test_gradient_standalone_dia():
    """A standalone DIA block is a stage of one step: h_0 = 0, so the first hidden-path weight
    multiplies zero and gets an exactly-zero gradient; every other parameter learns."""
    torch.manual_seed(4)
    module = perturbed(create_attention("dia", C)).train()
    x = torch.randn(2, C, 5, 5, requires_grad=True)
    out = module(x)
    (out * torch.randn_like(out)).sum().backward()
    dead = "cell.hidden_gates.0.weight"
    named = dict(module.named_parameters())
    assert dead in named
    assert torch.count_nonzero(named[dead].grad) == 0
    _assert_useful_grads((n, p) for n, p in named.items() if n != dead)


def test_dia_standalone_fresh_state_each_forward():
    torch.manual_seed(5)
    module = perturbed(create_attention("dia", C)).train()
    x = torch.randn(2, C, 4, 4)
    with torch.no_grad():
        first = module(x)
        module(torch.randn(3, C, 4, 4))  # another batch size in between is fine
        second = module(x)
    torch.testing.assert_close(first, second, rtol=0, atol=0)


@pytest.mark.parametrize("name", ATTENTION_NAMES)
def test_deepcopy_after_a_training_step(name):
    """Snapshotting a model after training (EMA copy, best-model copy) must work."""
    torch.manual_seed(6)
    module = perturbed(create_attention(name, C)).train()
    x = torch.randn(2, C, 4, 4)
    module(x).sum().backward()
    clone = copy.deepcopy(module)
    module.eval()
    clone.eval()
    with torch.no_grad():
        torch.testing.assert_close(clone(x), module(x), rtol=0, atol=0)


def test_batchnorm_with_one_value_per_channel_uses_running_statistics():
    from srapp.attention.base import BatchNorm2d

    torch.manual_seed(7)
    bn = BatchNorm2d(6).double().train()
    with torch.no_grad():
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.normal_()
        bn.running_mean.normal_()
        bn.running_var.uniform_(0.5, 2.0)
    mean, var = bn.running_mean.clone(), bn.running_var.clone()
    tracked = bn.num_batches_tracked.clone()

    x = torch.randn(1, 6, 1, 1, dtype=torch.float64)
    expected = (x - mean.view(1, -1, 1, 1)) / torch.sqrt(var.view(1, -1, 1, 1) + bn.eps)
    expected = expected * bn.weight.view(1, -1, 1, 1) + bn.bias.view(1, -1, 1, 1)
    torch.testing.assert_close(bn(x), expected, rtol=1e-12, atol=1e-12)
    assert torch.equal(bn.running_mean, mean) and torch.equal(bn.running_var, var)
    assert torch.equal(bn.num_batches_tracked, tracked)

    # two values per channel: ordinary training-mode batch norm (biased batch variance)
    x2 = torch.randn(2, 6, 1, 1, dtype=torch.float64)
    batch_mean = x2.mean(0, keepdim=True)
    batch_var = ((x2 - batch_mean) ** 2).mean(0, keepdim=True)
    expected2 = (x2 - batch_mean) / torch.sqrt(batch_var + bn.eps) * bn.weight.view(1, -1, 1, 1) + bn.bias.view(
        1, -1, 1, 1
    )
    torch.testing.assert_close(bn(x2), expected2, rtol=1e-10, atol=1e-10)
    assert not torch.equal(bn.running_mean, mean)


# --------------------------------------------------------------------------------------------
# 2. parameter counts at C = 64
# --------------------------------------------------------------------------------------------


def _bilinear_count(c: int) -> int:
    m = c // 16
    p = m * (m + 1) // 2
    return (c * m + m) + 2 * m + 2 * ((p * c + c) + 2 * c)


def _enc_count(c: int, k: int = 32) -> int:
    return c * c + 2 * c + k * c + k + 2 * k + c * c + c


def _gsop_count(c: int, d: int = 64) -> int:
    return (c * d + d) + 2 * d + 2 * d + (4 * d * d + 4 * d) + (4 * d * c + c)


def _dia_count(c: int) -> int:
    r = c // 4
    return 2 * (c * r + r + r * 4 * c + 4 * c)


EXPECTED_PARAMETERS_AT_64 = {
    "se": 2 * 64 * (64 // 16) + 64 // 16 + 64,
    "ca": 2 * 64 * (64 // 16) + 64 // 16 + 64,
    "eca": 3,
    "gct": 3 * 64,
    "srm": 4 * 64,
    "fca": 2 * 64 * (64 // 16),
    "soca": 580,
    "bilinear": _bilinear_count(64),
    "enc": _enc_count(64),
    "gsop": _gsop_count(64),
    "dia": _dia_count(64),
}


def test_expected_counts_cover_every_name():
    assert set(EXPECTED_PARAMETERS_AT_64) == set(ATTENTION_NAMES)
    assert EXPECTED_PARAMETERS_AT_64["se"] == 580


@pytest.mark.parametrize("name", ATTENTION_NAMES)
def test_parameter_count_at_64_channels(name):
    for module in (create_attention(name, 64), ATTENTION_CLASSES[name](64)):
        assert sum(p.numel() for p in module.parameters()) == EXPECTED_PARAMETERS_AT_64[name]


def test_se_without_bias_has_no_bias_parameters():
    module = SqueezeExcite(64, bias=False)
    assert module.fc_reduce.bias is None and module.fc_expand.bias is None
    assert not any("bias" in n for n, _ in module.named_parameters())
    assert sum(p.numel() for p in module.parameters()) == 2 * 64 * 4


# --------------------------------------------------------------------------------------------
# 12. factory and input checks
# --------------------------------------------------------------------------------------------


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError) as info:
        create_attention("nope", 8)
    message = str(info.value)
    assert "nope" in message
    for name in ATTENTION_NAMES:
        assert name in message
    with pytest.raises(ValueError):
        create_shared_state("nope", 8)


@pytest.mark.parametrize("name", ATTENTION_NAMES)
def test_wrong_channel_count_raises(name):
    module = create_attention(name, 16)
    with pytest.raises(ValueError) as info:
        module(torch.randn(2, 8, 4, 4))
    assert "expected 16" in str(info.value)
    assert "got 8" in str(info.value)


@pytest.mark.parametrize("name", ATTENTION_NAMES)
def test_three_dimensional_input_raises(name):
    module = create_attention(name, 16)
    with pytest.raises(ValueError):
        module(torch.randn(16, 4, 4))


def test_shared_state_rejected_by_modules_without_one():
    with pytest.raises(ValueError):
        create_attention("se", 8, shared=nn.Identity())
    assert create_shared_state("se", 8) is None
    assert create_shared_state("dia", 8) is not None


def test_shared_dia_cell_with_wrong_width_raises():
    with pytest.raises(ValueError):
        create_attention("dia", 16, shared=create_shared_state("dia", 8))


@pytest.mark.parametrize("bad", [0, -3, 2.0])
def test_bad_channel_argument_raises(bad):
    with pytest.raises(ValueError):
        create_attention("se", bad)


# --------------------------------------------------------------------------------------------
# 13. the torchvision alias for basicsr
# --------------------------------------------------------------------------------------------


def test_compat_makes_basicsr_importable():
    code = (
        "import srapp._compat\n"
        "import basicsr\n"
        "import torchvision.transforms.functional_tensor as ft\n"
        "assert callable(ft.rgb_to_grayscale)\n"
        "print('ok')\n"
    )
    root = Path(__file__).resolve().parents[1]
    venv_python = root / ".venv" / "bin" / "python"
    python = str(venv_python) if venv_python.exists() else sys.executable
    result = subprocess.run([python, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")
