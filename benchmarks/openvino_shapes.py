"""One OpenVINO model compiled with dynamic height and width against one compiled per tile
shape (what the backend keeps in its compiled-model LRU), on the tiles images of a few sizes give
at tile 256. The per-shape one gets the tiler's tiles for it (cut from a longer side in multiples
of 32, so that images share shapes); the dynamic one could take the fitted tiles (the shortest
that cover the side), so it runs those, and also the per-shape one's, to compare per tile.

    python benchmarks/openvino_shapes.py [--model rcan-x4] [--precision bf16] [--threads 2] [--repeats 3]

Prints, from one run: the compile time of each (the dynamic model once; the static one once per
distinct shape, summed), the seconds of a pass over every image's tiles and per tile (medians of
``--repeats`` passes, the contenders taking turns, after a first untimed pass), the first pass with
its compilation, and the ratios. All read the same converted model; none uses a disk cache.
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


def tile_shapes(tile_step: int, side_step: int, minimum: int, photos=PHOTOS) -> list[tuple[int, int, int, int]]:
    """Every tile the tiler runs for ``photos``, in order, for a backend whose tiles cut from a
    longer side are multiples of ``tile_step``."""
    shapes = ShapePolicy(tile_step, side_step, minimum)
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
    sequence = tile_shapes(SHAPE_STEP, state.side_step, loaded.graph_requirements.minimum)
    fitted = tile_shapes(1, state.side_step, loaded.graph_requirements.minimum)
    distinct = list(dict.fromkeys(sequence))
    core, settings = openvino_core(), config(args.precision, args.threads)
    inputs = {shape: np.random.default_rng(0).random(shape, dtype=np.float32) for shape in {*sequence, *fitted}}

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

    def run_dynamic(shapes=sequence) -> None:
        for shape in shapes:
            requests["dynamic"].infer({0: inputs[shape]}, share_inputs=True)

    def run_static() -> None:
        for shape in sequence:
            static_requests[shape].infer({0: inputs[shape]}, share_inputs=True)

    first: dict[str, float] = {}
    seconds = alternate({"dynamic": run_dynamic, "per-shape": run_static,
                         "dynamic, fitted tiles": lambda: run_dynamic(fitted)}, args.repeats, first)
    tiles = len(sequence)
    machine = ", ".join(openvino_core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    pixels = {name: sum(shape[2] * shape[3] for shape in shapes) for name, shapes in
              (("per-shape", sequence), ("fitted", fitted))}
    print(f"{args.model} {args.precision}, {args.threads} threads, OpenVINO {openvino_module().__version__}; "
          f"CPU plugin capabilities: {machine}")
    print(f"LR images {', '.join(f'{w}x{h}' for h, w in PHOTOS)} at tile {TILE}, overlap {OVERLAP}: "
          f"{tiles} tiles of {len(distinct)} shapes ({', '.join(f'{s[2]}x{s[3]}' for s in distinct)}); "
          f"fitted: {len(set(fitted))} shapes, {pixels['fitted'] / pixels['per-shape']:.3f}x the pixels\n")
    print(f"| | compile s | first pass s (with compile) | pass s (median of {args.repeats}) | s per tile |\n"
          "|---|---|---|---|---|")
    for name, compile_s in (("dynamic", dynamic_compile), ("dynamic, fitted tiles", dynamic_compile),
                            ("per-shape", static_compile)):
        label = {"per-shape": f"compiled per shape ({len(distinct)})"}.get(name, f"one {name} compile")
        print(f"| {label} | {compile_s:.2f} | {compile_s + first[name]:.1f} | {seconds[name]:.2f} | "
              f"{seconds[name] / tiles:.3f} |")
    ratio = seconds["dynamic"] / seconds["per-shape"]
    fitted_ratio = seconds["dynamic, fitted tiles"] / seconds["per-shape"]
    print(f"\ndynamic / per-shape, same tiles: {ratio:.3f}; dynamic on fitted tiles / per-shape: {fitted_ratio:.3f}; "
          f"compile {dynamic_compile / static_compile:.3f}")
    print(f"same tiles within 10%: {'yes' if abs(ratio - 1) <= 0.10 else 'no'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
