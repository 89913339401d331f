"""bf16 against fp32, and ``torch.compile`` against eager, on this machine's CPU, for the shipped
networks' size (RCAN 4x10x64, x4): one forward pass (inference) and one training step of BasicSR's
shipped configs (what ``SrappSRModel`` runs with ``precision`` and ``compile``).

    python benchmarks/precision.py [--threads 2] [--repeats 3] [--batch 4] [--no-compile]

(The shipped configs train on 16 patches a step; time per patch is what compares, and 4 keeps the
run to minutes where bf16 is slow.)

Where ``TorchBackend.precision_support`` says bf16 is not fast, bf16 autocast runs on PyTorch's reference
kernels; this prints what that costs, and so why ``SrappSRModel`` trains such machines in fp32.
"""

from __future__ import annotations

import argparse
import os

import torch

from measure import alternate
from srapp.archs import RCAN
from srapp.engine.backends.torch import TorchBackend
from srapp.engine.precision import autocast


def shipped_size_rcan() -> RCAN:
    torch.manual_seed(0)
    return RCAN(scale=4, num_groups=4, num_blocks=10, channels=64).to(memory_format=torch.channels_last)


def inference_seconds(repeats: int, size: int = 96) -> dict[str, float]:
    network = shipped_size_rcan().eval()
    x = torch.rand(1, 3, size, size).contiguous(memory_format=torch.channels_last)

    def forward(precision: str) -> None:
        with torch.inference_mode(), autocast(precision, "cpu"):
            network(x)

    return alternate({precision: lambda p=precision: forward(p) for precision in ("fp32", "bf16")}, repeats)


def training_step_seconds(
    repeats: int, batch: int, patch: int = 48, precisions: tuple[str, ...] = ("fp32", "bf16"), compiled: bool = False,
) -> dict[str, float]:
    """Forward under autocast, L1 loss in float32, backward, Adam: SrappSRModel's step, eager and,
    with ``compiled``, through ``torch.compile`` of the network (compiled once, before timing)."""
    network = shipped_size_rcan().train()
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-7)
    lq = torch.rand(batch, 3, patch, patch).contiguous(memory_format=torch.channels_last)
    gt = torch.rand(batch, 3, patch * 4, patch * 4)
    forwards = {"eager": network, **({"compiled": torch.compile(network)} if compiled else {})}

    def step(precision: str, forward) -> None:
        optimizer.zero_grad()
        with autocast(precision, "cpu"):
            output = forward(lq)
        torch.nn.functional.l1_loss(output.float(), gt).backward()
        optimizer.step()

    contenders = {f"{precision} {mode}": lambda p=precision, f=forward: step(p, f)
                  for precision in precisions for mode, forward in forwards.items()}
    return alternate(contenders, repeats)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=4, help="48x48 LR patches per training step")
    parser.add_argument("--no-compile", dest="compile", action="store_false",
                        help="skip the torch.compile training-step comparison")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    fast = TorchBackend.precision_support(torch.device("cpu")).bf16_fast
    print(f"CPU: {os.cpu_count()} cores visible, {args.threads} threads; torch {torch.__version__}; "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()}; fast bf16 kernels: {'yes' if fast else 'no'}\n")
    inference = inference_seconds(args.repeats)
    training = training_step_seconds(args.repeats, args.batch)
    print("| RCAN 4x10x64 x4 | fp32 s | bf16 s | bf16 speed-up |\n|---|---|---|---|")
    for name, fp32, bf16 in (("inference, 96x96 LR", inference["fp32"], inference["bf16"]),
                             (f"training step, {args.batch} x 48x48 LR", training["fp32 eager"], training["bf16 eager"])):
        print(f"| {name} | {fp32:.3f} | {bf16:.3f} | {fp32 / bf16:.2f}x |")
    if args.compile:
        precision = "bf16" if fast else "fp32"  # what SrappSRModel trains in here
        seconds = training_step_seconds(args.repeats, args.batch, precisions=(precision,), compiled=True)
        eager, compiled = seconds[f"{precision} eager"], seconds[f"{precision} compiled"]
        print(f"\n| training step, {args.batch} x 48x48 LR, {precision} | eager s | torch.compile s | speed-up |\n"
              f"|---|---|---|---|\n| RCAN 4x10x64 x4 | {eager:.3f} | {compiled:.3f} | {eager / compiled:.2f}x |")


if __name__ == "__main__":
    main()
