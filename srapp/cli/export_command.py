"""``srapp export MODEL -o FILE [--format F]``: a model as a file other tools load (ONNX, OpenVINO
IR, the official release layout, safetensors)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..checkpoints.exports import EXPORT_FORMATS, FORMAT_SUFFIXES, ONNX_OPSET, STORAGES, export_model
from ..errors import UsageError
from . import exit_status
from .arguments import add_models_dir_option, chosen_model


def add_parser(subcommands: argparse._SubParsersAction) -> None:
    suffixes = ", ".join(f"{suffix} {format}" for suffix, format in FORMAT_SUFFIXES.items())
    parser = subcommands.add_parser(
        "export", help="write a model as ONNX, OpenVINO IR, the official layout or safetensors",
        description="Write a model as a file other tools load: onnx (onnxruntime; dynamic batch, height and width), "
        "openvino (IR .xml + .bin; --precision int8 quantises it), official (the authors' RCAN / SAN state dict, which spandrel and chaiNNer "
        "load for RCAN), safetensors (srapp's weights with the configuration in the metadata). "
        "Exit status: 0 written, 2 usage error or a model the format cannot hold.",
    )
    parser.add_argument("model", metavar="MODEL",
                        help="a shipped model or one of the models folder (see `srapp models`), or a checkpoint file")
    add_models_dir_option(parser)
    parser.add_argument("-o", "--output", required=True, type=Path, metavar="FILE", help="the file to write")
    parser.add_argument("--format", choices=EXPORT_FORMATS,
                        help=f"default: from the suffix ({suffixes}); official needs the flag")
    parser.add_argument("--storage", choices=tuple(STORAGES), default="fp32",
                        help="safetensors weights: fp32, fp16, int8 (srapp's per-channel int8), or stored "
                        "(as the srapp source file stores them) (default: %(default)s)")
    parser.add_argument("--opset", type=int, default=ONNX_OPSET, help="ONNX opset (default: %(default)s)")
    parser.add_argument("--precision", choices=("fp32", "int8"), default="fp32",
                        help="openvino: fp32, or int8 (quantised by NNCF, the layers it is sensitive in kept in "
                        "float) (default: %(default)s)")
    parser.add_argument("--calibration", type=Path, metavar="DIR",
                        help="int8: calibrate on the images of DIR (default: scikit-image's bundled samples)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    transform = None
    if args.precision == "int8":
        from ..engine.backends.quantize import export_transform

        transform = export_transform(args.calibration)
    elif args.calibration is not None:
        raise UsageError("--calibration is for --precision int8")
    try:
        export = export_model(chosen_model(args), args.output, args.format, storage=args.storage, opset=args.opset,
                              openvino_transform=transform)
    except OSError as error:  # reading the model raises CheckpointError: this is the output
        raise UsageError(f"{args.output}: cannot be written ({error.strerror or error})") from error
    for path in export.paths:
        print(f"{path}: {export.format}, {path.stat().st_size / 2**20:.2f} MiB")
    for note in export.notes:
        print(f"srapp: note: {note}", file=sys.stderr)
    return exit_status.SUCCESS
