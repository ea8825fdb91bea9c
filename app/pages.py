"""HTML pages: one per lab, each a template extending base.html."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from app.labs import LABS
from app.labs.base import describe_lab

ROOT = Path(__file__).resolve().parent.parent
templates = Jinja2Templates(directory=ROOT / "templates")
router = APIRouter()

def _render(request: Request, lab: str) -> HTMLResponse:
    labs = request.app.state.labs
    lab_cls = labs.get(lab)
    if lab_cls is None or not (ROOT / "templates" / f"{lab}.html").exists():
        raise HTTPException(404, "no such page")
    # Everything the page needs before its socket opens, read by static/js/boot.js: the limits
    # and the default config come from the server, never retyped in JS.
    info = describe_lab(lab_cls, request.app.state.settings)
    boot = {key: info[key] for key in ("lab", "limits", "defaults")}
    return templates.TemplateResponse(
        request,
        f"{lab}.html",
        {
            "lab": lab,
            "pages": [(c.name, c.title, c.summary) for c in LABS],
            "title": lab_cls.title,
            "limits": boot["limits"],
            "boot": boot,
        },
    )


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def index(request: Request):
    return _render(request, "mlp")


@router.get("/{lab}", response_class=HTMLResponse, include_in_schema=False)
async def lab_page(request: Request, lab: str):
    return _render(request, lab)
