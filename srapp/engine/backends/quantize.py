"""int8 on the CPU: NNCF post-training quantisation of the converted network, the images it is
calibrated on, and the record that lets ``precision="auto"`` choose it.

The recipe (:data:`RECIPE`; what each choice cost in dB and speed: ``docs/PERFORMANCE.md``,
section 8): ``nncf.quantize`` with the default preset (symmetric, per-channel weights) and fast
bias correction on :data:`CALIBRATION_PATCHES` patches, quantising only convolutions
(:data:`QUANTISED_TYPES`) and of those not the first (it reads the 0-255 input) nor the last (its
output is the image): :func:`float_convolutions`. Everything else stays in float: above all the
residual additions, so the long skip connections of RCAN and SAN carry float values (quantising
them cost rcan-x2 0.19 dB on Set5, against 0.02 dB without), and channel attention, SAN's
second-order statistics and its non-local attention. Plain PTQ lost 0.75 dB on rcan-x4.

Calibration needs no data set: :func:`calibration_patches` cuts fixed squares from the sample
images bundled with scikit-image and reduces them by the model's scale like the inputs the
networks were trained on, at positions drawn from a fixed seed; so a network and a machine always
get the same quantised network. ``srapp export --format openvino --precision int8 --calibration
DIR`` takes a user's own images instead.

The gate (:data:`GATE_FILE` in the weights folder, one record per shipped model, written by
``python benchmarks/int8.py --gate MODEL --write``): the model's Y-PSNR change from OpenVINO fp32
to int8 with :data:`RECIPE`, on the benchmark the model is for. ``auto`` runs int8 only for a
network whose weights match a current record within :data:`srapp.engine.precision.INT8_GATE_DB`,
and only where int8 runs faster than the precision ``auto`` would run otherwise
(:func:`.auto_int8.int8_is_faster`: raced once per network, machine and thread count, kept in the disk cache).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import sys
import time
import types
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ...errors import UsageError
from ...io.files import list_images
from ...io.image_io import read_image
from ...locations import weights_dir
from ...pixels import to_rgb8
from ..devices import cpu_features
from ..kernels import nncf_missing_reason, nncf_module, nncf_version
from ..resize import imresize

RECIPE = "convolutions-but-ends-1"  # names the quantisation below; a change retires cached IRs and gate records
CALIBRATION_PATCHES = 16  # LR patches
CALIBRATION_SIDE = 48  # their side, in LR pixels (a multiple of every side step the export asks for)
CALIBRATION_SEED = 0
# Sample images bundled with scikit-image: photographs, textures, micrographs and text, colour and gray.
SAMPLE_IMAGES = (
    "astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png", "hubble_deep_field.jpg",
    "ihc.png", "retina.jpg", "camera.png", "brick.png", "grass.png", "gravel.png", "moon.png", "coins.png",
    "page.png", "text.png",
)
QUANTISED_TYPES = ("Convolution",)  # the only operations with int8 inputs; every other stays in float
GATE_FILE = "int8.json"  # in the weights folder
RACE_SIDE = 64  # LR side of the speed comparison
RACE_RUNS = 3  # timed runs per contender, taking turns; medians compared
RACE_MARGIN = 1.1  # int8 must be this much faster to be chosen: noise must not flip the choice


def recipe_tag() -> str:
    """What a quantised network depends on besides the float one: the recipe and NNCF's version."""
    return hashlib.sha256(f"{RECIPE}:{nncf_version()}".encode()).hexdigest()[:10]


# --- calibration -----------------------------------------------------------------------------

def sample_image_paths() -> list[Path]:
    """The bundled scikit-image samples the default calibration reads."""
    import skimage

    folder = Path(skimage.data.__file__).parent
    return [folder / name for name in SAMPLE_IMAGES]


