"""Exported scripts reproduce the labs' runs: each script is generated for a configuration, run
by a separate Python with only the script (no torchplay on its path), and compared with the
lab's own run of the same configuration: the layers and their output shapes, the parameter
count, the first 50 training losses (the perceptron: its weights after 50 visits), and the time
a few epochs take.

The scripts run in two subprocesses started once for the module (``scripts``), several scripts
each, while the tests compute the labs' side in this process.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from ml_core.cnn import ACTIVATION_LAYERS, POOL_LAYERS, count_params
from ml_core.cnn_config import CNNConfig
from ml_core.cnn_run import CNNRun
from ml_core.codegen import (
    FEATURE_CODE,
    LOSS_CODE,
    MLP_ACTIVATION_CODE,
    OPTIMIZER_CODE,
    ScriptError,
    mlp_script,
    perceptron_script,
)
from ml_core.codegen_cnn import CNN_ACTIVATION_CODE, POOL_CODE, cnn_script
from ml_core.features import FEATURES, feature_matrix
from ml_core.image_datasets import ImageDataset, LoadOptions, load
from ml_core.mlp import ACTIVATIONS, LOSSES
from ml_core.mlp import OPTIMIZERS as MLP_OPTIMIZERS
from ml_core.mlp_config import PlaygroundConfig
from ml_core.mlp_run import MLPRun
from ml_core.perceptron import Perceptron, PerceptronConfig
from ml_core.training import OPTIMIZERS

STEPS = 50  # losses compared per script
MAX_SECONDS = 10.0  # a few epochs of a script on the CPU

SMALL = {"samples": 60, "val_fraction": 0.5}
DRAWN = [  # three classes drawn by hand
    [-0.8, -0.7, 0], [-0.5, -0.9, 0], [-0.6, -0.4, 0], [-0.9, -0.2, 0], [-0.3, -0.6, 0],
    [0.8, 0.7, 1], [0.5, 0.9, 1], [0.6, 0.4, 1], [0.9, 0.2, 1], [0.3, 0.6, 1],
    [0.7, -0.8, 2], [0.4, -0.5, 2], [0.9, -0.4, 2], [0.2, -0.9, 2], [0.55, -0.65, 2],
    [-0.1, 0.05, 0], [0.15, -0.2, 2], [0.05, 0.3, 1],
]
MLP_CASES: dict[str, tuple[dict, list | None]] = {
    **{
        f"activation-{name}": (
            {"dataset": SMALL, "model": {"activation": name}, "training": {"batch_size": 5}},
            None,
        )
        for name in ACTIVATIONS
    },
    **{
        f"loss-{loss}-{classes}": (
            {
                "dataset": {**SMALL, "name": "blobs", "classes": classes, "samples": 64},
                "model": {"hidden": [5], "activation": "relu"},
                "training": {
                    "loss": loss,
                    "optimizer": MLP_OPTIMIZERS[i % len(MLP_OPTIMIZERS)],
                    "learning_rate": 0.1,
                    "batch_size": 8,
                    "weight_decay": 0.01 * (i % 2),
                },
            },
            None,
        )
        for i, (loss, classes) in enumerate((lo, k) for lo in LOSSES for k in (2, 4))
    },
    "xor-all-features-three-layers": (
        {
            "dataset": {**SMALL, "name": "xor", "seed": 5},
            "model": {"features": list(FEATURES), "hidden": [6, 5, 3], "activation": "leaky_relu"},
            "training": {"optimizer": "adam", "learning_rate": 0.01, "batch_size": 4},
        },
        None,
    ),
    "moons-no-hidden-layer": (
        {"dataset": {**SMALL, "name": "moons"}, "model": {"hidden": []}, "training": {}},
        None,
    ),
    "gauss-full-batch": (
        {"dataset": {**SMALL, "name": "gauss", "noise": 0.4}, "training": {"batch_size": 30}},
        None,
    ),
    "spiral-3-classes": (
        {
            "dataset": {"name": "spiral", "classes": 3, "samples": 90, "val_fraction": 0.2},
            "model": {"hidden": [8], "features": ["x1", "x2", "sin_x1", "sin_x2"]},
            "training": {"optimizer": "momentum", "batch_size": 16},
        },
        None,
    ),
    "drawn-points": (
        {"dataset": {"name": "custom", "val_fraction": 0.25}, "model": {"activation": "relu"}},
        DRAWN,
    ),
    # 61 points, half held out: 31 to train, in batches of 5 and a lone last point, which
    # batch norm makes join the batch before it.
    "dropout-batch-norm": (
        {
            "dataset": {"samples": 61, "val_fraction": 0.5, "seed": 2},
            "model": {"dropout": 0.3, "batch_norm": True, "hidden": [6, 4]},
            "training": {"optimizer": "adam", "learning_rate": 0.02, "batch_size": 5},
        },
        None,
    ),
    "rrelu-dropout": (
        {
            "dataset": {**SMALL, "name": "spiral"},
            "model": {"activation": "rrelu", "dropout": 0.2},
            "training": {"batch_size": 6},
        },
        None,
    ),
}

DIGITS = {"samples": 240, "batch_size": 16}
CNN_CASES: dict[str, tuple[dict, int]] = {  # config, how many training images to leave out
    "batch-norm-max-pool-dropout": (
        {
            **DIGITS,
            "architecture": {
                "blocks": [{"channels": 4, "dropout": 0.2}, {"channels": 8}],
                "fc": [{"units": 16, "dropout": 0.3}],
            },
        },
        0,
    ),
    "avg-pool-pitfalls-augmented": (
        {
            **DIGITS,
            "upscale": 1,
            "optimizer": "momentum",
            "learning_rate": 0.05,
            "imbalance": {"classes": [1, 2], "fraction": 0.3},
            "label_noise": 0.2,
            "weighted_loss": True,
            "oversample": True,
            "augment": {"flip": True, "shift": 1, "rotate": 15},
            "architecture": {
                "blocks": [{"channels": 6, "activation": "tanh", "batch_norm": False, "pool": "avg"}],
                "fc": [{"units": 12, "activation": "gelu"}],
            },
        },
        3,
    ),
    "shapes-rgb-colour-jitter": (
        {
            "dataset": "shapes",
            "samples": 96,
            "batch_size": 8,
            "optimizer": "rmsprop",
            "augment": {"color_jitter": 0.4},
            "architecture": {"blocks": [{"channels": 4, "stride": 2, "activation": "elu", "pool": "none"}]},
        },
        0,
    ),
    "faces-valid-conv": (
        {
            "dataset": "faces",
            "samples": 100,
            "batch_size": 10,
            "optimizer": "adamw",
            "architecture": {
                "blocks": [{"channels": 3, "kernel_size": 5, "padding": 0, "activation": "sigmoid"}],
                "fc": [{"units": 8, "activation": "leaky_relu"}],
            },
        },
        0,
    ),
}

DRAWN_PM = [[x, y, 1 if c == 1 else -1] for x, y, c in DRAWN]
PERCEPTRON_CASES: dict[str, tuple[dict, list | None]] = {
    "separable-zeros-cycle": ({}, None),
    "margin-random-shuffle": (
        {"dataset": {"name": "margin", "seed": 3}, "perceptron": {"init": "random", "order": "shuffle", "seed": 4}},
        None,
    ),
    "noisy-line-restart": (
        {
            "dataset": {"name": "noisy", "noise": 0.3, "samples": 40},
            "perceptron": {"init": "line", "order": "restart", "learning_rate": 0.5},
        },
        None,
    ),
    "xor-shuffle": ({"dataset": {"name": "xor"}, "perceptron": {"order": "shuffle"}}, None),
    "margin-converges-early": ({"dataset": {"name": "margin", "samples": 6}}, None),
    "drawn-points": ({"dataset": {"name": "custom"}, "perceptron": {"init": "random"}}, DRAWN_PM),
}

# Runs scripts one after another in one Python, as `python script.py` would but with main()'s
# result kept; the first of each lab also runs as __main__ (its printed report is kept).
DRIVER = r"""
import contextlib, io, json, runpy, sys, time
import torch, torch._dynamo, sklearn.datasets  # the imports every script pays once
results = {}
for job in json.loads(sys.argv[1]):
    if job["as_main"]:
        out = io.StringIO()
        sys.argv = [job["path"], *job["args"]]
        with contextlib.redirect_stdout(out):
            runpy.run_path(job["path"], run_name="__main__")
        results[job["id"] + ":printed"] = out.getvalue()
    ns = runpy.run_path(job["path"])
    start = time.perf_counter()
    run = ns["main"]([*job["args"], "--quiet"])
    seconds = time.perf_counter() - start
    if "losses" in run:
        result = {
            "losses": run["losses"][:50],
            "steps": len(run["losses"]),
            "layers": [[name, list(shape), count] for name, shape, count in run["layers"]],
            "parameters": sum(p.numel() for p in run["model"].parameters()),
        }
    else:
        result = {"w": run["w"].tolist(), "b": run["b"], "visits": run["visits"]}
    result["seconds"] = seconds
    results[job["id"]] = result
