"""Community architectures through srapp's engine against spandrel's own call.

For each architecture at one small configuration (random weights from spandrel's own classes):
seconds per 256x256 input tile on srapp's defaults (backend ``auto``: OpenVINO on a CPU where it
converts the network, torch otherwise; precision ``auto``: bf16 where the CPU runs it fast, so the
last column, srapp's largest difference from spandrel's fp32 output, includes bf16 rounding; one
tile, ``Upscaler.run_unit``) against spandrel's own
call (``ImageModelDescriptor``, torch, fp32), alternating the two and taking medians, and the
ratio from the same run. Then the peak memory (resident set, in a fresh process) of a 4-megapixel
input (2048x2048) upscaled with the largest of them through srapp's default tiling, beside a
512x512 input: the difference is the result image, not the network's float activations over the
whole image.

    python benchmarks/foreign_models.py [--repeats 3] [--only ESRGAN,Compact] [--memory-side 2048]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

TILE = 256


def architectures() -> dict:
    """One small configuration per architecture (x4 where the architecture's light models are)."""
    from spandrel.architectures.Compact import Compact
    from spandrel.architectures.DAT import DAT
    from spandrel.architectures.ESRGAN import ESRGAN
    from spandrel.architectures.HAT import HAT
    from spandrel.architectures.OmniSR import OmniSR
    from spandrel.architectures.PLKSR import RealPLKSR
    from spandrel.architectures.RCAN import RCAN
    from spandrel.architectures.SPAN import SPAN
    from spandrel.architectures.SwinIR import SwinIR

    return {
        "ESRGAN": lambda: ESRGAN(num_filters=32, num_blocks=4, scale=4),
        "Compact": lambda: Compact(num_feat=64, num_conv=16, upscale=4),  # realesr-general-x4v3's size
        "SPAN": lambda: SPAN(num_in_ch=3, num_out_ch=3, feature_channels=48, upscale=4),
        "SwinIR": lambda: SwinIR(upscale=4, img_size=64, window_size=8, embed_dim=60, depths=[2, 2], num_heads=[6, 6],
                                 mlp_ratio=2, upsampler="pixelshuffledirect"),
        "HAT": lambda: HAT(upscale=4, img_size=64, window_size=8, embed_dim=48, depths=[2, 2], num_heads=[6, 6],
                           mlp_ratio=2, upsampler="pixelshuffle"),
        "DAT": lambda: DAT(upscale=4, img_size=64, embed_dim=48, depth=[2, 2], num_heads=[4, 4], split_size=[8, 16],
                           expansion_factor=2),
        "OmniSR": lambda: OmniSR(num_feat=64, res_num=2, up_scale=4, window_size=8, block_num=1),
        "RealPLKSR": lambda: RealPLKSR(dim=64, n_blocks=8, upscaling_factor=4, kernel_size=17),
        "RCAN": lambda: RCAN(scale=4, n_resgroups=2, n_resblocks=4, n_feats=64, reduction=16),
    }


def save_models(folder: Path, names: list[str]) -> dict[str, Path]:
    paths = {}
    for name in names:
        torch.manual_seed(0)
        network = architectures()[name]().eval()
        paths[name] = folder / f"{name}.pth"
        torch.save(network.state_dict(), paths[name])
    return paths


def seconds(call, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


def speed(paths: dict[str, Path], repeats: int) -> None:
    import spandrel

    import srapp

    rng = np.random.default_rng(0)
    image = rng.random((TILE, TILE, 3), dtype=np.float32)
    tensor = torch.from_numpy(image.transpose(2, 0, 1).copy())[None]
    print(f"seconds per {TILE}x{TILE} input tile, {torch.get_num_threads()} threads; medians of {repeats}, "
          "alternating; srapp: its default backend (auto), spandrel: its own call in torch fp32")
    print(f"{'architecture':<12} {'parameters':>10} {'srapp backend':>18} {'srapp s':>8} {'spandrel s':>10} "
          f"{'ratio':>6} {'first srapp call s':>18}  max |srapp - spandrel|")
    for name, path in paths.items():
        descriptor = spandrel.ModelLoader().load_from_file(path).eval()
        with warnings.catch_warnings(record=True) as notes:
            warnings.simplefilter("always")
            upscaler = srapp.Upscaler(path, tile=0, device="cpu")
            start = time.perf_counter()
            ours = upscaler.run_unit(image)  # converts and compiles on the first call
            first = time.perf_counter() - start
        with torch.inference_mode():
            reference = descriptor(tensor.clone())[0].permute(1, 2, 0).numpy()
        ours_times, theirs_times = [], []
        for _ in range(repeats):
            ours_times += seconds(lambda: upscaler.run_unit(image), 1)
            theirs_times += seconds(lambda: descriptor(tensor.clone()), 1)
        mine, theirs = statistics.median(ours_times), statistics.median(theirs_times)
        ran = f"{upscaler.backend} {upscaler.precision}"
        print(f"{name:<12} {upscaler.model.parameter_count:>10,} {ran:>18} {mine:>8.3f} {theirs:>10.3f} "
              f"{theirs / mine:>5.2f}x {first:>18.1f}  {np.abs(ours - reference).max():.2e}", flush=True)
        for note in notes:
            if "OpenVINO" in str(note.message):
                print(f"  note: {str(note.message)[:160]}")


MEMORY_PROBE = """
import json, resource, sys, warnings
import numpy as np
import srapp
warnings.simplefilter("ignore")
path, side = sys.argv[1], int(sys.argv[2])
upscaler = srapp.Upscaler(path, device="cpu")
image = (np.random.default_rng(0).random((side, side, 3)) * 255).astype(np.uint8)
result = upscaler(image)
print(json.dumps({"peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "shape": result.shape,
                  "backend": upscaler.backend}))
"""


def memory(path: Path, name: str, side: int) -> None:
    print(f"\npeak resident memory of a fresh process upscaling with {name} (the most parameters here), "
          "srapp's default tiling (tiles of 256 above 512x512)")
    for probe_side in (512, side):
        started = time.perf_counter()
        output = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(path), str(probe_side)],
                                capture_output=True, text=True, check=True).stdout
        measured = json.loads(output.strip().splitlines()[-1])
        height, width, channels = measured["shape"]
        print(f"{probe_side}x{probe_side} input ({probe_side * probe_side / 1e6:.2f} MP) -> {width}x{height}: "
              f"peak {measured['peak_mib']:,.0f} MiB (result alone {height * width * channels / 2**20:,.0f} MiB as "
              f"uint8; a float32 whole-image output would be {4 * height * width * channels / 2**20:,.0f} MiB), "
              f"{measured['backend']} backend, {time.perf_counter() - started:.0f} s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", help="comma-separated architectures (default: all)")
    parser.add_argument("--memory-side", type=int, default=2048, help="input side of the memory run (0: skip)")
    args = parser.parse_args(argv)
    names = args.only.split(",") if args.only else list(architectures())
    with tempfile.TemporaryDirectory() as folder:
        paths = save_models(Path(folder), names)
        speed(paths, args.repeats)
        if args.memory_side:
            import srapp

            largest = max(names, key=lambda name: srapp.load_model(paths[name]).parameter_count)
            memory(paths[largest], largest, args.memory_side)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    main()
