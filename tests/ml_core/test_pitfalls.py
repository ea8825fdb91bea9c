"""ml_core.pitfalls: imbalance, label noise, class weights and augmentation do what they say."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ml_core.pitfalls import (
    AugmentConfig,
    affine,
    augment,
    class_weights,
    color_jitter,
    flip_labels,
    imbalance,
)


def test_imbalance_shrinks_only_the_chosen_classes():
    labels = np.repeat(np.arange(4), 100)
    keep = imbalance(labels, [1, 3], 0.1, np.random.default_rng(0))
    assert np.bincount(labels[keep]).tolist() == [100, 10, 100, 10]
    assert np.array_equal(keep, np.unique(keep))  # indices, sorted, no repeats
    # A tiny fraction still keeps one image, so the class does not vanish.
    keep = imbalance(labels, [2], 0.001, np.random.default_rng(0))
    assert np.bincount(labels[keep]).tolist() == [100, 100, 1, 100]


def test_label_noise_flips_exactly_that_fraction_to_other_classes():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 5, 1000)
    noisy, flipped = flip_labels(labels, 0.3, 5, rng)
    assert flipped.sum() == 300
    assert np.all(noisy[flipped] != labels[flipped])
    assert np.all(noisy[~flipped] == labels[~flipped])
    assert set(noisy[flipped]) == set(range(5))
    # Targets are spread over the other classes, not always the "next" one.
    shifts = (noisy[flipped] - labels[flipped]) % 5
    assert np.bincount(shifts, minlength=5)[1:].min() > 40
    assert flip_labels(labels, 0.0, 5, rng)[1].sum() == 0


def test_class_weights_make_every_class_weigh_the_same():
    labels = np.array([0] * 90 + [1] * 10 + [3] * 50)
    weights = class_weights(labels, 4)
    totals = np.bincount(labels, minlength=4) * weights
    np.testing.assert_allclose(totals[[0, 1, 3]], len(labels) / 4)
    assert weights[2] == 0
    assert weights[1] > weights[3] > weights[0]


def test_shift_equals_a_zero_filled_roll():
    x = torch.rand(2, 3, 10, 10)
    out = affine(x, torch.zeros(2), torch.tensor([2, -3]), torch.tensor([1, 0]))
    expected = torch.zeros_like(x)
    expected[0, :, 1:, 2:] = x[0, :, :-1, :-2]  # right 2, down 1
    expected[1, :, :, :-3] = x[1, :, :, 3:]  # left 3
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)


def test_rotating_90_degrees_equals_rot90_counter_clockwise():
    x = torch.rand(1, 1, 9, 9)
    out = affine(x, torch.tensor([90.0]), torch.zeros(1), torch.zeros(1))
    torch.testing.assert_close(out, torch.rot90(x, 1, dims=(2, 3)), atol=1e-5, rtol=0)
    back = affine(out, torch.tensor([-90.0]), torch.zeros(1), torch.zeros(1))
    torch.testing.assert_close(back, x, atol=1e-5, rtol=0)


def test_flip_flips_about_half_the_images_exactly():
    x = torch.rand(400, 1, 6, 6)
    out = augment(x, AugmentConfig(flip=True), torch.Generator().manual_seed(0))
    flipped = (out == x.flip(-1)).flatten(1).all(1)
    unchanged = (out == x).flatten(1).all(1)
    assert torch.all(flipped ^ unchanged)  # each image is either flipped or untouched
    assert 160 < int(flipped.sum()) < 240
    always = augment(x, AugmentConfig(flip=True), flip_p=1.0)
    assert torch.equal(always, x.flip(-1))


def test_random_shifts_stay_within_the_limit():
    x = torch.zeros(200, 1, 11, 11)
    x[:, :, 5, 5] = 1.0  # one bright pixel in the centre
    out = augment(x, AugmentConfig(shift=2), torch.Generator().manual_seed(0))
    flat = out.flatten(1).argmax(1)
    dy, dx = flat // 11 - 5, flat % 11 - 5
    assert dx.abs().max() == 2
    assert dy.abs().max() == 2
    assert len(set(dx.tolist())) == 5
    assert torch.allclose(out.flatten(1).sum(1), torch.ones(200))  # moved, not blurred


def test_rotation_keeps_the_centre_and_varies():
    x = torch.zeros(50, 1, 15, 15)
    x[:, :, 7, 2:13] = 1.0  # a horizontal bar through the centre
    out = augment(x, AugmentConfig(rotate=45), torch.Generator().manual_seed(0))
    assert torch.allclose(out[:, 0, 7, 7], torch.ones(50), atol=1e-5)
    assert out.flatten(1).std(0).max() > 0.2  # different images got different angles


def test_color_jitter_identity_and_bounds():
    x = torch.rand(8, 3, 5, 5)
    ones = torch.ones(8)
    torch.testing.assert_close(color_jitter(x, ones, ones, ones), x)
    dark = color_jitter(x, ones * 0.5, ones, ones)
    torch.testing.assert_close(dark, x * 0.5)
    grey = color_jitter(x, ones, ones, ones * 0)
    assert torch.allclose(grey[:, 0], grey[:, 1])
    assert torch.allclose(grey[:, 1], grey[:, 2])
    out = augment(x, AugmentConfig(color_jitter=1.0), torch.Generator().manual_seed(0))
    assert out.min() >= 0
    assert out.max() <= 1
    assert not torch.allclose(out, x)


@pytest.mark.parametrize("config", [AugmentConfig(), AugmentConfig(shift=0, rotate=0)])
def test_no_augmentation_returns_the_batch_unchanged(config):
    x = torch.rand(4, 1, 8, 8)
    assert augment(x, config) is x
