"""DIANet: dense-and-implicit attention, one LSTM cell shared by every block of a stage."""

from __future__ import annotations

import torch
from torch import nn

from .base import AttentionModule, reduced_width


def _gate_bottleneck(in_features: int, hidden_features: int, reduction: int) -> nn.Sequential:
    """The reference's "small cell": ``Linear(n, n/r) -> ReLU -> Linear(n/r, 4 hidden)``."""
    width = reduced_width(in_features, reduction)
    return nn.Sequential(nn.Linear(in_features, width), nn.ReLU(inplace=True), nn.Linear(width, 4 * hidden_features))


class DIACell(nn.Module):
    """The modified LSTM cell of DIANet, shared by all blocks of one stage.

    Gates from the pooled features ``p_t`` and the previous hidden state:
    ``[i, f, g, o] = B_ih(p_t) + B_hh(h_{t-1})`` where each ``B`` is a bottleneck
    ``Linear(C, C/r) -> ReLU -> Linear(C/r, 4C)``; ``c_t = sigmoid(f) c_{t-1} + sigmoid(i) tanh(g)``
    and ``h_t = sigmoid(o) * sigmoid(c_t)`` (sigmoid instead of tanh, so ``h`` is a gate in (0, 1)).

    The cell carries ``(h, c)`` from one block to the next. Whoever owns the cell (a stage of a
    network) registers it as its submodule and calls :meth:`reset` at the start of every forward
    pass of the stage; the blocks only hold a reference.
    """

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        self.channels = channels
        self.input_gates = _gate_bottleneck(channels, channels, reduction)
        self.hidden_gates = _gate_bottleneck(channels, channels, reduction)
        self._state: tuple[torch.Tensor, torch.Tensor] | None = None

    def reset(self) -> None:
        """Start a new stage: the next step sees ``h = c = 0``."""
        self._state = None

    def __getstate__(self) -> dict:
        # The carried (h, c) belongs to one forward pass (and its autograd graph): copies and
        # pickles (deepcopy for EMA, DataParallel replicas) start without it.
        state = dict(super().__getstate__())
        state["_state"] = None
        return state

    def step(self, pooled: torch.Tensor) -> torch.Tensor:
        """Advance the stage by one block; ``pooled`` is ``(B, C)``; returns the gate ``h``."""
        if self._state is None:
            hidden = cell = pooled.new_zeros(pooled.shape)
        else:
            hidden, cell = self._state
            if hidden.shape != pooled.shape:
                raise RuntimeError(
                    f"DIACell holds a state of shape {tuple(hidden.shape)} but got {tuple(pooled.shape)}: "
                    "the stage that owns the cell must call reset() at the start of its forward pass"
                )
        gates = self.input_gates(pooled) + self.hidden_gates(hidden)
        input_gate, forget_gate, candidate, output_gate = gates.chunk(4, dim=1)
        cell = torch.sigmoid(forget_gate) * cell + torch.sigmoid(input_gate) * torch.tanh(candidate)
        hidden = torch.sigmoid(output_gate) * torch.sigmoid(cell)
        self._state = (hidden, cell)
        return hidden

    def extra_repr(self) -> str:
        return f"channels={self.channels}"


class DenseImplicitAttention(AttentionModule):
    """DIA attention of one block.

    Huang, Liang, Xiao, Wang, Sun, Lu. "DIANet: Dense-and-Implicit Attention Network", AAAI 2020.

    ``h_t = DIACell(GAP(x))``, output ``x * h_t``. Pass the stage's shared ``cell`` to wire a
    stack of blocks (see :class:`DIACell` for who owns and resets it); without one the module
    owns a private cell and resets it on every call, i.e. a stage of one block.
    """

    def __init__(self, channels: int, reduction: int = 4, cell: DIACell | None = None) -> None:
        super().__init__(channels)
        if cell is None:
            self.cell = DIACell(channels, reduction)
            self.owns_cell = True
        else:
            if cell.channels != channels:
                raise ValueError(f"shared DIACell has {cell.channels} channels, the block has {channels}")
            # A plain attribute, not a submodule: the stage registers the cell once, so its
            # weights appear once in state_dict() instead of once per block.
            object.__setattr__(self, "cell", cell)
            self.owns_cell = False

    def recalibrate(self, x: torch.Tensor) -> torch.Tensor:
        if self.owns_cell:
            self.cell.reset()
        gate = self.cell.step(x.mean((2, 3)))
        return x * gate[:, :, None, None].to(x.dtype)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, shared_cell={not self.owns_cell}"
