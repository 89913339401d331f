"""Inference speed on CPU with the torch backend: RCAN x4 against BasicSR, tiling overhead, batch
CLI overhead, and what bf16 costs in PSNR on Set5 with the shipped models (the backends side by
side: ``benchmarks/backends.py``).

    python benchmarks/inference.py [--threads 2] [--size 96] [--repeats 5]

Every comparison alternates its contenders run by run and reports medians, so drifts in machine
speed hit all of them alike. Throughput is also given as GFLOP/s (counted by torch's
FlopCounterMode) and as a fraction of the matmul peak measured in the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

import srapp
from measure import MIB, alternate, run_python
from srapp.archs import RCAN
from srapp.data import HOW_TO_POINT, data_path
from srapp.io.image_io import write_image
from srapp.engine.resize import imresize
from srapp.metrics import psnr

SET5 = data_path("datasets/Set5")


def matmul_peaks(repeats: int, sizes: dict[str, int] | None = None) -> dict[str, float]:
    """GFLOP/s of a square matmul in float32 and bfloat16, of side ``sizes[dtype]`` (4096 by default)."""
    sizes = {"fp32": 4096, "bf16": 4096, **(sizes or {})}
    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16}
    operands = {name: (torch.randn(size, size, dtype=dtypes[name]), torch.randn(size, size, dtype=dtypes[name]))
                for name, size in sizes.items()}
    seconds = alternate({name: lambda a=a, b=b: a @ b for name, (a, b) in operands.items()}, repeats)
    return {name: 2 * sizes[name]**3 / value / 1e9 for name, value in seconds.items()}


def basicsr_rcan_x4() -> torch.nn.Module:
    from basicsr.archs.rcan_arch import RCAN as BasicSRRCAN

    return BasicSRRCAN(3, 3, num_feat=64, num_group=10, num_block=20, squeeze_factor=16, upscale=4,
                       res_scale=1, img_range=255.0).eval()


def rcan_section(size: int, repeats: int, peaks: dict[str, float]) -> list[str]:
    torch.manual_seed(0)
    reference = basicsr_rcan_x4()
    weights = {"params": reference.state_dict()}
    image = (np.random.default_rng(0).random((size, size, 3)) * 255).astype(np.uint8)
    x = torch.from_numpy(image.transpose(2, 0, 1).copy()).float()[None] / 255
    fp32 = srapp.Upscaler(srapp.load_model(weights), tile=0, device="cpu", precision="fp32", backend="torch")
    bf16 = srapp.Upscaler(srapp.load_model(weights), tile=0, device="cpu", precision="bf16", backend="torch")
    with torch.inference_mode():
        with FlopCounterMode(display=False) as counter:
            expected = reference(x)
        flops = counter.get_total_flops()
        difference = (fp32._forward(x) - expected).abs().max().item()
        bf16_difference = (bf16._forward(x) - expected).abs().max().item()
        seconds = alternate({
            "BasicSR RCAN fp32 (NCHW)": lambda: reference(x),
            "srapp fp32 (channels_last)": lambda: fp32(image),
            "srapp bf16 (channels_last)": lambda: bf16(image),
        }, repeats)
    base = seconds["BasicSR RCAN fp32 (NCHW)"]
    lines = [f"RCAN x4, paper config (10x20x64), {size}x{size} LR, {flops / 1e9:.0f} GFLOP per image", "",
             "| path | s/image | GFLOP/s | of matmul peak | vs BasicSR |", "|---|---|---|---|---|"]
    for name, value in seconds.items():
        peak = peaks["bf16" if "bf16" in name else "fp32"]
        rate = flops / value / 1e9
        lines.append(f"| {name} | {value:.3f} | {rate:.0f} | {rate / peak:.0%} | {base / value:.2f}x |")
    lines += ["", f"max |srapp fp32 - BasicSR| = {difference:.2e}; max |srapp bf16 - BasicSR| = {bf16_difference:.2e} "
              "(on [0, 1] outputs)"]
    return lines


def tiling_section(repeats: int) -> list[str]:
    """Tiled (default tile and overlap) against whole-image inference on a 600x600 input."""
    torch.manual_seed(0)
    network = RCAN(scale=4, num_groups=2, num_blocks=4, channels=64).eval()
    image = (np.clip(imresize(np.random.default_rng(1).random((160, 160, 3)), output_shape=(600, 600)), 0, 1)
             * 255).astype(np.uint8)
    whole = srapp.Upscaler(network, tile=0, device="cpu", precision="fp32", backend="torch")
    tiled = srapp.Upscaler(network, device="cpu", precision="fp32", backend="torch")  # tiles of 256, overlap 16
    seconds = alternate({"whole": lambda: whole(image), "tiled": lambda: tiled(image)}, repeats)
    agreement = psnr(tiled(image), whole(image))
    return ["Tiling: RCAN x4 (2x4x64), 600x600 LR, default tile 256 / overlap 16 against whole image", "",
            f"whole {seconds['whole']:.2f} s, tiled {seconds['tiled']:.2f} s: overhead "
            f"{seconds['tiled'] / seconds['whole'] - 1:+.1%}; tiled vs whole {agreement:.1f} dB"]


_PEAK_MEMORY_SCRIPT = """
import sys
import numpy as np, torch, srapp
from measure import peak_bytes
from srapp.archs import RCAN
torch.set_num_threads(int(sys.argv[1]))
torch.manual_seed(0)
network = RCAN(scale=4, num_groups=2, num_blocks=4, channels=64).eval()
image = np.random.default_rng(0).integers(0, 256, (2048, 2048, 3), dtype=np.uint8)
before = peak_bytes()
result = srapp.upscale(image, network, device="cpu")
print(result.nbytes, peak_bytes() - before, peak_bytes())
"""


def tiled_peak_memory_section(threads: int) -> list[str]:
    """Peak memory of a 2048x2048 x4 upscale with the default tiling, in a fresh process."""
    output, growth, peak = (int(value) for value in run_python(_PEAK_MEMORY_SCRIPT, str(threads)).split()[-3:])
    return [f"2048x2048 -> 8192x8192 x4, default tiling: peak RSS growth {growth / MIB:.0f} MiB "
            f"(the uint8 result alone is {output / MIB:.0f} MiB; process peak {peak / MIB:.0f} MiB)"]


def batch_section(count: int = 50) -> list[str]:
    """Per-image time of ``srapp upscale`` with bicubic and ground truth over small images."""
    from srapp.batch import BatchRunner, plan_jobs

    lpips_module = importlib.import_module("srapp.metrics.lpips")  # the module, not the function

    with tempfile.TemporaryDirectory() as folder:
        inputs, truth, out = (Path(folder) / name for name in ("lr", "gt", "out"))
        inputs.mkdir(), truth.mkdir()
        rng = np.random.default_rng(2)
        for i in range(count):
            hr = (np.clip(imresize(rng.random((24, 24, 3)), output_shape=(96, 96)), 0, 1) * 255).astype(np.uint8)
            write_image(truth / f"img{i:02d}.png", hr)
            write_image(inputs / f"img{i:02d}.png", imresize(hr, scale=0.5))
        jobs = plan_jobs([inputs], out, "png", gt_dir=truth)
        upscaler = srapp.Upscaler("bicubic", scale=2)
        lines = [f"Batch: {count} images of 48x48 -> 96x96, bicubic x2, with ground truth", ""]
        for with_lpips in (False, True):
            started = time.perf_counter()
            report = BatchRunner(upscaler, with_lpips=with_lpips).run(jobs)
            per_image = (time.perf_counter() - started) / count * 1000
            assert report.failed == 0
            label = "with LPIPS" if with_lpips else "without LPIPS"
            lines.append(f"{label}: {per_image:.1f} ms/image (load, upscale, write, PSNR/SSIM{', LPIPS' if with_lpips else ''})")
        loads = lpips_module._cached_model.cache_info().misses
        lines.append(f"LPIPS network loads in the run: {loads}")
    return lines


def bf16_fidelity_section(dataset: Path | None = SET5) -> list[str]:
    """Y-PSNR on Set5 of every shipped model in fp32 and in bf16: what the fast path costs."""
    from srapp.batch import benchmark

    lines = ["bf16 vs fp32 on Set5 (Y-PSNR, crop = scale; target: change <= 0.02 dB)"]
    if dataset is None or not srapp.shipped_models():
        return lines + [f"  skipped: needs Set5 ({HOW_TO_POINT}) and a shipped model"]
    for name in sorted(srapp.shipped_models()):
        model = srapp.load_model(name)
        fp32, bf16 = (benchmark(srapp.Upscaler(model, precision=precision, device="cpu", backend="torch"), dataset,
                                with_lpips=False).mean()["psnr"] for precision in ("fp32", "bf16"))
        lines.append(f"  {name}: fp32 {fp32:.3f} dB, bf16 {bf16:.3f} dB, change {bf16 - fp32:+.3f} dB")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--size", type=int, default=96, help="LR side for the RCAN comparison")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"CPU: {os.cpu_count()} cores visible, {args.threads} threads; torch {torch.__version__}\n")
    peaks = matmul_peaks(args.repeats)
    print(f"matmul 4096x4096 peak: fp32 {peaks['fp32']:.0f} GFLOP/s, bf16 {peaks['bf16']:.0f} GFLOP/s\n")
    with contextlib.suppress(KeyboardInterrupt):
        for section in (lambda: rcan_section(args.size, args.repeats, peaks), lambda: tiling_section(args.repeats),
                        lambda: tiled_peak_memory_section(args.threads), batch_section, bf16_fidelity_section):
            print("\n".join(section()) + "\n", flush=True)


if __name__ == "__main__":
    main()