def calibration_patches(
    scale: int, folder: str | os.PathLike | None = None, count: int = CALIBRATION_PATCHES,
    side: int = CALIBRATION_SIDE,
) -> list[np.ndarray]:
    """``count`` float32 ``(1, 3, side, side)`` LR patches in [0, 1], as the networks' training
    inputs were made: a ``side * scale`` square of an image (the samples, or those of ``folder``,
    taken in turn) at a position drawn from a fixed seed, reduced ``scale`` times by MATLAB bicubic
    and rounded to 8 bits. Images smaller than that square are passed over."""
    paths = sample_image_paths() if folder is None else list_images(Path(folder))
    if folder is not None and not paths:
        raise UsageError(f"{folder}: no images to calibrate on")
    crop = side * scale
    images = [image for image in (to_rgb8(read_image(path)) for path in paths) if min(image.shape[:2]) >= crop]
    if not images:
        where = "the bundled samples" if folder is None else str(folder)
        raise UsageError(f"{where}: no image has {crop} pixels a side, the least for a {side}x{side} "
                         f"calibration patch at x{scale}")
    generator = np.random.default_rng(CALIBRATION_SEED)
    patches = []
    for image in itertools.islice(itertools.cycle(images), count):
        top, left = (int(generator.integers(0, length - crop + 1)) for length in image.shape[:2])
        square = image[top:top + crop, left:left + crop].astype(np.float64) / 255
        lr = np.round(np.clip(imresize(square, scale=1 / scale), 0, 1) * 255).astype(np.float32) / 255
        patches.append(np.ascontiguousarray(lr.transpose(2, 0, 1)[None]))
    return patches


# --- the quantisation ------------------------------------------------------------------------

def float_convolutions(model: Any) -> dict[str, list[str]]:
    """The convolutions :data:`RECIPE` keeps in float, by role: the first (``head``: it reads the
    0-255 input) and the last (``tail``: its output is the image), found from the graph, so any
    converted SR network has them."""
    convolutions = [op.get_friendly_name() for op in model.get_ordered_ops() if op.get_type_name() == "Convolution"]
    return {"head": convolutions[:1], "tail": convolutions[-1:]}


def quantize(model: Any, patches: list[np.ndarray]) -> Any:
    """``model`` (an OpenVINO float model taking ``(1, 3, h, w)`` inputs) quantised by
    :data:`RECIPE`, calibrated on ``patches``; ``model`` itself is left as it was."""
    nncf = nncf_module()
    names = sorted(set(itertools.chain.from_iterable(float_convolutions(model).values())))
    # The residual stream (Add), channel attention's pooling and scaling, SAN's second-order
    # statistics and non-local attention: all left out by type.
    types = sorted({op.get_type_name() for op in model.get_ordered_ops()} - set(QUANTISED_TYPES))
    # NNCF reports progress with rich on stdout, which belongs to the command's own output.
    with contextlib.redirect_stdout(sys.stderr), _nncf_log_level(nncf):
        return nncf.quantize(
            model.clone(), nncf.Dataset(patches), preset=nncf.QuantizationPreset.PERFORMANCE,
            subset_size=len(patches), fast_bias_correction=True,
            ignored_scope=nncf.IgnoredScope(names=names, types=types, validate=False),
        )


@contextlib.contextmanager
def _nncf_log_level(nncf: types.ModuleType):
    import logging

    logger = nncf.common.logging.nncf_logger
    level = logger.level
    logger.setLevel(logging.ERROR)  # its notes on each operation it leaves alone
    try:
        yield
    finally:
        logger.setLevel(level)


# --- the gate --------------------------------------------------------------------------------

def weights_digest(network: nn.Module) -> str:
    """A digest of the network's structure and weights alone (no library versions): what a gate
    record is matched against, so it holds whichever file or module the weights come from."""
    digest = hashlib.sha256(repr(getattr(network, "config", None)).encode() + type(network).__name__.encode())
    for name, tensor in itertools.chain(network.named_parameters(), network.named_buffers()):
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.detach().to("cpu", torch.float32).contiguous().reshape(-1).numpy().tobytes())
    return digest.hexdigest()[:32]


