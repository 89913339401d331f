"""Seconds per training iteration of rcan-x4's network in fp32 and in bf16 autocast on this CPU.

    python benchmarks/training_precision.py [--rounds 3]

RCAN 4x10x64 (the shipped rcan-x4), batch 4 of 48x48 LR patches, channels-last, L1 and Adam: the
step SrappSRModel takes. The two precisions alternate, each after one warm-up step, and the
medians are printed with their ratio (the machine may be shared: alternating keeps it fair).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from srapp.archs import RCAN


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    network = RCAN(scale=4, num_groups=4, num_blocks=10, channels=64).to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(network.parameters(), 1e-4)
    lr = torch.rand(4, 3, 48, 48).contiguous(memory_format=torch.channels_last)
    hr = torch.rand(4, 3, 192, 192)

    def step(precision: str) -> None:
        optimizer.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            output = network(lr)
        (output.float() - hr).abs().mean().backward()
        optimizer.step()

    seconds: dict[str, list[float]] = {"fp32": [], "bf16": []}
    for _ in range(args.rounds):
        for precision in seconds:
            step(precision)  # warm-up: oneDNN builds its kernels for the shapes
            started = time.perf_counter()
            step(precision)
            seconds[precision].append(time.perf_counter() - started)
    medians = {precision: statistics.median(values) for precision, values in seconds.items()}
    for precision, median in medians.items():
        print(f"{precision}: {median:.2f} s per iteration (median of {args.rounds})")
    print(f"bf16 / fp32 speed: {medians['fp32'] / medians['bf16']:.1f}x "
          f"(CPU capability {torch.backends.cpu.get_cpu_capability()})")


if __name__ == "__main__":
    main()
