"""``python -m srapp.training test|export``: the two training-side tools that are no ``srapp`` command.

* ``test -opt options/test/test_RCAN_x4.yml``: BasicSR's test pipeline (Y-PSNR, SSIM, LPIPS).
* ``export CHECKPOINT -opt TRAIN.yml -o weights/rcan-x4.pth``: a trained BasicSR checkpoint as a
  srapp checkpoint (float16 by default; ``--storage int8`` for the shipped weights).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from . import OptionsError, evaluate
from .export import export_weights

STORAGE = {"fp32": None, "fp16": torch.float16, "int8": torch.int8}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m srapp.training")
    tools = parser.add_subparsers(dest="tool", required=True)
    test = tools.add_parser("test", help="run BasicSR's test pipeline on a test option file")
    test.add_argument("-opt", "--opt", dest="opt", required=True, type=Path, metavar="FILE.yml")
    test.add_argument("--root", type=Path, help="base of relative paths and of results/ (default: repository root)")
    export = tools.add_parser("export", help="write a BasicSR checkpoint as an srapp checkpoint")
    export.add_argument("checkpoint", type=Path, help="net_g_*.pth of a training run")
    export.add_argument("-opt", "--opt", dest="opt", required=True, type=Path, metavar="FILE.yml",
                        help="the option file it was trained with (for network_g)")
    export.add_argument("-o", "--output", required=True, type=Path, help="the srapp checkpoint to write")
    export.add_argument("--storage", choices=sorted(STORAGE), default="fp16",
                        help="fp32; fp16 (half the size); int8 (per-channel int8 weights, a quarter) (default: fp16)")
    args = parser.parse_args(argv)
    try:
        if args.tool == "test":
            print(f"results in {evaluate(args.opt, root=args.root)}")
        else:
            out = export_weights(args.checkpoint, args.opt, args.output, dtype=STORAGE[args.storage])
            print(f"{out}: {out.stat().st_size / 2**20:.2f} MiB")
    except (OptionsError, ValueError, OSError) as error:
        print(f"srapp.training: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
