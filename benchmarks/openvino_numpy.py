"""What handing OpenVINO numpy tiles (no torch tensor on the way) changes in the time of an
upscale, against another checkout of srapp (e.g. one that converts each tile to torch and back).

    git worktree add /tmp/srapp-before <commit>   # or: git archive <commit> | tar -x -C /tmp/srapp-before
    python benchmarks/openvino_numpy.py --baseline /tmp/srapp-before [--model rcan-x4] [--side 512] \\
        [--tiles 128 256] [--precision auto] [--repeats 3]

Each run is a fresh process importing srapp from one checkout: it builds the upscaler (backend
openvino), runs one tile's shape untimed (conversion and compilation come from the disk cache),
then times one upscale of a ``--side`` square image. The two checkouts take turns; medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent

RUN = """
import json, sys, time
import numpy as np
import srapp
from srapp.engine.tiling import axis_plan
model, precision, tile, side = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
upscaler = srapp.Upscaler(model, backend="openvino", precision=precision, device="cpu", tile=tile, tile_overlap=16)
rng = np.random.default_rng(0)
coarse = rng.random((side // 8, side // 8, 3))
image = (np.kron(coarse, np.ones((8, 8, 1))) * 255).astype(np.uint8)  # blocky, deterministic
cut = axis_plan(side, tile, 16, upscaler.backend_runner.shapes)[0]
upscaler(image[:cut, :cut])  # compiles the tiles' shape
started = time.perf_counter()
upscaler(image)
print(json.dumps({"seconds": time.perf_counter() - started, "srapp": srapp.__file__,
                  "runs": f"{upscaler.backend} {upscaler.precision}"}))
"""


def timed_run(checkout: Path, model: str, precision: str, tile: int, side: int) -> dict:
    environment = {**os.environ, "PYTHONPATH": str(checkout)}
    completed = subprocess.run([sys.executable, "-c", RUN, model, precision, str(tile), str(side)],
                               capture_output=True, text=True, env=environment, cwd=checkout)
    if completed.returncode != 0:
        raise RuntimeError(f"{checkout}: exit status {completed.returncode}\n{completed.stderr}")
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    if not result["srapp"].startswith(str(checkout)):
        raise RuntimeError(f"{checkout}: imported srapp from {result['srapp']}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True, help="another srapp checkout to compare against")
    parser.add_argument("--model", default="rcan-x4")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--side", type=int, default=512)
    parser.add_argument("--tiles", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    contenders = {"baseline": args.baseline.resolve(), "this checkout": CHECKOUT}
    print(f"{args.model}, {args.side}x{args.side} image, precision {args.precision}, backend openvino; "
          f"{os.cpu_count()} CPUs; medians of {args.repeats} runs, the checkouts taking turns\n")
    print("| tile | runs | baseline s | this checkout s | this / baseline |\n|---|---|---|---|---|")
    for tile in args.tiles:
        seconds: dict[str, list[float]] = {name: [] for name in contenders}
        runs = ""
        for _ in range(args.repeats):
            for name, checkout in contenders.items():
                result = timed_run(checkout, args.model, args.precision, tile, args.side)
                seconds[name].append(result["seconds"])
                runs = result["runs"]
        before, after = (statistics.median(seconds[name]) for name in contenders)
        spread = ", ".join(f"{name}: {min(values):.2f}-{max(values):.2f}" for name, values in seconds.items())
        print(f"| {tile} | {runs} | {before:.2f} | {after:.2f} | {after / before:.3f} |  <!-- range {spread} -->")
    return 0


if __name__ == "__main__":
    sys.exit(main())