results["torchplay imported"] = any(m.split(".")[0] in ("ml_core", "app") for m in sys.modules)
print(json.dumps(results))
"""


def mlp_run(case: str) -> MLPRun:
    raw, points = MLP_CASES[case]
    return MLPRun(PlaygroundConfig.model_validate(raw), points=points)


def cnn_run(case: str, max_samples: int) -> CNNRun:
    raw, leave_out = CNN_CASES[case]
    config = CNNConfig.model_validate(raw)
    options = LoadOptions(
        samples=config.samples, max_samples=max_samples, upscale=config.dataset_upscale,
        seed=config.seed,
    )
    run = CNNRun(config, load(config.dataset, options), torch.device("cpu"))
    if leave_out:
        run.drop([int(i) for i in run.data.train_ids[2 : 2 + 3 * leave_out : 3]])
    return run


def perceptron(case: str) -> Perceptron:
    raw, points = PERCEPTRON_CASES[case]
    config = PerceptronConfig.model_validate(raw)
    if points is None:
        xy, labels = config.dataset.generate()
    else:
        rows = torch.tensor(points, dtype=torch.float32)  # as the lab keeps a drawing
        xy, labels = rows[:, :2].contiguous(), rows[:, 2].to(torch.int64)
    return Perceptron(xy, labels, config.perceptron)


class Scripts:
    """The scripts' results by case id, from subprocesses started at once, read when needed."""

    def __init__(self, jobs: list[dict], cwd) -> None:
        halves = [jobs[0::2], jobs[1::2]]
        self.processes = [
            subprocess.Popen(
                [sys.executable, "-c", DRIVER, json.dumps(half)],
                cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
            )
            for half in halves
        ]
        self._results: dict | None = None

    def __getitem__(self, key: str):
        if self._results is None:
            self._results = {}
            imported = []
            outputs = [process.communicate(timeout=600) for process in self.processes]
            for process, (out, err) in zip(self.processes, outputs, strict=True):
                assert process.returncode == 0, err[-3000:]
                answer = json.loads(out)
                imported.append(answer.pop("torchplay imported"))
                self._results.update(answer)
            self._results["torchplay imported"] = any(imported)
        return self._results[key]


