"""Convolution and pooling against direct nested-loop sums, and the course's worked example."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from ml_core.convolution import (
    CLASSIC_IMAGE,
    CLASSIC_KERNEL,
    COLORS,
    POOL_MODES,
    POOL_SOURCES,
    ConvolutionConfig,
    Geometry,
    check_fits,
    conv2d,
    conv2d_per_channel,
    conv_window,
    output_size,
    pool2d,
    pool_window,
)
from ml_core.convolution_invariance import relative_change, shifted_pair, translation_demo
from ml_core.images import SAMPLE_IMAGES
from ml_core.kernels import PRESETS, is_signed, preset_kernel, presets_at, to_display


def loop_conv(image: np.ndarray, kernels: np.ndarray, stride: int, padding: int, dilation: int):
    """(C, H, W) x (K, C, k, k) the slow, obvious way: zero-pad, then a sum per output cell."""
    c, h, w = image.shape
    n_out, _, k, _ = kernels.shape
    padded = np.zeros((c, h + 2 * padding, w + 2 * padding))
    padded[:, padding : padding + h, padding : padding + w] = image
    span = dilation * (k - 1) + 1
    out_h = (padded.shape[1] - span) // stride + 1
    out_w = (padded.shape[2] - span) // stride + 1
    out = np.zeros((n_out, out_h, out_w))
    for o, y, x in itertools.product(range(n_out), range(out_h), range(out_w)):
        total = 0.0
        for ch, i, j in itertools.product(range(c), range(k), range(k)):
            total += (
                padded[ch, y * stride + i * dilation, x * stride + j * dilation]
                * kernels[o, ch, i, j]
            )
        out[o, y, x] = total
    return out


def loop_pool(image: np.ndarray, mode: str, size: int, stride: int):
    c, h, w = image.shape
    out_h, out_w = (h - size) // stride + 1, (w - size) // stride + 1
    reduce = {"max": np.max, "min": np.min, "avg": np.mean}[mode]
    out = np.zeros((c, out_h, out_w))
    for ch, y, x in itertools.product(range(c), range(out_h), range(out_w)):
        out[ch, y, x] = reduce(
            image[ch, y * stride : y * stride + size, x * stride : x * stride + size]
        )
    return out


GEOMETRIES = [(s, p, d) for s in (1, 2, 3) for p in (0, 1, 2) for d in (1, 2)]


def test_classic_example_first_output_is_4_and_full_output_matches():
    out = conv2d(CLASSIC_IMAGE[None], CLASSIC_KERNEL[None, None])
    assert out.shape == (1, 3, 3)
    assert out[0, 0, 0] == 4
    expected = loop_conv(CLASSIC_IMAGE[None], CLASSIC_KERNEL[None, None], 1, 0, 1)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(out[0], [[4, 3, 4], [2, 4, 3], [2, 3, 4]])


@pytest.mark.parametrize(("stride", "padding", "dilation"), GEOMETRIES)
def test_conv_matches_nested_loops(stride, padding, dilation):
    rng = np.random.default_rng(stride * 100 + padding * 10 + dilation)
    image = rng.normal(size=(3, 7, 8)).astype(np.float32)
    for k in (1, 2, 3):
        kernels = rng.normal(size=(2, 3, k, k)).astype(np.float32)
        geometry = Geometry(stride, padding, dilation)
        got = conv2d(image, kernels, geometry)
        want = loop_conv(image, kernels, stride, padding, dilation)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
        per_channel = conv2d_per_channel(image, kernels, geometry)
        assert per_channel.shape == (2, 3, *want.shape[1:])
        np.testing.assert_allclose(per_channel.sum(axis=1), want, rtol=1e-5, atol=1e-5)
        # each channel's contribution is that channel convolved on its own
        red_only = loop_conv(image[:1], kernels[:, :1], stride, padding, dilation)
        np.testing.assert_allclose(per_channel[:, 0], red_only, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("stride", "padding", "dilation"), GEOMETRIES)
def test_every_window_sums_to_its_output_cell(stride, padding, dilation):
    geometry = Geometry(stride, padding, dilation)
    out = conv2d(CLASSIC_IMAGE[None], CLASSIC_KERNEL[None, None], geometry)[0]
    for index in range(out.size):
        window = conv_window(CLASSIC_IMAGE, CLASSIC_KERNEL, geometry, index)
        assert (window.row, window.col) == divmod(index, out.shape[1])
        np.testing.assert_array_equal(window.products, window.values * CLASSIC_KERNEL)
        assert window.total == pytest.approx(out[window.row, window.col])
        assert window.rows[1] - window.rows[0] == dilation


def test_first_window_of_the_classic_example():
    window = conv_window(CLASSIC_IMAGE, CLASSIC_KERNEL, Geometry(), 0)
    np.testing.assert_array_equal(window.values, CLASSIC_IMAGE[:3, :3])
    np.testing.assert_array_equal(window.products, [[1, 0, 1], [0, 1, 0], [0, 0, 1]])
    assert window.total == 4
    last = conv_window(CLASSIC_IMAGE, CLASSIC_KERNEL, Geometry(), 8)
    assert (last.rows, last.cols, last.total) == ([2, 3, 4], [2, 3, 4], 4.0)
    with pytest.raises(ValueError, match="9 cells"):
        conv_window(CLASSIC_IMAGE, CLASSIC_KERNEL, Geometry(), 9)


def test_padding_window_reads_zeros_outside_the_image():
    window = conv_window(CLASSIC_IMAGE, CLASSIC_KERNEL, Geometry(padding=1), 0)
    assert window.values[0].tolist() == [0, 0, 0]
    assert window.values[:, 0].tolist() == [0, 0, 0]
    assert window.total == 2  # centre 1 + bottom-right 1


@pytest.mark.parametrize("n", [1, 4, 5, 9, 16])
@pytest.mark.parametrize("k", [1, 2, 3, 5, 7])
def test_output_size_formula_matches_torch(n, k):
    for stride, padding, dilation in GEOMETRIES:
        size = output_size(n, k, stride, padding, dilation)
        x = torch.zeros(1, 1, n, n)
        conv = torch.nn.Conv2d(1, 1, k, stride=stride, padding=padding, dilation=dilation)
        if dilation * (k - 1) + 1 > n + 2 * padding:
            assert size == 0
            with pytest.raises(ValueError, match="padded input"):
                check_fits(n, n, k, Geometry(stride, padding, dilation))
            with pytest.raises(RuntimeError):
                conv(x)
        else:
            assert conv(x).shape[-2:] == (size, size)
            assert check_fits(n, n, k, Geometry(stride, padding, dilation)) == (size, size)


@pytest.mark.parametrize("mode", ["max", "avg", "min"])
@pytest.mark.parametrize(("size", "stride"), [(1, 1), (2, 1), (2, 2), (3, 2), (3, 3), (4, 1)])
def test_pooling_matches_nested_loops(mode, size, stride):
    rng = np.random.default_rng(size * 10 + stride)
    image = rng.normal(size=(2, 9, 7)).astype(np.float32)
    values, indices = pool2d(image, mode, size, stride)
    np.testing.assert_allclose(values, loop_pool(image, mode, size, stride), atol=1e-6)
    if mode == "avg":
        assert indices is None
    else:  # the index points at the value picked
        picked = np.take_along_axis(image.reshape(2, -1), indices.reshape(2, -1), axis=1)
        np.testing.assert_array_equal(picked.reshape(values.shape), values)
    for index in range(values.shape[1] * values.shape[2]):
        window = pool_window(image[0], mode, size, stride, index)
        assert window.result == pytest.approx(values[0, window.row, window.col])
        if mode != "avg":
            assert window.values[window.chosen] == window.result


def test_pooling_refuses_a_window_larger_than_the_input():
    with pytest.raises(ValueError, match="does not fit"):
        pool2d(CLASSIC_IMAGE[None], "max", 6, 1)
    with pytest.raises(ValueError, match="unknown pooling"):
        pool2d(CLASSIC_IMAGE[None], "median", 2, 2)


def test_pool_window_marks_the_chosen_cell():
    window = pool_window(CLASSIC_IMAGE, "min", 2, 2, 0)
    assert window.values.tolist() == [[1, 1], [0, 1]]
    assert window.chosen == (1, 0)
    assert window.result == 0
    window = pool_window(CLASSIC_IMAGE, "avg", 2, 2, 0)
    assert window.chosen is None
    assert window.result == 0.75


def test_presets_do_what_their_names_say():
    rng = np.random.default_rng(0)
    image = rng.random((1, 12, 12)).astype(np.float32)
    for size in (1, 3, 5):
        same = conv2d(
            image, preset_kernel("identity", size)[None, None], Geometry(padding=size // 2)
        )
        np.testing.assert_allclose(same, image, atol=1e-6)
    for name in ("box_blur", "gaussian_blur"):
        kernel = preset_kernel(name, 5)
        assert kernel.sum() == pytest.approx(1.0)
        assert (kernel >= 0).all()
        blurred = conv2d(image, kernel[None, None])
        assert blurred.std() < image.std()  # smoothing lowers the spread of pixel values
    ramp = np.tile(np.arange(8, dtype=np.float32), (8, 1))[None]  # brighter to the right
    assert (conv2d(ramp, preset_kernel("sobel_x")[None, None]) > 0).all()
    np.testing.assert_array_equal(conv2d(ramp, preset_kernel("sobel_y")[None, None]), 0)
    np.testing.assert_array_equal(conv2d(ramp, preset_kernel("laplacian")[None, None]), 0)
    big = preset_kernel("sobel_x", 5)
    np.testing.assert_array_equal(big[1:4, 1:4], preset_kernel("sobel_x"))
    assert np.abs(big).sum() == np.abs(preset_kernel("sobel_x")).sum()
    assert set(PRESETS) >= {"identity", "sharpen", "prewitt_x", "emboss"}
    with pytest.raises(ValueError, match="3x3"):
        preset_kernel("sobel_x", 2)
    with pytest.raises(ValueError, match="unknown kernel"):
        preset_kernel("blurry", 3)


def test_edge_detectors_draw_signed_and_blurs_draw_grey():
    assert is_signed(preset_kernel("sobel_x"))
    assert is_signed(preset_kernel("laplacian"))
    assert not is_signed(preset_kernel("box_blur"))
    assert not is_signed(preset_kernel("sharpen"))
    assert is_signed(-preset_kernel("identity"))
    pixels, meta = to_display(np.array([[-2.0, 0.0, 2.0]]), signed=True)
    assert meta["map"] == "diverging"
    assert pixels[0, 0] < 10
    assert abs(int(pixels[0, 1]) - 128) <= 1
    assert pixels[0, 2] > 245
    pixels, meta = to_display(np.array([[0.0, 0.5, 1.0, -1.0]]), signed=False)
    assert meta == {"map": "gray", "scale": 1.0}
    assert pixels.tolist() == [[0, 128, 255, 0]]
    # a sharpened image keeps its brightness: the kernel's sum (1) is white, overshoot clips
    pixels, meta = to_display(np.array([[0.5, 1.0, 1.4]]), signed=False, high=1.0)
    assert pixels.tolist() == [[128, 255, 255]]
    assert meta["scale"] == 1.0
    pixels, _ = to_display(np.zeros((2, 2)), signed=True)  # no division by zero
    assert (pixels == 128).all()


def test_shifted_pair_is_the_same_content_moved():
    image = np.arange(100, dtype=np.float32).reshape(1, 10, 10)
    before, after = shifted_pair(image, 2, 1)
    assert before.shape == after.shape == (1, 8, 6)
    # the pixel at (r, c) of `after` is the one at (r - dy, c - dx) of `before`'s source
    np.testing.assert_array_equal(after[:, 1:, 2:], before[:, :-1, :-2])
    with pytest.raises(ValueError, match="too large"):
        shifted_pair(image, 5, 0)


def test_max_pooling_hides_a_shift_inside_its_window_but_conv_does_not():
    image = np.zeros((1, 16, 16), dtype=np.float32)
    image[0, 5, 5] = 1.0  # one bright dot; pooling windows of 4 cover rows/cols 4..7
    demo = translation_demo(
        image, preset_kernel("identity")[None], Geometry(padding=1), "max", 4, 4, dx=1, dy=0
    )
    assert demo.conv_change == pytest.approx(2.0)  # the dot left one cell and lit another
    assert demo.pooled_change == 0.0
    still = translation_demo(image, preset_kernel("box_blur")[None], Geometry(), "avg", 2, 2, 0, 0)
    assert still.conv_change == still.pooled_change == still.input_change == 0.0
    assert relative_change(np.zeros(3), np.zeros(3)) == 0.0


def test_the_config_offers_exactly_the_cores_names():
    schema = ConvolutionConfig.model_json_schema()
    properties = schema["properties"]
    pooling = schema["$defs"]["Pooling"]["properties"]
    assert pooling["mode"]["enum"] == list(POOL_MODES)
    assert pooling["source"]["enum"] == list(POOL_SOURCES)
    assert properties["color"]["enum"] == list(COLORS)
    assert properties["sample"]["enum"] == [*SAMPLE_IMAGES, "upload"]
    assert properties["kernels"]["items"]["enum"] == [*PRESETS, "custom"]
    with pytest.raises(ValidationError, match="kernels"):
        ConvolutionConfig(kernels=["sobel_z"])


def test_the_geometry_and_the_kernels_are_built_from_the_config():
    config = ConvolutionConfig(stride=2, padding=1, dilation=3, kernel=np.ones((5, 5)).tolist(),
                               kernels=["custom", "gaussian_blur"])
    assert config.geometry == Geometry(stride=2, padding=1, dilation=3)
    bank = config.kernel_bank()  # (K, C, k, k): two output channels on one input channel
    assert bank.shape == (2, 1, 5, 5)
    np.testing.assert_array_equal(bank[0, 0], np.ones((5, 5)))
    np.testing.assert_array_equal(bank[1, 0], preset_kernel("gaussian_blur", 5))
    rgb = ConvolutionConfig(color="rgb", rgb_kernels=["identity", "sharpen", "emboss"])
    bank = rgb.kernel_bank()  # one output channel, one slice per input channel
    assert bank.shape == (1, 3, 3, 3)
    np.testing.assert_array_equal(bank[0, 2], preset_kernel("emboss"))
    with pytest.raises(ValueError, match="size of 3 or more"):
        ConvolutionConfig(kernel=[[1.0]], kernels=["sobel_x"]).kernel_bank()


def test_settings_limits_come_through_the_validation_context():
    class Limits:
        max_grid, max_kernel_size, max_stride, max_padding, max_dilation = 8, 5, 2, 2, 2
        max_pool, max_kernels, max_shift = 4, 3, 4

    context = {"limits": Limits()}
    ConvolutionConfig.model_validate({"stride": 2}, context=context)
    with pytest.raises(ValidationError, match="stride is 3; the most is 2"):
        ConvolutionConfig.model_validate({"stride": 3}, context=context)
    with pytest.raises(ValidationError, match="number of kernels is 4"):
        ConvolutionConfig.model_validate({"kernels": ["identity"] * 4}, context=context)
    assert ConvolutionConfig(stride=3).stride == 3  # no context: only the core's own bounds


def test_presets_at_a_size_are_those_that_exist_there():
    assert set(presets_at(1)) == {"identity", "box_blur", "gaussian_blur"}
    at_five = presets_at(5)
    assert set(at_five) == set(PRESETS)
    np.testing.assert_array_equal(at_five["sobel_x"], preset_kernel("sobel_x", 5))



def test_stacked_3x3_kernels_see_5x5_then_7x7():
    """The page: "two 3×3 layers in a row already see a 5×5 patch, three see 7×7"."""
    image = np.zeros((1, 15, 15), dtype=np.float32)
    image[0, 7, 7] = 1.0  # one pixel: what it reaches is the receptive field
    ones = np.ones((1, 1, 3, 3), dtype=np.float32)
    reached = image
    for layers, side in ((1, 3), (2, 5), (3, 7)):
        reached = conv2d(reached, ones, Geometry(padding=1))
        rows, cols = np.nonzero(reached[0])
        assert (rows.max() - rows.min() + 1, cols.max() - cols.min() + 1) == (side, side), layers
