"""The CPU backends side by side: torch fp32 (NCHW and channels_last), torch bf16, OpenVINO f32
and bf16, and the default path, on the shipped rcan-x4 and san-x4; what each path changes in Set5
PSNR for every shipped model; and a 4-megapixel x4 upscale from the command line at its defaults.

    python benchmarks/backends.py [--threads 2] [--repeats 3] [--slow-bf16]

One table: seconds (median of ``--repeats`` runs after a first, untimed one, contenders taking
turns), the first call (conversion and compilation for OpenVINO, from an empty cache), GFLOP/s of
the work each path does (torch's FlopCounterMode on the tile shapes it runs) and its share of the
fp32 and bf16 matmul peaks measured in the same run. Where bf16 has no fast kernels, torch bf16
runs only the small case (unless ``--slow-bf16``) and OpenVINO computes f32 whatever the hint; the
table says so.
"""

from __future__ import annotations

import argparse
import copy
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import srapp
from inference import matmul_peaks
from measure import alternate
from srapp.batch import benchmark
from srapp.checkpoints import describe
from srapp.data import HOW_TO_POINT, data_path
from srapp.engine.backends import build_backend
from srapp.engine.backends import openvino as ov_backend
from srapp.engine.backends.openvino import OpenVINOBackend
from srapp.engine.backends.torch import TorchBackend
from srapp.engine.devices import machine_description
from srapp.engine.kernels import openvino_module
from srapp.engine.resize import imresize
from srapp.engine.upscale import channel_adapter
from srapp.engine.tiling import ANY_SHAPE, ShapePolicy, axis_plan, tile_starts, tiled_forward
from srapp.io.image_io import write_image

CPU = torch.device("cpu")


@dataclass(frozen=True)
class Case:
    label: str
    side: int  # LR input, square
    tile: int
    overlap: int = 16


CASES = (Case("128x128", 128, 128), Case("256x256 -> 1 MP, tiles of 128", 256, 128))


class NCHWForward:
    """torch fp32 on a contiguous (NCHW) copy of the network: the layout a plain module has."""

    name, precision, shapes, takes_numpy = "torch", "fp32", ANY_SHAPE, False

    def __init__(self, network: nn.Module) -> None:
        self.network = copy.deepcopy(network).to(memory_format=torch.contiguous_format)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x.contiguous())


def machine() -> str:
    return (f"CPU: {machine_description(CPU)}; torch {torch.__version__}, "
            f"OpenVINO {openvino_module().__version__}")


