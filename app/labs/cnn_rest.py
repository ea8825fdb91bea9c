"""REST endpoints of the CNN lab: predict on an uploaded image, save and load the model.

Each runs the tensor work on the session's worker thread (``session.call``), never on the event
loop; uploads go through app/uploads.py (size limits, allowlisted image formats).
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Query, Request, Response, UploadFile

from app.labs.base import LabError
from app.labs.cnn import CNNLab
from app.schemas.cnn import CNNConfigured, Prediction
from app.sessions import lookup_session
from app.uploads import read_image, read_upload

router = APIRouter(tags=["cnn"])
SessionId = Annotated[str, Query(max_length=64, description="The page's session id.")]


async def _call(request: Request, session_id: str, fn, *args):
    lab_session = lookup_session(request, session_id, CNNLab.name)
    try:
        return await lab_session.call(fn, *args)
    except LabError as exc:
        raise HTTPException(400, str(exc)) from None


@router.post("/cnn/predict", response_model=Prediction)
async def predict(
    request: Request,
    session: SessionId,
    file: Annotated[UploadFile | None, File(description="PNG, JPEG, WebP or GIF")] = None,
    sample: Annotated[str | None, Form(max_length=64)] = None,
) -> Prediction:
    """Class probabilities of the session's model for an image or a sample. The image becomes
    the one whose feature maps stream: they come in the next ``cnn.maps`` frame on the socket."""
    lookup_session(request, session, CNNLab.name)  # 404 before reading a large body
    if (file is None) == (sample is None):
        raise HTTPException(400, "send either an image file or a sample name")
    image = await read_image(file, request.app.state.settings) if file is not None else None
    return await _call(request, session, CNNLab.predict, image, sample)


@router.get("/cnn/model")
async def download_model(request: Request, session: SessionId) -> Response:
    """The trained model as a safetensors file (weights + config in its metadata)."""
    data, filename = await _call(request, session, CNNLab.export_model)
    filename = re.sub(r"[^A-Za-z0-9_.-]", "_", filename)
    return Response(
        data,
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.post("/cnn/model", response_model=CNNConfigured)
async def upload_model(request: Request, session: SessionId, file: UploadFile) -> CNNConfigured:
    """Load a model file saved by GET /api/cnn/model (read as safetensors, never unpickled)."""
    lookup_session(request, session, CNNLab.name)  # 404 before reading a large body
    data = await read_upload(file, request.app.state.settings)
    # The new ``configured`` goes to the page's socket too (the scheduler sends it).
    return await _call(request, session, CNNLab.load_model, data)
