"""REST: ``GET /api/tensors``, the numbers of the tensors explainer page (templates/tensors.html).

The examples (ml_core/tensor_examples.py) are made once per process, in FastAPI's thread pool
(a sync handler: loading the sample photos and training the small network never runs on the
event loop), and kept. A tensor travels as its dimension names, shape, dtype and its bytes in
base64 (little-endian, C order): pictures as small binary grids, not JSON lists of numbers.
"""

from __future__ import annotations

import base64
import functools
import sys

import torch
from fastapi import APIRouter, Request

from ml_core import tensor_examples
from ml_core.device import describe, pick_device

router = APIRouter(tags=["tensors"])


def encode(tensor: torch.Tensor, dims: tuple[str, ...] | None = None) -> dict:
    array = tensor.detach().cpu().contiguous().numpy()
    data = array.tobytes() if sys.byteorder == "little" else array.byteswap().tobytes()
    return {
        "dims": list(dims) if dims else None,
        "shape": list(array.shape),
        "dtype": str(array.dtype),
        "numel": int(array.size),
        "nbytes": int(array.nbytes),
        "data": base64.b64encode(data).decode("ascii"),
    }


@functools.lru_cache(maxsize=4)
def payload(device_name: str) -> dict:
    device = pick_device(device_name)
    flat = tensor_examples.feature_map()
    return {
        "examples": [
            {
                "key": e.key,
                "title": e.title,
                "what": e.what,
                "labels": e.labels or {},
                "tensor": encode(e.tensor, e.dims),
            }
            for e in tensor_examples.examples()
        ],
        "flatten": {
            "kernels": flat["kernels"],
            "map": encode(flat["map"], ("channels", "height", "width")),
            "flat": encode(flat["flat"], ("features",)),
        },
        "reshape": encode(tensor_examples.digit_row(), ("pixels",)),
        "dtypes": tensor_examples.dtypes(),
        "device": {
            "name": describe(device),
            "type": device.type,
            "cuda": torch.cuda.is_available(),
            "copies": tensor_examples.copy_costs(device),
        },
    }


@router.get("/tensors")
def tensors(request: Request) -> dict:
    """Tensors of 1 to 6 dimensions made of this app's data, a feature map and its flattening,
    a digit's 64 numbers to reshape, dtype sizes, and measured copy costs on this server."""
    return payload(request.app.state.settings.device)