def smooth_image(side: int, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).random((side // 4 + 2, side // 4 + 2, 3))
    return np.round(np.clip(imresize(noise, output_shape=(side, side)), 0, 1) * 255).astype(np.uint8)


def work_flops(network: nn.Module, case: Case, shapes: ShapePolicy, counted: dict) -> float:
    """FLOPs of the tiles a path runs on ``case`` (tile shapes from the tiler's plan)."""
    cut, run = axis_plan(case.side, case.tile, case.overlap, shapes)
    tiles = len(tile_starts(case.side, cut, case.overlap)) ** 2
    if run not in counted:
        with torch.inference_mode(), FlopCounterMode(display=False) as counter:
            network(torch.rand(1, 3, run, run))
        counted[run] = counter.get_total_flops()
    return tiles * counted[run]


def paths(network: nn.Module, threads: int, notes: list[str]) -> dict[str, object]:
    """Every path, labelled; the network is converted to channels_last in place for the torch ones.
    The OpenVINO conversion happens here (timed into ``notes``), so first calls show compilation."""
    nchw = NCHWForward(network)
    network.to(memory_format=torch.channels_last)
    started = time.perf_counter()
    openvino_bf16 = OpenVINOBackend(network, "bf16", threads)
    computes = openvino_bf16.runtime_precision((1, 3, 32, 32))
    default, _ = build_backend(describe(network), "auto", "auto", CPU, threads)
    notes.append(f"{type(network).__name__}: OpenVINO conversion (torch.export + convert) and a first "
                 f"compilation from an empty cache took {time.perf_counter() - started:.1f} s")
    bf16_label = "OpenVINO bf16" if computes == "bf16" else "OpenVINO bf16 (hint ignored: computes f32 here)"
    return {
        "torch fp32 NCHW": nchw,
        "torch fp32 channels_last": TorchBackend(network, "fp32", CPU),
        "torch bf16": TorchBackend(network, "bf16", CPU),
        "OpenVINO f32": OpenVINOBackend(network, "fp32", threads),
        bf16_label: openvino_bf16,
        f"default ({default.name} {default.precision})": default,
    }


def speed_rows(model: str, threads: int, repeats: int, peaks: dict[str, float], slow_bf16: bool,
               notes: list[str]) -> list[str]:
    network = srapp.load_model(model).network.eval()
    counted: dict[int, float] = {}
    flops_network = copy.deepcopy(network)
    candidates = paths(network, threads, notes)
    bf16_fast = TorchBackend.precision_support(CPU).bf16_fast
    rows = []
    for case in CASES:
        array = smooth_image(case.side).transpose(2, 0, 1).astype(np.float32)[None] / 255
        tiles = {False: torch.from_numpy(array), True: array}  # what each path takes
        runnable = {
            label: (lambda forward=forward: tiled_forward(
                forward, tiles[forward.takes_numpy], scale=network.scale, tile=case.tile,
                overlap=case.overlap, shapes=forward.shapes))
            for label, forward in candidates.items()
            if label != "torch bf16" or bf16_fast or slow_bf16 or case is CASES[0]
        }
        first_calls: dict[str, float] = {}
        with torch.inference_mode():
            seconds = alternate(runnable, repeats, first_calls)
        base = seconds["torch fp32 channels_last"]
        for label, forward in candidates.items():
            if label not in seconds:
                rows.append(f"| {model} | {case.label} | {label} | not run: bf16 has no fast kernels here "
                            f"(see the 128x128 row; --slow-bf16 runs it) | | | | | |")
                continue
            first, median = first_calls[label], seconds[label]
            rate = work_flops(flops_network, case, forward.shapes, counted) / median / 1e9
            rows.append(f"| {model} | {case.label} | {label} | {median:.3f} | {first:.2f} | {rate:.0f} | "
                        f"{rate / peaks['fp32']:.0%} | {rate / peaks['bf16']:.0%} | {base / median:.2f}x |")
    return rows


def forced(upscaler: srapp.Upscaler, backend: object) -> srapp.Upscaler:
    """``upscaler`` running ``backend``: paths the precision policy would not pick here (bf16 where slow)."""
    upscaler.backend_runner = backend
    upscaler._network_forward = channel_adapter(upscaler.model, backend)  # what the tiles actually run through
    return upscaler


def set5_rows(threads: int, slow_bf16: bool) -> list[str]:
    dataset = data_path("datasets/Set5")
    if dataset is None:
        return [f"Set5 PSNR: skipped, no Set5 ({HOW_TO_POINT})"]
    rows = ["| model | torch fp32 Y-PSNR | torch bf16 | OpenVINO f32 | OpenVINO bf16 | default |",
            "|---|---|---|---|---|---|"]
    for name in sorted(srapp.shipped_models()):
        loaded = srapp.load_model(name)

        def mean_psnr(upscaler: srapp.Upscaler) -> float:
            return benchmark(upscaler, dataset, with_lpips=False).mean()["psnr"]

        def upscaler(backend: str = "torch", precision: str = "fp32") -> srapp.Upscaler:
            return srapp.Upscaler(loaded, backend=backend, precision=precision, device="cpu", threads=threads)

        reference = mean_psnr(upscaler())
        cells = []
        if TorchBackend.precision_support(CPU).bf16_fast or slow_bf16:
            cells.append(mean_psnr(forced(upscaler(), TorchBackend(loaded.network, "bf16", CPU))) - reference)
        else:
            cells.append("not run (slow bf16)")
        cells.append(mean_psnr(upscaler("openvino")) - reference)
        bf16 = OpenVINOBackend(loaded.network, "bf16", threads)
        if bf16.runtime_precision((1, 3, 32, 32)) == "bf16":
            cells.append(mean_psnr(forced(upscaler("openvino"), bf16)) - reference)
        else:
            cells.append("computes f32 here")
        cells.append(mean_psnr(srapp.Upscaler(loaded, device="cpu", threads=threads)) - reference)
        shown = [f"{cell:+.4f} dB" if isinstance(cell, float) else cell for cell in cells]
        rows.append(f"| {name} | {reference:.4f} dB | " + " | ".join(shown) + " |")
    return rows


def cli_rows(threads: int) -> list[str]:
    """Wall time of ``srapp upscale`` on a 512x512 image (x4: 2048x2048, 4.2 MP) at the defaults,
    with an empty OpenVINO cache, again with it filled, and with ``--backend torch``."""
    rows = ["| `srapp upscale` 512x512 -> 2048x2048 (rcan-x4, defaults) | wall s |", "|---|---|"]
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "input.png"
        write_image(source, smooth_image(512, seed=3))
        environment = {**os.environ, ov_backend.CACHE_ENV: str(Path(folder) / "cache")}
        for label, extra in (("default, empty cache (converts and compiles)", []),
                             ("default, cache filled by the run above", []),
                             ("--backend torch", ["--backend", "torch"])):
            command = [sys.executable, "-m", "srapp.cli", "upscale", str(source), "-o", str(Path(folder) / "out"),
                       "-q", "--threads", str(threads), *extra]
            started = time.perf_counter()
            subprocess.run(command, check=True, env=environment, capture_output=True)
            rows.append(f"| {label} | {time.perf_counter() - started:.1f} |")
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--slow-bf16", action="store_true", help="run torch bf16 everywhere even where it is slow")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as cache:
        os.environ[ov_backend.CACHE_ENV] = cache  # first calls measured from an empty cache
        print(machine() + "\n", flush=True)
        # Without fast bf16 kernels a bf16 matmul runs below 1 GFLOP/s: a smaller one says as much.
        sizes = {"fp32": 4096, "bf16": 4096 if TorchBackend.precision_support(CPU).bf16_fast else 512}
        peaks = matmul_peaks(args.repeats, sizes)
        print(f"matmul peaks: fp32 {peaks['fp32']:.0f} GFLOP/s ({sizes['fp32']}^2), bf16 {peaks['bf16']:.1f} GFLOP/s "
              f"({sizes['bf16']}^2)\n", flush=True)
        print("| model | input | path | s (median) | first call s | GFLOP/s | of fp32 peak | of bf16 peak "
              "| vs torch fp32 channels_last |\n|---|---|---|---|---|---|---|---|---|", flush=True)
        notes: list[str] = []
        for model in ("rcan-x4", "san-x4"):
            print("\n".join(speed_rows(model, args.threads, args.repeats, peaks, args.slow_bf16, notes)), flush=True)
        print("\n" + "\n".join(notes), flush=True)
        print("\nSet5 (Y-PSNR, crop = scale): torch fp32, and each path's change against it\n", flush=True)
        print("\n".join(set5_rows(args.threads, args.slow_bf16)) + "\n", flush=True)
    print("\n".join(cli_rows(args.threads)), flush=True)


if __name__ == "__main__":
    main()
