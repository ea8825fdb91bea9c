"""ml_core.history: a bounded metrics history that keeps a long run's shape, and its CSV."""

from __future__ import annotations

import csv
import io

import pytest

from ml_core.history import MetricsHistory, to_csv
from ml_core.mlp_config import PlaygroundConfig
from ml_core.mlp_run import MLPRun


def test_a_long_run_stays_bounded_and_keeps_its_start_and_its_end():
    history = MetricsHistory(limit=100)
    for step in range(1, 10_001):
        history.record({"step": step, "loss": 1 / step})
    rows = history.rows()
    assert len(rows) <= 100
    assert rows[0]["step"] == 1
    assert rows[-1]["step"] == 10_000
    steps = [row["step"] for row in rows]
    assert steps == sorted(set(steps))
    assert steps[-1] - steps[-2] == 1  # the recent end at full detail


def test_a_second_report_of_a_step_replaces_the_first():
    history = MetricsHistory()
    history.record({"step": 3, "loss": 0.5})
    history.record({"step": 3, "loss": 0.4})
    assert history.rows() == [{"step": 3, "loss": 0.4}]


def test_csv_has_a_header_and_empty_cells_for_missing_numbers():
    text = to_csv([{"step": 1, "loss": 0.25, "acc": None}, {"step": 2}], ("step", "loss", "acc"))
    assert list(csv.reader(io.StringIO(text))) == [
        ["step", "loss", "acc"],
        ["1", "0.25", ""],
        ["2", "", ""],
    ]


def test_the_mlp_run_records_what_its_metrics_report_and_forgets_it_on_reset():
    run = MLPRun(PlaygroundConfig.model_validate({"dataset": {"samples": 40}}))
    reported = []
    for _ in range(3):
        run.step(2)
        reported.append(run.metrics())
    assert run.history.rows() == reported
    run.reset()
    assert len(run.history) == 0


def test_a_history_needs_room():
    with pytest.raises(ValueError, match="at least 4 rows"):
        MetricsHistory(limit=2)
