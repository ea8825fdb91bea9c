"""ml_core.image_datasets: built-in sets, IDX and CIFAR readers on files in the exact formats."""

from __future__ import annotations

import gzip
import os
import pickle
import struct

import numpy as np
import pytest

from ml_core.dataset_files import DatasetError, read_cifar_batch, read_idx
from ml_core.image_datasets import LoadOptions, availability, load, make_shapes, sklearn_digits


def write_idx(path, array: np.ndarray, code: int = 0x08, gz: bool = False) -> None:
    """IDX as LeCun documents it: 0, 0, type code, ndim, big-endian u32 dims, big-endian data."""
    big = array.astype(array.dtype.newbyteorder(">"))
    data = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data += big.tobytes()
    path.write_bytes(gzip.compress(data) if gz else data)


def write_mnist(folder, rng, n_train=30, n_test=10, gz=False) -> tuple[np.ndarray, np.ndarray]:
    folder.mkdir(parents=True)
    x = rng.integers(0, 256, (n_train + n_test, 28, 28), dtype=np.uint8)
    y = rng.integers(0, 10, n_train + n_test).astype(np.uint8)
    suffix = ".gz" if gz else ""
    write_idx(folder / f"train-images-idx3-ubyte{suffix}", x[:n_train], gz=gz)
    write_idx(folder / f"train-labels-idx1-ubyte{suffix}", y[:n_train], gz=gz)
    write_idx(folder / f"t10k-images-idx3-ubyte{suffix}", x[n_train:], gz=gz)
    write_idx(folder / f"t10k-labels-idx1-ubyte{suffix}", y[n_train:], gz=gz)
    return x, y


def cifar_batch(rng, n=12) -> tuple[bytes, np.ndarray, np.ndarray]:
    images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, n)]
    # The documented layout: each row holds the red plane, then green, then blue (row-major).
    rows = images.transpose(0, 3, 1, 2).reshape(n, 3072)
    batch = {
        b"batch_label": b"training batch 1 of 5",
        b"labels": labels,
        b"data": rows,
        b"filenames": [f"img_{i}.png".encode() for i in range(n)],
    }
    return pickle.dumps(batch, protocol=2), images, np.array(labels)


def test_the_digits_are_scikit_learns_read_without_importing_it():
    pixels, labels = sklearn_digits()
    from sklearn.datasets import load_digits as sk_digits  # the reference (tests may import it)

    reference = sk_digits()
    np.testing.assert_array_equal(pixels, reference.data)
    np.testing.assert_array_equal(labels, reference.target)


def test_digits_are_8x8_grey_with_ten_balanced_classes_and_upscale():
    small = load("digits", LoadOptions())
    assert small.images.shape == (1797, 8, 8, 1)
    assert small.images.dtype == np.uint8
    assert small.images.max() == 255
    assert sorted(set(small.labels)) == list(range(10))
    big = load("digits", LoadOptions(upscale=4))
    assert big.images.shape == (1797, 32, 32, 1)
    assert big.input_shape == (1, 32, 32)
    # Upscaling keeps the picture: block-averaging the big image gives back the small one.
    pooled = big.images[..., 0].reshape(1797, 8, 4, 8, 4).mean((2, 4))
    assert np.corrcoef(pooled.ravel(), small.images[..., 0].ravel().astype(float))[0, 1] > 0.95


def test_faces_are_100_faces_and_100_others():
    faces = load("faces", LoadOptions())
    assert faces.images.shape == (200, 25, 25, 1)
    assert faces.classes == ["face", "not face"]
    assert np.bincount(faces.labels).tolist() == [100, 100]


def test_shapes_are_balanced_reproducible_and_differ_by_seed():
    images, labels = make_shapes(400, seed=3)
    assert images.shape == (400, 32, 32, 3)
    assert np.bincount(labels).tolist() == [100] * 4
    again, _ = make_shapes(400, seed=3)
    other, _ = make_shapes(400, seed=4)
    assert np.array_equal(images, again)
    assert not np.array_equal(images, other)
    dataset = load("shapes", LoadOptions(samples=120))
    assert len(dataset.labels) == 120
    assert dataset.classes[0] == "circle"


