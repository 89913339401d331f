"""OpenVINO as a backend: the network converted once, when the backend is built, and compiled per
input shape for the CPU plugin. It takes and returns numpy arrays.

Conversion uses ``torch.export``, which runs the module on fake tensors (no convolution is
computed) and proves the graph valid for every shape it admits. The export first makes the
height and width symbolic, from :data:`SYMBOLIC_MIN` to :data:`SYMBOLIC_MAX`: any side, or, where
the network needs it, multiples of a step (:data:`SYMBOLIC_STEPS`: SAN's 2x2 max-pool is proved
for even sides only; the tiler then pads an odd side by one mirrored row or column). One converted
model serves every tile shape the tiler hands over (it is reshaped and compiled per shape: one
compilation with dynamic sides compiles faster but runs rcan-x4's tiles 1.19-1.33x slower in
int8, 1.03-1.14x in bf16: ``benchmarks/openvino_shapes.py``, docs/PERFORMANCE.md section 10); a
network whose code branches on its input size in a way the export cannot carry symbolically (the
official SAN's SOCA window) is exported again for each shape: building its backend exports it at
one example shape (:data:`EXAMPLE_SIDE` a side), which proves the network converts; a later
shape that fails to export (rare) is an error naming that shape. DIANet's per-pass state lives in
Python attributes during one forward pass, which the export records like any other computation.

Caching, so that conversion and compilation happen once per network and shape:

* in memory, the converted model of each network (keyed by the module and its weights' version
  counters, so in-place weight changes convert again) and up to :data:`COMPILED_CACHE_SIZE`
  compiled models (network, shape, precision, threads), least recently used first out; each
  backend also keeps the one it ran last, so that more models or shapes than that taking turns
  (a comparison of a dozen networks, an app switching models) do not compile at every call;
* on disk, in :func:`cache_dir`, the converted models (OpenVINO IR, named by a fingerprint of
  the network's code, structure and weights) and OpenVINO's own compiled-model cache
  (``CACHE_DIR``), so a second process starts in about a second; the folder is pruned to
  :data:`DISK_CACHE_BYTES`, oldest first.

Precision goes to the CPU plugin's ``INFERENCE_PRECISION_HINT`` (``f32`` or ``bf16``), threads to
``INFERENCE_NUM_THREADS``; ``int8`` runs the symbolic model quantised by :mod:`.quantize` (its
float layers in f32), cached on disk beside the float IR. A compiled model serves several threads
at once, each call with an inference request of its own.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import itertools
import math
import os
import queue
import sys
import tempfile
import threading
import types
import warnings
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ...checkpoints.descriptor import NO_REQUIREMENTS, LoadedModel, SizeRequirements
from ...errors import ImageError, UsageError
from ...locations import cache_root
from .. import kernels
from ..kernels import openvino_core, openvino_module
from ..precision import PrecisionSupport
from ..tiling import SHAPE_STEP, ShapePolicy
from . import quantize
from .torch import network_lock

CACHE_ENV = "SRAPP_OPENVINO_CACHE"  # a folder for the disk cache; empty: no disk cache
SYMBOLIC_MIN, SYMBOLIC_MAX = 4, 4096  # the sides the symbolic export covers; others are exported per shape
SYMBOLIC_STEPS = (1, 2)  # side steps tried for the symbolic export, finest first
COMPILED_CACHE_SIZE = 8
DISK_CACHE_BYTES = 4 * 2**30
OPENVINO_HINTS = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}  # int8: the hint is for the layers kept in float
_CONVERSION_VERSION = "2"  # part of every disk fingerprint: a change here retires older files

Shape = tuple[int, int, int, int]
EXAMPLE_SIDE = 64  # the example input of the symbolic export, and the shape a per-shape network is proved on
# Architectures whose conversion crashes the process (a segmentation fault inside OpenVINO, which
# no exception handler can catch): they run with torch. Measured with OpenVINO 2026.4 on spandrel
# 0.4.2's DAT (in convert_model, the per-shape export after the symbolic one fails) and PLKSR
# (RealPLKSR).
CRASHING_CONVERSIONS = {
    "DAT": "OpenVINO 2026.4 crashes converting DAT (segmentation fault), so it is not tried",
    "PLKSR": "OpenVINO 2026.4 crashes converting PLKSR (segmentation fault), so it is not tried",
}


@dataclass(frozen=True)
class GraphInput:
    """What the graph of a network takes: its input channels, the sides its exported graph
    admits (the descriptor's :attr:`~srapp.checkpoints.LoadedModel.graph_requirements`), and the
    architecture's name for messages."""

    channels: int = 3
    requirements: SizeRequirements = NO_REQUIREMENTS
    arch: str = "network"

    @classmethod
    def of(cls, model: LoadedModel) -> GraphInput:
        return cls(model.input_channels, model.graph_requirements, model.arch)

    def steps(self) -> list[int]:
        """The side steps to try for the symbolic export, finest first: multiples of the graph's own."""
        multiple = self.requirements.multiple_of
        return sorted({math.lcm(multiple, step) for step in SYMBOLIC_STEPS})

    def symbolic_minimum(self) -> int:
        return max(SYMBOLIC_MIN, self.requirements.minimum)

    def example_shape(self) -> Shape:
        """The input a network that exports per shape only is proved on when its backend is built."""
        multiple = self.requirements.multiple_of
        side = -(-max(EXAMPLE_SIDE, self.requirements.minimum) // multiple) * multiple
        return (1, self.channels, side, side)


_GRAPHS: weakref.WeakKeyDictionary[nn.Module, GraphInput] = weakref.WeakKeyDictionary()


def graph_input(network: nn.Module) -> GraphInput:
    """What :func:`convert` was told the network takes (3 channels, any side, if never told)."""
    return _GRAPHS.get(network) or GraphInput(arch=type(network).__name__)


class ConversionFailed(Exception):
    """OpenVINO cannot run a network; ``reason`` says why in one line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def cache_dir() -> Path | None:
    """The disk cache: ``$SRAPP_OPENVINO_CACHE`` (set but empty: none), else
    ``openvino`` in :func:`srapp.locations.cache_root`; None where it cannot be created."""
    configured = os.environ.get(CACHE_ENV)
    if configured is not None and not configured:
        return None
    folder = Path(configured).expanduser() if configured else cache_root() / "openvino"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return folder if os.access(folder, os.W_OK) else None


# --- what identifies a network ---------------------------------------------------------------

def _tensors(network: nn.Module) -> list[torch.Tensor]:
    return list(itertools.chain(network.parameters(), network.buffers()))


_TRACING: weakref.WeakKeyDictionary[nn.Module, threading.Lock] = weakref.WeakKeyDictionary()
_TRACING_GUARD = threading.Lock()


def _tracing_lock(network: nn.Module) -> threading.Lock:
    """Held while torch.export traces ``network``: the exporter swaps the module's tensors for
    fake ones meanwhile, so other threads must not read them."""
    with _TRACING_GUARD:
        return _TRACING.setdefault(network, threading.Lock())


def _weights_version(network: nn.Module) -> tuple:
    # In-place changes (load_state_dict, optimiser steps) bump a tensor's version counter.
    with _tracing_lock(network):
        return tuple((tensor.data_ptr(), tensor._version) for tensor in _tensors(network))


def _source_files(network: nn.Module) -> list[str]:
    """The files of the network's module classes and of the modules of their own package they
    use (an attention module's helper functions), transitively; torch's own are covered by its
    version."""
    pending = {sys.modules[type(module).__module__] for module in network.modules()}
    seen: set[types.ModuleType] = set()
    while pending:
        module = pending.pop()
        if module in seen or module.__name__.split(".")[0] == "torch":
            continue
        seen.add(module)
        package = module.__name__.split(".")[0]
        for value in vars(module).values():
            name = value.__name__ if isinstance(value, types.ModuleType) else getattr(value, "__module__", None)
            if isinstance(name, str) and name.split(".")[0] == package and name in sys.modules:
                pending.add(sys.modules[name])
    files = []
    for module in seen:
        with contextlib.suppress(TypeError, OSError):
            files.append(inspect.getsourcefile(module) or "")
    return sorted(file for file in files if file)


def network_fingerprint(network: nn.Module) -> str:
    """A digest of everything the converted model depends on: torch and OpenVINO versions, the
    source code of the network's modules, its structure and configuration, and its weights."""
    digest = hashlib.sha256()
    for part in (_CONVERSION_VERSION, torch.__version__, openvino_module().__version__, repr(network),
                 repr(getattr(network, "config", None))):
        digest.update(part.encode() + b"\0")
    for file in _source_files(network):
        digest.update(Path(file).read_bytes())
    for name, tensor in itertools.chain(network.named_parameters(), network.named_buffers()):
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:32]


@dataclass(eq=False)
class _NetworkState:
    """What is known about one network at one weights version."""

    version: tuple
    fingerprint: str | None = None
    symbolic: Any = None  # the symbolically exported model; False when the export cannot be symbolic
    side_step: int = 1  # the symbolic model's sides are multiples of this
    failure: str | None = None  # why the network does not convert, once known
    proved: bool = False  # a network that exports per shape only: exported at its example shape
    quantized: Any = None  # the symbolic model quantised to int8 (.quantize), once asked for


_NETWORKS: weakref.WeakKeyDictionary[nn.Module, _NetworkState] = weakref.WeakKeyDictionary()
_NETWORKS_GUARD = threading.Lock()


def _state(network: nn.Module) -> _NetworkState:
    version = _weights_version(network)
    with _NETWORKS_GUARD:
        state = _NETWORKS.get(network)
        if state is None or state.version != version:
            state = _NETWORKS[network] = _NetworkState(version)
        return state


# --- conversion ------------------------------------------------------------------------------

def _export(network: nn.Module, shape: Shape | None, step: int = 1) -> Any:
    """The OpenVINO model of ``network``: for exactly ``shape``, or (``None``) for every side that
    is a multiple of ``step`` from the graph's minimum (at least SYMBOLIC_MIN) to SYMBOLIC_MAX."""
    dynamic = None
    if shape is None:
        graph = graph_input(network)
        minimum = graph.symbolic_minimum()
        rows, cols = (torch.export.Dim(name, min=-(-minimum // step), max=SYMBOLIC_MAX // step)
                      for name in ("rows", "cols"))
        dynamic = ({2: rows, 3: cols},) if step == 1 else ({2: step * rows, 3: step * cols},)
        side = -(-max(EXAMPLE_SIDE, minimum) // step) * step
        shape = (1, graph.channels, side, side)
    example = torch.rand(shape, generator=torch.Generator().manual_seed(0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's notes on code it specialises
        with _tracing_lock(network):
            program = torch.export.export(network, (example,), dynamic_shapes=dynamic)
        model = openvino_module().convert_model(program)
    return model


def _one_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = next((line for line in lines if "conversion rule" in line.lower()), lines[0] if lines else "")
    return f"{type(error).__name__}: {text[:300]}"


def _save(model: Any, path: Path) -> None:
    """Write an IR pair atomically: the .bin first, the .xml (what readers look for) last."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.stem + ".", suffix=".xml")
    os.close(handle)
    temporary_xml = Path(temporary)
    try:
        openvino_module().save_model(model, str(temporary_xml), compress_to_fp16=False)
        os.replace(temporary_xml.with_suffix(".bin"), path.with_suffix(".bin"))
        os.replace(temporary_xml, path)
    finally:
        temporary_xml.unlink(missing_ok=True)
        temporary_xml.with_suffix(".bin").unlink(missing_ok=True)


def _prune(folder: Path, limit: int = DISK_CACHE_BYTES) -> None:
    """Delete the least recently used entries (an IR's .xml and .bin together) until the folder
    holds at most ``limit`` bytes."""
    entries: dict[Path, list[Path]] = {}
    for path in folder.rglob("*"):
        if path.is_file():
            entries.setdefault(path.with_suffix(""), []).append(path)
    sized = []
    for paths in entries.values():
        with contextlib.suppress(OSError):  # another process may be pruning too
            stats = [path.stat() for path in paths]
            sized.append((max(stat.st_mtime for stat in stats), sum(stat.st_size for stat in stats), paths))
    total = sum(size for _, size, _ in sized)
    for _, size, paths in sorted(sized, key=lambda entry: entry[0]):
        if total <= limit:
            break
        for path in paths:
            path.unlink(missing_ok=True)
        total -= size


def _read(path: Path) -> Any | None:
    """The IR at ``path``, or None (and the file gone) when it cannot be read."""
    try:
        os.utime(path)  # recently used: pruned last
        return openvino_core().read_model(str(path))
    except Exception:  # noqa: BLE001 (a truncated or foreign file: convert again)
        path.unlink(missing_ok=True)
        return None


def _cached_export(
    network: nn.Module, state: _NetworkState, shape: Shape | None, folder: Path | None, step: int = 1,
) -> Any:
    """:func:`_export` through the disk cache (``folder``), when there is one."""
    if folder is None:
        return _export(network, shape, step)
    if state.fingerprint is None:
        state.fingerprint = network_fingerprint(network)
    minimum = graph_input(network).symbolic_minimum()
    sides = f"any{step}" + (f"from{minimum}" if minimum != SYMBOLIC_MIN else "")
    name = f"{state.fingerprint}-{sides if shape is None else f'{shape[2]}x{shape[3]}'}"
    path, refused = folder / "models" / f"{name}.xml", folder / "models" / f"{name}.refused"
    model = _read(path) if path.is_file() else None
    if model is not None:
        return model
    if refused.is_file():
        raise ConversionFailed(refused.read_text())
    path.parent.mkdir(exist_ok=True)
    try:
        model = _export(network, shape, step)
    except Exception as error:
        with contextlib.suppress(OSError):
            refused.write_text(_one_line(error))
        raise
    with contextlib.suppress(OSError):  # a cache that cannot be written costs time, nothing else
        _save(model, path)
        _prune(folder)
    return model


def _symbolic(network: nn.Module, state: _NetworkState, folder: Path | None) -> None:
    """Export the symbolic model once, with the finest step the network admits (or record that
    it admits none); caller holds the network's lock."""
    if state.symbolic is not None:
        return
    for step in graph_input(network).steps():
        try:
            state.symbolic, state.side_step = _cached_export(network, state, None, folder, step), step
            return
        except Exception:  # noqa: BLE001, S112 (any failure of the symbolic export: a coarser step, else per shape)
            continue
    state.symbolic, state.side_step = False, 1


def convert(network: nn.Module, graph: GraphInput | None = None) -> _NetworkState:
    """Convert ``network`` (taking what ``graph`` says, when given) for OpenVINO now, once per
    weights version: the symbolic export, or, for a network that exports per shape only, its
    export at :meth:`GraphInput.example_shape`. Raises :class:`ConversionFailed` (remembered: a
    second call raises at once)."""
    if graph is not None:
        _GRAPHS[network] = graph
    arch = graph_input(network).arch
    if arch in CRASHING_CONVERSIONS:
        raise ConversionFailed(CRASHING_CONVERSIONS[arch])
    state = _state(network)
    with network_lock(network):  # one conversion at a time per network, and none during a torch pass
        _convert(network, state, cache_dir())
    return state


def _convert(network: nn.Module, state: _NetworkState, folder: Path | None) -> None:
    """:func:`convert`'s work; the caller holds the network's lock."""
    if state.failure is not None:
        raise ConversionFailed(state.failure)
    _symbolic(network, state, folder)
    if state.symbolic is not False or state.proved:
        return
    try:
        _cached_export(network, state, graph_input(network).example_shape(), folder)
    except ConversionFailed as failure:
        state.failure = failure.reason
        raise
    except Exception as error:  # noqa: BLE001 (exporters and converters raise many types)
        state.failure = _one_line(error)
        raise ConversionFailed(state.failure) from error
    state.proved = True


def side_step(network: nn.Module) -> int:
    """The step the sides of ``network``'s inputs must be multiples of (1: any side), converting
    it if that has not been done. Raises :class:`ConversionFailed`."""
    return convert(network).side_step


def converts_symbolically(network: nn.Module) -> bool:
    """Whether one converted model of ``network`` serves every side (int8 needs that), converting
    it if that has not been done. Raises :class:`ConversionFailed`."""
    return convert(network).symbolic is not False


def symbolic_model(network: nn.Module, precision: str = "fp32") -> Any:
    """The converted model of ``network`` that serves every side (quantised for int8), as the
    backend reshapes and compiles it; a UsageError for a network that converts per shape only."""
    state = convert(network)
    with network_lock(network):
        if precision == "int8":
            return _quantized_model(network, state, cache_dir())
    if state.symbolic is False:
        raise UsageError(f"{graph_input(network).arch} converts per shape only")
    return state.symbolic


def _quantized_model(network: nn.Module, state: Any, folder: Path | None) -> Any:
    """The network's symbolic OpenVINO model quantised by :data:`RECIPE` on the default
    calibration, through the disk cache (``folder``) beside the float IR; ``state`` is the
    network's :class:`.openvino._NetworkState` (its symbolic model exported), the caller holds the
    network's lock."""
    if state.quantized is not None:
        return state.quantized
    if state.symbolic is False:
        raise UsageError(f"int8 needs a network OpenVINO converts for every input side; "
                         f"{type(network).__name__} converts per shape only")
    scale = getattr(network, "scale", None)
    if not isinstance(scale, int):
        raise UsageError(f"int8: {type(network).__name__} does not state its scale, which calibration needs")
    path = None
    if folder is not None:
        if state.fingerprint is None:
            state.fingerprint = network_fingerprint(network)
        path = folder / "models" / f"{state.fingerprint}-any{state.side_step}-int8-{quantize.recipe_tag()}.xml"
    model = _read(path) if path is not None and path.is_file() else None
    if model is None:
        model = quantize.quantize(state.symbolic, quantize.calibration_patches(scale))
        if path is not None:
            with contextlib.suppress(OSError):  # a cache that cannot be written costs time, nothing else
                path.parent.mkdir(exist_ok=True)
                _save(model, path)
                _prune(folder)
    state.quantized = model
    return model


def _model_for(network: nn.Module, state: _NetworkState, shape: Shape, folder: Path | None,
               precision: str = "fp32") -> Any:
    """A converted model (quantised for int8) with its input fixed to ``shape``; caller holds the
    network's lock. A network that converted once but not at ``shape`` (its per-shape export
    fails there, or its weights changed since into something that does not convert) is an
    ImageError naming the shape."""
    try:
        _convert(network, state, folder)
    except ConversionFailed as failure:
        raise _shape_failure(network, shape, failure.reason) from failure
    minimum = graph_input(network).symbolic_minimum()
    symbolic_fits = all(side % state.side_step == 0 and minimum <= side <= SYMBOLIC_MAX for side in shape[2:])
    if precision == "int8":
        if not symbolic_fits:  # the quantised network is the symbolic one
            raise UsageError(f"int8 runs inputs of {minimum} to {SYMBOLIC_MAX} pixels a side, not "
                             f"{shape[2]}x{shape[3]}; use fp32 or bf16")
        model = _quantized_model(network, state, folder).clone()
        model.reshape({0: list(shape)})
        return model
    if symbolic_fits and state.symbolic is not False:
        model = state.symbolic.clone()
    else:
        try:
            model = _cached_export(network, state, shape, folder)
        except ConversionFailed as failure:
            raise _shape_failure(network, shape, failure.reason) from failure
        except Exception as error:  # noqa: BLE001 (exporters and converters raise many types)
            raise _shape_failure(network, shape, _one_line(error)) from error
    model.reshape({0: list(shape)})
    return model


def _shape_failure(network: nn.Module, shape: Shape, reason: str) -> ImageError:
    return ImageError(None, f"OpenVINO cannot convert {graph_input(network).arch} for a {shape[2]}x{shape[3]} "
                      f"input ({reason}); backend torch runs it")


# --- compiled models -------------------------------------------------------------------------

class _Compiled:
    """A compiled model and its idle inference requests (one request serves one call at a time)."""

    def __init__(self, compiled: Any) -> None:
        self.compiled = compiled
        self.idle: queue.SimpleQueue = queue.SimpleQueue()

    def run(self, x: np.ndarray) -> np.ndarray:
        try:
            request = self.idle.get_nowait()
        except queue.Empty:
            request = self.compiled.create_infer_request()
        try:
            request.infer({0: x}, share_inputs=True)
            return request.get_output_tensor(0).data.copy()
        finally:
            self.idle.put(request)


_COMPILED: OrderedDict[tuple, _Compiled] = OrderedDict()
_COMPILED_GUARD = threading.Lock()


def _compile_config(precision: str, threads: int, folder: Path | None) -> dict[str, Any]:
    config: dict[str, Any] = {
        "INFERENCE_PRECISION_HINT": OPENVINO_HINTS[precision],
        "INFERENCE_NUM_THREADS": threads,
        "PERFORMANCE_HINT": "LATENCY",
    }
    if folder is not None:
        config["CACHE_DIR"] = str(folder / "compiled")
    return config


def _compiled_key(network: nn.Module, shape: Shape, precision: str, threads: int) -> tuple:
    return _state(network), shape, precision, threads


def compiled_model(network: nn.Module, shape: Shape, precision: str, threads: int) -> _Compiled:
    """The network compiled for ``shape``, converting and compiling at most once (per process
    for the conversion, per disk cache for both)."""
    return _compiled(network, _compiled_key(network, shape, precision, threads))


def _compiled(network: nn.Module, key: tuple) -> _Compiled:
    """:func:`compiled_model` for a key of :func:`_compiled_key`."""
    state, shape, precision, threads = key
    with _COMPILED_GUARD:
        if key in _COMPILED:
            _COMPILED.move_to_end(key)
            return _COMPILED[key]
    # The network's lock: one conversion at a time per network, and none during a torch pass
    # (DIANet's cell holds per-pass state).
    with network_lock(network):
        with _COMPILED_GUARD:
            if key in _COMPILED:
                return _COMPILED[key]
        folder = cache_dir()
        model = _model_for(network, state, shape, folder, precision)
        entry = _Compiled(openvino_core().compile_model(model, "CPU", _compile_config(precision, threads, folder)))
        with _COMPILED_GUARD:
            _COMPILED[key] = entry
            while len(_COMPILED) > COMPILED_CACHE_SIZE:
                _COMPILED.popitem(last=False)
    return entry


def _is_allocation_failure(error: RuntimeError) -> bool:
    # OpenVINO reports a failed allocation as a RuntimeError carrying std::bad_alloc.
    return "bad_alloc" in str(error)


class OpenVINOBackend:
    """Runs ``network`` (a CPU module in eval mode) through OpenVINO in ``precision`` (fp32, bf16
    or int8) on ``(1, C, h, w)`` float32 numpy arrays, returning numpy arrays.

    Building it converts the network (:func:`convert`; int8 also quantises it) and raises
    :class:`ConversionFailed` where that fails; what it runs (``name``, ``precision``, ``shapes``)
    is fixed from then on.
    """

    name = "openvino"
    device = torch.device("cpu")
    takes_numpy = True

    def __init__(self, network: nn.Module, precision: str, threads: int | None = None,
                 graph: GraphInput | None = None) -> None:
        if precision not in OPENVINO_HINTS:
            raise UsageError(f"the openvino backend runs {', '.join(OPENVINO_HINTS)}, not {precision}")
        state = convert(network, graph)
        self.network, self.precision, self.graph = network, precision, graph_input(network)
        self.threads = threads or torch.get_num_threads()
        # Tiles in steps of SHAPE_STEP, sides in the network's side step and at least the graph's minimum.
        self.shapes = ShapePolicy(SHAPE_STEP, state.side_step, self.graph.requirements.minimum)
        if precision == "int8":
            with network_lock(network):
                _quantized_model(network, state, cache_dir())
        # The compiled model of the last shape run, held beyond the shared LRU: backends taking
        # turns over more shapes than it holds do not compile again at every call.
        self._recent: tuple[tuple, _Compiled] | None = None

    @staticmethod
    def precision_support(device: torch.device) -> PrecisionSupport:
        """bf16 is fast where OpenVINO's CPU plugin computes it (AVX512-BF16 or AMX: it reports
        ``BF16`` among its capabilities; elsewhere it ignores the hint and computes f32); int8
        runs where NNCF is installed to quantise."""
        return PrecisionSupport(
            "openvino", device.type == "cpu" and kernels.openvino_cpu_has_fast_bf16(),
            "bf16 has no fast kernels in OpenVINO on this CPU (needs AVX512-BF16 or AMX)",
            kernels.nncf_missing_reason())

    def session(self) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()  # no state outside each call

    def runtime_precision(self, shape: Shape) -> str:
        """The precision OpenVINO computes in for ``shape`` (the plugin may ignore the bf16 hint)."""
        if self.precision == "int8":
            return "int8"
        hint = compiled_model(self.network, shape, self.precision, self.threads).compiled.get_property(
            "INFERENCE_PRECISION_HINT").get_type_name()
        return {"f32": "fp32"}.get(hint, hint)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        shape = tuple(x.shape)
        key = _compiled_key(self.network, shape, self.precision, self.threads)
        recent = self._recent
        if recent is not None and recent[0] == key:
            compiled = recent[1]
        else:
            compiled = _compiled(self.network, key)
            self._recent = (key, compiled)
        try:
            return compiled.run(np.ascontiguousarray(x, dtype=np.float32))
        except RuntimeError as error:
            if _is_allocation_failure(error):
                raise MemoryError(f"OpenVINO could not allocate memory for a {shape} input") from error
            raise


def cannot_convert(arch: str, reason: str) -> str:
    return f"OpenVINO cannot convert {arch} ({reason})"


def fallback_note(problem: str) -> str:
    """The warning when ``auto`` runs torch instead because of ``problem``."""
    return f"{problem}; running it with torch"


def refusal(problem: str) -> UsageError:
    """The error when ``openvino`` was asked for and ``problem`` prevents it."""
    return UsageError(f"backend openvino: {problem}; use backend torch or auto")


__all__ = [
    "CACHE_ENV", "ConversionFailed", "GraphInput", "OpenVINOBackend", "cache_dir", "cannot_convert", "compiled_model",
    "convert", "converts_symbolically", "fallback_note", "symbolic_model", "network_fingerprint", "refusal", "side_step",
]
