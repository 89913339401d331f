"""``python -m srapp.sprint run|plot|travel``: a sprint's command line.

* ``run options/sprint/RECIPE.yml --pack datasets/pack --out OUT [--seconds S] [--batch B] [--finish-within S] [--device D]``:
  train the recipe (see :mod:`srapp.sprint.loop`); exit status 0 when it finished, 2 on a usage
  error (a bad recipe, a missing pack folder).
* ``plot OUT/A.json OUT/B.json -o curves.png``: each report's validation curve, one panel each.
* ``travel --carry datasets/pack``: the bytes that would travel to a lent machine with those
  carried paths, against the limit; exit status 1 when over it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import UsageError
from .travel import TRAVEL_LIMIT, travelling_bytes

REPOSITORY = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m srapp.sprint")
    tools = parser.add_subparsers(dest="tool", required=True)
    run = tools.add_parser("run", help="train a recipe for a fixed wall time")
    run.add_argument("recipe", type=Path, help="a recipe file (options/sprint/*.yml)")
    run.add_argument("--pack", required=True, type=Path, help="folder of the packed datasets (srapp pack-images)")
    run.add_argument("--out", required=True, type=Path, help="where the weights and the report are written")
    run.add_argument("--seconds", type=float, help="wall time of the cosine cycle (default: the recipe's)")
    run.add_argument("--batch", type=int, help="one batch size instead of the recipe's (a dry run on a slow machine)")
    run.add_argument("--finish-within", type=float, metavar="S",
                     help="end the whole run within S seconds of its start, shortening the cycle if needed")
    run.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    plot = tools.add_parser("plot", help="draw sprint reports' validation curves into a PNG")
    plot.add_argument("reports", nargs="+", type=Path, help="sprint reports (OUT/NAME.json)")
    plot.add_argument("-o", "--output", required=True, type=Path, help="the PNG to write")
    travel = tools.add_parser("travel", help="bytes that would travel to a lent machine")
    travel.add_argument("--carry", action="append", default=[], metavar="PATH", help="an ignored path carried along")
    args = parser.parse_args(argv)
    try:
        if args.tool == "travel":
            size = travelling_bytes(REPOSITORY, args.carry)
            print(f"{size / 2**20:.1f} MiB would travel (limit {TRAVEL_LIMIT / 2**20:.0f} MiB)")
            return 0 if size <= TRAVEL_LIMIT else 1
        if args.tool == "plot":
            import json

            from .plot import plot_curves

            try:
                reports = [json.loads(path.read_text()) for path in args.reports]
            except (OSError, ValueError) as error:
                raise UsageError(f"cannot read a sprint report: {error}") from error
            print(plot_curves(reports, args.output))
            return 0
        from .loop import run_sprint
        from .recipe import load_recipe

        run_sprint(load_recipe(args.recipe), args.pack, args.out, seconds=args.seconds, batch=args.batch,
                   finish_within=args.finish_within, device=args.device, log=lambda line: print(line, flush=True))
        return 0
    except UsageError as error:
        print(f"srapp.sprint: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
