"""The degradations do what their definitions say (Real-ESRGAN's model, srapp.degradations).

Each step is checked against an independent reference: kernels against their formulas written
out here, the sinc kernel against its frequency response, noise against its statistics, JPEG
against OpenCV's and BasicSR's own round trips, blur and resizing between the NumPy/OpenCV and
torch executors (and BasicSR's ``filter2D``). Plans, LR images and the evaluation levels are
checked for determinism per seed; the sampler for the published frequencies.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from scipy import special

from srapp.degradations import (
    LEVELS, REAL_ESRGAN, Clean, Degradation, DegradationConfig, Final, Kernel, Noise, Resize, Stage, StageConfig,
    apply_numpy, apply_torch, degrade,
)
from srapp.degradations import numpy_executor, torch_executor
from srapp.degradations.distribution import KERNEL_SIZES
from srapp.degradations.kernels import SHAPES
from srapp.engine.resize import imresize

from synthetic import natural_image

KERNEL_CASES = [
    Kernel("iso", 21, 2.0, 2.0),
    Kernel("aniso", 21, 2.5, 1.0, rotation=0.6),
    Kernel("generalized_iso", 15, 1.5, 1.5, beta=3.0),
    Kernel("generalized_aniso", 17, 2.0, 0.8, rotation=-1.1, beta=0.6),
    Kernel("plateau_iso", 13, 1.2, 1.2, beta=1.7),
    Kernel("plateau_aniso", 19, 0.9, 2.2, rotation=2.5, beta=1.3),
    Kernel("sinc", 11, cutoff=math.pi / 2),
]


def rgb(height: int = 96, width: int = 128, seed: int = 1) -> np.ndarray:
    return natural_image(height, width, seed).astype(np.float32) / np.float32(255.0)


def as_batch(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1)[None].contiguous()


def as_image(batch: torch.Tensor) -> np.ndarray:
    return batch[0].permute(1, 2, 0).numpy()


def reference_kernel(kernel: Kernel) -> np.ndarray:
    """The kernel from its formula, written out independently of BasicSR."""
    radius = kernel.size // 2
    y, x = np.mgrid[-radius : radius + 1, -radius : radius + 1].astype(np.float64)
    if kernel.shape == "sinc":
        r = np.hypot(x, y)
        with np.errstate(invalid="ignore", divide="ignore"):
            values = kernel.cutoff * special.j1(kernel.cutoff * r) / (2 * np.pi * r)
        values[radius, radius] = kernel.cutoff**2 / (4 * np.pi)
        return values / values.sum()
    c, s = math.cos(kernel.rotation), math.sin(kernel.rotation)
    u, v = c * x + s * y, -s * x + c * y  # offsets along the kernel's own axes
    quadratic = (u / kernel.sigma_x) ** 2 + (v / kernel.sigma_y) ** 2  # p^T Sigma^-1 p
    if kernel.shape in ("iso", "aniso"):
        values = np.exp(-0.5 * quadratic)
    elif kernel.shape.startswith("generalized"):
        values = np.exp(-0.5 * quadratic**kernel.beta)
    else:
        values = 1.0 / (1.0 + quadratic**kernel.beta)
    return values / values.sum()


# ----------------------------------------------------------------------------------- kernels


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("size", KERNEL_SIZES)
def test_kernels_sum_to_one_with_their_size(shape: str, size: int) -> None:
    kernel = Kernel(shape, size, 1.4, 0.9, rotation=0.3, beta=1.5, cutoff=2.0).array()
    assert kernel.shape == (size, size) and kernel.dtype == np.float32
    assert kernel.sum(dtype=np.float64) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("kernel", KERNEL_CASES, ids=lambda kernel: kernel.shape)
def test_kernels_follow_their_formulas(kernel: Kernel) -> None:
    np.testing.assert_allclose(kernel.array(), reference_kernel(kernel), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("kernel", [k for k in KERNEL_CASES if not k.shape.endswith("aniso")], ids=lambda k: k.shape)
def test_isotropic_kernels_are_symmetric(kernel: Kernel) -> None:
    array = kernel.array()
    for mirrored in (array.T, array[::-1], array[:, ::-1], np.rot90(array)):
        np.testing.assert_allclose(mirrored, array, rtol=1e-6, atol=1e-9)


def test_anisotropic_gaussian_has_the_rotated_covariance() -> None:
    theta, sigma_x, sigma_y = math.pi / 6, 2.0, 1.0
    array = Kernel("aniso", 21, sigma_x, sigma_y, rotation=theta).array().astype(np.float64)
    y, x = np.mgrid[-10:11, -10:11]
    moments = np.array([[np.sum(array * x * x), np.sum(array * x * y)], [np.sum(array * x * y), np.sum(array * y * y)]])
    rotation = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    expected = rotation @ np.diag([sigma_x**2, sigma_y**2]) @ rotation.T
    np.testing.assert_allclose(moments, expected, atol=2e-3)


def sinc_response(kernel: np.ndarray, frequency: float, angle: float) -> float:
    """The kernel's (real, even) frequency response at radial ``frequency`` in direction ``angle``."""
    radius = kernel.shape[0] // 2
    y, x = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    phase = frequency * (math.cos(angle) * x + math.sin(angle) * y)
    return float(np.sum(kernel.astype(np.float64) * np.cos(phase)))


