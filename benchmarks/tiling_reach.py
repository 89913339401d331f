"""How far a community architecture's output reaches, and what tiling costs it: the figures behind
``srapp.checkpoints.foreign.TILING_OVERRIDES``.

For each architecture (spandrel's classes at a small configuration, random weights): the largest
gradient of one output pixel with respect to input pixels 24 or more pixels away, over its own
input pixel's (0 for a network whose reach is a neighbourhood); then, for several seeds, the PSNR
of srapp's tiled result against the whole-image result at several tile sizes and overlaps over a
128x144 input (torch, fp32; a tiling that only loses context at tile edges gets closer to the
whole image as the overlap grows).

    python benchmarks/tiling_reach.py [--only OmniSR,Compact] [--seeds 3]
"""

from __future__ import annotations

import argparse
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from spandrel.architectures.Compact import Compact
from spandrel.architectures.HAT import HAT
from spandrel.architectures.OmniSR import OmniSR

import srapp
from srapp.engine.resize import imresize
from srapp.metrics import psnr

ARCHITECTURES = {
    "OmniSR": lambda: OmniSR(num_in_ch=3, num_out_ch=3, num_feat=16, res_num=1, up_scale=2, window_size=4,
                             block_num=1),
    "HAT": lambda: HAT(upscale=2, img_size=16, window_size=4, compress_ratio=3, squeeze_factor=6, embed_dim=12,
                       depths=[2], num_heads=[2], mlp_ratio=2, upsampler="pixelshuffle", overlap_ratio=0.5),
    "Compact": lambda: Compact(num_in_ch=3, num_out_ch=3, num_feat=16, num_conv=4, upscale=2),
}
TILINGS = ((48, 16), (48, 24), (64, 16), (64, 31), (96, 32), (96, 47))  # (tile, overlap) in input pixels
TORCH = {"backend": "torch", "device": "cpu", "precision": "fp32"}


def smooth(height: int, width: int, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).random((height // 4 + 2, width // 4 + 2, 3))
    return np.clip(imresize(noise, output_shape=(height, width)), 0, 1).astype(np.float32)


def far_influence(network: torch.nn.Module, distance: int = 24) -> float:
    """How much the input pixels ``distance`` or more pixels away from the centre output pixel of a
    64x64 input move it, against its own input pixel (the largest absolute gradient over the
    centre's; also asserted by tests/test_foreign_models.py)."""
    x = torch.from_numpy(smooth(64, 64, 1).transpose(2, 0, 1).copy())[None].requires_grad_(True)
    y = network(x)
    factor = y.shape[-1] // 64
    y[0, :, 32 * factor, 32 * factor].sum().backward()
    gradient = x.grad[0].abs().sum(0)
    far = torch.ones_like(gradient, dtype=torch.bool)
    far[32 - distance + 1:32 + distance, 32 - distance + 1:32 + distance] = False
    return float(gradient[far].max() / gradient[32, 32])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(ARCHITECTURES))
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")  # the engine's note that a model discouraging tiling is being tiled
    image = smooth(128, 144, 1)
    with tempfile.TemporaryDirectory() as folder:
        for name in args.only.split(","):
            for seed in range(args.seeds):
                torch.manual_seed(seed)
                network = ARCHITECTURES[name]().eval()
                path = Path(folder) / f"{name}.pth"
                torch.save(network.state_dict(), path)
                whole = srapp.Upscaler(path, tile=0, **TORCH).run_unit(image)
                cells = []
                for tile, overlap in TILINGS:
                    tiled = srapp.Upscaler(path, tile=tile, tile_overlap=overlap, **TORCH).run_unit(image)
                    cells.append(f"{tile}/{overlap}: {psnr(tiled, whole):.1f}")
                print(f"{name} seed {seed}: far influence {far_influence(network):.2e}; tiled vs whole in dB "
                      f"(tile/overlap) {', '.join(cells)}", flush=True)


if __name__ == "__main__":
    main()