def test_samples_subsamples_reproducibly():
    a = load("digits", LoadOptions(samples=300, seed=1))
    b = load("digits", LoadOptions(samples=300, seed=1))
    assert len(a.labels) == 300
    assert np.array_equal(a.images, b.images)
    assert len(load("digits", LoadOptions(samples=None, max_samples=500)).labels) == 500


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_reads_idx_files(tmp_path, gz):
    x, y = write_mnist(tmp_path / "mnist", np.random.default_rng(0), gz=gz)
    dataset = load("mnist", LoadOptions(data_dir=tmp_path))
    assert dataset.images.shape == (40, 28, 28, 1)
    assert np.array_equal(dataset.images[..., 0], x)
    assert np.array_equal(dataset.labels, y)


def test_fashion_mnist_uses_its_own_folder_and_classes(tmp_path):
    write_mnist(tmp_path / "fashion_mnist", np.random.default_rng(1))
    dataset = load("fashion_mnist", LoadOptions(data_dir=tmp_path))
    assert dataset.classes[9] == "Ankle boot"
    assert len(dataset.labels) == 40
    rows = {row["name"]: row["available"] for row in availability(tmp_path)}
    assert all(row["title"] for row in availability(tmp_path))
    assert rows == {
        "digits": True,
        "faces": True,
        "shapes": True,
        "mnist": False,
        "fashion_mnist": True,
        "cifar10": False,
    }


def test_read_idx_other_dtypes_and_bad_files(tmp_path):
    values = np.arange(-6, 6, dtype=np.int32).reshape(3, 4)
    write_idx(tmp_path / "a", values, code=0x0C)
    assert np.array_equal(read_idx((tmp_path / "a").read_bytes()), values)
    good = (tmp_path / "a").read_bytes()
    with pytest.raises(DatasetError, match="bad magic"):
        read_idx(b"\x01" + good[1:])
    with pytest.raises(DatasetError, match="expected 48"):
        read_idx(good[:-4])


def test_missing_files_say_where_to_put_them(tmp_path):
    with pytest.raises(DatasetError, match="IDX files"):
        load("mnist", LoadOptions(data_dir=tmp_path))
    with pytest.raises(DatasetError, match="cifar-10-batches-py"):
        load("cifar10", LoadOptions(data_dir=tmp_path))
    with pytest.raises(DatasetError, match="unknown dataset"):
        load("imagenet", LoadOptions())


def test_cifar_batch_is_read_in_its_documented_layout():
    data, images, labels = cifar_batch(np.random.default_rng(2))
    got_images, got_labels = read_cifar_batch(data)
    assert np.array_equal(got_images, images)
    assert np.array_equal(got_labels, labels)


def test_cifar10_reads_all_six_batches(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(3)
    expected = []
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data, images, _ = cifar_batch(rng, n=5)
        (folder / name).write_bytes(data)
        expected.append(images)
    dataset = load("cifar10", LoadOptions(data_dir=tmp_path))
    assert dataset.images.shape == (30, 32, 32, 3)
    assert dataset.classes[3] == "cat"
    assert np.array_equal(dataset.images, np.concatenate(expected))


class Exploit:
    """A pickle that runs a shell command when loaded by a plain unpickler."""

    def __init__(self, path) -> None:
        self.path = path

    def __reduce__(self):
        return os.system, (f"touch {self.path}",)


def test_a_malicious_pickle_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    data = pickle.dumps({b"data": Exploit(marker), b"labels": [1]}, protocol=2)
    with pytest.raises(DatasetError, match="refused to unpickle"):
        read_cifar_batch(data)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([1, 2, 3], "expected a dict"),
        ({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}, "uint8 array"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 11]}, "integers 0..9"),
        ({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, "uint8 array"),
    ],
)
def test_cifar_batches_with_the_wrong_structure_are_refused(payload, message):
    with pytest.raises(DatasetError, match=message):
        read_cifar_batch(pickle.dumps(payload, protocol=2))
    with pytest.raises(DatasetError, match="not a CIFAR-10 batch"):
        read_cifar_batch(b"garbage that is not a pickle")