@pytest.fixture(scope="module")
def scripts(tmp_path_factory, settings) -> Scripts:
    folder = tmp_path_factory.mktemp("scripts")
    jobs = []

    def add(case: str, text: str, args: list[str], as_main: bool = False) -> None:
        path = folder / f"{case}.py"
        path.write_text(text)
        jobs.append({"id": case, "path": str(path), "args": args, "as_main": as_main})

    for i, case in enumerate(CNN_CASES):  # the heavier ones first, spread over both processes
        run = cnn_run(case, settings.cnn.max_samples)
        dropped = [int(i) for i in run.data.train_ids[run.data.dropped]]
        text = cnn_script(run.config, run.input_shape, run.classes, dropped, settings.cnn.max_samples)
        epochs = max(2, math.ceil(STEPS * run.config.batch_size / len(run.active)) + 1)
        add(f"cnn-{case}", text, ["--epochs", str(epochs)], as_main=i == 0)
    for i, case in enumerate(MLP_CASES):
        run = mlp_run(case)
        epochs = max(2, math.ceil(STEPS / run.steps_per_epoch))
        add(f"mlp-{case}", mlp_script(run.config, MLP_CASES[case][1]), ["--epochs", str(epochs)],
            as_main=i == 0)
    for i, case in enumerate(PERCEPTRON_CASES):
        p = perceptron(case)
        text = perceptron_script(PerceptronConfig.model_validate(PERCEPTRON_CASES[case][0]),
                                 p.points.float().numpy(), p.labels.numpy())
        add(f"perceptron-{case}", text, ["--visits", str(STEPS)], as_main=i == 0)
    return Scripts(jobs, folder)


# ---- the scripts against the runs ------------------------------------------------------------
@pytest.mark.parametrize("case", list(MLP_CASES))
def test_mlp_script_reproduces_the_run(scripts, case):
    run = mlp_run(case)
    session_losses = run.step_losses(STEPS)
    sizes = run.config.model.layer_sizes(run.classes)
    model = run.config.model
    expected = []
    for i, (fan_in, width) in enumerate(zip(sizes[:-2], sizes[1:-1], strict=True), start=1):
        expected.append([f"hidden{i}", [width], fan_in * width + width])
        if model.batch_norm:
            expected.append([f"norm{i}", [width], 2 * width])
        expected.append([f"act{i}", [width], 1 if model.activation == "prelu" else 0])
        if model.dropout > 0:
            expected.append([f"drop{i}", [width], 0])
    expected.append(["output", [sizes[-1]], sizes[-2] * sizes[-1] + sizes[-1]])
    script = scripts[f"mlp-{case}"]
    assert script["layers"] == expected
    assert script["parameters"] == run.describe()["parameters"]
    assert script["steps"] >= STEPS
    np.testing.assert_allclose(script["losses"], session_losses, rtol=0, atol=1e-5)
    assert script["seconds"] < MAX_SECONDS


