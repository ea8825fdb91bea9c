"""GET /api/tensors: the tensors explainer's numbers are the app's real data, each tensor with a
name per dimension, sent as bytes."""

from __future__ import annotations

import base64

import httpx
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ml_core.image_datasets import LoadOptions, load
from ml_core.images import load_sample
from ml_core.kernels import preset_kernel


@pytest.fixture(scope="module")
def payload(live_server) -> dict:
    response = httpx.get(f"{live_server}/api/tensors", timeout=120)
    assert response.status_code == 200
    return response.json()


def array(wire: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(wire["data"]), wire["dtype"]).reshape(wire["shape"])


def example(payload: dict, key: str) -> dict:
    return next(e for e in payload["examples"] if e["key"] == key)


def test_one_example_per_rank_each_dimension_named(payload):
    examples = payload["examples"]
    assert [len(e["tensor"]["shape"]) for e in examples] == [1, 2, 3, 4, 5, 6]
    for e in examples:
        assert len(e["tensor"]["dims"]) == len(e["tensor"]["shape"])
        assert e["tensor"]["numel"] == int(np.prod(e["tensor"]["shape"]))
        assert array(e["tensor"]).nbytes == e["tensor"]["nbytes"]
    assert example(payload, "photos")["tensor"]["dims"] == ["batch", "channels", "height", "width"]
    assert example(payload, "stereo")["tensor"]["dims"][1] == "camera"


def test_the_vector_is_a_row_of_the_trained_weight_matrix(payload):
    vector = array(example(payload, "weights")["tensor"])
    matrix = array(example(payload, "matrix")["tensor"])
    np.testing.assert_array_equal(vector, matrix[0])
    assert matrix.shape == (8, 7)  # 8 neurons, the 7 input features
    bound = 1 / np.sqrt(7)
    assert np.abs(matrix).max() > bound  # trained: beyond the initial U(-1/√7, 1/√7)


def test_the_pictures_are_the_apps_digit_and_scikit_images_photos(payload):
    digits = load("digits", LoadOptions(upscale=2))
    digit = array(example(payload, "digit")["tensor"])
    np.testing.assert_array_equal(digit, digits.images[0].transpose(2, 0, 1))
    photos = array(example(payload, "photos")["tensor"])
    assert photos.shape == (4, 3, 64, 64)
    assert photos.dtype == np.uint8
    coffee = load_sample("coffee").astype(float)  # the second photo: its colours on average
    np.testing.assert_allclose(photos[1].mean(axis=(1, 2)), coffee.mean(axis=(0, 1)), atol=25)
    stereo = array(example(payload, "stereo")["tensor"])
    assert not np.array_equal(stereo[:, 0], stereo[:, 1])  # two cameras, two views
    clips = array(example(payload, "clips")["tensor"])
    assert not np.array_equal(clips[:, 0], clips[:, -1])  # the camera moves


def test_the_feature_map_is_the_digit_through_two_edge_detectors(payload):
    digit = torch.from_numpy(array(example(payload, "digit")["tensor"]).copy())[None].float() / 255
    kernels = torch.stack([torch.from_numpy(preset_kernel(k)) for k in payload["flatten"]["kernels"]])
    expected = F.max_pool2d(F.relu(F.conv2d(digit, kernels[:, None], padding=1)), 4)[0]
    feature_map = array(payload["flatten"]["map"])
    np.testing.assert_allclose(feature_map, expected.numpy(), atol=1e-6)
    np.testing.assert_array_equal(array(payload["flatten"]["flat"]), feature_map.reshape(-1))


def test_dtypes_and_the_measured_copy(payload):
    sizes = {row["dtype"]: row["bytes"] for row in payload["dtypes"]}
    assert sizes == {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2, "int64": 8,
                     "uint8": 1, "bool": 1}
    assert payload["device"]["name"] == "cpu"
    (copy,) = payload["device"]["copies"]  # no GPU here: only a copy within the CPU's memory
    assert (copy["from"], copy["to"]) == ("cpu", "cpu")
    assert copy["seconds"] > 0
    assert array(payload["reshape"]).tolist() == load_digits_row()


def load_digits_row() -> list[float]:
    from sklearn.datasets import load_digits

    return load_digits().data[0].tolist()
