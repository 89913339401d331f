"""``srapp models``: the models this installation can run (shipped, and the models folder), and
``srapp models --add FILE`` to validate a model file and copy it into the models folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..batch.report import printable
from ..engine.model_catalog import add_model, available_models
from .arguments import add_models_dir_option, models_folder


def add_parser(subcommands: argparse._SubParsersAction) -> None:
    parser = subcommands.add_parser(
        "models", help="list the available models, or add one to the models folder",
        description="List bicubic, the shipped models and the models folder's files (srapp's own layouts, or any "
        "architecture spandrel knows) with architecture, scale, parameters and licence. Models of the folder are "
        "used by name (srapp upscale --model NAME, with the same --models-dir if it is not the default).")
    add_models_dir_option(parser)
    parser.add_argument("--add", type=Path, metavar="FILE",
                        help="check that FILE loads and copy it into the models folder (never over a model there)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    folder = models_folder(args)
    if args.add is not None:
        path, loaded = add_model(args.add, folder)
        licence = f", licence: {loaded.licence}" if loaded.licence else ""
        print(f"added {path.stem}: {loaded.arch} x{loaded.scale}, {loaded.parameter_count:,} parameters{licence} "
              f"-> {printable(str(path))}")
        return 0
    models = available_models(folder)
    rows = [(info.name, info.arch, f"x{info.scale}" if info.scale else "any",
             "-" if info.problem else f"{info.parameter_count:,}", info.licence or "-",
             f"cannot load: {info.problem}" if info.problem else info.made_for,
             printable(str(info.path)) if info.path else "(built in)") for info in models]
    header = ("name", "architecture", "scale", "parameters", "licence", "for", "weights")
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header) - 1)]
    for row in [header, *rows]:
        cells = [cell.rjust(width) if column in (2, 3) else cell.ljust(width)
                 for column, (cell, width) in enumerate(zip(row, widths))]
        print("  ".join([*cells, row[-1]]))
    print(f"models folder: {printable(str(folder))}")
    return 0