def test_sinc_kernel_cuts_off_at_its_frequency() -> None:
    cutoff = math.pi / 2
    kernel = Kernel("sinc", 21, cutoff=cutoff).array()
    for angle in np.linspace(0, math.pi / 2, 5):
        assert sinc_response(kernel, 0.0, angle) == pytest.approx(1.0, abs=1e-6)
        for fraction in (0.3, 0.5, 0.7):  # pass band: the truncated window ripples by about 10 %
            assert 0.8 < sinc_response(kernel, fraction * cutoff, angle) < 1.15
        assert 0.3 < sinc_response(kernel, cutoff, angle) < 0.6  # the response falls through half at omega_c
        for frequency in np.linspace(1.3 * cutoff, math.pi, 6):  # stop band
            assert abs(sinc_response(kernel, frequency, angle)) < 0.06


@pytest.mark.parametrize("size, cutoff", [(7, math.pi / 3), (11, 2.8), (13, math.pi / 5), (21, math.pi / 5), (21, 2.0)])
def test_sinc_kernels_of_the_published_ranges_pass_below_and_stop_above(size: int, cutoff: float) -> None:
    """The corners of the published (size, cutoff) ranges: short windows blur the edge of the band
    (a 7-tap window holds about one period at pi / 3) but the response still halves near omega_c."""
    kernel = Kernel("sinc", size, cutoff=cutoff).array()
    for angle in (0.0, math.pi / 4):
        assert sinc_response(kernel, 0.5 * cutoff, angle) > 0.75
        assert 0.25 < sinc_response(kernel, cutoff, angle) < 0.7
        if 1.5 * cutoff <= math.pi:
            assert abs(sinc_response(kernel, 1.5 * cutoff, angle)) < 0.15


# ----------------------------------------------------------------------------------- noise


def run_gaussian(executor: str, image: np.ndarray, sigma: float, gray: bool, seed: int) -> np.ndarray:
    if executor == "numpy":
        return numpy_executor.add_gaussian_noise(image, sigma, gray, np.random.default_rng(seed))
    generator = torch.Generator().manual_seed(seed)
    return as_image(torch_executor.add_gaussian_noise(as_batch(image), sigma, gray, generator))


def run_poisson(executor: str, image: np.ndarray, scale: float, gray: bool, seed: int) -> np.ndarray:
    if executor == "numpy":
        return numpy_executor.add_poisson_noise(image, scale, gray, np.random.default_rng(seed))
    generator = torch.Generator().manual_seed(seed)
    return as_image(torch_executor.add_poisson_noise(as_batch(image), scale, gray, generator))


