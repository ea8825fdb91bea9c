"""The labs, in the order of the course and of the navigation bar: the one list of them.

Adding a lab: write ``app/labs/<name>.py`` (a ``Lab`` subclass, optionally a REST ``router``),
its template and page module, its settings section in ``app/config.py``, and add it here.
"""

from __future__ import annotations

from fastapi import APIRouter

from app import tensors_rest
from app.labs import cnn_rest, convolution, export_rest
from app.labs.base import Lab
from app.labs.cnn import CNNLab
from app.labs.convolution import ConvolutionLab
from app.labs.descent import DescentLab
from app.labs.functions import FunctionsLab
from app.labs.mlp import MLPLab
from app.labs.perceptron import PerceptronLab

LABS: tuple[type[Lab], ...] = (
    MLPLab,
    PerceptronLab,
    DescentLab,
    FunctionsLab,
    ConvolutionLab,
    CNNLab,
)

# The REST routers, mounted under /api (the tensors explainer's data too).
ROUTERS: tuple[APIRouter, ...] = (
    convolution.router, cnn_rest.router, export_rest.router, tensors_rest.router
)


def by_name(labs: tuple[type[Lab], ...] = LABS) -> dict[str, type[Lab]]:
    return {lab.name: lab for lab in labs}
