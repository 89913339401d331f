"""Peak memory of SOCA and SAN against the reference's M x M centring-matrix formulation.

    python benchmarks/memory.py            # every case, each in a fresh process

Each case runs in its own process and reports the growth of the process's peak resident set
during one no-grad forward pass. The reference formulation (covariance through the
``M x M`` matrix ``I_bar``, explicit non-local affinity matrices) is run where it fits in memory
and otherwise computed from its dominant allocation, ``4 M^2`` bytes for ``I_bar`` in float32.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import torch
from torch import nn

from measure import GIB, MIB, peak_bytes, resident_bytes


def reference_covariance(x: torch.Tensor) -> torch.Tensor:
    """The reference's covariance: ``X I_bar X^T`` with the explicit ``M x M`` centring matrix."""
    batch, channels, height, width = x.shape
    m = height * width
    features = x.reshape(batch, channels, m)
    centring = -torch.ones(m, m, dtype=x.dtype) / (m * m) + torch.eye(m, dtype=x.dtype) / m
    return features @ centring @ features.transpose(1, 2)


def reference_soca_bytes(channels: int, height: int, width: int) -> int:
    """Dominant allocations of the reference SOCA in float32: ``I_bar`` and ``X I_bar``."""
    m = height * width
    return 4 * (m * m + channels * m)


class _ReferenceSOCA(nn.Module):
    def __init__(self, soca: nn.Module) -> None:
        super().__init__()
        self.soca = soca

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from srapp.attention.covariance import newton_schulz_sqrt

        root = newton_schulz_sqrt(reference_covariance(x), self.soca.iterations)
        z = root.mean(2)[:, :, None, None]
        return x * torch.sigmoid(self.soca.fc_expand(torch.relu(self.soca.fc_reduce(z))))


class _ReferenceNonLocal(nn.Module):
    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        self.block = block

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        theta = self.block.theta(x).reshape(b, -1, h * w).transpose(1, 2)
        phi = self.block.phi(x).reshape(b, -1, h * w)
        g = self.block.g(x).reshape(b, -1, h * w).transpose(1, 2)
        y = (torch.softmax(theta @ phi, dim=-1) @ g).transpose(1, 2).reshape(b, -1, h, w)
        return x + self.block.project(y)


def _san(reference: bool) -> nn.Module:
    from srapp.archs import SAN

    model = SAN(scale=4).eval()
    if reference:
        for group in model.groups:
            group.attention = _ReferenceSOCA(group.attention)
        model.non_local.block = _ReferenceNonLocal(model.non_local.block)
    return model


def run_case(case: str, size: int) -> dict:
    """Measure one case in this process (call in a fresh process)."""
    torch.set_num_threads(2)
    from srapp.attention import SecondOrderChannelAttention

    if case.startswith("soca"):
        module = SecondOrderChannelAttention(64).eval()
        x = torch.randn(1, 64, size, size)
        if case == "soca-reference":
            module = _ReferenceSOCA(module)
    else:
        module = _san(reference=case == "san-reference")
        x = torch.rand(1, 3, size, size)
    with torch.no_grad():
        module(x[:, :, :16, :16])  # warm-up: library pools and kernel setup are not the formulation's
    baseline = resident_bytes()
    start = time.perf_counter()
    with torch.no_grad():
        module(x)
    seconds = time.perf_counter() - start
    return {"case": case, "size": size, "peak_bytes": max(0, peak_bytes() - baseline), "seconds": seconds}


def _measure(case: str, size: int) -> dict:
    output = subprocess.run(
        [sys.executable, __file__, "--case", case, "--size", str(size)],
        check=True, capture_output=True, text=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def report(soca_size: int = 256, san_size: int = 128, reference_soca_limit: int = 8 * GIB) -> list[str]:
    """Run every case and return the printed table's lines."""
    lines = [f"{'case':<44}{'peak memory':>14}{'ratio':>10}{'seconds':>10}"]

    def row(label: str, peak: float, ratio: str, seconds: str) -> None:
        lines.append(f"{label:<44}{peak / MIB:>11.1f} MiB{ratio:>10}{seconds:>10}")

    ours = _measure("soca", soca_size)
    estimate = reference_soca_bytes(64, soca_size, soca_size)
    row(f"SOCA 64x{soca_size}x{soca_size} srapp (measured)", ours["peak_bytes"], "1.0x", f"{ours['seconds']:.2f}")
    if estimate <= reference_soca_limit:
        measured = _measure("soca-reference", soca_size)
        row("SOCA reference M x M (measured)", measured["peak_bytes"],
            f"{measured['peak_bytes'] / max(ours['peak_bytes'], 1):.0f}x", f"{measured['seconds']:.2f}")
    row("SOCA reference M x M (computed, 4 M^2 B)", estimate, f"{estimate / max(ours['peak_bytes'], 1):.0f}x", "-")

    san = _measure("san", san_size)
    san_ref = _measure("san-reference", san_size)
    row(f"SAN x4 {san_size}x{san_size} LR srapp (measured)", san["peak_bytes"], "1.0x", f"{san['seconds']:.1f}")
    row("SAN x4 reference formulation (measured)", san_ref["peak_bytes"],
        f"{san_ref['peak_bytes'] / max(san['peak_bytes'], 1):.1f}x", f"{san_ref['seconds']:.1f}")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", choices=["soca", "soca-reference", "san", "san-reference"])
    parser.add_argument("--size", type=int, default=None)
    parser.add_argument("--soca-size", type=int, default=256)
    parser.add_argument("--san-size", type=int, default=128)
    args = parser.parse_args(argv)
    if args.case:
        print(json.dumps(run_case(args.case, args.size)))
        return
    print(f"torch {torch.__version__}, 2 threads, CPU, float32, batch 1, no grad")
    for line in report(args.soca_size, args.san_size):
        print(line)


if __name__ == "__main__":
    main()
