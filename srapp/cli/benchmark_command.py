"""``srapp benchmark --model NAME --dataset NAME|DIR``: the standard SR protocol over an HR folder."""

from __future__ import annotations

import argparse

from ..batch import benchmark
from . import exit_status
from .arguments import (
    add_model_options, add_niqe_option, add_report_option, build_upscaler, check_report_option, write_report,
)


def add_parser(subcommands: argparse._SubParsersAction) -> None:
    parser = subcommands.add_parser(
        "benchmark", help="evaluate a model on an HR dataset folder",
        description="Mod-crop each HR image, make its LR with MATLAB bicubic, upscale, and report Y-PSNR / SSIM "
        "(crop = scale) and LPIPS per image and on average.",
    )
    parser.add_argument("--dataset", required=True, metavar="NAME|DIR",
                        help="folder of HR images, or a dataset name (Set5, Set14, ...) looked up in the data "
                        "folder: $SRAPP_DATA/datasets/NAME, else ../shared/datasets/NAME beside the repository")
    parser.add_argument("--degradation", metavar="LEVEL",
                        help="make each LR image by a fixed real-photo degradation (light, medium, heavy: blur, "
                        "resampling, noise, JPEG; docs/DEGRADATIONS.md) instead of clean bicubic; the same LR on "
                        "every run")
    add_model_options(parser)
    add_niqe_option(parser)
    add_report_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    check_report_option(args)
    report = benchmark(build_upscaler(args), args.dataset, with_lpips=args.lpips, with_niqe=args.niqe,
                       show_progress=not args.quiet, degradation=args.degradation)
    degraded = f", {args.degradation} degradation" if args.degradation else ""
    print(f"{report.model} x{report.scale} on {args.dataset}{degraded}")
    print(report.table())
    if args.report is not None and not write_report(report, args.report):
        return exit_status.SOME_FAILED
    return exit_status.of_failures(report.failed)
