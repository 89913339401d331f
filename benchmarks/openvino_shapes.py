"""One OpenVINO model compiled with dynamic height and width against one compiled per tile
shape (what the backend keeps in its compiled-model LRU), on the tile shapes images of a few
sizes give at tile 256.

    python benchmarks/openvino_shapes.py [--model rcan-x4] [--precision bf16] [--threads 2] [--repeats 3]

Prints, from one run: the compile time of each (the dynamic model once; the static one once per
distinct shape, summed), the seconds per tile of a pass over every image's tiles (median of
``--repeats`` passes, the two taking turns, after a first untimed pass), the first pass with its
compilation, and the ratios. Both read the same converted model; neither uses a disk cache.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

import srapp
from measure import alternate
from srapp.engine.backends import openvino as ov_backend
from srapp.engine.kernels import openvino_core, openvino_module
from srapp.engine.tiling import SHAPE_STEP, ShapePolicy, axis_plan, tile_starts

PHOTOS = ((480, 640), (375, 500), (500, 333), (150, 200))  # LR height x width: landscape, portrait, small
TILE, OVERLAP = 256, 16


def tile_shapes(side_step: int, minimum: int, photos=PHOTOS) -> list[tuple[int, int, int, int]]:
    """Every tile the tiler runs for ``photos``, in order (the OpenVINO backend's shape policy)."""
    shapes = ShapePolicy(SHAPE_STEP, side_step, minimum)
    sequence = []
    for height, width in photos:
        (tile_h, run_h), (tile_w, run_w) = (axis_plan(length, TILE, OVERLAP, shapes) for length in (height, width))
        count = len(tile_starts(height, tile_h, OVERLAP)) * len(tile_starts(width, tile_w, OVERLAP))
        sequence += [(1, 3, run_h, run_w)] * count
    return sequence


def config(precision: str, threads: int) -> dict:
    return {"INFERENCE_PRECISION_HINT": ov_backend.OPENVINO_HINTS[precision], "INFERENCE_NUM_THREADS": threads,
            "PERFORMANCE_HINT": "LATENCY"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="rcan-x4")
    parser.add_argument("--precision", default="bf16", choices=("fp32", "bf16", "int8"))
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    loaded = srapp.load_model(args.model)
    state = ov_backend.convert(loaded.network, ov_backend.GraphInput.of(loaded))
    model = ov_backend.symbolic_model(loaded.network, args.precision)
    sequence = tile_shapes(state.side_step, loaded.graph_requirements.minimum)
    distinct = list(dict.fromkeys(sequence))
    core, settings = openvino_core(), config(args.precision, args.threads)
    inputs = {shape: np.random.default_rng(0).random(shape, dtype=np.float32) for shape in distinct}

    started = time.perf_counter()
    dynamic = core.compile_model(model.clone(), "CPU", settings)
    dynamic_compile = time.perf_counter() - started
    static, static_compile = {}, 0.0
    for shape in distinct:
        reshaped = model.clone()
        reshaped.reshape({0: list(shape)})
        started = time.perf_counter()
        static[shape] = core.compile_model(reshaped, "CPU", settings)
        static_compile += time.perf_counter() - started
    requests = {"dynamic": dynamic.create_infer_request()}
    static_requests = {shape: compiled.create_infer_request() for shape, compiled in static.items()}

    def run_dynamic() -> None:
        for shape in sequence:
            requests["dynamic"].infer({0: inputs[shape]}, share_inputs=True)

    def run_static() -> None:
        for shape in sequence:
            static_requests[shape].infer({0: inputs[shape]}, share_inputs=True)

    first: dict[str, float] = {}
    seconds = alternate({"dynamic": run_dynamic, "per-shape": run_static}, args.repeats, first)
    tiles = len(sequence)
    machine = ", ".join(openvino_core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    print(f"{args.model} {args.precision}, {args.threads} threads, OpenVINO {openvino_module().__version__}; "
          f"CPU plugin capabilities: {machine}")
    print(f"{tiles} tiles of {len(distinct)} shapes ({', '.join(f'{s[2]}x{s[3]}' for s in distinct)}) from LR "
          f"images {', '.join(f'{w}x{h}' for h, w in PHOTOS)} at tile {TILE}, overlap {OVERLAP}\n")
    print("| | compile s | first pass s (with compile) | s per tile (median of "
          f"{args.repeats}) |\n|---|---|---|---|")
    print(f"| one dynamic compile | {dynamic_compile:.2f} | {dynamic_compile + first['dynamic']:.1f} | "
          f"{seconds['dynamic'] / tiles:.3f} |")
    print(f"| compiled per shape | {static_compile:.2f} ({len(distinct)} shapes) | "
          f"{static_compile + first['per-shape']:.1f} | {seconds['per-shape'] / tiles:.3f} |")
    ratio = seconds["dynamic"] / seconds["per-shape"]
    print(f"\ndynamic / per-shape: {ratio:.3f} per tile; "
          f"{(dynamic_compile + first['dynamic']) / (static_compile + first['per-shape']):.3f} first pass; "
          f"{dynamic_compile / static_compile:.3f} compile")
    print(f"within 10% per tile: {'yes' if abs(ratio - 1) <= 0.10 else 'no'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