@pytest.mark.parametrize("case", list(CNN_CASES))
def test_cnn_script_reproduces_the_run(scripts, settings, case):
    run = cnn_run(case, settings.cnn.max_samples)
    layers = [[layer.name, list(layer.shape), layer.params] for layer in run.layers]
    session_losses = run.step_losses(STEPS)
    script = scripts[f"cnn-{case}"]
    assert script["layers"] == layers
    assert script["parameters"] == count_params(run.layers)
    assert script["parameters"] == sum(p.numel() for p in run.model.parameters())
    assert script["steps"] >= STEPS
    np.testing.assert_allclose(script["losses"], session_losses, rtol=0, atol=1e-5)
    assert script["seconds"] < MAX_SECONDS


@pytest.mark.parametrize("case", list(PERCEPTRON_CASES))
def test_perceptron_script_has_the_labs_weights_after_50_visits(scripts, case):
    p = perceptron(case)
    p.run(STEPS)
    script = scripts[f"perceptron-{case}"]
    assert script["visits"] == p.visits
    np.testing.assert_allclose(script["w"], p.w.tolist(), rtol=0, atol=1e-12)
    assert script["b"] == pytest.approx(p.b, abs=1e-12)
    assert script["seconds"] < MAX_SECONDS


def test_scripts_run_with_torch_and_numpy_alone_and_report_as_programs(scripts):
    assert scripts["torchplay imported"] is False
    mlp = scripts[f"mlp-{next(iter(MLP_CASES))}:printed"]
    assert "parameters in all" in mlp
    assert "validation loss" in mlp
    cnn = scripts[f"cnn-{next(iter(CNN_CASES))}:printed"]
    assert "test accuracy" in cnn
    assert "conv1" in cnn
    assert "visits" in scripts[f"perceptron-{next(iter(PERCEPTRON_CASES))}:printed"]


def test_a_converged_perceptron_stops_where_the_lab_stops(scripts):
    p = perceptron("margin-converges-early")
    p.run(STEPS)
    assert p.converged  # the case is what its name says
    assert scripts["perceptron-margin-converges-early"]["visits"] == p.visits


# ---- the tables: every choice of the labs has its code ---------------------------------------
def test_every_choice_has_its_pytorch_code():
    assert set(FEATURE_CODE) == set(FEATURES)
    assert set(MLP_ACTIVATION_CODE) == set(ACTIVATIONS)
    assert set(OPTIMIZER_CODE) == set(OPTIMIZERS)
    assert set(LOSS_CODE) == {(binary, loss) for binary in (True, False) for loss in LOSSES}
    assert set(CNN_ACTIVATION_CODE) == set(ACTIVATION_LAYERS)
    assert set(POOL_CODE) == set(POOL_LAYERS)


@pytest.mark.parametrize("name", list(FEATURES))
def test_feature_code_computes_the_labs_feature(name):
    xy = torch.from_numpy(np.random.default_rng(0).uniform(-1, 1, (50, 2)).astype(np.float32))
    x1, x2 = xy[:, 0], xy[:, 1]
    value = eval(FEATURE_CODE[name], {"torch": torch, "math": math, "x1": x1, "x2": x2})
    assert torch.equal(value, feature_matrix(xy, [name])[:, 0])


# ---- what a script cannot express -----------------------------------------------------------
def test_a_dataset_from_the_servers_files_has_no_script():
    images = np.zeros((60, 28, 28, 1), np.uint8)
    dataset = ImageDataset("mnist", "MNIST", images, np.arange(60) % 10, [str(d) for d in range(10)])
    run = CNNRun(CNNConfig(dataset="mnist"), dataset, torch.device("cpu"))
    with pytest.raises(ScriptError, match="mnist dataset is read from the server's data files"):
        cnn_script(run.config, run.input_shape, run.classes)


def test_drawn_data_without_points_has_no_script():
    config = PlaygroundConfig.model_validate({"dataset": {"name": "custom"}})
    with pytest.raises(ScriptError, match="no points yet"):
        mlp_script(config, [])
    with pytest.raises(ScriptError, match="no points yet"):
        perceptron_script(PerceptronConfig.model_validate({"dataset": {"name": "custom"}}), [], [])


def test_a_regression_has_no_script_yet():
    config = PlaygroundConfig.model_validate({"dataset": {"name": "plane"}})
    with pytest.raises(ScriptError, match="a regression cannot be exported"):
        mlp_script(config)
