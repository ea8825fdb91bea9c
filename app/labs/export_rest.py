"""REST: ``GET /api/<lab>/export?format=py|json|csv|onnx&session=<id>`` for the MLP, perceptron
and CNN labs (docs/protocol-mlp.md, protocol-perceptron.md, protocol-cnn.md, "Exports").

The export is made on the session's worker (``session.call``: never on the event loop) by
app/labs/exports.py and comes back as a download (``Content-Disposition: attachment`` with a
filename). Refusals are 4xx with the reason in ``detail``; the session goes on as it was.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response

from app.labs.base import LabError
from app.labs.exports import EXPORTERS, FORMATS, ExportError, check_format
from app.sessions import lookup_session

router = APIRouter(tags=["export"])


@router.get(
    "/{lab}/export",
    responses={
        200: {"description": "The file, as an attachment."},
        400: {"description": "A format this lab does not export."},
        404: {"description": "No such session, or a lab without exports."},
        409: {"description": "The session has no model or data yet."},
        422: {"description": "A setup the script cannot express."},
    },
)
async def export(
    request: Request,
    lab: Annotated[str, Path(max_length=32, description="mlp, perceptron or cnn")],
    format: Annotated[str, Query(max_length=16, description=" | ".join(FORMATS))],
    session: Annotated[str, Query(max_length=64, description="The page's session id.")],
) -> Response:
    """The session's run as a script (py), its config (json), its metrics history (csv) or its
    trained network (onnx: MLP and CNN)."""
    entry = EXPORTERS.get(lab)
    if entry is None:
        raise HTTPException(404, f"no exports for lab {lab!r}; labs with exports: "
                                 f"{', '.join(EXPORTERS)}")
    exporter, _ = entry
    lab_session = lookup_session(request, session, lab)
    try:
        check_format(lab, format)  # before the worker is asked
        result = await lab_session.call(exporter, format)
    except ExportError as exc:
        raise HTTPException(exc.status, str(exc)) from None
    except LabError as exc:
        raise HTTPException(400, str(exc)) from None
    filename = re.sub(r"[^A-Za-z0-9_.-]", "_", result.filename)
    return Response(
        result.data,
        media_type=result.media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
