"""``compile: true`` in SrappSRModel: the training step runs compiled, trains like eager, and falls back to eager
(with the reason logged) when compiling fails."""

from __future__ import annotations

import pytest
import torch

import srapp.training  # noqa: F401  (registers srapp with BasicSR)
from srapp.training.sr_model import SrappSRModel

pytestmark = pytest.mark.training


def tiny_training_model(compile_network: bool) -> SrappSRModel:
    torch.manual_seed(0)
    return SrappSRModel({
        "compile": compile_network, "precision": "fp32", "channels_last": True, "num_gpu": 0, "is_train": True,
        "dist": False, "rank": 0, "world_size": 1,
        "network_g": {"type": "SrappRCAN", "scale": 2, "num_groups": 1, "num_blocks": 1, "channels": 8,
                      "reduction": 4},
        "path": {"pretrain_network_g": None},
        "train": {"ema_decay": 0.9, "optim_g": {"type": "Adam", "lr": 1e-3},
                  "scheduler": {"type": "MultiStepLR", "milestones": [100], "gamma": 0.5},
                  "total_iter": 2, "warmup_iter": -1, "pixel_opt": {"type": "L1Loss", "loss_weight": 1.0}},
    })


def batch() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return {"lq": torch.rand(2, 3, 12, 12, generator=generator), "gt": torch.rand(2, 3, 24, 24, generator=generator)}


def two_steps(model: SrappSRModel) -> dict[str, torch.Tensor]:
    for step in (1, 2):
        model.feed_data(batch())
        model.optimize_parameters(step)
    return {k: v.detach().clone() for k, v in model.net_g.state_dict().items()}


def test_compiled_training_steps_match_eager_and_keep_parameter_names():
    compiled = tiny_training_model(True)
    assert compiled.compiled_net_g is not None
    after_compiled = two_steps(compiled)
    assert compiled.compiled_net_g is not None  # it really ran compiled
    after_eager = two_steps(tiny_training_model(False))
    assert list(after_compiled) == list(after_eager)  # what BasicSR saves and the EMA copies by name
    before = tiny_training_model(False).net_g.state_dict()
    assert any(not torch.equal(before[k], after_compiled[k]) for k in before)  # it trained
    for key in after_eager:
        torch.testing.assert_close(after_compiled[key], after_eager[key], rtol=1e-4, atol=1e-5)


def test_a_failing_compilation_falls_back_to_eager_with_the_reason_logged(monkeypatch, basicsr_warnings):
    def broken_compile(module, *args, **kwargs):
        def run(*inputs):
            raise RuntimeError("no C++ compiler on this machine")
        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    model = tiny_training_model(True)
    after = two_steps(model)
    assert model.compiled_net_g is None
    assert any("torch.compile failed" in m and "no C++ compiler" in m for m in basicsr_warnings)
    eager = two_steps(tiny_training_model(False))
    for key in eager:  # the failed step was redone eagerly: the same training as eager throughout
        torch.testing.assert_close(after[key], eager[key])


def test_compile_is_a_known_option():
    from srapp.training.option_files import SRAPP_MODEL_KEYS

    assert "compile" in SRAPP_MODEL_KEYS

