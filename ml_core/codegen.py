"""Runnable PyTorch scripts of a lab's configuration: what the labs' code panels show.

Each script is rendered from a Jinja2 template in ml_core/codegen_templates/ and, run with the
same seed, reproduces the lab's run exactly: the same data and split, the same initial weights
(drawn from a seeded ``torch.Generator`` on the CPU, in the order the lab draws them), the same
mini-batches in the same order and the same loss, step for step (tests/ml_core/test_codegen.py
runs the scripts and compares). The data generators are not retyped: their source is copied
from the core (``sources``), with the helpers and constants they use, so a script needs only
torch and numpy (the CNN's datasets: scikit-learn or scikit-image too).

``mlp_script`` and ``perceptron_script`` are here; the CNN's is ml_core/codegen_cnn.py. A setup
that a script cannot reproduce raises ``ScriptError`` with the reason.
"""

from __future__ import annotations

import inspect
import textwrap
import types
from collections.abc import Callable, Iterable
from pathlib import Path

import jinja2
import numpy as np

from ml_core import datasets2d, perceptron_data
from ml_core.features import LABELS
from ml_core.mlp import LEAKY_SLOPE, PRELU_INIT, RELU_FAMILY, RRELU_LOWER, RRELU_UPPER, n_outputs
from ml_core.mlp_config import PlaygroundConfig
from ml_core.perceptron import PerceptronConfig, weights_from_line
from ml_core.training import ADAM_BETAS, ADAM_EPS, MOMENTUM

TEMPLATES = Path(__file__).with_name("codegen_templates")
DEFAULT_EPOCHS = 100  # the playground trains until paused: a script runs this many by default
MAX_EPOCHS = 10_000


class ScriptError(ValueError):
    """A setup that a script cannot reproduce; the message says why."""


# ---- rendering ---------------------------------------------------------------------------------
def literal(value) -> str:
    """``value`` as Python source: floats round-trip (repr), tuples and lists element-wise."""
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return repr(value)
    if isinstance(value, float | np.floating):
        return repr(float(value))
    if isinstance(value, tuple):
        inner = ", ".join(literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    raise TypeError(f"no Python literal for {type(value).__name__}")


def float32_literal(value: float) -> str:
    """The shortest decimal that reads back as exactly this float32 (via a Python float)."""
    v = np.float32(value)
    short = np.format_float_positional(v, unique=True, trim="-")
    return short if np.float32(float(short)) == v else repr(float(v))


_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    autoescape=False,  # Python source, not HTML
)
_ENV.filters["py"] = literal


def render(template: str, **context) -> str:
    return _ENV.get_template(template).render(**context)


def sources(*functions: Callable, skip: Iterable[str] = ()) -> str:
    """The source of ``functions`` and of every function and simple constant of their own
    modules that they use (recursively), constants first, then functions callees first."""
    skip = set(skip)
    constants: dict[str, str] = {}
    ordered: list[Callable] = []

    def names(code: types.CodeType) -> set[str]:
        found = set(code.co_names)
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                found |= names(const)
        return found

    def visit(fn: Callable) -> None:
        if fn in ordered:
            return
        module = inspect.getmodule(fn)
        for name in sorted(names(fn.__code__) - skip):
            value = getattr(module, name, None)
            if inspect.isfunction(value) and value.__module__ == module.__name__:
                visit(value)
            elif isinstance(value, int | float | str | tuple) and not isinstance(value, bool):
                constants[name] = f"{name} = {literal(value)}"
        ordered.append(fn)

    for fn in functions:
        visit(fn)
    parts = [textwrap.dedent(inspect.getsource(fn)).strip() for fn in ordered]
    head = "\n".join(constants.values())
    return (head + "\n\n\n" if head else "") + "\n\n\n".join(parts)


# ---- what each choice is in PyTorch -------------------------------------------------------------
# Every name of the core's registries has its code here (tests check none is missing).
FEATURE_CODE = {
    "x1": "x1",
    "x2": "x2",
    "x1sq": "x1 * x1",
    "x2sq": "x2 * x2",
    "x1x2": "x1 * x2",
    "sin_x1": "torch.sin(math.pi * x1)",
    "sin_x2": "torch.sin(math.pi * x2)",
}
MLP_ACTIVATION_CODE = {
    "linear": "nn.Identity()",
    "sigmoid": "nn.Sigmoid()",
    "tanh": "nn.Tanh()",
    "relu": "nn.ReLU()",
    "leaky_relu": f"nn.LeakyReLU({LEAKY_SLOPE!r})",
    "prelu": f"nn.PReLU(1, init={PRELU_INIT!r})",
    "rrelu": "SeededRReLU(noise)",
}
OPTIMIZER_CODE = {
    "sgd": "torch.optim.SGD(params, lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)",
    "momentum": (
        f"torch.optim.SGD(params, lr=LEARNING_RATE, momentum={MOMENTUM!r}, "
        "weight_decay=WEIGHT_DECAY)"
    ),
    "adam": (
        f"torch.optim.Adam(params, lr=LEARNING_RATE, betas={ADAM_BETAS!r}, eps={ADAM_EPS!r}, "
        "weight_decay=WEIGHT_DECAY)"
    ),
    "adamw": "torch.optim.AdamW(params, lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)",
    "rmsprop": "torch.optim.RMSprop(params, lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)",
}
# (two classes: one sigmoid logit?, loss) -> (expression of logits and labels, what it is)
LOSS_CODE = {
    (True, "cross_entropy"): (
        "F.binary_cross_entropy_with_logits(logits[:, 0], labels.float())",
        "binary cross-entropy of the sigmoid output",
    ),
    (True, "mse"): (
        "F.mse_loss(torch.sigmoid(logits[:, 0]), labels.float())",
        "squared error between P(class 1) and the 0/1 label",
    ),
    (True, "l1"): (
        "F.l1_loss(torch.sigmoid(logits[:, 0]), labels.float())",
        "absolute error between P(class 1) and the 0/1 label",
    ),
    (True, "hinge"): (
        "F.relu(1.0 - (2.0 * labels.float() - 1.0) * logits[:, 0]).mean()",
        "hinge loss max(0, 1 - s·z) with s = ±1",
    ),
    (False, "cross_entropy"): (
        "F.cross_entropy(logits, labels)",
        "softmax cross-entropy",
    ),
    (False, "mse"): (
        "F.mse_loss(torch.softmax(logits, dim=1), F.one_hot(labels, CLASSES).float())",
        "squared error between the softmax and the one-hot target",
    ),
    (False, "l1"): (
        "F.l1_loss(torch.softmax(logits, dim=1), F.one_hot(labels, CLASSES).float())",
        "absolute error between the softmax and the one-hot target",
    ),
    (False, "hinge"): (
        "F.multi_margin_loss(logits, labels)",
        "multi-class margin loss",
    ),
}


