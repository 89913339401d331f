"""``srapp pack-images DIR... -o OUT``: lossless WebP copies of training images, to move them compactly."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import exit_status


def add_parser(subcommands: argparse._SubParsersAction) -> None:
    parser = subcommands.add_parser(
        "pack-images", help="copy image folders as lossless WebP (about 2/3 of PNG)",
        description="Write OUT/<folder>/<stem>.webp for every image of each folder, pixel-identical. "
        "Exit status: 0 all packed, 1 some could not be read, 2 usage error.",
    )
    parser.add_argument("folders", nargs="+", type=Path, metavar="DIR", help="image folders")
    parser.add_argument("-o", "--output", required=True, type=Path, metavar="OUT", help="output folder")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..batch.pack import pack_images

    report = pack_images(args.folders, args.output)
    for path, reason in report.failed:
        print(f"srapp: skipped {path}: {reason}", file=sys.stderr)
    ratio = report.bytes_out / report.bytes_in if report.bytes_in else 0.0
    print(f"{len(report.written)} images, {report.bytes_in / 2**20:.1f} MiB -> {report.bytes_out / 2**20:.1f} MiB "
          f"({ratio:.0%}) in {args.output}")
    return exit_status.of_failures(len(report.failed))
