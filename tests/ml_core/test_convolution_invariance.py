"""The shift and rotation demos against an independent computation (scipy's bilinear sampling,
scipy's correlation, pooling by nested loops), and what the convolution page claims about them."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage, signal

from ml_core.convolution import ConvolutionConfig, Geometry, conv2d
from ml_core.convolution_invariance import (
    relative_change,
    rotate,
    rotated_pair,
    rotation_demo,
    translation_demo,
)
from ml_core.images import load_sample, to_array
from ml_core.kernels import preset_kernel


def reference_rotate(image: np.ndarray, degrees: float) -> np.ndarray:
    """(C, H, W) turned anticlockwise as seen on screen: each output pixel reads the input,
    bilinearly (scipy.ndimage.map_coordinates, order 1), where the inverse turn takes it."""
    _, height, width = image.shape
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float64)
    cy, cx = (height - 1) / 2, (width - 1) / 2
    x, y = cols - cx, rows - cy  # right and down from the centre
    t = math.radians(degrees)
    src_x = x * math.cos(t) - y * math.sin(t)
    src_y = x * math.sin(t) + y * math.cos(t)
    return np.stack([
        ndimage.map_coordinates(channel.astype(np.float64), [src_y + cy, src_x + cx], order=1,
                                mode="grid-constant", cval=0.0)  # zeros from outside, mixed in
        for channel in image
    ])


def reference_pool(fmap: np.ndarray, mode: str, size: int, stride: int) -> np.ndarray:
    """(H, W) pooled by nested loops."""
    pick = {"max": np.max, "avg": np.mean, "min": np.min}[mode]
    rows = (fmap.shape[0] - size) // stride + 1
    cols = (fmap.shape[1] - size) // stride + 1
    out = np.empty((rows, cols))
    for i in range(rows):
        for j in range(cols):
            out[i, j] = pick(fmap[i * stride : i * stride + size, j * stride : j * stride + size])
    return out


def reference_changes(before, after, kernel, mode, size, stride):
    """Relative change of the input, of the (valid) correlation, and of the pooled maps."""
    def conv(view):
        return sum(signal.correlate2d(view[c], kernel[c], mode="valid") for c in range(len(view)))

    def change(a, b):
        return np.abs(b - a).mean() / np.abs(a).mean()

    conv_a, conv_b = conv(before), conv(after)
    pool_a = reference_pool(conv_a, mode, size, stride)
    pool_b = reference_pool(conv_b, mode, size, stride)
    return change(before, after), change(conv_a, conv_b), change(pool_a, pool_b)


def picture(side: int = 96) -> np.ndarray:
    """The camera man, grey, (1, side, side) in [0, 1]."""
    pixels = to_array(Image.fromarray(load_sample("camera")), max_side=side, grey=True)
    return pixels[None].astype(np.float32) / 255


def test_rotation_is_the_independent_bilinear_turn():
    image = picture()
    for degrees in (7, -33, 90, 180):
        np.testing.assert_allclose(rotate(image, degrees), reference_rotate(image, degrees),
                                   atol=2e-5)


def test_a_quarter_turn_is_anticlockwise_and_exact():
    image = np.arange(36, dtype=np.float32).reshape(1, 6, 6)
    np.testing.assert_allclose(rotate(image, 90), np.rot90(image, k=1, axes=(1, 2)), atol=1e-4)
    np.testing.assert_allclose(rotate(image, 0), image, atol=1e-5)


def test_both_rotated_views_are_real_picture_content():
    image = picture()
    for degrees in (5, 45, 137):
        before, after = rotated_pair(image, degrees)
        assert before.shape == after.shape == (1, 65, 65)  # ⌊96/√2⌋ − 2
        # every pixel of the turned crop comes from inside the picture: the zero padding
        # never enters (a made-up black corner would show as zeros of a turned white picture)
        white = np.ones_like(image)
        _, turned_white = rotated_pair(white, degrees)
        assert turned_white.min() == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize(("degrees", "mode", "size"), [(3, "max", 4), (20, "avg", 2), (-60, "min", 8)])
def test_rotation_demo_matches_an_independent_computation(degrees, mode, size):
    image = picture()
    kernel = preset_kernel("sobel_x")[None]  # (C, k, k)
    demo = rotation_demo(image, kernel, Geometry(), mode, size, size, degrees)
    before = image[:, 15:80, 15:80]  # the central 65 x 65 square
    after = reference_rotate(image, degrees)[:, 15:80, 15:80]
    expected = reference_changes(before, after, kernel, mode, size, size)
    assert demo.input_change == pytest.approx(expected[0], rel=1e-4)
    assert demo.conv_change == pytest.approx(expected[1], rel=1e-4)
    assert demo.pooled_change == pytest.approx(expected[2], rel=1e-4)


def test_translation_demo_matches_an_independent_computation():
    image = picture()
    kernel = preset_kernel("laplacian")[None]
    demo = translation_demo(image, kernel, Geometry(), "max", 4, 4, dx=2, dy=-1)
    before = image[:, 1:95, 2:94]
    after = image[:, 2:96, 0:92]  # the picture moved right 2 and up 1
    expected = reference_changes(before, after, kernel, "max", 4, 4)
    assert demo.conv_change == pytest.approx(expected[1], rel=1e-4)
    assert demo.pooled_change == pytest.approx(expected[2], rel=1e-4)
    np.testing.assert_allclose(demo.conv[0], conv2d(before, kernel[None])[0], rtol=1e-5)


# ---- what the page says ----------------------------------------------------------------------
def page_picture() -> tuple[np.ndarray, np.ndarray]:
    """The page's default picture (the camera man at display size 256) and first kernel."""
    config = ConvolutionConfig()
    image = to_array(Image.fromarray(load_sample(config.sample)), max_side=256, grey=True)
    return image[None].astype(np.float32) / 255, config.kernel_bank()[0]


def test_a_one_pixel_shift_changes_the_pooled_map_less_with_4x4_windows_under_a_third():
    """"shift the picture by a pixel and the pooled map changes less than the conv output —
    with 4×4 windows less than a third as much." """
    image, kernel = page_picture()
    for size in (2, 4, 8):
        demo = translation_demo(image, kernel, Geometry(), "max", size, size, dx=1, dy=0)
        assert demo.pooled_change < demo.conv_change, size
        if size == 4:
            assert demo.pooled_change < demo.conv_change / 3


def test_pooling_absorbs_a_small_turn_partly_a_large_one_less_a_shift_best():
    """"Large windows take more than half of the change out of a turn of a few degrees, much
    less out of a large turn; 2×2 windows take little out of either. A one-pixel shift they
    absorb far better." """
    image, kernel = page_picture()
    shift = translation_demo(image, kernel, Geometry(), "max", 8, 8, dx=1, dy=0)
    small = rotation_demo(image, kernel, Geometry(), "max", 8, 8, 3)
    large = rotation_demo(image, kernel, Geometry(), "max", 8, 8, 45)
    assert small.pooled_change < small.conv_change / 2  # a small turn: partly absorbed
    assert large.pooled_change > 0.5 * large.conv_change  # a large one: less than half
    assert shift.pooled_change / shift.conv_change < small.pooled_change / small.conv_change
    # 2×2 windows: most of the change stays, small turn or large
    for degrees in (3, 45):
        two = rotation_demo(image, kernel, Geometry(), "max", 2, 2, degrees)
        assert two.pooled_change > 0.75 * two.conv_change, degrees


def test_relative_change_of_nothing_is_zero():
    assert relative_change(np.zeros(3), np.zeros(3)) == 0.0
    assert math.isinf(relative_change(np.zeros(3), np.ones(3)))