@pytest.mark.parametrize("executor", ["numpy", "torch"])
@pytest.mark.parametrize("gray", [False, True])
@pytest.mark.parametrize("sigma", [3.0, 10.0, 25.0])
def test_gaussian_noise_has_the_stated_deviation(executor: str, gray: bool, sigma: float) -> None:
    image = np.full((128, 128, 3), 0.5, np.float32)  # mid-gray: +-6 sigma stays inside [0, 1]
    noise = run_gaussian(executor, image, sigma, gray, seed=7).astype(np.float64) - 0.5
    samples = noise[..., 0].size if gray else noise.size
    assert noise.std() == pytest.approx(sigma / 255, rel=0.03)
    assert abs(noise.mean()) < 4 * sigma / 255 / math.sqrt(samples)
    if gray:
        assert np.array_equal(noise[..., 0], noise[..., 1]) and np.array_equal(noise[..., 0], noise[..., 2])
    else:  # independent channels
        assert abs(np.corrcoef(noise[..., 0].ravel(), noise[..., 1].ravel())[0, 1]) < 0.03


def poisson_test_image() -> tuple[np.ndarray, dict[float, np.ndarray]]:
    """Every 8-bit level once (so the noise has 256 count steps) and two flat gray regions."""
    image = np.zeros((128, 128, 3), np.float32)
    image[:2] = (np.arange(256, dtype=np.float32).reshape(2, 128) / 255)[..., None]
    regions = {}
    for level, columns in ((64, slice(0, 64)), (128, slice(64, 128))):
        image[2:, columns] = level / 255
        mask = np.zeros(image.shape[:2], bool)
        mask[2:, columns] = True
        regions[level / 255] = mask
    return image, regions


@pytest.mark.parametrize("executor", ["numpy", "torch"])
@pytest.mark.parametrize("gray", [False, True])
def test_poisson_noise_variance_scales_with_level_and_strength(executor: str, gray: bool) -> None:
    image, regions = poisson_test_image()
    for scale in (0.5, 1.0, 2.0):
        noise = run_poisson(executor, image, scale, gray, seed=3).astype(np.float64) - image
        for level, mask in regions.items():
            if scale * math.sqrt(level / 256) * 5 > level:
                continue  # clipping at 0 would bias the variance
            values = noise[mask]
            # P(v x) / v - x with v = 256 steps: mean 0, variance x / v, times scale^2
            assert values.var() == pytest.approx(scale**2 * level / 256, rel=0.06)
            assert abs(values.mean()) < 4 * math.sqrt(scale**2 * level / 256 / values.size)
        if gray:
            assert np.array_equal(noise[..., 0], noise[..., 1]) and np.array_equal(noise[..., 0], noise[..., 2])


# ----------------------------------------------------------------------------------- JPEG


