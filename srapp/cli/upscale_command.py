"""``srapp upscale INPUT... -o OUTDIR``: upscale files and folders, optionally scored against ground truth."""

from __future__ import annotations

import argparse
from pathlib import Path

from .._atomic import remove_stale_temporaries
from ..batch import DEFAULT_MAX_PIXELS, BatchRunner, check_output_folder, plan_batch, shard
from ..batch.distributed import current_rank, gather_reports, rank_device
from ..io.image_io import DEFAULT_JPEG_QUALITY
from ..errors import UsageError
from . import exit_status
from .arguments import (
    add_model_options, add_niqe_option, add_report_option, build_upscaler, check_report_option, jpeg_quality,
    name_suffix, positive_int, write_report,
)

OUTPUT_FORMATS = ("png", "jpg", "webp")


def add_parser(subcommands: argparse._SubParsersAction) -> None:
    parser = subcommands.add_parser(
        "upscale", help="upscale images and folders",
        description="Upscale images and folders. Under torchrun the inputs are split across ranks and rank 0 "
        "writes the merged report. Exit status: 0 all succeeded, 1 some failed, 2 usage error.",
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders")
    parser.add_argument("-o", "--output", required=True, type=Path, metavar="OUTDIR", help="folder for the results")
    add_model_options(parser)
    parser.add_argument("--gt", type=Path, metavar="GTDIR",
                        help="ground-truth folder: score each result against the file with the same stem")
    add_niqe_option(parser)
    add_report_option(parser)
    parser.add_argument("--outscale", type=float, help="resize results to this factor of the input (bicubic)")
    parser.add_argument("--recursive", action="store_true", help="descend into subfolders (mirrored in OUTDIR)")
    parser.add_argument("--skip-existing", action="store_true", help="keep results already in OUTDIR")
    parser.add_argument("--ext", choices=OUTPUT_FORMATS, default="png", help="output format (default: %(default)s)")
    parser.add_argument("--suffix", type=name_suffix, metavar="S",
                        help="name results STEM_S.EXT (photo.png -> photo_S.png); required when OUTDIR is an input "
                        "folder (or inside one with --recursive), where existing files are then never replaced")
    parser.add_argument("--jpeg-quality", type=jpeg_quality, default=DEFAULT_JPEG_QUALITY, metavar="N",
                        help="JPEG quality 1-100 for --ext jpg (default: %(default)s)")
    parser.add_argument("--max-pixels", type=positive_int, default=DEFAULT_MAX_PIXELS,
                        help="refuse larger inputs (default: %(default)s)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    check_report_option(args)
    if args.gt is not None and not args.gt.is_dir():
        raise UsageError(f"{args.gt}: no such ground-truth folder")
    rank = current_rank()
    # Planned before the model loads: a request that would write over what it reads stops at once.
    plan = plan_batch(args.inputs, args.output, args.ext,
                      recursive=args.recursive, suffix=args.suffix, gt_dir=args.gt)
    check_report_option(args, plan.reads)
    jobs = shard(plan.jobs, rank.rank, rank.world_size)
    upscaler = build_upscaler(args, device=rank_device(args.device, rank))
    check_output_folder(args.output)
    if args.report is not None and rank.is_main:
        remove_stale_temporaries(args.report.parent)
    runner = BatchRunner(
        upscaler, with_lpips=args.lpips, with_niqe=args.niqe, skip_existing=args.skip_existing,
        max_pixels=args.max_pixels, show_progress=not args.quiet, jpeg_quality=args.jpeg_quality,
    )
    report = runner.run(jobs)
    merged = gather_reports(report, rank)
    if merged is None:
        # Rank 0 reports every rank's failures and sets the exit status; a failing exit here would
        # make torchrun stop rank 0 before it has written the merged report.
        return exit_status.SUCCESS
    print(merged.table())
    if args.report is not None and not write_report(merged, args.report):
        return exit_status.SOME_FAILED
    return exit_status.of_failures(merged.failed)
