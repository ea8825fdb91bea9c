"""HTML pages: the course map, one page per lab and a few explainers, each a template extending
base.html, in the order of the navigation bar."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from app.labs import LABS
from app.labs.base import Lab, describe_lab

ROOT = Path(__file__).resolve().parent.parent
templates = Jinja2Templates(directory=ROOT / "templates")
router = APIRouter()


@dataclass(frozen=True)
class Page:
    name: str  # the URL path and the template's name
    title: str
    summary: str
    lab: type[Lab] | None = None  # pages without a lab have no socket and no boot config


def _lab_page(lab: type[Lab]) -> Page:
    return Page(lab.name, lab.title, lab.summary, lab)


_BY_LAB = {lab.name: _lab_page(lab) for lab in LABS}
# The navigation bar, in the order of the course. Pages whose template is missing are left out.
PAGES: tuple[Page, ...] = (
    Page("course", "Course", "The course as one path: what each lab teaches, in order."),
    _BY_LAB["mlp"],
    _BY_LAB["perceptron"],
    _BY_LAB["descent"],
    _BY_LAB["functions"],
    Page("tensors", "Tensors", "Tensors of 1 to 6 dimensions, reshaping, and where they live."),
    _BY_LAB["convolution"],
    _BY_LAB["cnn"],
)


def available() -> list[Page]:
    return [p for p in PAGES if (ROOT / "templates" / f"{p.name}.html").exists()]


def _render(request: Request, name: str) -> HTMLResponse:
    pages = available()
    page = next((p for p in pages if p.name == name), None)
    if page is None:
        raise HTTPException(404, "no such page")
    context = {
        "lab": page.name,
        "pages": [(p.name, p.title, p.summary) for p in pages],
        "title": page.title,
        "limits": {},
        "boot": {"lab": page.name, "limits": {}, "defaults": {}},
    }
    lab_cls = request.app.state.labs.get(name) if page.lab is not None else None
    if lab_cls is not None:
        # Everything the page needs before its socket opens, read by static/js/boot.js: the
        # limits and the default config come from the server, never retyped in JS.
        info = describe_lab(lab_cls, request.app.state.settings)
        context["boot"] = {key: info[key] for key in ("lab", "limits", "defaults")}
        context["limits"] = info["limits"]
    return templates.TemplateResponse(request, f"{page.name}.html", context)


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def index(request: Request):
    return _render(request, "mlp")


@router.get("/{name}", response_class=HTMLResponse, include_in_schema=False)
async def page(request: Request, name: str):
    return _render(request, name)
