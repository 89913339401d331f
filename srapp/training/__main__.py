"""``python -m srapp.training test|export|stage|promote``: the training-side tools
that are no ``srapp`` command.

* ``test -opt options/test/test_RCAN_x4.yml``: BasicSR's test pipeline (Y-PSNR, SSIM, LPIPS).
* ``export CHECKPOINT -opt TRAIN.yml -o weights/rcan-x4.pth``: a trained BasicSR checkpoint as a
  srapp checkpoint (float16 by default; ``--storage int8`` for the shipped weights).
* ``stage -opt options/train/STAGE.yml --weights weights/rcan-x4.pth``: train one stage, export its
  EMA weights as int8 and replace the shipped file only if Set5 improved (:mod:`srapp.training.promote`).
* ``promote experiments/NAME --weights weights/rcan-x4.pth``: the EMA weights of a finished run
  (trained here or brought back from another machine) replace the shipped file only if they score
  better on the benchmark it is for; recorded like a stage.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..checkpoints.srapp_format import STORAGE_DTYPES
from ..data import dataset_path
from . import OptionsError, evaluate
from .checkpoint_to_srapp import export_weights
from .option_files import load_yaml, resolve_paths
from .promote import HISTORY_FILE, StageRecord, promote_experiment, run_stage
from .train import default_root


def validation_folder(opt_path: Path) -> Path:
    """The HR folder of the option file's validation set."""
    opt = resolve_paths(load_yaml(opt_path), default_root())
    validation = next((d for phase, d in opt.get("datasets", {}).items() if phase.startswith("val")), None)
    if validation is None or "dataroot_gt" not in validation:
        raise OptionsError(f"{opt_path}: no validation set (datasets.val.dataroot_gt) to judge the stage on")
    return Path(validation["dataroot_gt"])


def print_verdict(record: StageRecord) -> None:
    verdict = "promoted" if record.promoted else "kept the shipped file"
    benchmark = f"Set5 ({record.degradation} degradation)" if record.degradation else "Set5"
    compared = f" against {Path(record.compared_with).name}" if record.compared_with else ""
    print(f"{record.stage}: {benchmark}{compared} {record.set5_before} -> {record.set5_after} dB; {verdict} "
          f"({record.target})")


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
    export.add_argument("--storage", choices=sorted(STORAGE_DTYPES), default="fp16",
                        help="fp32; fp16 (half the size); int8 (per-channel int8 weights, a quarter) (default: fp16)")
    stage = tools.add_parser("stage", help="train a stage; ship its weights only if Set5 improved")
    stage.add_argument("-opt", "--opt", dest="opt", required=True, type=Path, metavar="FILE.yml")
    stage.add_argument("--weights", required=True, type=Path, help="the shipped file the stage may replace")
    stage.add_argument("--dataset", type=Path, default=None,
                       help="HR folder the stage is judged on (default: the option file's Set5 validation set)")
    promote = tools.add_parser("promote", help="ship a finished run's weights only if they score better")
    promote.add_argument("experiment", type=Path, help="the run's experiment folder (experiments/NAME)")
    promote.add_argument("--weights", required=True, type=Path, help="the shipped file the weights may replace")
    promote.add_argument("--dataset", type=Path, default=None,
                         help="HR folder they are judged on (default: Set5 of the data folder)")
    promote.add_argument("--history", type=Path, default=HISTORY_FILE,
                         help="the record of stages to append to (default: the shipped weights' training_history.json)")
    args = parser.parse_args(argv)
    try:
        if args.tool == "test":
            print(f"results in {evaluate(args.opt, root=args.root)}")
        elif args.tool == "stage":
            dataset = args.dataset or validation_folder(args.opt)
            print_verdict(run_stage(args.opt, args.weights, dataset))
        elif args.tool == "promote":
            print_verdict(promote_experiment(args.experiment, args.weights, args.dataset or dataset_path("Set5"),
                                             args.history))
        elif args.tool == "export":
            out = export_weights(args.checkpoint, args.opt, args.output, dtype=STORAGE_DTYPES[args.storage])
            print(f"{out}: {out.stat().st_size / 2**20:.2f} MiB")
    except (OptionsError, ValueError, OSError) as error:
        print(f"srapp.training: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