@pytest.mark.parametrize("quality", [30, 60, 95])
def test_jpeg_is_opencv_at_that_quality(quality: int) -> None:
    from basicsr.data.degradations import add_jpg_compression

    image = rgb()
    pixels = cv2.cvtColor(numpy_executor.to_uint8(image), cv2.COLOR_RGB2BGR)
    _, encoded = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, quality])
    expected = cv2.cvtColor(cv2.imdecode(encoded, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB).astype(np.float32) / 255
    result = numpy_executor.jpeg(image, quality)
    assert np.array_equal(result, expected)
    basicsr_bgr = add_jpg_compression(np.ascontiguousarray(image[..., ::-1]), quality)  # BasicSR works in BGR
    assert np.array_equal(result, basicsr_bgr[..., ::-1])


@pytest.mark.parametrize("size", [(96, 128), (37, 53)])
def test_torch_jpeg_loses_about_as_much_as_opencv(size: tuple[int, int]) -> None:
    image = rgb(*size)
    errors = []
    for quality in (30, 60, 95):
        opencv = np.abs(numpy_executor.jpeg(image, quality) - image).mean()
        diffjpeg = np.abs(as_image(torch_executor.jpeg(as_batch(image), quality)) - image).mean()
        assert diffjpeg == pytest.approx(opencv, rel=0.12)
        errors.append(diffjpeg)
    assert errors[0] > errors[1] > errors[2]


# ----------------------------------------------------------------------------------- blur and resize


def naive_correlation(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    radius = kernel.shape[0] // 2
    padded = np.pad(image.astype(np.float64), ((radius, radius), (radius, radius), (0, 0)), mode="reflect")
    out = np.zeros(image.shape)
    for dy in range(kernel.shape[0]):
        for dx in range(kernel.shape[1]):
            out += kernel[dy, dx] * padded[dy : dy + image.shape[0], dx : dx + image.shape[1]]
    return out


@pytest.mark.parametrize("kernel", KERNEL_CASES, ids=lambda kernel: kernel.shape)
@pytest.mark.parametrize("size", [(40, 50), (7, 9)])  # (7, 9): borders wider than the image
def test_blur_is_the_same_correlation_in_both_executors(kernel: Kernel, size: tuple[int, int]) -> None:
    image = np.random.default_rng(0).random((*size, 3), dtype=np.float32)
    taps = kernel.array()
    on_cpu = numpy_executor.blur(image, taps)
    batched = as_image(torch_executor.blur(as_batch(image), taps))
    np.testing.assert_allclose(on_cpu, batched, atol=2e-6)
    if min(size) > kernel.size // 2:  # numpy's and BasicSR's reflection need the border inside the image
        np.testing.assert_allclose(on_cpu, naive_correlation(image, taps), atol=2e-6)
        from basicsr.utils.img_process_util import filter2D

        basicsr = filter2D(as_batch(image), torch.from_numpy(taps)[None])
        np.testing.assert_allclose(batched, as_image(basicsr), atol=2e-6)


@pytest.mark.parametrize("mode", ["area", "bilinear", "bicubic"])
@pytest.mark.parametrize("size", [(20, 27), (9, 12), (37, 53), (74, 106), (55, 79)])
def test_resize_is_the_same_in_both_executors(mode: str, size: tuple[int, int]) -> None:
    image = np.random.default_rng(1).random((37, 53, 3), dtype=np.float32)
    on_cpu = numpy_executor.resize(image, size, mode)
    batched = as_image(torch_executor.resize(as_batch(image), size, mode))
    assert on_cpu.shape == (*size, 3)
    np.testing.assert_allclose(on_cpu, batched, atol=1e-5)


def test_area_reduction_by_an_integer_factor_averages_blocks() -> None:
    image = np.random.default_rng(2).random((36, 48, 3), dtype=np.float32)
    blocks = image.reshape(12, 3, 16, 3, 3).mean(axis=(1, 3))
    np.testing.assert_allclose(as_image(torch_executor.resize(as_batch(image), (12, 16), "area")), blocks, atol=1e-6)
    np.testing.assert_allclose(numpy_executor.resize(image, (12, 16), "area"), blocks, atol=1e-6)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_clean_plans_are_matlab_bicubic_in_both_executors(scale: int) -> None:
    hr = natural_image(96, 72, seed=2)
    image = hr.astype(np.float32) / 255
    on_cpu = apply_numpy(image, Clean(), scale)
    batched = as_image(apply_torch(as_batch(image), [Clean()], scale))
    matlab = imresize(hr, 1 / scale).astype(np.float32) / 255  # uint8 in, MATLAB's rounding
    assert on_cpu.shape == batched.shape == matlab.shape == (96 // scale, 72 // scale, 3)
    # float32 against float64 arithmetic may move a value across a rounding boundary, rarely
    for result in (on_cpu, batched):
        assert np.abs(result - matlab).max() <= 1 / 255 + 1e-7
        assert np.mean(result != matlab) < 0.01


# ----------------------------------------------------------------------------------- whole plans


def noiseless(plan: Degradation) -> Degradation:
    def quiet(stage: Stage) -> Stage:
        return dataclasses.replace(stage, noise=Noise("gaussian", 0.0, False))

    return dataclasses.replace(plan, first=quiet(plan.first), second=quiet(plan.second))


def test_executors_compose_the_same_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    """With noise off and JPEG (the one step the executors implement differently) skipped, every
    sampled plan gives the same LR image on both paths: same kernels, sizes, modes and order."""
    monkeypatch.setattr(numpy_executor, "_STEPS", dataclasses.replace(numpy_executor._STEPS, jpeg=lambda image, quality: image))
    monkeypatch.setattr(torch_executor, "jpeg", lambda images, quality: images)
    image = rgb(64, 96)
    rng = np.random.default_rng(11)
    plans = [noiseless(plan) for plan in (REAL_ESRGAN.sample(rng) for _ in range(40)) if isinstance(plan, Degradation)]
    orders = {plan.final.jpeg_first for plan in plans}
    assert orders == {False, True}
    batched = apply_torch(as_batch(image).expand(len(plans), -1, -1, -1), plans, 4)
    for plan, lr in zip(plans, batched):
        on_cpu = apply_numpy(image, plan, 4)
        differing = np.abs(on_cpu - lr.permute(1, 2, 0).numpy())
        assert differing.max() <= 1 / 255 + 1e-7, plan  # a rounding boundary at most
        assert np.mean(differing > 0) < 0.01, plan


def test_executors_agree_closely_with_jpeg() -> None:
    image = rgb(64, 96)
    plan = Degradation(
        first=Stage(Kernel("aniso", 15, 1.5, 0.7, rotation=0.4), Resize(0.6, "bicubic"), Noise("gaussian", 0.0, False)),
        first_jpeg_quality=80,
        second=Stage(Kernel("iso", 9, 0.8, 0.8), Resize(1.1, "area"), Noise("gaussian", 0.0, True)),
        final=Final("bilinear", Kernel("sinc", 11, cutoff=2.5), jpeg_quality=70, jpeg_first=False),
        noise_seed=5,
    )
    on_cpu = apply_numpy(image, plan, 4)
    batched = as_image(apply_torch(as_batch(image), [plan], 4))
    assert np.abs(on_cpu - batched).mean() < 8 / 255


def test_a_batch_is_its_images_degraded_one_by_one() -> None:
    images = torch.stack([as_batch(rgb(48, 64, seed))[0] for seed in (1, 2, 3)])
    rng = np.random.default_rng(4)
    plans = [REAL_ESRGAN.sample(rng) for _ in range(3)]
    together = apply_torch(images, plans, 4)
    alone = torch.cat([apply_torch(images[i : i + 1], [plans[i]], 4) for i in range(3)])
    assert together.shape == (3, 3, 12, 16)
    assert torch.equal(together, alone)


def test_plans_are_determined_by_the_seed() -> None:
    first = [REAL_ESRGAN.sample(np.random.default_rng(seed)) for seed in range(20)]
    again = [REAL_ESRGAN.sample(np.random.default_rng(seed)) for seed in range(20)]
    assert first == again
    assert len({repr(plan) for plan in first}) == 20


def test_lr_images_are_determined_by_the_plan() -> None:
    image = rgb(64, 64)
    plans = [REAL_ESRGAN.sample(np.random.default_rng(seed)) for seed in (0, 1)]
    assert all(isinstance(plan, Degradation) for plan in plans)
    once, twice = (apply_numpy(image, plans[0], 4) for _ in range(2))
    assert once.tobytes() == twice.tobytes()
    assert once.tobytes() != apply_numpy(image, plans[1], 4).tobytes()
    batched_once, batched_twice = (apply_torch(as_batch(image), plans[:1], 4) for _ in range(2))
    assert torch.equal(batched_once, batched_twice)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_output_shapes_and_grid(scale: int) -> None:
    image = rgb(96, 72)
    config = dataclasses.replace(REAL_ESRGAN, clean_fraction=0.2)
    rng = np.random.default_rng(scale)
    plans = [config.sample(rng) for _ in range(6)]
    batched = apply_torch(as_batch(image).expand(len(plans), -1, -1, -1), plans, scale)
    assert batched.shape == (len(plans), 3, 96 // scale, 72 // scale)
    for lr in [apply_numpy(image, plan, scale) for plan in plans] + [lr.permute(1, 2, 0).numpy() for lr in batched]:
        assert lr.shape == (96 // scale, 72 // scale, 3) and lr.dtype == np.float32
        assert lr.min() >= 0 and lr.max() <= 1
        np.testing.assert_allclose(lr * 255, np.round(lr * 255), atol=1e-4)  # on the 8-bit grid


def test_the_scale_must_divide_the_hr_size() -> None:
    with pytest.raises(ValueError, match="mod-crop"):
        apply_numpy(rgb(50, 64), REAL_ESRGAN.sample(np.random.default_rng(0)), 4)
    with pytest.raises(ValueError, match="mod-crop"):
        degrade(natural_image(64, 66, 0), 4)


# ----------------------------------------------------------------------------------- the distribution


def test_clean_fraction_is_honoured() -> None:
    draws = 4000
    for fraction in (0.0, 0.25, 1.0):
        rng = np.random.default_rng(5)
        config = dataclasses.replace(REAL_ESRGAN, clean_fraction=fraction)
        clean = sum(isinstance(config.sample(rng), Clean) for _ in range(draws)) / draws
        assert clean == pytest.approx(fraction, abs=4 * math.sqrt(fraction * (1 - fraction) / draws) + 1e-12)


def test_sampler_draws_the_published_frequencies() -> None:
    draws = 3000
    rng = np.random.default_rng(6)
    plans = [REAL_ESRGAN.sample(rng) for _ in range(draws)]

    def share(predicate) -> float:
        return sum(map(predicate, plans)) / draws

    def near(p: float) -> dict:
        return {"abs": 4 * math.sqrt(p * (1 - p) / draws)}

    assert share(lambda p: p.first.blur is not None) == 1.0
    assert share(lambda p: p.second.blur is not None) == pytest.approx(0.8, **near(0.8))
    assert share(lambda p: p.first.blur.shape == "sinc") == pytest.approx(0.1, **near(0.1))
    assert share(lambda p: p.first.blur.shape == "iso") == pytest.approx(0.9 * 0.45, **near(0.9 * 0.45))
    assert share(lambda p: p.final.sinc is not None) == pytest.approx(0.8, **near(0.8))
    assert share(lambda p: p.final.jpeg_first) == pytest.approx(0.5, **near(0.5))
    assert share(lambda p: p.first.resize.factor < 1) == pytest.approx(0.7, **near(0.7))
    assert share(lambda p: p.second.resize.factor == 1) == pytest.approx(0.3, **near(0.3))
    assert share(lambda p: p.first.noise.kind == "gaussian") == pytest.approx(0.5, **near(0.5))
    assert share(lambda p: p.second.noise.gray) == pytest.approx(0.4, **near(0.4))
    for plan in plans:
        kernels = [k for k in (plan.first.blur, plan.second.blur, plan.final.sinc) if k is not None]
        assert all(k.size in KERNEL_SIZES for k in kernels)
        assert 0.15 <= plan.first.resize.factor <= 1.5 and 0.3 <= plan.second.resize.factor <= 1.2
        assert 1 <= plan.first.noise.strength <= 30 or plan.first.noise.kind == "poisson"
        assert 0.05 <= plan.second.noise.strength <= 2.5 or plan.second.noise.kind == "gaussian"
        blur = plan.first.blur
        if blur.shape == "sinc":
            assert math.pi / (3 if blur.size < 13 else 5) <= blur.cutoff <= math.pi
        else:
            assert 0.2 <= blur.sigma_x <= 3 and 0.2 <= blur.sigma_y <= 3
    qualities = [q for plan in plans for q in (plan.first_jpeg_quality, plan.final.jpeg_quality)]
    assert min(qualities) == 30 and max(qualities) == 95


@pytest.mark.parametrize(
    "change",
    [
        {"kernel_probs": (0.5, 0.5, 0.0, 0.0, 0.0, 0.1)},
        {"kernel_sizes": (7, 8)},
        {"resize_range": (1.1, 1.5)},
        {"jpeg_range": (30, 100)},
        {"gray_noise_prob": 1.5},
        {"kernel_shapes": ("iso", "disc"), "kernel_probs": (0.5, 0.5)},
    ],
)
def test_impossible_stage_configs_are_refused(change: dict) -> None:
    with pytest.raises(ValueError):
        StageConfig(**change)


def test_published_defaults() -> None:
    assert REAL_ESRGAN == DegradationConfig()
    assert REAL_ESRGAN.first.blur_sigma == (0.2, 3.0) and REAL_ESRGAN.second.blur_sigma == (0.2, 1.5)
    assert REAL_ESRGAN.second.blur_prob == 0.8 and REAL_ESRGAN.final_sinc_prob == 0.8
    assert REAL_ESRGAN.clean_fraction == 0.0 and REAL_ESRGAN.sharpen_target


# ----------------------------------------------------------------------------------- evaluation levels


def digest(image: np.ndarray) -> str:
    return hashlib.sha256(image.tobytes()).hexdigest()


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_levels_are_byte_stable_per_seed(scale: int) -> None:
    hr = natural_image(96, 72, seed=3)
    outputs = {}
    for level in LEVELS:
        lr = degrade(hr, scale, level, seed=9)
        assert lr.shape == (96 // scale, 72 // scale, 3) and lr.dtype == np.uint8
        assert digest(lr) == digest(degrade(hr, scale, level, seed=9))
        assert digest(lr) != digest(degrade(hr, scale, level, seed=10))
        outputs[level] = lr
    assert len({digest(lr) for lr in outputs.values()}) == len(LEVELS)


def test_levels_get_worse_from_light_to_heavy() -> None:
    hr = natural_image(128, 128, seed=4)
    clean = imresize(hr, 0.25).astype(np.float64)
    errors = {
        level: np.mean([np.abs(degrade(hr, 4, level, seed) - clean).mean() for seed in range(8)]) for level in LEVELS
    }
    assert errors["light"] < errors["medium"] < errors["heavy"]


def test_levels_are_narrower_than_training() -> None:
    for config in LEVELS.values():
        for stage, published in ((config.first, REAL_ESRGAN.first), (config.second, REAL_ESRGAN.second)):
            if stage.blur_prob > 0:
                assert published.blur_sigma[0] <= stage.blur_sigma[0] <= stage.blur_sigma[1] <= published.blur_sigma[1]
            assert published.jpeg_range[0] <= stage.jpeg_range[0] and stage.jpeg_range[1] <= published.jpeg_range[1]
            assert stage.noise_range[1] <= published.noise_range[1]
            if stage.resize_probs[2] < 1:  # the stage resizes at all
                low, high = stage.resize_range
                assert published.resize_range[0] <= low <= high <= published.resize_range[1]
        assert config.clean_fraction == 0 and not config.sharpen_target


def test_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="light"):
        degrade(natural_image(64, 64, 0), 4, level="extreme")


def test_import_srapp_does_not_import_basicsr() -> None:
    import srapp

    code = "import srapp, sys; assert 'basicsr' not in sys.modules, 'basicsr imported'; print(srapp.__file__)"
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == srapp.__file__  # this tree's srapp, not an installed one
