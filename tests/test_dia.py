"""DIANet: one LSTM cell shared by the blocks of a stage, against a hand-unrolled reference."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from srapp.attention import DenseImplicitAttention, DIACell, create_attention, create_shared_state

C = 16
BLOCKS = 3


class ToyStage(nn.Module):
    """Three residual blocks ``x + DIA(conv3x3(x))`` sharing one cell, reset per forward."""

    def __init__(self, channels: int = C, blocks: int = BLOCKS) -> None:
        super().__init__()
        self.cell = create_shared_state("dia", channels)
        self.convs = nn.ModuleList(nn.Conv2d(channels, channels, 3, padding=1) for _ in range(blocks))
        self.attentions = nn.ModuleList(create_attention("dia", channels, shared=self.cell) for _ in range(blocks))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.cell.reset()
        for conv, attention in zip(self.convs, self.attentions):
            x = x + attention(conv(x))
        return x


def make_stage(seed: int = 0) -> ToyStage:
    torch.manual_seed(seed)
    stage = ToyStage().double()
    with torch.no_grad():
        for p in stage.cell.parameters():
            p.normal_(std=0.3)
    return stage


def cell_weights(cell: DIACell) -> dict[str, torch.Tensor]:
    """The four Linear layers' weights, read once (so a test can also swap in copies)."""
    return {
        "ih_w1": cell.input_gates[0].weight, "ih_b1": cell.input_gates[0].bias,
        "ih_w2": cell.input_gates[2].weight, "ih_b2": cell.input_gates[2].bias,
        "hh_w1": cell.hidden_gates[0].weight, "hh_b1": cell.hidden_gates[0].bias,
        "hh_w2": cell.hidden_gates[2].weight, "hh_b2": cell.hidden_gates[2].bias,
    }


def reference_stage(stage: ToyStage, x: torch.Tensor, weights_per_block: list[dict[str, torch.Tensor]]) -> torch.Tensor:
    """Manually unrolled stage: LSTM gates by hand, h0 = c0 = 0, sigmoid(c) as the output squash."""
    batch = x.shape[0]
    h = torch.zeros(batch, C, dtype=x.dtype)
    c = torch.zeros(batch, C, dtype=x.dtype)
    for k, conv in enumerate(stage.convs):
        w = weights_per_block[k]
        y = torch.nn.functional.conv2d(x, conv.weight, conv.bias, padding=1)
        p = y.mean((2, 3))
        gates_ih = torch.clamp(p @ w["ih_w1"].T + w["ih_b1"], min=0) @ w["ih_w2"].T + w["ih_b2"]
        gates_hh = torch.clamp(h @ w["hh_w1"].T + w["hh_b1"], min=0) @ w["hh_w2"].T + w["hh_b2"]
        gates = gates_ih + gates_hh
        i, f, g, o = gates[:, :C], gates[:, C : 2 * C], gates[:, 2 * C : 3 * C], gates[:, 3 * C :]
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.sigmoid(c)
        x = x + y * h[:, :, None, None]
    return x


def test_stage_matches_hand_unrolled_lstm():
    stage = make_stage(60)
    x = torch.randn(2, C, 5, 4, dtype=torch.float64)
    with torch.no_grad():
        out = stage(x)
        weights = cell_weights(stage.cell)
        expected = reference_stage(stage, x, [weights] * BLOCKS)
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)
    # the shared state matters: a stage whose blocks each restart from h = c = 0 differs
    with torch.no_grad():
        independent = x
        for conv, attention in zip(stage.convs, stage.attentions):
            stage.cell.reset()
            independent = independent + attention(conv(independent))
    assert (independent - out).abs().max() > 1e-6