def _epochs(epochs: int | None) -> int:
    return DEFAULT_EPOCHS if not epochs else min(int(epochs), MAX_EPOCHS)


# ---- the MLP playground -------------------------------------------------------------------------
def mlp_script(
    config: PlaygroundConfig, points: list | None = None, epochs: int | None = None
) -> str:
    """The playground's run as a script: ``config`` as the run holds it (for drawn points, with
    the classes they have), ``points`` the drawing ``[[x, y, label], ...]`` for ``custom``."""
    data, model, train = config.dataset, config.model, config.training
    custom = data.name == datasets2d.CUSTOM
    if custom and not points:
        raise ScriptError("no points yet: draw some or pick a dataset")
    if config.task == "regression":
        raise ScriptError("a regression cannot be exported as a script yet: only classification")
    if custom:
        rows = [(float(x), float(y), int(c)) for x, y, c in points]
    sizes = model.layer_sizes(data.classes)
    hidden = []
    for i, (fan_in, width) in enumerate(zip(sizes[:-2], sizes[1:-1], strict=True), start=1):
        hidden.append({
            "i": i,
            "linear": f"nn.Linear({fan_in}, {width})",
            "norm": f"nn.BatchNorm1d({width})" if model.batch_norm else None,
            "act": MLP_ACTIVATION_CODE[model.activation],
            "width": width,
        })
    linears = [f"model.hidden{h['i']}" for h in hidden] + ["model.output"]
    binary = n_outputs(data.classes) == 1
    loss, loss_doc = LOSS_CODE[(binary, train.loss)]
    dataset_fn = None if custom else datasets2d.DATASETS[data.name].fn
    return render(
        "mlp.py.j2",
        filename=f"mlp_{data.name}.py",
        c=config,
        custom=custom,
        points=[f"({literal(x)}, {literal(y)}, {c})" for x, y, c in rows] if custom else [],
        dataset_fn=dataset_fn.__name__ if dataset_fn else None,
        data_source=sources(dataset_fn) if dataset_fn else "",
        split_source=sources(datasets2d.split),
        features=[FEATURE_CODE[f] for f in model.features],
        feature_labels=", ".join(LABELS[f] for f in model.features),
        sizes=sizes,
        hidden=hidden,
        linears=f"({', '.join(linears)}{',' if len(linears) == 1 else ''})",
        n_out=sizes[-1],
        binary=binary,
        loss=loss,
        loss_doc=loss_doc,
        optimizer=OPTIMIZER_CODE[train.optimizer],
        rrelu=(RRELU_LOWER, RRELU_UPPER) if model.activation == "rrelu" else None,
        he=model.activation in RELU_FAMILY,  # the playground's init for ReLU-like layers
        epochs=_epochs(epochs),
    )


# ---- the perceptron ---------------------------------------------------------------------------
def perceptron_script(config: PerceptronConfig, points=None, labels=None) -> str:
    """The perceptron's run as a script; ``points`` (N, 2) and ``labels`` (N,) ±1 are the drawn
    data (name ``custom``; the lab keeps them as float32)."""
    data, rule = config.dataset, config.perceptron
    custom = data.name == perceptron_data.CUSTOM
    if custom and (points is None or len(points) == 0):
        raise ScriptError("no points yet: pick a preset or click on the plot to add points")
    rows = []
    if custom:
        for (x, y), c in zip(np.asarray(points).tolist(), np.asarray(labels).tolist(), strict=True):
            rows.append(f"({float32_literal(x)}, {float32_literal(y)}, {int(c)})")
    dataset_fn = None if custom else perceptron_data.DATASETS[data.name]
    line = [(h.x, h.y) for h in rule.line]
    return render(
        "perceptron.py.j2",
        filename=f"perceptron_{data.name}.py",
        c=config,
        custom=custom,
        points=rows,
        dataset_fn=dataset_fn.__name__ if dataset_fn else None,
        data_source=sources(dataset_fn) if dataset_fn else "",
        line=line,
        line_source=sources(weights_from_line) if rule.init == "line" else "",
    )
