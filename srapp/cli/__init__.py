"""``srapp`` command line: thin argument handling over :mod:`srapp.engine` and :mod:`srapp.batch`.

Exit statuses: :mod:`srapp.cli.exit_status` (0 all succeeded, 1 some images failed, 2 could not run).
"""

from __future__ import annotations

import argparse

from . import (
    benchmark_command, export_command, models_command, pack_images_command, prepare_data_command, train_command,
    upscale_command,
)
from .exit_status import run_command

COMMANDS = (
    upscale_command, benchmark_command, models_command, export_command, pack_images_command, prepare_data_command,
    train_command,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="srapp", description="Super-resolution with RCAN and SAN.")
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(subcommands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(args.run, args)


__all__ = ["build_parser", "main"]