def test_state_dict_holds_cell_once():
    stage = make_stage(61)
    keys = list(stage.state_dict())
    cell_keys = [k for k in keys if "input_gates" in k or "hidden_gates" in k]
    assert sorted(cell_keys) == sorted(f"cell.{name}" for name in stage.cell.state_dict())
    assert len(cell_keys) == 8
    assert not any(k.startswith("attentions.") for k in keys)
    r = C // 4
    cell_count = 2 * (C * r + r + r * 4 * C + 4 * C)
    conv_count = BLOCKS * (C * C * 9 + C)
    assert sum(p.numel() for p in stage.parameters()) == cell_count + conv_count
    # round trip through the state dict
    other = make_stage(62)
    other.load_state_dict(stage.state_dict())
    x = torch.randn(1, C, 3, 3, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(other(x), stage(x), rtol=0, atol=0)


def test_repeated_forwards_are_identical():
    stage = make_stage(63)
    x = torch.randn(2, C, 4, 4, dtype=torch.float64)
    with torch.no_grad():
        first = stage(x)
        second = stage(x)
    torch.testing.assert_close(first, second, rtol=0, atol=0)


def test_batch_size_can_change_between_forwards():
    stage = make_stage(64)
    with torch.no_grad():
        x2 = torch.randn(2, C, 4, 4, dtype=torch.float64)
        x3 = torch.randn(3, C, 4, 4, dtype=torch.float64)
        out2 = stage(x2)
        out3 = stage(x3)
    assert out2.shape == x2.shape and out3.shape == x3.shape
    # each sample's result does not depend on its batch mates
    with torch.no_grad():
        torch.testing.assert_close(stage(x3[:1]), out3[:1], rtol=1e-12, atol=1e-12)


def test_without_reset_a_batch_change_raises():
    stage = make_stage(65)
    block = stage.attentions[0]
    stage.cell.reset()
    block(torch.randn(2, C, 4, 4, dtype=torch.float64))
    with pytest.raises(RuntimeError, match="reset"):
        block(torch.randn(3, C, 4, 4, dtype=torch.float64))


def test_gradients_reach_shared_cell_from_every_block():
    stage = make_stage(66)
    x = torch.randn(2, C, 4, 4, dtype=torch.float64)
    upstream = torch.randn(2, C, 4, 4, dtype=torch.float64)
    (stage(x) * upstream).sum().backward()
    shared = cell_weights(stage.cell)

    # the reference with an independent copy of the cell's weights per block: the shared
    # gradient must be the sum of the three per-block gradients, each of them non-zero
    copies = [{k: v.detach().clone().requires_grad_(True) for k, v in shared.items()} for _ in range(BLOCKS)]
    (reference_stage(stage, x, copies) * upstream).sum().backward()
    for key, parameter in shared.items():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), key
        total = sum(copy[key].grad for copy in copies)
        torch.testing.assert_close(parameter.grad, total, rtol=1e-10, atol=1e-12)
    for k, copy in enumerate(copies):
        for key, tensor in copy.items():
            if k == 0 and key == "hh_w1":
                assert torch.count_nonzero(tensor.grad) == 0  # the first block sees h = 0
            else:
                assert tensor.grad.abs().sum() > 0, (k, key)


def test_deepcopy_of_a_trained_stage_keeps_one_shared_cell():
    """EMA / best-model snapshots deep-copy the network after a training step."""
    stage = make_stage(68)
    x = torch.randn(2, C, 4, 4, dtype=torch.float64)
    stage(x).sum().backward()
    clone = copy.deepcopy(stage)
    assert clone.cell is not stage.cell
    assert all(attention.cell is clone.cell for attention in clone.attentions)
    with torch.no_grad():
        torch.testing.assert_close(clone(x), stage(x), rtol=0, atol=0)


def test_standalone_dia_owns_cell_and_repeats():
    torch.manual_seed(67)
    module = create_attention("dia", C).double()
    assert isinstance(module, DenseImplicitAttention) and module.owns_cell
    assert any(k.startswith("cell.") for k in module.state_dict())
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(std=0.3)
    x = torch.randn(2, C, 4, 4, dtype=torch.float64)
    with torch.no_grad():
        first = module(x)
        second = module(x)
        module(torch.randn(3, C, 4, 4, dtype=torch.float64))
        third = module(x)
    torch.testing.assert_close(first, second, rtol=0, atol=0)
    torch.testing.assert_close(first, third, rtol=0, atol=0)
    # one step of the hand-written cell
    weights = cell_weights(module.cell)
    with torch.no_grad():
        p = x.mean((2, 3))
        gates = (
            torch.clamp(p @ weights["ih_w1"].T + weights["ih_b1"], min=0) @ weights["ih_w2"].T + weights["ih_b2"]
            + torch.clamp(weights["hh_b1"], min=0) @ weights["hh_w2"].T + weights["hh_b2"]
        )
        i, g, o = gates[:, :C], gates[:, 2 * C : 3 * C], gates[:, 3 * C :]
        h = torch.sigmoid(o) * torch.sigmoid(torch.sigmoid(i) * torch.tanh(g))
    torch.testing.assert_close(first, x * h[:, :, None, None], rtol=1e-12, atol=1e-12)
