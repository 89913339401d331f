"""Options shared by the commands that run a model, and turning them into an :class:`Upscaler`."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from ..batch.report import Report, check_report_path, printable
from ..checkpoints import model_file
from ..engine.backends import BACKENDS
from ..engine.model_catalog import BICUBIC
from ..io.image_io import check_jpeg_quality
from ..engine.precision import PRECISIONS
from ..engine.settings import DEFAULT_MODEL, DEFAULT_SETTINGS, SETTING_NAMES, UpscaleSettings, parse_whole_number
from ..errors import UsageError
from ..engine.upscale import Upscaler
from ..locations import MODELS_ENV, models_dir
from ..write_rule import ReadLocations


def add_models_dir_option(parser: argparse.ArgumentParser) -> None:
    """``--models-dir``: the folder whose model files are used by name, for every command that
    resolves model names (read by :func:`models_folder` and :func:`chosen_model`)."""
    parser.add_argument("--models-dir", type=Path, default=None, metavar="DIR",
                        help=f"the models folder, whose files are used by name (default: ${MODELS_ENV}, else "
                        f"{models_dir()})")


def models_folder(args: argparse.Namespace) -> Path:
    """The models folder the command line names (``--models-dir``), else the default one."""
    return args.models_dir if args.models_dir is not None else models_dir()


def chosen_model(args: argparse.Namespace) -> str | Path:
    """``args.model`` as the engine takes it: bicubic by name; a shipped model, a name of the models
    folder (``--models-dir``) or a checkpoint path as its file. An unknown name is refused here,
    naming the folder that was searched."""
    if args.model == BICUBIC:
        return args.model
    return model_file(args.model, also=(BICUBIC,), models_folder=models_folder(args))


def add_model_options(parser: argparse.ArgumentParser, default_model: str = DEFAULT_MODEL) -> None:
    parser.add_argument("--model", default=default_model,
                        help="a shipped model or one of the models folder (see `srapp models`), bicubic, or a "
                        "checkpoint file (default: %(default)s)")
    add_models_dir_option(parser)
    parser.add_argument("--scale", type=whole_number("scale"), default=DEFAULT_SETTINGS.scale,
                        help="upscaling factor: required for bicubic, must match a network's own")
    parser.add_argument("--tile", type=int, default=DEFAULT_SETTINGS.tile,
                        help="tile size in input pixels (0: whole image; default: tiles of 256 above 512x512)")
    parser.add_argument("--tile-overlap", type=int, default=DEFAULT_SETTINGS.tile_overlap,
                        help="context pixels shared by neighbouring tiles (default: %(default)s)")
    parser.add_argument("--precision", choices=PRECISIONS, default=DEFAULT_SETTINGS.precision,
                        help="auto (bf16 where it is fast, else fp32; int8 for a shipped model where it is measured "
                        "safe and faster), fp32, bf16, fp16 (CUDA), int8 (CPU, OpenVINO) (default: %(default)s)")
    parser.add_argument("--backend", choices=BACKENDS, default=DEFAULT_SETTINGS.backend,
                        help="what runs the network (auto: the fastest available) (default: %(default)s)")
    parser.add_argument("--device", default=DEFAULT_SETTINGS.device, help="auto, cpu, cuda or cuda:N (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=DEFAULT_SETTINGS.threads,
                        help="CPU threads for the network (default: PyTorch's setting)")
    parser.add_argument("--self-ensemble", action="store_true", default=DEFAULT_SETTINGS.self_ensemble,
                        help="average the 8 flips/rotations (RCAN+/SAN+)")
    parser.add_argument("--max-output-pixels", type=positive_int, default=DEFAULT_SETTINGS.max_output_pixels,
                        help="refuse an image whose result (or network output before --outscale) would have more "
                        "pixels, before any work (default: %(default)s)")
    parser.add_argument("--no-lpips", dest="lpips", action="store_false", help="skip LPIPS when scoring")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def add_niqe_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--niqe", action="store_true",
                        help="also rate each result with NIQE (Mittal et al. 2013; no reference, lower looks more "
                        "natural), on the same crop as PSNR: only a weak proxy for quality, not a measure of "
                        "fidelity; '-' for results under two 96x96 blocks")


def settings_from_args(args: argparse.Namespace, **changes) -> UpscaleSettings:
    """The upscale settings the command line describes (checked once, in UpscaleSettings)."""
    given = {name: getattr(args, name) for name in SETTING_NAMES if hasattr(args, name)}
    return UpscaleSettings(**{**given, **changes})


def add_report_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--report", type=Path, metavar="FILE", help="write the report as .json or .csv")


def check_report_option(args: argparse.Namespace, reads: ReadLocations | None = None) -> None:
    """Refuse a ``--report`` that cannot be written, or would replace a file the run ``reads``,
    before any work starts."""
    if args.report is not None:
        check_report_path(args.report, reads)


def write_report(report: Report, path: Path) -> bool:
    """Write the report and say where; False after a message when it cannot be written (the
    location was checked at the start, but a disk can fill up during a run)."""
    try:
        report.write(path)
    except OSError as error:
        print(f"srapp: error: {printable(str(path))}: cannot write the report ({error.strerror or error})",
              file=sys.stderr)
        return False
    print(f"report: {printable(str(path))}")
    return True


def whole_number(name: str):
    """An argparse type for a whole-number setting: the parser the web API uses too."""
    def parse(text: str) -> int | None:
        try:
            return parse_whole_number(name, text)
        except UsageError as error:
            raise argparse.ArgumentTypeError(str(error)) from error

    parse.__name__ = name  # argparse names the type in its messages
    return parse


def jpeg_quality(text: str) -> int:
    """``--jpeg-quality``: an integer from 1 to 100."""
    try:
        return check_jpeg_quality(int(text))
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not a JPEG quality (an integer from 1 to 100)") from error


def positive_int(text: str) -> int:
    """A count that must be at least 1 (``--max-pixels``): 0 or less would refuse every image."""
    try:
        value = int(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from error
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


_BYTE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def byte_size(text: str) -> int:
    """A size in bytes (``--max-upload``): ``123``, ``50kb``, ``50mb``, ``1gb`` (whole numbers of
    units of 1024, as Gradio reads them), at least 1 byte."""
    match = re.fullmatch(r"(\d+)\s*([kmg]?)b?", text.strip().lower())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (a whole number of b, kb, mb or gb: 50mb, 1gb)")
    value = int(match[1]) * _BYTE_UNITS[match[2]]
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1 byte")
    return value


def name_suffix(text: str) -> str:
    """``--suffix``: a non-empty piece of a file name (no folder separators)."""
    if not text or text in (".", "..") or any(separator in text for separator in ("/", "\\", "\0")):
        raise argparse.ArgumentTypeError(f"{text!r} cannot be part of a file name")
    return text


def build_upscaler(args: argparse.Namespace, **changes) -> Upscaler:
    """The upscaler the options describe; what runs is said once on stderr."""
    upscaler = Upscaler(chosen_model(args), settings_from_args(args, **changes))
    if not getattr(args, "quiet", False):
        print(f"srapp: {upscaler.name} x{upscaler.scale} on {upscaler.device}: {upscaler.backend} backend, "
              f"{upscaler.precision}", file=sys.stderr)
    return upscaler
