"""Checking a BasicSR option YAML before anything runs.

BasicSR reads its options lazily: a misspelt key is silently ignored (``use_flip`` instead of
``use_hflip`` trains without flips, or dies with a KeyError an hour later), and a wrong dataset
path fails only once the dataloader starts. :func:`validate_options` reads the file the way
BasicSR will and reports every problem at once, each line naming the file and the dotted key:

* unknown keys at every level BasicSR's SR pipeline reads (with the closest known key suggested);
* registry types (model, network, dataset, loss, metric, scheduler) that do not exist, and
  arguments that their constructor or function does not take;
* the network is built from ``network_g`` (so its arguments are checked for real), and its scale
  must equal the top-level ``scale``;
* missing dataset folders / LMDB databases / meta-info files and pretrained network files.

Relative paths in a YAML are relative to a *root* folder (the repository root by default, where
``experiments/`` is written too); ``${SRAPP_DATA}`` in a path stands for the data folder of
:func:`srapp.data.data_root` (``$SRAPP_DATA``, else ``../shared`` beside the repository), so
``dataroot_gt: ${SRAPP_DATA}/datasets/Set5`` works wherever the data is kept.
:func:`resolve_paths` makes them absolute.
"""

from __future__ import annotations

import copy
import difflib
import inspect
import os
import re
from numbers import Number
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml

from .. import _compat  # noqa: F401  (before basicsr)
from ..data import DATA_ENV, HOW_TO_POINT, data_root
from ..engine.precision import PRECISIONS
from ..errors import UsageError
from .time_budget import SCHEDULER_NAME as TIME_SCHEDULER

SRAPP_MODEL_KEYS = {"precision", "channels_last", "compile"}  # read by SrappSRModel only
TOP_LEVEL_KEYS = {
    "name", "model_type", "scale", "num_gpu", "manual_seed", "datasets", "network_g", "path", "train", "val",
    "logger", "dist_params", "find_unused_parameters",
} | SRAPP_MODEL_KEYS
PATH_KEY_PATTERN = r"(pretrain_network_\w+|param_key_\w+|strict_load_\w+|resume_state|ignore_resume_networks)"
TRAIN_KEYS = {"ema_decay", "optim_g", "scheduler", "total_iter", "warmup_iter", "pixel_opt", "perceptual_opt"}
VAL_KEYS = {"val_freq", "save_img", "metrics", "pbar", "suffix"}
LOGGER_KEYS = {"print_freq", "save_checkpoint_freq", "use_tb_logger", "wandb"}
DATASET_KEYS = {
    "name", "type", "dataroot_gt", "dataroot_lq", "meta_info_file", "io_backend", "filename_tmpl", "gt_size",
    "use_hflip", "use_rot", "use_shuffle", "num_worker_per_gpu", "batch_size_per_gpu", "dataset_enlarge_ratio",
    "prefetch_mode", "pin_memory", "persistent_workers", "num_prefetch_queue", "color", "mean", "std",
    "degradation", "clean_fraction", "level",  # SrappDegradedDataset
    "subfolders", "device",  # SrappResidentPairedDataset
}
DATASET_REQUIRED = {
    "PairedImageDataset": ("dataroot_gt", "dataroot_lq", "io_backend"),
    "SrappBicubicPairedDataset": ("dataroot_gt",),
    "SrappDegradedDataset": ("dataroot_gt",),
    "SrappResidentPairedDataset": ("dataroot_gt",),
}
PATCH_DATASETS = ("PairedImageDataset", "SrappDegradedDataset", "SrappResidentPairedDataset")
TRAIN_DATASET_REQUIRED = ("batch_size_per_gpu", "num_worker_per_gpu")
PAIRED_TRAIN_REQUIRED = ("gt_size", "use_hflip", "use_rot")
NUMERIC_KEYS = {
    "train.total_iter", "train.optim_g.lr", "val.val_freq", "logger.print_freq", "logger.save_checkpoint_freq",
}
SCHEDULERS = ("MultiStepLR", "MultiStepRestartLR", "CosineAnnealingRestartLR", TIME_SCHEDULER)
OPTIMIZERS = ("Adam",)  # BaseModel.get_optimizer of BasicSR 1.4.2 knows no other
DATA_PLACEHOLDER = "${" + DATA_ENV + "}"


class OptionsError(UsageError):
    """An option file that cannot work; every line names the file and the key."""


