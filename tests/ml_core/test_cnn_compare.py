"""ml_core.cnn_compare: the same net with and without batch norm, from the same seed; what the
page says the learner will see in the comparison."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ml_core.cnn_channels import HIST_BINS, HIST_RANGE
from ml_core.cnn_compare import Comparison, toggled
from ml_core.cnn_config import CNNConfig
from ml_core.cnn_run import CNNRun
from ml_core.image_datasets import LoadOptions, load

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def digits():
    return load("digits", LoadOptions(upscale=2))


def mean_of(counts: np.ndarray) -> float:
    edges = np.linspace(*HIST_RANGE, HIST_BINS + 1)
    return float((counts * (edges[1:] + edges[:-1]) / 2).sum() / counts.sum())


def test_the_twin_differs_only_in_batch_norm_and_starts_from_the_same_weights(digits):
    run = CNNRun(CNNConfig(), digits, CPU)
    run.train_steps(3)
    pair = Comparison(run)
    assert pair.with_bn is run  # the lab's own run (it has batch norm) is one side
    assert run.steps == 0  # restarted: both begin at step 0
    twin = pair.without_bn
    assert twin.config == toggled(run.config, False)
    assert twin.data is run.data
    assert not any(b.batch_norm for b in twin.config.architecture.blocks)
    convs = [m for m in run.model if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)]
    twins = [m for m in twin.model if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)]
    for a, b in zip(convs, twins, strict=True):
        assert torch.equal(a.weight, b.weight)
    plain = CNNRun(toggled(CNNConfig(), False), digits, CPU)
    assert Comparison(plain).without_bn is plain  # a net without batch norm gets a twin with it


def test_both_runs_share_the_worker_step_for_step(digits):
    pair = Comparison(CNNRun(CNNConfig(), digits, CPU))
    for _ in range(6):
        pair.train_for(0.05)
    steps = [r.steps for r in pair.runs.values()]
    assert min(steps) > 0
    assert abs(steps[0] - steps[1]) <= 3


@pytest.fixture(scope="module")
def compared(digits):
    """The default net, 40 steps with and 40 without batch norm (Adam, learning rate 0.001)."""
    pair = Comparison(CNNRun(CNNConfig(), digits, CPU))
    for _ in range(4):
        pair.train_steps(10)
    return pair


def test_with_batch_norm_the_same_net_learns_faster(compared):
    assert compared.with_bn.evaluation.accuracy > compared.without_bn.evaluation.accuracy + 0.03
    assert compared.with_bn.evaluation.loss < compared.without_bn.evaluation.loss


def test_without_batch_norm_the_pre_activations_drift_with_it_they_stay_centred(compared):
    for block in (1, 2):
        with_bn = [mean_of(p.counts[block]) for p in compared.with_bn.histograms]
        assert max(abs(m) for m in with_bn) < 0.2
    drifting = [mean_of(p.counts[2]) for p in compared.without_bn.histograms]
    assert abs(drifting[-1] - drifting[0]) > 0.25


def test_with_batch_norm_a_higher_learning_rate_works_sooner(digits):
    """SGD at 0.1: ten times the usual rate; the net with batch norm is far ahead at 60 steps."""
    pair = Comparison(CNNRun(CNNConfig(optimizer="sgd", learning_rate=0.1), digits, CPU))
    pair.train_steps(60)
    assert pair.with_bn.evaluation.accuracy > 0.9
    assert pair.with_bn.evaluation.accuracy > pair.without_bn.evaluation.accuracy + 0.05
