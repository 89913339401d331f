"""Strip-wise imresize against the whole-image NumPy reference: bit for bit, in every layout and mode."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from numpy_reference import imresize_reference
from torch import nn

from srapp.engine.resize import _AxisPlan, contributions, imresize
from srapp.engine.upscale import Upscaler

LAYOUTS = {"gray": (), "single": (1,), "rgb": (3,), "rgba": (4,), "two": (2,)}
SIZES = [(37, 29), (1, 23), (23, 1), (2, 3)]
SPECS = [
    {"scale": 4}, {"scale": 3}, {"scale": 2.5}, {"scale": 2}, {"scale": 1.0}, {"scale": 0.5}, {"scale": 1 / 3},
    {"scale": 0.25}, {"scale": 0.3}, {"scale": 0.5, "antialias": False},
    {"output_shape": (61, 13)},  # rows shrink less than columns: columns first
    {"output_shape": (7, 90)},  # rows first
    {"output_shape": (80, 71)}, {"output_shape": (1, 1)},
]


def random_image(shape: tuple[int, ...], dtype, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if np.issubdtype(dtype, np.integer):
        return rng.integers(0, np.iinfo(dtype).max, shape, dtype=dtype, endpoint=True)
    return (rng.random(shape) * 1.4 - 0.2).astype(dtype)  # beyond [0, 1]: floats are not clipped


def assert_bit_identical(result: np.ndarray, expected: np.ndarray, context: str = "") -> None:
    assert result.dtype == expected.dtype and result.shape == expected.shape, context
    same = result.view(np.uint8) == expected.view(np.uint8)
    if not same.all():
        differ = result != expected
        worst = np.abs(result.astype(np.float64) - expected.astype(np.float64)).max()
        raise AssertionError(f"{context}: {int(differ.sum())} values differ (worst by {worst}; else the sign of zero)")


CASES = [(np.uint8, layout) for layout in LAYOUTS] + [
    (np.uint16, "gray"), (np.uint16, "rgb"), (np.float32, "single"), (np.float32, "rgba"), (np.float64, "gray"),
    (np.float64, "rgb"),
]


@pytest.mark.parametrize("dtype,layout", CASES, ids=[f"{np.dtype(d).name}-{layout}" for d, layout in CASES])
def test_strips_equal_the_whole_image_reference(dtype, layout):
    for size in SIZES:
        image = random_image(size + LAYOUTS[layout], dtype, seed=size[0])
        for spec in SPECS:
            expected = imresize_reference(image, **spec)
            for rows_per_strip in (None, 3):  # 3: strips out of step with every phase period here
                result = imresize(image, rows_per_strip=rows_per_strip, **spec)
                assert_bit_identical(result, expected, f"{image.shape} {spec} strips of {rows_per_strip}")


@pytest.mark.parametrize("shape,spec", [
    ((300, 283), {"scale": 1 / 40}),  # 160+ taps: NumPy's pairwise sum splits its blocks of 128
    ((300, 283, 1), {"scale": 0.1}),
    ((300, 1), {"scale": 1 / 40}),  # one column: the row pass is the innermost reduction too
    ((1, 300, 1), {"output_shape": (1, 9)}),
    ((1, 300, 3), {"output_shape": (2, 9)}),
    ((91, 97), {"output_shape": (13, 11)}),
])
@pytest.mark.parametrize("dtype", [np.uint8, np.float64], ids=lambda d: np.dtype(d).name)
def test_many_tap_shrinks_add_in_numpys_pairwise_order(shape, spec, dtype):
    image = random_image(shape, dtype, seed=3)
    expected = imresize_reference(image, **spec)
    for rows_per_strip in (None, 1, 2):
        assert_bit_identical(imresize(image, rows_per_strip=rows_per_strip, **spec), expected, f"{shape} {spec}")


def test_phased_and_gathered_axes_both_match():
    # exact periodic windows use strided slices; where rounding breaks them the taps are gathered
    assert _AxisPlan(100, 400, 4.0, True).phases == (4, 1)
    assert _AxisPlan(100, 50, 0.5, True).phases == (1, 2)
    assert _AxisPlan(160, 600, 600 / 160, True).phases == (15, 4)
    assert _AxisPlan(997, 1280, 1280 / 997, True).phases is None
    image = random_image((61, 53, 3), np.uint8, seed=4)
    specs = ({"scale": 4}, {"scale": 0.5}, {"output_shape": (61 * 15 // 4, 53 * 15 // 4)}, {"output_shape": (80, 71)})
    for spec in specs:
        expected = imresize_reference(image, **spec)
        for rows_per_strip in (1, 5):
            assert_bit_identical(imresize(image, rows_per_strip=rows_per_strip, **spec), expected, str(spec))


def test_many_strips_on_worker_threads_match():
    image = random_image((300, 131, 3), np.uint8, seed=5)
    expected = imresize_reference(image, scale=4)
    assert_bit_identical(imresize(image, scale=4), expected, "default strips")  # 4 strips
    assert_bit_identical(imresize(image, scale=4, rows_per_strip=7), expected, "strips of 7 rows")
    wide = random_image((40, 131, 3), np.uint16, seed=6)
    spec = {"output_shape": (161, 520)}  # columns first: each strip recomputes the rows its taps share
    assert_bit_identical(imresize(wide, rows_per_strip=4, **spec), imresize_reference(wide, **spec), "columns first")


def test_an_error_in_finish_on_a_worker_strip_reaches_the_caller():
    image = random_image((150, 131, 3), np.uint8, seed=10)
    calls = []

    def fails_on_the_third_strip(rows: np.ndarray) -> np.ndarray:
        calls.append(len(rows))
        if len(calls) == 3:
            raise ArithmeticError("third strip")
        return rows

    with pytest.raises(ArithmeticError, match="third strip"):
        imresize(image, scale=4, rows_per_strip=50, finish=fails_on_the_third_strip)  # 12 strips of 78600 values


def test_zero_results_of_float_images_are_positive_zero_like_the_reference():
    image = np.zeros((24, 20, 3))
    image[10:12, 8:10] = 1.0  # negative lobes times zeros give -0.0 products
    for spec in ({"scale": 3}, {"scale": 0.5}):
        result = imresize(image, **spec)
        assert_bit_identical(result, imresize_reference(image, **spec), str(spec))
        assert not np.signbit(result[result == 0]).any()


def test_contributions_are_the_mirrored_matlab_taps():
    indices, weights = contributions(5, 20, 4.0)
    assert indices.min() == 0 and indices.max() == 4
    assert indices[0].tolist() == [1, 0, 0, 1]  # positions -2, -1, 0, 1 mirror to 1, 0, 0, 1
    assert np.allclose(weights.sum(axis=1), 1.0)


def test_finish_receives_float_rows_and_sets_the_result_dtype():
    image = random_image((33, 17, 3), np.float32, seed=7)
    seen = []

    def to_uint16(rows: np.ndarray) -> np.ndarray:
        seen.append((rows.dtype, rows.shape[1:]))
        return np.round(np.clip(rows, 0.0, 1.0) * 65535).astype(np.uint16)

    result = imresize(image, output_shape=(70, 40), finish=to_uint16, rows_per_strip=8)
    assert set(seen) == {(np.dtype(np.float64), (40, 3))} and len(seen) == 9
    expected = np.round(np.clip(imresize_reference(image, output_shape=(70, 40)), 0.0, 1.0) * 65535).astype(np.uint16)
    assert_bit_identical(result, expected)
    gray = imresize(image[:, :, 0], scale=2, finish=lambda rows: rows.astype(np.float32))
    assert gray.shape == (66, 34) and gray.dtype == np.float32


def test_working_memory_is_a_few_strips_not_the_image():
    image = random_image((256, 192, 3), np.uint8, seed=8)
    tracemalloc.start()
    try:
        result = imresize(image, scale=4, rows_per_strip=8)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    whole_float64 = result.size * 8  # what resizing the whole image at once holds, at least
    assert peak - result.nbytes < whole_float64 / 8


def test_bad_arguments_are_refused():
    image = np.zeros((4, 5), dtype=np.uint8)
    refused = ({}, {"scale": 2, "output_shape": (8, 10)}, {"output_shape": (0, 3)}, {"scale": 2, "rows_per_strip": 0})
    for kwargs in refused:
        with pytest.raises(ValueError):
            imresize(image, **kwargs)
    with pytest.raises(ValueError):
        imresize(np.zeros((0, 5)), scale=2)
    with pytest.raises(ValueError):
        imresize(np.zeros((2, 2, 2, 2)), scale=2)


@pytest.mark.parametrize("layout", ["rgb", "gray", "rgba"])
def test_upscaler_outscale_and_alpha_match_the_whole_image_path(layout):
    image = random_image((19, 23) + LAYOUTS[layout], np.uint8, seed=9)
    upscaler = Upscaler(nn.Upsample(scale_factor=2, mode="nearest"), scale=2, tile=0, device="cpu", precision="fp32",
                        outscale=3.3)
    result = upscaler(image)
    shape = upscaler.output_shape(19, 23)
    planes = image if image.ndim == 3 else image[:, :, None]
    colour = np.repeat(planes, 3, axis=2) if planes.shape[2] == 1 else planes[:, :, :3]
    network = np.repeat(np.repeat(colour.astype(np.float32) / np.float32(255), 2, axis=0), 2, axis=1)
    resized = imresize_reference(network, output_shape=shape)
    if layout == "gray":
        resized = resized.mean(axis=2)
    expected = np.round(np.clip(resized, 0.0, 1.0) * 255).astype(np.uint8)
    if layout == "rgba":
        expected = np.dstack([expected, imresize_reference(image[:, :, 3], output_shape=shape)])
    assert_bit_identical(result, expected, layout)
