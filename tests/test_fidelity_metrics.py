"""PSNR, SSIM and MATLAB bicubic against published numbers and independent implementations."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import cv2
import numpy as np
import pytest

from srapp.data import data_path
from srapp.engine.resize import cubic, imresize
from srapp.metrics import fidelity
from srapp.metrics.fidelity import psnr, rgb_to_y, ssim

CALIBRATION_PSNR = {"I03": 21.11, "I04": 20.99, "I06": 27.01, "I08": 23.30, "I19": 21.62}
# Bicubic baselines as published (RCAN paper, Table 3): Set5 PSNR / SSIM on Y, crop = scale.
PUBLISHED_SET5 = {2: (33.66, 0.9299), 3: (30.39, 0.8682), 4: (28.42, 0.8104)}


def read_rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert image is not None, path
    return image[..., ::-1].copy() if image.ndim == 3 else image


@pytest.mark.needs_data("calibration")
@pytest.mark.parametrize("name", sorted(CALIBRATION_PSNR))
def test_psnr_reproduces_calibration_values(name):
    ref = read_rgb(data_path("calibration") / "ref" / f"{name}.png")
    dist = read_rgb(data_path("calibration") / "dist" / f"{name}.png")
    assert abs(psnr(dist, ref) - CALIBRATION_PSNR[name]) <= 0.01


def test_psnr_formula_and_conventions():
    rng = np.random.default_rng(0)
    ref = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
    img = ref.copy()
    img[0, 0, 0] = np.uint8((int(ref[0, 0, 0]) + 10) % 256)
    mse = (int(img[0, 0, 0]) - int(ref[0, 0, 0])) ** 2 / ref.size
    assert psnr(img, ref) == pytest.approx(10 * np.log10(255**2 / mse), abs=1e-9)
    assert psnr(img, ref, crop_border=1) == float("inf")  # the only difference sits on the border
    assert psnr(ref, ref) == float("inf")
    assert psnr(img.astype(np.float64) / 255, ref.astype(np.float64) / 255) == pytest.approx(psnr(img, ref))
    with pytest.raises(ValueError, match=r"\(20, 24, 3\) vs \(20, 23, 3\)"):
        psnr(img, ref[:, :23])


def test_y_channel_follows_matlab_rgb2ycbcr():
    pixels = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0], [12, 200, 77]]], dtype=np.uint8)
    expected = np.round(16 + (65.481 * pixels[..., 0] + 128.553 * pixels[..., 1] + 24.966 * pixels[..., 2]) / 255)
    assert np.array_equal(rgb_to_y(pixels), expected)
    assert rgb_to_y(pixels)[0, 0] == 16 and rgb_to_y(pixels)[0, 1] == 235
    gray = np.array([[7, 200]], dtype=np.uint8)
    assert np.array_equal(rgb_to_y(gray), [[7.0, 200.0]])  # a single-channel image is its own Y


def test_ssim_matches_scikit_image_gaussian_ssim():
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(1)
    ref = rng.integers(0, 256, (40, 37), dtype=np.uint8)
    noisy = np.clip(ref + rng.normal(0, 20, ref.shape), 0, 255).astype(np.uint8)
    expected = structural_similarity(
        noisy.astype(np.float64), ref.astype(np.float64), gaussian_weights=True, sigma=1.5,
        use_sample_covariance=False, data_range=255,
    )
    assert ssim(noisy, ref) == pytest.approx(expected, abs=1e-6)
    assert ssim(ref, ref) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="11x11"):
        ssim(ref[:10, :10], ref[:10, :10])


def _whole_image(image: np.ndarray, crop_border: int, y_channel: bool) -> np.ndarray:
    """The whole image at once, as the metrics were computed before strips: 0..255 floats, HWC, cropped."""
    scaled = rgb_to_y(image) if y_channel else image.astype(np.float64) / np.iinfo(image.dtype).max * 255
    scaled = scaled if scaled.ndim == 3 else scaled[..., None]
    return scaled[crop_border : scaled.shape[0] - crop_border, crop_border : scaled.shape[1] - crop_border]


def _noisy_pair(shape: tuple[int, ...], dtype: type, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    top = np.iinfo(dtype).max
    ref = rng.integers(0, top + 1, shape, dtype=dtype)
    noisy = np.clip(ref + rng.normal(0, top / 12, shape), 0, top).astype(dtype)
    return noisy, ref


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize(
    "shape, y_channel", [((37, 29, 3), True), ((37, 29, 3), False), ((31, 40), False), ((33, 27, 1), True)]
)
@pytest.mark.parametrize("strip_pixels", [1, 450, 1 << 19])  # one output row a strip, a few rows, whole
def test_strips_give_the_whole_image_values(monkeypatch, dtype, shape, y_channel, strip_pixels):
    from skimage.metrics import structural_similarity

    monkeypatch.setattr(fidelity, "STRIP_PIXELS", strip_pixels)
    noisy, ref = _noisy_pair(shape, dtype, seed=shape[0] + shape[1])
    for crop_border in (0, 3):
        a, b = _whole_image(noisy, crop_border, y_channel), _whole_image(ref, crop_border, y_channel)
        mse = np.mean((a - b) ** 2)
        assert psnr(noisy, ref, crop_border, y_channel) == pytest.approx(10 * np.log10(255**2 / mse), abs=1e-9)
        expected_ssim = structural_similarity(
            a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255, channel_axis=2
        )
        assert ssim(noisy, ref, crop_border, y_channel) == pytest.approx(expected_ssim, abs=1e-10)
        if strip_pixels == 1:
            assert len(list(fidelity._strips(a.shape[0], a.shape[1], halo=10))) == a.shape[0] - 10


def test_strip_memory_is_bounded_by_the_strip_not_the_image(monkeypatch):
    noisy, ref = _noisy_pair((600, 500, 3), np.uint8, seed=4)
    whole_float = noisy.size * 8  # one float64 copy of one image, a fraction of what a whole-image SSIM needs
    monkeypatch.setattr(fidelity, "STRIP_PIXELS", 12 * 500)
    tracemalloc.start()
    try:
        psnr(noisy, ref, 4, y_channel=False)
        ssim(noisy, ref, 4, y_channel=False)
        ssim(noisy, ref, 4, y_channel=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < whole_float / 4


def test_cubic_kernel_and_identity_resize():
    assert cubic(np.array([0.0]))[0] == 1 and cubic(np.array([1.0, 2.0, 2.5])).tolist() == [0, 0, 0]
    offsets = np.linspace(-2, 2, 401)  # partition of unity over integer shifts
    shifts = sum(cubic(offsets + k) for k in range(-3, 4))
    assert np.allclose(shifts, 1.0)
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, (9, 7, 3), dtype=np.uint8)
    assert np.array_equal(imresize(image, 1.0), image)
    flat = np.full((12, 10), 0.37)
    assert np.allclose(imresize(flat, 1 / 3), 0.37) and np.allclose(imresize(flat, 3), 0.37)


def test_imresize_shapes_and_dtypes():
    image = np.zeros((13, 10, 4), dtype=np.uint16)
    out = imresize(image, 2.5)
    assert out.shape == (33, 25, 4) and out.dtype == np.uint16
    assert imresize(image[..., 0], output_shape=(5, 4)).shape == (5, 4)
    with pytest.raises(ValueError):
        imresize(image)


def _bicubic_benchmark(dataset: str, scale: int) -> tuple[float, float]:
    folder = data_path(f"datasets/{dataset}")
    paths = sorted(folder.glob("*.png"))
    assert paths, f"no PNG images in {folder}"
    psnrs, ssims = [], []
    for path in paths:
        hr = read_rgb(path)
        hr = hr[: hr.shape[0] - hr.shape[0] % scale, : hr.shape[1] - hr.shape[1] % scale]
        sr = imresize(imresize(hr, 1 / scale), scale)
        psnrs.append(psnr(sr, hr, crop_border=scale, y_channel=True))
        ssims.append(ssim(sr, hr, crop_border=scale, y_channel=True))
    return float(np.mean(psnrs)), float(np.mean(ssims))


@pytest.mark.needs_data("datasets/Set5")
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bicubic_on_set5_reproduces_published_numbers(scale):
    mean_psnr, mean_ssim = _bicubic_benchmark("Set5", scale)
    published_psnr, published_ssim = PUBLISHED_SET5[scale]
    assert abs(mean_psnr - published_psnr) <= 0.02
    assert abs(mean_ssim - published_ssim) <= 0.001


@pytest.mark.needs_data("datasets/Set14")
def test_bicubic_on_set14_x4_with_its_grayscale_image():
    mean_psnr, _ = _bicubic_benchmark("Set14", 4)
    assert abs(mean_psnr - 26.00) <= 0.02
