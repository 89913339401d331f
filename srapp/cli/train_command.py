"""``srapp train -opt FILE.yml``: BasicSR's training pipeline with srapp's networks, metric and fixes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import UsageError
from . import exit_status


def add_parser(subcommands: argparse._SubParsersAction) -> None:
    parser = subcommands.add_parser(
        "train", help="train with a BasicSR option file (options/train/*.yml)",
        description="Check the option file, then run BasicSR's training pipeline. Multi-GPU: "
        "torchrun --nproc_per_node=N -m srapp.cli train -opt FILE.yml --launcher pytorch. "
        "Exit status: 0 done, 2 unusable option file or arguments.",
    )
    parser.add_argument("-opt", "--opt", dest="opt", required=True, type=Path, metavar="FILE.yml",
                        help="BasicSR option file")
    parser.add_argument("--auto_resume", "--auto-resume", dest="auto_resume", action="store_true",
                        help="continue from the newest training state of this experiment (CPU or GPU)")
    parser.add_argument("--launcher", choices=("none", "pytorch", "slurm"), default="none",
                        help="distributed launcher: pytorch under torchrun (default: %(default)s)")
    parser.add_argument("--debug", action="store_true",
                        help="BasicSR debug mode: debug_ name, validate and save every 8 iterations")
    parser.add_argument("--root", type=Path, default=None,
                        help="folder for experiments/ and base of relative paths in the YAML "
                        "(default: the repository root)")
    # torch.distributed.launch (torchrun's predecessor) passes --local_rank; the rank is read from RANK
    parser.add_argument("--local_rank", "--local-rank", type=int, default=0, help=argparse.SUPPRESS)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..training import train

    if args.root is not None and not args.root.is_dir():
        raise UsageError(f"{args.root}: no such root folder")
    experiment = train(args.opt, auto_resume=args.auto_resume, launcher=args.launcher, debug=args.debug,
                       root=args.root)  # an unusable option file raises OptionsError, a UsageError
    print(f"srapp: training finished; models and states in {experiment}", file=sys.stderr)
    return exit_status.SUCCESS
