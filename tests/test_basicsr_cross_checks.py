"""srapp's MATLAB-compatible bicubic and its PSNR / SSIM against BasicSR's own implementations of the
same conventions, on generated images (no data needed): two independent codes of one protocol."""

from __future__ import annotations

import numpy as np
import pytest

import srapp._compat  # noqa: F401  (before basicsr)
from srapp.engine.resize import imresize
from srapp.metrics import psnr, ssim
from synthetic import natural_image

from basicsr.metrics import calculate_psnr, calculate_ssim  # noqa: E402
from basicsr.utils.matlab_functions import imresize as basicsr_imresize  # noqa: E402


@pytest.mark.parametrize("scale", [1 / 4, 1 / 3, 1 / 2, 2, 3, 4, 0.6])
@pytest.mark.parametrize("shape", [(48, 60), (37, 53)])
def test_imresize_matches_basicsrs_matlab_imresize(scale, shape):
    image = natural_image(*shape, seed=3).astype(np.float64) / 255
    ours = imresize(image, scale=scale)
    theirs = basicsr_imresize(image, scale, antialiasing=True)
    assert ours.shape == theirs.shape
    # BasicSR computes in float32 (torch), srapp in float64: agreement to float32 rounding
    np.testing.assert_allclose(ours, theirs, atol=1e-5)  # a 400th of one 8-bit level


@pytest.mark.parametrize("crop", [0, 4])
def test_psnr_and_ssim_on_y_match_basicsr(crop):
    reference = natural_image(64, 72, seed=1)
    rng = np.random.default_rng(2)
    distorted = np.clip(reference.astype(int) + rng.integers(-12, 13, reference.shape), 0, 255).astype(np.uint8)
    # BasicSR takes BGR, HWC, 0..255
    theirs_psnr = calculate_psnr(distorted[..., ::-1], reference[..., ::-1], crop, test_y_channel=True)
    theirs_ssim = calculate_ssim(distorted[..., ::-1], reference[..., ::-1], crop, test_y_channel=True)
    # BasicSR keeps Y unrounded; srapp rounds it as MATLAB does for uint8 images: float input here
    # (the same pixels on the 0..1 scale) skips the rounding on both sides
    assert psnr(distorted / 255, reference / 255, crop, y_channel=True) == pytest.approx(theirs_psnr, abs=1e-6)
    assert ssim(distorted / 255, reference / 255, crop, y_channel=True) == pytest.approx(theirs_ssim, abs=1e-6)
