"""int8 on the CPU against OpenVINO fp32 and bf16: seconds, ratios and the Set5 change per model.

    python benchmarks/int8.py [--models rcan-x4 ...] [--rounds 3]     # speed, and the recorded gates
    python benchmarks/int8.py --gate MODEL [MODEL ...] [--write]      # measure the gate on Set5

Speed: each shipped model (default rcan-x4) on a 128x128 input run whole and on a 256x256 input
tiled by 128 (a 1-megapixel result at x4), through :class:`srapp.Upscaler` on the OpenVINO
backend in fp32, in bf16 where this CPU computes it (AVX512-BF16 or AMX), in int8, and at
precision ``auto`` (what it chose is printed). Contenders take turns, each after one untimed run
(the conversion, quantisation and compilation for the shape); medians of ``--rounds``; ratios
are against OpenVINO fp32 and bf16 of the same run.

Gate: the model's Y-PSNR on Set5 (at the ``medium`` degradation for a photo model: the benchmark
it is for) on OpenVINO fp32 and int8, as :mod:`srapp.engine.backends.quantize` quantises it; with
``--write`` the record goes into the weights folder's gate file, where precision ``auto`` reads it.
A new shipped model is gated by running this.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
import torch

import srapp
from srapp.batch.benchmark import benchmark
from srapp.checkpoints.weights import PHOTO_SUFFIX
from srapp.engine.backends import quantize
from srapp.engine.kernels import openvino_cpu_has_fast_bf16
from srapp.engine.precision import INT8_GATE_DB, int8_within_gate
from srapp.engine.resize import imresize

CASES = (("128x128", 128, 0), ("256x256 -> 1 MP, tiles of 128", 256, 128))


def test_image(side: int) -> np.ndarray:
    """A smooth random RGB image (content does not change the speed of a convolutional network)."""
    noise = np.random.default_rng(side).random((side // 8 + 2, side // 8 + 2, 3))
    return np.round(np.clip(imresize(noise, output_shape=(side, side)), 0, 1) * 255).astype(np.uint8)


def speed_rows(name: str, rounds: int, threads: int) -> None:
    precisions = ["fp32", *(["bf16"] if openvino_cpu_has_fast_bf16() else []), "int8", "auto"]
    for label, side, tile in CASES:
        image = test_image(side)
        upscalers = {}
        for precision in precisions:
            upscalers[precision] = srapp.Upscaler(name, backend="openvino", precision=precision, tile=tile,
                                                  device="cpu", threads=threads)
            upscalers[precision](image)  # conversion, quantisation, compilation: not timed
        seconds: dict[str, list[float]] = {precision: [] for precision in precisions}
        for _ in range(rounds):
            for precision, upscaler in upscalers.items():
                started = time.perf_counter()
                upscaler(image)
                seconds[precision].append(time.perf_counter() - started)
        medians = {precision: statistics.median(values) for precision, values in seconds.items()}
        for precision, median in medians.items():
            ratios = [f"{medians[base] / median:.2f}x" if base in medians else "bf16 slow here" for base in ("fp32", "bf16")]
            runs = upscalers[precision].precision
            what = f"auto ({runs})" if precision == "auto" else precision
            print(f"| {name} | {label} | OpenVINO {what} | {median:.3f} | {' | '.join(ratios)} |", flush=True)


def measure_gate(name: str) -> quantize.GateRecord:
    degradation = "medium" if name.endswith(PHOTO_SUFFIX) else None
    scores = {}
    for precision in ("fp32", "int8"):
        upscaler = srapp.Upscaler(name, backend="openvino", precision=precision, device="cpu")
        report = benchmark(upscaler, "Set5", with_lpips=False, degradation=degradation)
        if report.failed:
            raise SystemExit(f"{name}: {report.failed} Set5 images failed")
        scores[precision] = float(report.mean()["psnr"])
        weights = quantize.weights_digest(upscaler.network)
    return quantize.GateRecord(
        model=name, weights=weights, recipe=quantize.RECIPE,
        benchmark="Set5" + (f" {degradation}" if degradation else ""),
        fp32_db=round(scores["fp32"], 4), int8_db=round(scores["int8"], 4),
        change_db=round(scores["int8"] - scores["fp32"], 4), measured_on=quantize.machine_features(),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["rcan-x4"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--gate", nargs="+", metavar="MODEL", help="measure these models' Set5 change instead")
    parser.add_argument("--write", action="store_true", help="with --gate: record the results in the gate file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"# CPU: {quantize.machine_features()}; threads {args.threads}; recipe {quantize.RECIPE}", flush=True)
    if args.gate:
        print("| model | benchmark | OpenVINO fp32 Y-PSNR | int8 | change | within the gate |")
        print("|---|---|---|---|---|---|")
        for name in args.gate:
            record = measure_gate(name)
            verdict = f"{'yes' if int8_within_gate(record.change_db) else 'no'} ({INT8_GATE_DB} dB)"
            print(f"| {name} | {record.benchmark} | {record.fp32_db:.4f} dB | {record.int8_db:.4f} dB | "
                  f"{record.change_db:+.4f} dB | {verdict} |", flush=True)
            if args.write:
                quantize.write_gate(record)
        if args.write:
            print(f"recorded in {quantize.gate_path()}", file=sys.stderr)
        return
    print("| model | input | path | s (median) | vs OpenVINO fp32 | vs OpenVINO bf16 |")
    print("|---|---|---|---|---|---|")
    for name in args.models:
        speed_rows(name, args.rounds, args.threads)
    print()
    print("| model | benchmark | OpenVINO fp32 | int8 | change | recipe of the record |")
    print("|---|---|---|---|---|---|")
    records = quantize.gate_records()
    for name in srapp.shipped_models():
        record = records.get(name)
        if record is None:
            print(f"| {name} | not gated: `python benchmarks/int8.py --gate {name} --write` | | | | |")
        else:
            print(f"| {name} | {record.benchmark} | {record.fp32_db:.4f} dB | {record.int8_db:.4f} dB | "
                  f"{record.change_db:+.4f} dB | {record.recipe}{'' if record.current else ' (outdated)'} |")


if __name__ == "__main__":
    main()
