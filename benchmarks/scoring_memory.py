"""Memory that scoring one large image pair adds: srapp's metrics against BasicSR's.

    python benchmarks/scoring_memory.py                 # a 4000 x 4000 pair (16 MP)
    python benchmarks/scoring_memory.py --side 2000     # 4 MP

Each scorer runs in a fresh process holding the pair (8-bit RGB, a smooth scene and a noisy copy)
with its libraries and models loaded; the figure is the growth of the peak resident set during the
call, and the process's whole peak beside it. srapp scores PSNR / SSIM in strips of rows, LPIPS in
tiles with a halo, NIQE in strips; BasicSR's ``calculate_psnr`` / ``calculate_ssim`` /
``calculate_niqe`` take the whole image in float64.
"""

from __future__ import annotations

import argparse
import json

from measure import MIB, run_python

CHILD = r"""
import json, sys
import numpy as np
from measure import peak_bytes, reset_peak, resident_bytes
scorer, side = sys.argv[1], int(sys.argv[2])
rows, cols = np.mgrid[0:side, 0:side].astype(np.float32) / side
scene = np.stack([rows, cols, (rows + cols) / 2], axis=-1) * 200 + 20
noisy = scene + np.random.default_rng(0).normal(0, 8, scene.shape).astype(np.float32)
img, ref = np.clip(noisy, 0, 255).astype(np.uint8), np.clip(scene, 0, 255).astype(np.uint8)
del rows, cols, scene, noisy
if scorer.startswith("basicsr"):
    import srapp._compat  # noqa: F401  (BasicSR's imports on current torchvision)
    from basicsr.metrics import calculate_niqe, calculate_psnr, calculate_ssim
    bgr, bgr_ref = img[..., ::-1].copy(), ref[..., ::-1].copy()
    calls = {
        "basicsr-psnr-ssim": lambda: (calculate_psnr(bgr, bgr_ref, 4, test_y_channel=True),
                                      calculate_ssim(bgr, bgr_ref, 4, test_y_channel=True)),
        "basicsr-niqe": lambda: calculate_niqe(bgr, 4, input_order="HWC", convert_to="y"),
    }
else:
    from srapp.metrics import lpips, lpips_model, niqe, psnr, ssim
    if scorer == "srapp-lpips":
        lpips_model()
    if scorer == "srapp-niqe":
        import importlib
        importlib.import_module("srapp.metrics.niqe")._basicsr()  # BasicSR's parameters, loaded once
    calls = {
        "srapp-psnr-ssim": lambda: (psnr(img, ref, 4, y_channel=True), ssim(img, ref, 4, y_channel=True)),
        "srapp-lpips": lambda: lpips(img, ref),
        "srapp-niqe": lambda: niqe(img, 4),
    }
before = resident_bytes()
reset_peak()
value = calls[scorer]()
print(json.dumps({"added": peak_bytes() - before, "peak": peak_bytes(), "value": str(value)}))
"""

PAIRS = (("srapp-psnr-ssim", "basicsr-psnr-ssim"), ("srapp-niqe", "basicsr-niqe"), ("srapp-lpips", None))


def measure(scorer: str, side: int) -> dict:
    return json.loads(run_python(CHILD, scorer, str(side)).strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--side", type=int, default=4000, help="side of the square pair in pixels (default 4000)")
    args = parser.parse_args(argv)
    megapixels = args.side**2 / 1e6
    print(f"scoring a {args.side} x {args.side} pair ({megapixels:.1f} MP): memory added by the call, peak of the process")
    for ours, theirs in PAIRS:
        mine = measure(ours, args.side)
        line = f"{ours:18s} +{mine['added'] / MIB:7.0f} MiB (peak {mine['peak'] / MIB:6.0f} MiB)"
        if theirs is not None:
            other = measure(theirs, args.side)
            ratio = other["added"] / max(mine["added"], MIB)
            line += (f"   {theirs:18s} +{other['added'] / MIB:7.0f} MiB (peak {other['peak'] / MIB:6.0f} MiB)"
                     f"   BasicSR adds {ratio:.1f}x")
        print(line, flush=True)


if __name__ == "__main__":
    main()
