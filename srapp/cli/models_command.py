"""``srapp models``: the models this installation can run."""

from __future__ import annotations

import argparse

from ..engine.models import available_models


def add_parser(subcommands: argparse._SubParsersAction) -> None:
    parser = subcommands.add_parser("models", help="list the available models")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    models = available_models()
    name_width = max(len(info.name) for info in models)
    for_width = max(len(info.made_for) for info in models)
    print(f"{'name':<{name_width}}  {'architecture':<14}  {'scale':>5}  {'parameters':>10}  {'for':<{for_width}}  weights")
    for info in models:
        scale = f"x{info.scale}" if info.scale else "any"
        path = str(info.path) if info.path else "(built in)"
        print(f"{info.name:<{name_width}}  {info.arch:<14}  {scale:>5}  {info.parameters:>10,}  "
              f"{info.made_for:<{for_width}}  {path}")
    return 0