@dataclass(frozen=True)
class GateRecord:
    """A model's measured int8 change: ``change_db`` = int8 minus OpenVINO fp32 Y-PSNR on
    ``benchmark`` (``Set5``, or ``Set5 medium`` for a photo model) with ``recipe``."""

    model: str
    weights: str  # weights_digest of the network measured
    recipe: str
    benchmark: str
    fp32_db: float
    int8_db: float
    change_db: float
    measured_on: str  # the CPU's features and library versions: int8 arithmetic differs by ISA

    @property
    def current(self) -> bool:
        return self.recipe == RECIPE


def gate_path() -> Path:
    return weights_dir() / GATE_FILE


def gate_records(path: Path | None = None) -> dict[str, GateRecord]:
    """The recorded gates by model name ({} when there is no file)."""
    path = path or gate_path()
    try:
        entries = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise UsageError(f"{path}: not a gate record file ({error})") from error
    return {name: GateRecord(model=name, **entry) for name, entry in entries.items()}


def gate_for(network: nn.Module, path: Path | None = None) -> GateRecord | None:
    """The current record measured on exactly this network's weights, or None."""
    records = [record for record in gate_records(path).values() if record.current]
    if not records:
        return None
    digest = weights_digest(network)
    return next((record for record in records if record.weights == digest), None)


def write_gate(record: GateRecord, path: Path | None = None) -> None:
    """Add or replace ``record`` in the gate file (sorted by name, written atomically)."""
    from ..._atomic import atomic_write

    path = path or gate_path()
    records = {**gate_records(path), record.model: record}
    entries = {name: {key: value for key, value in asdict(entry).items() if key != "model"}
               for name, entry in sorted(records.items())}
    text = json.dumps(entries, indent=2) + "\n"
    with atomic_write(path) as handle:
        handle.write(text.encode())


def machine_features() -> str:
    """The CPU features int8 and bf16 speed depend on, and the versions of what computes."""
    import openvino

    return (f"{' '.join(cpu_features())}; openvino {openvino.__version__.split('-')[0]}, "
            f"nncf {nncf_version()}")


# --- speed -----------------------------------------------------------------------------------

def race(run_int8: Any, run_other: Any, runs: int = RACE_RUNS) -> tuple[float, float]:
    """Median seconds of ``run_int8()`` and ``run_other()``, called in turns after one untimed
    call each."""
    run_int8(), run_other()
    times: dict[int, list[float]] = {0: [], 1: []}
    for _ in range(runs):
        for index, run in enumerate((run_int8, run_other)):
            started = time.perf_counter()
            run()
            times[index].append(time.perf_counter() - started)
    return float(np.median(times[0])), float(np.median(times[1]))






def export_transform(calibration: str | os.PathLike | None = None) -> Any:
    """The ``openvino_transform`` of :func:`srapp.checkpoints.exports.export_model` that writes the
    network quantised by :data:`RECIPE`, calibrated on the bundled samples or on the images of the
    folder ``calibration``."""
    reason = nncf_missing_reason()
    if reason is not None:
        raise UsageError(reason)

    def transform(model: Any, converted: Any) -> tuple[Any, tuple[str, ...]]:
        if model.scale is None:
            raise UsageError(f"{model.source}: the network does not state its scale, which calibration needs")
        patches = calibration_patches(model.scale, calibration)
        source = "the scikit-image samples" if calibration is None else f"the images of {calibration}"
        notes = [f"int8 ({RECIPE}, NNCF {nncf_version()}): calibrated on {len(patches)} patches of {source}"]
        record = gate_for(model.network)
        if record is not None:
            notes.append(f"{record.model}: {record.benchmark} Y-PSNR {record.change_db:+.4f} dB against fp32 "
                         f"(measured with the default calibration)")
        return quantize(converted, patches), tuple(notes)

    return transform




__all__ = [
    "export_transform", "CALIBRATION_PATCHES", "CALIBRATION_SIDE", "GATE_FILE", "GateRecord", "RECIPE", "calibration_patches",
    "QUANTISED_TYPES", "float_convolutions", "gate_for", "gate_records", "machine_features", "quantize", "race",
    "recipe_tag", "sample_image_paths", "weights_digest", "write_gate",
]
