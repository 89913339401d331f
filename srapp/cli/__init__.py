"""``srapp`` command line: thin argument handling over :mod:`srapp.engine` and :mod:`srapp.batch`.

Exit status: 0 when everything succeeded, 1 when any image failed, 2 for usage errors.
"""

from __future__ import annotations

import argparse
import sys

from . import (
    benchmark_command, models_command, pack_images_command, prepare_data_command, train_command, upscale_command,
)

COMMANDS = (
    upscale_command, benchmark_command, models_command, pack_images_command, prepare_data_command, train_command,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="srapp", description="Super-resolution with RCAN and SAN.")
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(subcommands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


__all__ = ["build_parser", "main"]
