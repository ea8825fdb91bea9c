"""The standard datasets' file formats, read safely, and an optional checked download.

- IDX (MNIST, Fashion-MNIST): a magic number, big-endian dimensions, raw data; every length is
  checked against the header.
- CIFAR-10's python batches are pickles: they are read with an unpickler that admits nothing but
  the documented structure (a dict of a numpy uint8 array and a list of labels), so a doctored
  file cannot run code.
- ``python -m ml_core.dataset_files download mnist [data_dir]`` fetches a dataset and checks
  each file's published MD5 before keeping it. The server never downloads anything.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path

import numpy as np


class DatasetError(ValueError):
    """A dataset that cannot be read (missing or malformed files); the message says what to do."""


# ---- IDX (MNIST, Fashion-MNIST) -------------------------------------------------------------
IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(data: bytes) -> np.ndarray:
    """Parse an IDX file: 2 zero bytes, a dtype code, the number of dims, big-endian u32 dims."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_DTYPES:
        raise DatasetError("not an IDX file (bad magic number)")
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise DatasetError("truncated IDX header")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(IDX_DTYPES[data[2]])
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(data) - header != expected:
        raise DatasetError(
            f"IDX file holds {len(data) - header} bytes of data, expected "
            f"{expected} for shape {dims}"
        )
    return (
        np.frombuffer(data, dtype=dtype, offset=header)
        .reshape(dims)
        .astype(dtype.newbyteorder("="))
    )


# ---- CIFAR-10 python batches ------------------------------------------------------------------
def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise DatasetError("refused to unpickle _codecs.encode with other than latin1 text")
    return text.encode("latin1")


class RestrictedUnpickler(pickle.Unpickler):
    """Admits only what a CIFAR batch is made of: numpy arrays and their dtypes (plus builtins
    that pickle encodes without a class lookup: dicts, lists, bytes, str, ints)."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) == ("_codecs", "encode"):  # how Python 3 writes bytes in protocol 2
            return _latin1_encode
        if (module, name) not in self.ALLOWED:
            raise DatasetError(f"refused to unpickle {module}.{name}: not part of a CIFAR batch")
        return super().find_class(module, name)


def read_cifar_batch(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 batch file -> images (N, 32, 32, 3) uint8, labels (N,) int64."""
    try:
        batch = RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()
    except DatasetError:
        raise
    except Exception as exc:
        raise DatasetError("not a CIFAR-10 batch file") from exc
    if not isinstance(batch, dict):
        raise DatasetError("not a CIFAR-10 batch: expected a dict")
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    pixels, labels = batch.get("data"), batch.get("labels")
    if (
        not isinstance(pixels, np.ndarray)
        or pixels.dtype != np.uint8
        or pixels.ndim != 2
        or pixels.shape[1] != 3072
    ):
        raise DatasetError("not a CIFAR-10 batch: 'data' must be a uint8 array (N, 3072)")
    if (
        not isinstance(labels, list)
        or len(labels) != len(pixels)
        or not all(isinstance(v, int) and 0 <= v <= 9 for v in labels)
    ):
        raise DatasetError("not a CIFAR-10 batch: 'labels' must be N integers 0..9")
    # Each row is 1024 red, then 1024 green, then 1024 blue values, row-major.
    images = pixels.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy()
    return images, np.asarray(labels, dtype=np.int64)


# ---- optional download (a command-line tool; never called by the server or the tests) -------
DOWNLOADS = {
    "mnist": (
        "mnist",
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        {
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        },
    ),
    "fashion_mnist": (
        "fashion_mnist",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        {
            "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        },
    ),
    "cifar10": (
        ".",
        "https://www.cs.toronto.edu/~kriz/",
        {"cifar-10-python.tar.gz": "c58f30108f718f92721af3b95e74349a"},
    ),
}


def download(name: str, data_dir: Path, progress: Callable[[str], None] = print) -> None:
    """Fetch a standard dataset into data_dir, checking each file's MD5 before keeping it."""
    import tarfile

    if name not in DOWNLOADS:
        raise DatasetError(f"nothing to download for {name!r}; choose {', '.join(DOWNLOADS)}")
    sub, base, files = DOWNLOADS[name]
    folder = Path(data_dir) / sub
    folder.mkdir(parents=True, exist_ok=True)
    for filename, md5 in files.items():
        target = folder / filename
        if not (target.is_file() and hashlib.md5(target.read_bytes()).hexdigest() == md5):
            chunks, done = [], 0
            with urllib.request.urlopen(base + filename, timeout=60) as response:
                total = int(response.headers.get("Content-Length") or 0)
                while chunk := response.read(1 << 20):
                    chunks.append(chunk)
                    done += len(chunk)
                    progress(f"{filename}: {done / 1e6:.1f} / {total / 1e6:.1f} MB")
            data = b"".join(chunks)
            if hashlib.md5(data).hexdigest() != md5:
                raise DatasetError(f"{filename}: checksum mismatch; the download is corrupt")
            target.write_bytes(data)
        if filename.endswith(".tar.gz"):
            with tarfile.open(target) as archive:
                archive.extractall(folder, filter="data")  # no paths outside folder, no devices
        progress(f"{filename}: ok")


if __name__ == "__main__":  # python -m ml_core.dataset_files download mnist [data_dir]
    if len(sys.argv) < 3 or sys.argv[1] != "download":
        sys.exit(
            "usage: python -m ml_core.dataset_files download mnist|fashion_mnist|cifar10 "
            "[data_dir]"
        )
    download(sys.argv[2], Path(sys.argv[3] if len(sys.argv) > 3 else "data"))
