"""Dataset generators, the train/val split, drawn points and the input feature maps."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ml_core import datasets2d
from ml_core.features import FEATURES, canonical, feature_matrix

CLASSIFICATION = [n for n, spec in datasets2d.DATASETS.items() if spec.task == "classification"]
REGRESSION = [n for n, spec in datasets2d.DATASETS.items() if spec.task == "regression"]
CASES = [
    (name, classes)
    for name in CLASSIFICATION
    for spec in [datasets2d.DATASETS[name]]
    for classes in sorted({spec.min_classes, spec.max_classes, min(3, spec.max_classes)})
]


@pytest.mark.parametrize(("name", "classes"), CASES)
def test_every_dataset_has_the_shared_shape(name, classes):
    xy, labels = datasets2d.generate(name, 301, 0.3, classes, seed=4)
    assert xy.shape == (301, 2) and xy.dtype == np.float32
    assert labels.shape == (301,) and labels.dtype == np.int64
    assert np.abs(xy).max() <= 1.0
    counts = np.bincount(labels, minlength=classes)
    assert len(counts) == classes and counts.max() - counts.min() <= 1  # balanced


@pytest.mark.parametrize("name", REGRESSION)
def test_regression_datasets_give_a_value_a_point(name):
    xy, values = datasets2d.generate(name, 301, 0.0, 5, seed=4)  # classes are ignored
    assert xy.shape == (301, 2) and xy.dtype == np.float32
    assert values.shape == (301,) and values.dtype == np.float32
    assert np.abs(xy).max() <= 1.0
    assert np.abs(values).max() <= 1.0
    assert values.std() > 0.2  # not flat


def test_the_plane_is_x_plus_y_over_two_with_noise_on_the_value():
    xy, values = datasets2d.generate("plane", 400, 0.0, 2, seed=0)
    np.testing.assert_allclose(values, (xy[:, 0] + xy[:, 1]) / 2, atol=1e-6)
    noisy_xy, noisy = datasets2d.generate("plane", 400, 0.2, 2, seed=0)
    residual = noisy - (noisy_xy[:, 0] + noisy_xy[:, 1]) / 2
    assert residual.std() == pytest.approx(0.2 * datasets2d.NOISE_SCALE, rel=0.2)


def test_the_gaussians_rise_at_their_bumps_and_fall_at_the_others():
    xy, values = datasets2d.generate("gaussians", 4000, 0.0, 2, seed=0)
    for bx, by, sign in datasets2d.BUMPS:
        near = np.hypot(xy[:, 0] - bx, xy[:, 1] - by) < 0.05
        assert near.any()
        assert (np.sign(values[near]) == sign).all()
        assert np.abs(values[near]).min() > 0.8


@pytest.mark.parametrize("name", list(datasets2d.DATASETS))
def test_same_seed_same_points_other_seed_other_points(name):
    a = datasets2d.generate(name, 100, 0.1, 2, seed=7)
    b = datasets2d.generate(name, 100, 0.1, 2, seed=7)
    c = datasets2d.generate(name, 100, 0.1, 2, seed=8)
    assert np.array_equal(a[0], b[0])
    assert np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_circle_is_a_disc_inside_a_ring():
    xy, labels = datasets2d.generate("circle", 400, 0.0, 2, seed=0)
    r = np.linalg.norm(xy, axis=1)
    assert r[labels == 0].max() <= 0.5 + 1e-6
    assert r[labels == 1].min() >= 0.7 - 1e-6


def test_circle_with_k_classes_makes_k_rings_outwards():
    xy, labels = datasets2d.generate("circle", 600, 0.0, 4, seed=0)
    r = np.linalg.norm(xy, axis=1)
    for c in range(3):
        assert r[labels == c].max() < r[labels == c + 1].min()


def test_xor_labels_follow_the_sign_of_the_product():
    xy, labels = datasets2d.generate("xor", 400, 0.0, 2, seed=1)
    assert np.array_equal(labels, (xy[:, 0] * xy[:, 1] > 0).astype(np.int64))
    assert np.abs(xy).min() >= 0.05 - 1e-6  # an empty band around the axes


def test_noise_moves_points_off_the_clean_shape():
    clean, clean_labels = datasets2d.generate("circle", 500, 0.0, 2, seed=3)
    noisy, labels = datasets2d.generate("circle", 500, 0.5, 2, seed=3)
    r = np.linalg.norm(noisy, axis=1)
    assert r[labels == 0].max() > 0.6  # some inner points pushed into the gap
    assert np.linalg.norm(clean, axis=1)[clean_labels == 0].max() <= 0.5 + 1e-6


def test_spiral_arms_wind_around_the_centre():
    xy, labels = datasets2d.generate("spiral", 300, 0.0, 3, seed=0)
    # each arm: angle grows with radius at 1.75 turns per unit radius (mod 2 pi)
    for c in range(3):
        r = np.linalg.norm(xy[labels == c], axis=1)
        angle = np.arctan2(xy[labels == c, 1], xy[labels == c, 0])
        expected = 1.75 * 2 * math.pi * r + 2 * math.pi * c / 3
        diff = np.angle(np.exp(1j * (angle - expected)))
        assert np.abs(diff).max() < 1e-4


@pytest.mark.parametrize(
    ("name", "samples", "noise", "classes", "message"),
    [
        ("nope", 100, 0.1, 2, "unknown dataset"),
        ("xor", 100, 0.1, 3, "exactly 2 classes"),
        ("spiral", 100, 0.1, 9, "2 to 8 classes"),
        ("blobs", 3, 0.1, 4, "one point per class"),
        ("circle", 100, 1.5, 2, "noise"),
    ],
)
def test_bad_requests_say_what_is_wrong(name, samples, noise, classes, message):
    with pytest.raises(ValueError, match=message):
        datasets2d.generate(name, samples, noise, classes, seed=0)


def test_split_is_disjoint_complete_and_seeded():
    train, val, test = datasets2d.split(100, 0.3, seed=5, test_fraction=0.2)
    assert (len(train), len(val), len(test)) == (50, 30, 20)
    assert sorted(np.concatenate([train, val, test]).tolist()) == list(range(100))
    again = datasets2d.split(100, 0.3, seed=5, test_fraction=0.2)
    assert np.array_equal(train, again[0])
    assert np.array_equal(test, again[2])
    assert not np.array_equal(val, datasets2d.split(100, 0.3, seed=6, test_fraction=0.2)[1])


def test_a_test_share_taken_from_validation_leaves_the_training_points():
    two_way = datasets2d.split(500, 0.5, seed=0)
    three_way = datasets2d.split(500, 0.3, seed=0, test_fraction=0.2)
    assert np.array_equal(two_way[0], three_way[0])
    assert len(two_way[2]) == 0


def test_split_keeps_a_training_point_and_allows_no_held_out_points():
    train, val, test = datasets2d.split(1, 0.5, seed=0, test_fraction=0.4)
    assert (len(train), len(val), len(test)) == (1, 0, 0)
    train, val, test = datasets2d.split(3, 0.5, seed=0, test_fraction=0.4)
    assert (len(train), len(val), len(test)) == (1, 2, 0)  # the test part shrinks first
    train, val, test = datasets2d.split(10, 0.0, seed=0)
    assert (len(train), len(val), len(test)) == (10, 0, 0)
    with pytest.raises(ValueError, match="val_fraction"):
        datasets2d.split(10, 1.0, seed=0)
    with pytest.raises(ValueError, match="test_fraction"):
        datasets2d.split(10, 0.5, seed=0, test_fraction=0.5)


def test_drawn_points_are_checked():
    xy, labels = datasets2d.from_points([[0.5, -0.5, 1], [0, 0, 0]])
    assert xy.dtype == np.float32 and labels.tolist() == [1, 0]
    assert datasets2d.from_points([])[0].shape == (0, 2)
    with pytest.raises(ValueError, match="outside the plane"):
        datasets2d.from_points([[0, 0, 0], [1.5, 0, 1]])
    with pytest.raises(ValueError, match="labels are 0, 1, 2"):
        datasets2d.from_points([[0, 0, 0.5]])
    with pytest.raises(ValueError, match="labels are 0, 1, 2"):
        datasets2d.from_points([[0, 0, -1]])
    with pytest.raises(ValueError, match="triples"):
        datasets2d.from_points([[0, 0]])
    with pytest.raises(ValueError, match="triples"):
        datasets2d.from_points([[0, 0, 1], [0, 1]])
    with pytest.raises(ValueError, match="finite"):
        datasets2d.from_points([[float("nan"), 0, 0]])


def test_drawn_regression_points_carry_a_value():
    xy, values = datasets2d.from_points([[0.5, -0.5, 0.25], [0, 0, -7.5]], "regression")
    assert values.dtype == np.float32
    assert values.tolist() == [0.25, -7.5]
    assert datasets2d.from_points([], "regression")[1].dtype == np.float32
    with pytest.raises(ValueError, match="values lie in"):
        datasets2d.from_points([[0, 0, datasets2d.MAX_VALUE + 1]], "regression")


def test_feature_maps_match_their_formulas():
    xy = torch.rand(50, 2) * 2 - 1
    x1, x2 = xy[:, 0].numpy(), xy[:, 1].numpy()
    expected = {
        "x1": x1,
        "x2": x2,
        "x1sq": x1**2,
        "x2sq": x2**2,
        "x1x2": x1 * x2,
        "sin_x1": np.sin(np.pi * x1),
        "sin_x2": np.sin(np.pi * x2),
    }
    matrix = feature_matrix(xy, list(FEATURES)).numpy()
    for column, name in enumerate(FEATURES):
        np.testing.assert_allclose(matrix[:, column], expected[name], rtol=1e-5, atol=1e-6)


def test_feature_names_are_checked_and_ordered():
    assert canonical(["x1x2", "x1", "sin_x2"]) == ("x1", "x1x2", "sin_x2")
    with pytest.raises(ValueError, match="unknown feature 'x3'"):
        canonical(["x1", "x3"])
    with pytest.raises(ValueError, match="at least one"):
        canonical([])
