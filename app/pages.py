"""HTML pages: one per lab, each a template extending base.html."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

ROOT = Path(__file__).resolve().parent.parent
templates = Jinja2Templates(directory=ROOT / "templates")
router = APIRouter()

# (lab, title in the navigation, one-line summary): the order of the navigation bar.
PAGES = [
    ("mlp", "Playground", "Train a small network on 2-D data and watch every neuron."),
    ("perceptron", "Perceptron", "Step through the perceptron learning rule."),
    ("descent", "Gradient descent", "Race optimizers across loss surfaces."),
    ("functions", "Activations & losses", "Activation functions, their gradients, and losses."),
    ("convolution", "Convolution", "Slide a kernel over an image; pooling."),
    ("cnn", "CNN", "Train a CNN and see what it learns."),
]


def _render(request: Request, lab: str) -> HTMLResponse:
    if not (ROOT / "templates" / f"{lab}.html").exists():
        raise HTTPException(404, f"the {lab} lab is not available")
    settings = request.app.state.settings
    return templates.TemplateResponse(
        request,
        f"{lab}.html",
        {
            "lab": lab,
            "pages": PAGES,
            "title": dict((p[0], p[1]) for p in PAGES)[lab],
            "limits": getattr(settings, lab).model_dump(),
        },
    )


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def index(request: Request):
    return _render(request, "mlp")


@router.get("/{lab}", response_class=HTMLResponse, include_in_schema=False)
async def lab_page(request: Request, lab: str):
    if lab not in {p[0] for p in PAGES}:
        raise HTTPException(404, "no such page")
    return _render(request, lab)