def load_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """The option file as a dict (``!!float 1e-4`` as BasicSR writes it is understood)."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as handle:
            opt = yaml.safe_load(handle)
    except OSError as error:
        raise OptionsError(f"{path}: cannot read ({error.strerror or error})") from error
    except yaml.YAMLError as error:
        raise OptionsError(f"{path}: not valid YAML: {error}") from error
    if not isinstance(opt, dict):
        raise OptionsError(f"{path}: expected a mapping of options, got {type(opt).__name__}")
    return opt


def _absolute(value: str, root: Path, key: str, source: Path | None) -> str:
    if DATA_PLACEHOLDER in value:
        data = data_root()
        if data is None:
            where = f"{source}: " if source is not None else ""
            raise OptionsError(f"{where}{key}: {value} needs the data folder, and none was found: {HOW_TO_POINT}")
        value = value.replace(DATA_PLACEHOLDER, str(data))
    path = Path(os.path.expanduser(value))
    return str(path if path.is_absolute() else root / path)


def resolve_paths(
    opt: dict[str, Any], root: str | os.PathLike, source: str | os.PathLike | None = None
) -> dict[str, Any]:
    """Make the dataset roots, meta-info files, pretrained networks and resume state absolute:
    ``${SRAPP_DATA}`` becomes the data folder, relative paths are taken relative to ``root``.
    Changes ``opt`` in place and returns it. Raises :class:`OptionsError` (naming ``source``, the
    option file) when a path uses ``${SRAPP_DATA}`` and there is no data folder."""
    root = Path(root)
    source = None if source is None else Path(source)
    for phase, dataset in (opt.get("datasets") or {}).items():
        if isinstance(dataset, dict):
            for key in ("dataroot_gt", "dataroot_lq", "meta_info_file"):
                if isinstance(dataset.get(key), str):
                    dataset[key] = _absolute(dataset[key], root, f"datasets.{phase}.{key}", source)
    for key, value in (opt.get("path") or {}).items():
        if isinstance(value, str) and (key.startswith("pretrain_network_") or key == "resume_state"):
            opt["path"][key] = _absolute(value, root, f"path.{key}", source)
    return opt


def _named_parameters(function: Callable[..., Any], skip: Iterable[str] = ()) -> tuple[set[str], set[str]]:
    """(all named parameters, the required ones) of a function or class, minus ``skip``."""
    named, required = set(), set()
    for name, parameter in inspect.signature(function).parameters.items():
        if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY) and name not in skip:
            named.add(name)
            if parameter.default is parameter.empty:
                required.add(name)
    return named, required


class _Checker:
    """Collects the problems of one option file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.problems: list[str] = []

    def problem(self, key: str, message: str) -> None:
        self.problems.append(f"{self.path}: {key}: {message}")

    def mapping(self, section: Any, where: str) -> bool:
        """True for a mapping; otherwise a problem is recorded."""
        if isinstance(section, dict):
            return True
        self.problem(where, f"expected a mapping, got {section!r}")
        return False

    def keys(self, section: Any, where: str, known: set[str] | str, required: Iterable[str] = ()) -> bool:
        """Unknown and missing keys of a mapping; False when ``section`` is not a mapping."""
        if not self.mapping(section, where):
            return False
        for key in section:
            matches = re.fullmatch(known, str(key)) if isinstance(known, str) else key in known
            if not matches:
                candidates = sorted(known) if isinstance(known, set) else []
                close = difflib.get_close_matches(str(key), candidates, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                self.problem(f"{where}.{key}" if where else str(key), f"unknown key{hint}")
        for key in required:
            if key not in section:
                self.problem(f"{where}.{key}" if where else key, "missing")
        return True

    def arguments(self, section: dict[str, Any], where: str, function: Callable[..., Any],
                  skip: Iterable[str] = (), extra: Iterable[str] = ()) -> None:
        """Keys other than ``type`` must be named parameters of ``function`` (``**kwargs`` does not
        count: a misspelt metric option would vanish into it)."""
        named, required = _named_parameters(function, skip)
        arguments = {key: value for key, value in section.items() if key != "type"}
        self.keys(arguments, where, named | set(extra), sorted(required))


def _registry_type(checker: _Checker, section: dict[str, Any], where: str, registry: Any) -> Any:
    kind = section.get("type")
    if kind is None:
        checker.problem(f"{where}.type", "missing")
        return None
    if kind not in registry:
        close = difflib.get_close_matches(str(kind), list(registry.keys()), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        checker.problem(f"{where}.type", f"unknown type {kind!r}{hint}")
        return None
    return registry.get(kind)


def _check_network(checker: _Checker, opt: dict[str, Any]) -> None:
    from basicsr.utils.registry import ARCH_REGISTRY

    network = opt.get("network_g")
    if not checker.mapping(network, "network_g"):
        return
    arch = _registry_type(checker, network, "network_g", ARCH_REGISTRY)
    if arch is None:
        return
    before = len(checker.problems)
    checker.arguments(network, "network_g", arch)
    if len(checker.problems) > before:
        return
    try:
        # What basicsr.archs.build_network does, minus its get_root_logger() call: BasicSR's logger
        # must first be set up by the pipeline, with its log file.
        built = arch(**{key: copy.deepcopy(value) for key, value in network.items() if key != "type"})
    except Exception as error:  # the constructor's own checks (scale, attention name, ...)
        checker.problem("network_g", f"cannot build {network['type']}: {error}")
        return
    network_scale = getattr(built, "scale", None)
    if network_scale is not None and "scale" in opt and network_scale != opt["scale"]:
        checker.problem("network_g.scale", f"is {network_scale} but the top-level scale is {opt['scale']}")


def _check_dataset(checker: _Checker, phase: str, dataset: Any, check_paths: bool) -> None:
    from basicsr.utils.registry import DATASET_REGISTRY

    where = f"datasets.{phase}"
    if not checker.mapping(dataset, where):
        return
    kind = dataset.get("type")
    required = ["name", *DATASET_REQUIRED.get(kind, ())]
    if phase == "train":
        required += TRAIN_DATASET_REQUIRED
        if kind in PATCH_DATASETS:
            required += PAIRED_TRAIN_REQUIRED
    checker.keys(dataset, where, DATASET_KEYS, required)
    if kind == "SrappResidentPairedDataset" and dataset.get("num_worker_per_gpu", 0) != 0:
        checker.problem(f"{where}.num_worker_per_gpu", "must be 0: the pairs live in the training process")
    subfolders = dataset.get("subfolders")
    if subfolders is not None and kind != "SrappResidentPairedDataset":
        checker.problem(f"{where}.subfolders", "is read by SrappResidentPairedDataset only")
    elif subfolders is not None and not (isinstance(subfolders, list) and all(isinstance(n, str) for n in subfolders)):
        checker.problem(f"{where}.subfolders", f"expected a list of folder names, got {subfolders!r}")
        subfolders = None
    if _registry_type(checker, dataset, where, DATASET_REGISTRY) is None or not check_paths:
        return
    lmdb = (dataset.get("io_backend") or {}).get("type") == "lmdb"
    for key in ("dataroot_gt", "dataroot_lq"):
        value = dataset.get(key)
        if value is None:
            continue
        folder = Path(value)
        if not folder.is_dir():
            checker.problem(f"{where}.{key}", f"no such folder: {folder}")
        elif lmdb and not (folder.name.endswith(".lmdb") and (folder / "meta_info.txt").is_file()):
            checker.problem(f"{where}.{key}", f"not an LMDB database (*.lmdb with meta_info.txt): {folder}")
        elif key == "dataroot_gt" and subfolders:
            for name in subfolders:
                if not (folder / name).is_dir():
                    checker.problem(f"{where}.subfolders", f"no such folder: {folder / name}")
    meta_info = dataset.get("meta_info_file")
    if meta_info is not None and not Path(meta_info).is_file():
        checker.problem(f"{where}.meta_info_file", f"no such file: {meta_info}")


def _scheduler_class(name: str) -> type:
    from basicsr.models import lr_scheduler

    from .time_budget import CosineAnnealingTimeLR

    if name == TIME_SCHEDULER:
        return CosineAnnealingTimeLR
    return getattr(lr_scheduler, "MultiStepRestartLR" if name == "MultiStepLR" else name)


def _check_train(checker: _Checker, train: Any) -> None:
    import torch
    from basicsr.utils.registry import LOSS_REGISTRY

    if not checker.keys(train, "train", TRAIN_KEYS, ("optim_g", "scheduler", "total_iter")):
        return
    optimizer = train.get("optim_g")
    if "optim_g" in train and checker.mapping(optimizer, "train.optim_g"):
        if optimizer.get("type") not in OPTIMIZERS:
            message = f"{optimizer.get('type')!r} is not supported by BasicSR ({', '.join(OPTIMIZERS)})"
            checker.problem("train.optim_g.type", message)
        else:
            checker.arguments(optimizer, "train.optim_g", torch.optim.Adam, skip=("params",))
            if "lr" not in optimizer:  # BasicSR passes it positionally: Adam's default never applies
                checker.problem("train.optim_g.lr", "missing")
    scheduler = train.get("scheduler")
    if "scheduler" in train and checker.mapping(scheduler, "train.scheduler"):
        if scheduler.get("type") not in SCHEDULERS:
            known = ", ".join(SCHEDULERS)
            checker.problem("train.scheduler.type", f"unknown scheduler {scheduler.get('type')!r} ({known})")
        else:
            checker.arguments(scheduler, "train.scheduler", _scheduler_class(scheduler["type"]),
                              skip=("optimizer", "last_epoch"))
    losses = [key for key in ("pixel_opt", "perceptual_opt") if train.get(key)]
    if not losses:
        checker.problem("train.pixel_opt", "missing (a pixel or perceptual loss is required)")
    for key in losses:
        if checker.mapping(train[key], f"train.{key}"):
            loss_class = _registry_type(checker, train[key], f"train.{key}", LOSS_REGISTRY)
            if loss_class is not None:
                checker.arguments(train[key], f"train.{key}", loss_class)


def _check_val(checker: _Checker, val: Any) -> None:
    from basicsr.utils.registry import METRIC_REGISTRY

    if not checker.keys(val, "val", VAL_KEYS):
        return
    for name, metric in (val.get("metrics") or {}).items():
        where = f"val.metrics.{name}"
        if checker.mapping(metric, where):
            function = _registry_type(checker, metric, where, METRIC_REGISTRY)
            if function is not None:
                checker.arguments(metric, where, function, skip=("img", "img2"), extra=("better",))
                if metric.get("better", "higher") not in ("higher", "lower"):
                    checker.problem(f"{where}.better", "must be higher or lower")


def _lookup(opt: dict[str, Any], dotted: str) -> Any:
    value: Any = opt
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def validate_options(
    path: str | os.PathLike, root: str | os.PathLike, is_train: bool = True, check_paths: bool = True
) -> dict[str, Any]:
    """Read, check and return the options of ``path`` with paths resolved against ``root``.

    ``is_train`` checks a training file (``train``, ``logger`` and a ``train`` dataset required),
    otherwise a test file (``val`` required). ``check_paths`` also requires every dataset folder,
    meta-info file, pretrained network and resume state to exist. Raises :class:`OptionsError`
    listing every problem found.
    """
    import basicsr  # noqa: F401  (fills the registries: archs, datasets, losses, metrics, models)
    from basicsr.utils.registry import MODEL_REGISTRY

    from .registration import register_with_basicsr

    register_with_basicsr()
    path = Path(path)
    opt = resolve_paths(load_yaml(path), root, source=path)
    checker = _Checker(path)
    required = ["name", "model_type", "scale", "num_gpu", "datasets", "network_g", "path"]
    required += ["train", "logger"] if is_train else ["val"]
    checker.keys(opt, "", TOP_LEVEL_KEYS, required)

    if "model_type" in opt and opt["model_type"] not in MODEL_REGISTRY:
        checker.problem("model_type", f"unknown model {opt['model_type']!r}")
    uses_srapp_keys = sorted(SRAPP_MODEL_KEYS & opt.keys())
    if uses_srapp_keys and opt.get("model_type") != "SrappSRModel":
        checker.problem(uses_srapp_keys[0], "is read by model_type SrappSRModel only")
    if _lookup(opt, "train.scheduler.type") == TIME_SCHEDULER and opt.get("model_type") != "SrappSRModel":
        checker.problem("train.scheduler.type", f"{TIME_SCHEDULER} is built by model_type SrappSRModel only")
    if "precision" in opt and opt["precision"] not in PRECISIONS:
        checker.problem("precision", f"must be one of {', '.join(PRECISIONS)}")
    if not (opt.get("num_gpu") == "auto" or isinstance(opt.get("num_gpu"), int)):
        checker.problem("num_gpu", "must be a number of GPUs (0: CPU) or auto")
    if "network_g" in opt:
        _check_network(checker, opt)
    if checker.keys(opt.get("path", {}), "path", PATH_KEY_PATTERN) and check_paths:
        for key, value in opt.get("path", {}).items():
            if (key.startswith("pretrain_network_") or key == "resume_state") and value is not None:
                if not Path(value).is_file():
                    checker.problem(f"path.{key}", f"no such file: {value}")

    datasets = opt.get("datasets")
    if "datasets" in opt and checker.keys(datasets, "datasets", r"(train|val|test)(_\w+)?"):
        if is_train and "train" not in datasets:
            checker.problem("datasets.train", "missing")
        for phase, dataset in datasets.items():
            _check_dataset(checker, phase, dataset, check_paths)
    if "train" in opt:
        _check_train(checker, opt["train"])
    if "val" in opt:
        _check_val(checker, opt["val"])
    if "logger" in opt:
        checker.keys(opt["logger"], "logger", LOGGER_KEYS, ("print_freq", "save_checkpoint_freq") if is_train else ())
    for dotted in sorted(NUMERIC_KEYS):
        value = _lookup(opt, dotted)
        if value is not None and (isinstance(value, bool) or not isinstance(value, Number)):
            checker.problem(dotted, f"must be a number, got {value!r} (write floats as !!float 1e-4)")

    if checker.problems:
        count = len(checker.problems)
        raise OptionsError(
            f"{path}: {count} problem{'s' * (count != 1)} (relative paths are taken from {root}):\n  "
            + "\n  ".join(checker.problems)
        )
    return opt
