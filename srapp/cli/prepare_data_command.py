"""``srapp prepare-data HR_DIR... -o OUT --scales 2 3 4``: HR sub-images and bicubic LR pairs for BasicSR."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..errors import UsageError
from . import exit_status


IMAGE_FORMATS = ("png", "webp")  # srapp.training.prepare.IMAGE_FORMATS; not imported here: it loads BasicSR


def add_parser(subcommands: argparse._SubParsersAction) -> None:
    parser = subcommands.add_parser(
        "prepare-data", help="cut HR images into sub-images with MATLAB-bicubic LR pairs (BasicSR layout)",
        description="Write OUT/HR_sub and OUT/LR_bicubic/X{s}_sub (or .lmdb databases) for BasicSR's "
        "PairedImageDataset. Exit status: 0 all images used, 1 some could not be read, 2 usage error.",
    )
    parser.add_argument("hr_dirs", nargs="+", type=Path, metavar="HR_DIR", help="folders of HR images")
    parser.add_argument("-o", "--output", required=True, type=Path, metavar="OUT", help="output folder")
    parser.add_argument("--scales", nargs="+", type=int, default=[2, 3, 4], help="LR scales (default: 2 3 4)")
    parser.add_argument("--crop-size", type=int, default=192,
                        help="HR sub-image size, a multiple of every scale (default: %(default)s)")
    parser.add_argument("--step", type=int, default=96, help="distance between sub-images (default: %(default)s)")
    parser.add_argument("--thresh-size", type=int, default=0,
                        help="add an edge-flush sub-image when more pixels than this are left (default: %(default)s)")
    parser.add_argument("--format", dest="image_format", choices=IMAGE_FORMATS, default="png",
                        help="png, or lossless webp (about 2/3 of the size) (default: %(default)s)")
    parser.add_argument("--prefix", default="",
                        help="folder name prefix: DIV2K_train_ gives BasicSR's DIV2K_train_HR_sub layout")
    parser.add_argument("--lmdb", action="store_true", help="write LMDB databases instead of image folders")
    parser.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1),
                        help="processes (default: %(default)s)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..training.prepare import prepare_data

    try:
        report = prepare_data(
            args.hr_dirs, args.output, scales=args.scales, crop_size=args.crop_size, step=args.step,
            thresh_size=args.thresh_size, image_format=args.image_format, lmdb=args.lmdb, workers=args.workers,
            prefix=args.prefix,
        )
    except ImportError as error:  # the LMDB writer needs the lmdb package
        raise UsageError(str(error)) from error
    for path, reason in report.failed:
        print(f"srapp: skipped {path}: {reason}", file=sys.stderr)
    for path in report.too_small:
        print(f"srapp: skipped {path}: smaller than a {args.crop_size}-pixel sub-image", file=sys.stderr)
    scales = ", ".join(f"x{scale}" for scale in sorted(set(args.scales)))
    print(f"{report.images} images -> {report.sub_images} sub-images at {scales} in {args.output}; "
          f"{len(report.too_small)} too small, {len(report.failed)} unreadable")
    return exit_status.SUCCESS if report.ok else exit_status.SOME_FAILED
