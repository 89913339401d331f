"""One precision policy: the device check, what auto means, slow bf16 running in fp32 with a warning
in the engine and in SrappSRModel alike, and the web app's choices."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

from srapp.archs import RCAN
from srapp.engine import kernels, precision as precision_module
from srapp.engine.backends.openvino import OpenVINOBackend
from srapp.engine.backends.torch import TorchBackend
from srapp.engine.devices import cpu_features, machine_description
from srapp.engine.precision import PrecisionSupport
from srapp.engine.upscale import Upscaler
from srapp.errors import UsageError
from srapp.training.sr_model import SrappSRModel
from srapp.web import service

CPUINFO = Path("/proc/cpuinfo")


def cpu_flags() -> set[str]:
    for line in CPUINFO.read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


@pytest.mark.skipif(not CPUINFO.is_file(), reason="reads the CPU's flags from Linux's /proc/cpuinfo")
def test_fast_cpu_bf16_follows_the_cpus_avx512_flags():
    flags = cpu_flags()
    if {"avx512bw", "avx512vl", "avx512dq"} <= flags:  # what oneDNN's bf16 kernels need
        assert TorchBackend.precision_support(torch.device("cpu")).bf16_fast
    if not any(flag.startswith("avx512") for flag in flags):
        assert not TorchBackend.precision_support(torch.device("cpu")).bf16_fast


@pytest.mark.skipif(not CPUINFO.is_file(), reason="reads the CPU's flags from Linux's /proc/cpuinfo")
def test_openvino_bf16_is_fast_only_with_avx512_bf16_or_amx():
    pytest.importorskip("openvino")
    flags = cpu_flags()
    native = bool({"avx512_bf16", "amx_bf16"} & flags)
    assert OpenVINOBackend.precision_support(torch.device("cpu")).bf16_fast == native
    assert not OpenVINOBackend.precision_support(torch.device("cuda")).bf16_fast


@pytest.mark.skipif(not CPUINFO.is_file(), reason="reads the CPU's flags from Linux's /proc/cpuinfo")
def test_cpu_features_agree_with_the_kernels_flags():
    """PyTorch's detection (what srapp reports and keys its int8 races by) against the flags the
    Linux kernel lists."""
    features, flags = cpu_features(), cpu_flags()
    assert ("avx512" in features) == ({"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= flags)
    if "avx512" not in features:
        assert ("avx2" in features) == ("avx2" in flags)
    assert ("avx512_vnni" in features) == ("avx512_vnni" in flags)
    assert ("avx512_bf16" in features) == ("avx512_bf16" in flags)
    assert ("amx" in features) == ("amx_tile" in flags)
    assert " ".join(features) in machine_description(torch.device("cpu"))


def test_bf16_without_fast_kernels_runs_fp32_with_a_warning(monkeypatch):
    """One policy for slow bf16 everywhere: it runs in fp32, and says so (the torch backend here;
    OpenVINO's kernels: tests/test_backends.py)."""
    network = RCAN(scale=2, num_groups=1, num_blocks=1, channels=8, reduction=4)
    monkeypatch.setattr(kernels, "torch_has_fast_bf16", lambda device: False)
    with pytest.warns(UserWarning, match="bf16 has no fast kernels on this cpu.*running in fp32"):
        assert Upscaler(network, precision="bf16", device="cpu", backend="torch").precision == "fp32"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Upscaler("bicubic", scale=2, precision="bf16", device="cpu")  # no network: nothing runs in bf16
        assert Upscaler(network, precision="auto", device="cpu", backend="torch").precision == "fp32"
    monkeypatch.setattr(kernels, "torch_has_fast_bf16", lambda device: True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Upscaler(network, precision="bf16", device="cpu", backend="torch").precision == "bf16"
        assert Upscaler(network, precision="auto", device="cpu", backend="torch").precision == "bf16"


@pytest.mark.parametrize(("requested", "fast", "cuda", "runs"), [
    ("auto", False, False, "fp32"), ("auto", True, False, "bf16"), ("auto", True, True, "bf16"),
    ("auto", False, True, "fp32"), ("fp32", True, False, "fp32"), ("bf16", False, False, "fp32"),
    ("fp16", False, True, "fp16"),
])
def test_precision_policy(requested, fast, cuda, runs):
    device = torch.device("cuda" if cuda else "cpu")
    support = PrecisionSupport("a backend", fast, "bf16 is slow in a backend", "no int8 in a backend")
    resolved = precision_module.resolve_precision(requested, device, support)
    assert resolved.precision == runs
    assert resolved.warning == ("bf16 is slow in a backend; running in fp32" if requested == "bf16" and not fast
                                else None)


def test_int8_runs_where_the_backend_says_it_can():
    cpu = torch.device("cpu")
    for missing, runs in ((None, "int8"), ("no int8 in a backend", "fp32")):
        resolved = precision_module.resolve_precision("int8", cpu, PrecisionSupport("a backend", True, "", missing))
        assert resolved.precision == runs and resolved.warning == (missing and f"{missing}; running fp32")


def test_fp16_and_unknown_precisions_are_refused():
    support = TorchBackend.precision_support(torch.device("cpu"))
    with pytest.raises(UsageError, match="fp16 needs a CUDA device"):
        precision_module.resolve_precision("fp16", torch.device("cpu"), support)
    with pytest.raises(UsageError, match="unknown precision 'int4'"):
        precision_module.resolve_precision("int4", torch.device("cpu"), support)


@pytest.mark.parametrize(("fast", "cuda", "offered"), [
    (False, False, ["auto", "fp32"]),
    (True, False, ["auto", "fp32", "bf16"]),
    (False, True, ["auto", "fp32", "fp16"]),
    (True, True, ["auto", "fp32", "bf16", "fp16"]),
])
def test_web_app_offers_bf16_only_where_it_is_fast(monkeypatch, fast, cuda, offered):
    monkeypatch.setattr(kernels, "torch_has_fast_bf16", lambda device: fast)
    monkeypatch.setattr(kernels, "openvino_cpu_has_fast_bf16", lambda: fast)
    monkeypatch.setattr(kernels, "nncf_missing_reason", lambda: "no NNCF")  # int8's offer: tests/test_int8.py
    monkeypatch.setattr(service, "available_devices", lambda: ["auto", "cpu"] + (["cuda:0"] if cuda else []))
    assert service.available_precisions() == offered


def tiny_model(precision: str) -> SrappSRModel:
    return SrappSRModel({
        "precision": precision, "num_gpu": 0, "is_train": False, "dist": False,
        "network_g": {"type": "SrappRCAN", "scale": 2, "num_groups": 1, "num_blocks": 1, "channels": 8,
                      "reduction": 4},
        "path": {"pretrain_network_g": None},
    })


def test_training_in_bf16_falls_back_to_fp32_where_bf16_is_slow(monkeypatch, basicsr_warnings):
    monkeypatch.setattr(kernels, "torch_has_fast_bf16", lambda device: False)
    model = tiny_model("bf16")
    assert model.precision == "fp32"
    warnings_logged = basicsr_warnings
    assert any("bf16 has no fast kernels on this cpu" in m and "running in fp32" in m for m in warnings_logged)
    model.lq = torch.rand(1, 3, 8, 8)
    model.test()
    assert model.output.dtype == torch.float32 and model.output.shape == (1, 3, 16, 16)


def test_training_in_bf16_stays_bf16_where_bf16_is_fast(monkeypatch):
    monkeypatch.setattr(kernels, "torch_has_fast_bf16", lambda device: True)
    model = tiny_model("bf16")
    assert model.precision == "bf16"
    with model._autocast():
        assert torch.get_autocast_dtype("cpu") == torch.bfloat16 and torch.is_autocast_enabled("cpu")


def test_precision_names_are_shared():
    from srapp.cli import build_parser
    from srapp.training import option_files

    assert option_files.PRECISIONS is precision_module.PRECISIONS
    upscale_parser = build_parser()._subparsers._group_actions[0].choices["upscale"]
    precision_option = next(a for a in upscale_parser._actions if "--precision" in a.option_strings)
    assert tuple(precision_option.choices) == precision_module.PRECISIONS
