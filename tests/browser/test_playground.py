"""The MLP playground's issue-10 steps in real Chromium: reload after an on-the-fly change, the
divergence the page promises, Draw from an empty plane, play's speed, what the page says about
XOR, the bar's boxes and the plot's edge, regression with its outlier drag, and the final exam."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pytest

from ml_core.mlp_config import PlaygroundConfig
from tests.browser.test_mlp import (
    PICTURE,
    PIXELS,
    RECORD_SENT,
    STEP,
    click_at,
    open_playground,
    percent,
    screen_at,
    settled,
    step_count,
)

pytestmark = pytest.mark.browser
DEFAULT = PlaygroundConfig()


# The page's state as its URL holds it (state.js: #s=<base64url(JSON)>).
HASH_STATE = "JSON.parse(atob(location.hash.slice(3).replace(/-/g, '+').replace(/_/g, '/')))"


def link(state: dict) -> str:
    raw = base64.urlsafe_b64encode(json.dumps(state).encode()).decode().rstrip("=")
    return f"/mlp#s={raw}"


def link_state(page) -> dict:
    encoded = page.url.split("#s=", 1)[1]
    return json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))


def play_until(page, condition: str, timeout: int = 30_000) -> None:
    page.click("#btn-play")
    page.wait_for_selector("#btn-play[data-state='playing']")
    page.wait_for_function(condition, timeout=timeout)
    page.click("#btn-play")
    page.wait_for_selector("#btn-play[data-state='paused']")


BLANK = [243, 244, 246]  # the plot's neutral grey (mlp-plot.js blank())


def sent_types(page) -> list[str]:
    return [json.loads(m)["type"] for m in page.evaluate("window.__sent")]


# ---- 1. a reload resumes the run whatever was changed on the fly ---------------------------------
@pytest.mark.parametrize("playing", [True, False], ids=["while-playing", "while-paused"])
def test_a_reload_after_changing_the_learning_rate_resumes_the_run(page, playing):
    page.add_init_script(RECORD_SENT)
    open_playground(page)
    page.click("#btn-play")
    page.wait_for_function(f"{STEP} > 100")
    if not playing:
        page.click("#btn-play")
        page.wait_for_selector("#btn-play[data-state='paused']")
    page.select_option("#learning_rate", "0.1")
    page.select_option("#speed-select", "100")
    page.wait_for_function(f"{HASH_STATE}.config.training.learning_rate === 0.1")
    if playing:
        page.wait_for_function(f"{STEP} > {step_count(page) + 50}")  # on at the new settings
        page.click("#btn-play")
        page.wait_for_selector("#btn-play[data-state='paused']")
    step = step_count(page)
    page.reload()
    settled(page)
    page.wait_for_function(f"{STEP} >= {step}")  # the same run, not epoch 0
    assert step_count(page) >= step > 0
    assert page.input_value("#learning_rate") == "0.1"
    assert page.input_value("#speed-select") == "100"
    assert "configure" not in sent_types(page)  # nothing reset the session


# ---- 2. the page's divergence advice, and a diverged run's history -------------------------------
def test_a_learning_rate_of_10_diverges_keeps_the_blow_up_and_restores(page):
    open_playground(page)  # the defaults: circle, tanh, SGD
    page.click("#btn-step")
    page.wait_for_function(f"{STEP} === 1")
    start = float(page.text_content("#train-loss"))
    page.select_option("#learning_rate", "10")
    page.click("#btn-play")
    banner = page.locator("#diverged")
    banner.wait_for(timeout=30_000)
    assert page.get_attribute("#btn-play", "data-state") == "paused"
    assert "diverged — lower the learning rate" in banner.text_content().lower()
    assert "rose from" in page.text_content("#diverged-why")
    # The blow-up stays on screen: the step, the loss, the curve and the map of those weights.
    blown = step_count(page)
    assert blown > 1
    assert float(page.text_content("#train-loss")) > 5 * start
    assert float(page.get_attribute("#chart", "data-peak")) > 5 * start
    assert int(page.get_attribute("#chart", "data-last")) == blown
    # The map shows what those weights do, not a blank plot.
    assert page.evaluate(PIXELS)[:3] != BLANK
    # The last good weights come back; the step counter goes on, the curve keeps the peak.
    page.click("#btn-restore")
    banner.wait_for(state="hidden")
    page.wait_for_function(
        f"parseFloat(document.querySelector('#train-loss').textContent) <= {start * 1.01}"
    )
    assert step_count(page) == blown
    assert float(page.get_attribute("#chart", "data-peak")) > 5 * start
    assert "Back to the weights of step" in page.text_content(".toast")
    # Lower the rate and play on.
    page.select_option("#learning_rate", "0.1")
    play_until(page, f"{STEP} > {blown + 300}")
    assert page.is_hidden("#diverged")
    page.console_errors.assert_none()


# ---- 3. Draw starts from an empty plane -----------------------------------------------------------
def test_draw_starts_from_an_empty_plane_unless_asked_to_keep_the_points(page):
    open_playground(page)
    page.click("button[data-preset='custom']")
    page.wait_for_selector("#empty-hint", state="visible")
    assert page.text_content("#samples-label") == "0 drawn"
    page.click(".mlp-swatch[data-class='0']")
    click_at(page, -0.5, 0.5)
    page.click(".mlp-swatch[data-class='1']")
    click_at(page, 0.5, -0.5)
    assert page.text_content("#samples-label") == "2 drawn"
    settled(page)
    assert len(link_state(page)["points"]) == 2
    # On request, a preset's points (all of them: training, validation and test) are kept.
    page.click("button[data-preset='circle']")
    settled(page)
    assert page.is_visible("#keep-field")
    page.check("#keep-points")
    page.click("button[data-preset='custom']")
    settled(page)
    assert page.text_content("#samples-label") == f"{DEFAULT.dataset.samples} drawn"
    assert page.is_hidden("#keep-field")


# ---- 4. play's speed ------------------------------------------------------------------------------
def steps_in(page, ms: int) -> int:
    """Steps trained in about `ms` of play (measured on the page's clock)."""
    first = page.evaluate(f"() => [{STEP}, performance.now()]")
    page.wait_for_function(f"performance.now() > {first[1] + ms}")
    return step_count(page) - first[0]


def test_play_runs_at_the_speed_chosen_and_full_speed_on_request(page, settings):
    open_playground(page)
    assert page.input_value("#speed-select") == str(DEFAULT.play.steps_per_frame)
    per_s = DEFAULT.play.steps_per_frame * settings.fps
    assert page.text_content("#speed-select option:checked") == f"{per_s:,.0f} steps/s"
    page.click("#btn-play")
    page.wait_for_function(f"{STEP} > 0")
    assert steps_in(page, 1000) < 1.5 * per_s  # watchable: not thousands of epochs a second
    page.select_option("#speed-select", "1")  # one step a frame
    page.wait_for_function(f"{HASH_STATE}.config.play.steps_per_frame === 1")
    slow = steps_in(page, 1000)
    assert 0 < slow <= 1.5 * settings.fps
    page.select_option("#speed-select", "0")
    assert page.text_content("#speed-select option:checked") == "Full speed"
    fast = steps_in(page, 1000)
    page.click("#btn-play")
    assert fast > 3 * slow  # as fast as the server trains (the machine is shared: no fixed rate)
    assert link_state(page)["config"]["play"]["steps_per_frame"] == 0


# ---- 10. what the page says about XOR -------------------------------------------------------------
def test_xor_without_a_hidden_layer_levels_off_as_the_page_says_and_one_layer_solves_it(page):
    open_playground(page)
    text = page.text_content("body")
    assert "accuracies stay below 80%" in text
    page.click("button[data-preset='xor']")
    page.click("#layer-remove")
    page.click("#layer-remove")
    page.select_option("#speed-select", "0")
    settled(page)
    play_until(page, "parseInt(document.querySelector('#epoch').textContent.replace(/,/g, '')) > 300")
    assert 40 <= percent(page, "#train-acc") < 80
    assert 40 <= percent(page, "#val-acc") < 80
    # "Then add one layer of 4."
    page.click("#layer-add")
    settled(page)
    assert page.locator(".mlp-hidden").count() == 4
    play_until(page, "parseFloat(document.querySelector('#val-acc').textContent) >= 90", 60_000)
    assert percent(page, "#train-acc") >= 90


# ---- 11. the optimizer box and the plot's edge ----------------------------------------------------
TEXT_FITS = """sel => { const ctx = document.createElement('canvas').getContext('2d');
  const style = getComputedStyle(sel); ctx.font = `${style.fontSize} ${style.fontFamily}`;
  const room = sel.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight) - 16;
  return [...sel.options].filter(o => ctx.measureText(o.text).width > room).map(o => o.text); }"""


def test_every_choice_in_the_bar_fits_its_box(page):
    page.set_viewport_size({"width": 1100, "height": 900})
    open_playground(page)
    for select in ["#optimizer", "#loss", "#learning_rate", "#weight_decay", "#speed-select"]:
        assert page.eval_on_selector(select, TEXT_FITS) == [], select
    assert "Momentum" in page.eval_on_selector_all("#optimizer option", "os => os.map(o => o.text)")


def test_a_point_on_the_edge_of_the_plot_is_drawn_whole(page):
    open_playground(page)
    page.click("button[data-preset='custom']")
    page.click(".mlp-swatch[data-class='1']")
    click_at(page, 1.0, 0.0)  # clamped onto the right edge
    x, y = screen_at(page, 1.0, 0.0)
    # Just outside the plot's right edge the point's far half is visible and painted.
    outside = page.evaluate(
        f"() => {{ const e = document.elementFromPoint({x + 3}, {y}); return e && e.id; }}"
    )
    assert outside == "points"
    painted = page.evaluate(
        f"""() => {{ const c = document.querySelector('#points'); const r = c.getBoundingClientRect();
        const k = c.width / r.width;
        return c.getContext('2d').getImageData(Math.round(({x} + 3 - r.left) * k),
          Math.round(({y} - r.top) * k), 1, 1).data[3]; }}"""
    )
    assert painted > 200


# ---- regression ----------------------------------------------------------------------------------
def hover_value(page, x: float, y: float) -> float:
    page.mouse.move(*screen_at(page, x, y))
    text = page.text_content("#hover-title")
    return float(re.search(r"→ (-?[\d.]+)", text).group(1))


def test_the_plane_is_fitted_in_a_few_seconds_and_its_map_shows_values(page):
    open_playground(page)
    page.click("button[data-preset='plane']")
    settled(page)
    assert page.eval_on_selector_all("#loss option", "os => os.map(o => o.value)") == [
        "mse", "l1", "huber"
    ]
    assert page.input_value("#loss") == "mse"
    assert page.is_hidden("#train-acc")
    page.select_option("#speed-select", "0")
    play_until(page, "parseFloat(document.querySelector('#train-loss').textContent) < 0.01", 10_000)
    assert page.is_visible("#value-legend")
    assert page.text_content("#legend-lo") == "-1.0"
    assert page.text_content("#legend-hi") == "1.0"
    assert hover_value(page, 0.5, 0.5) == pytest.approx(0.5, abs=0.1)  # (x + y) / 2
    assert hover_value(page, -0.6, -0.2) == pytest.approx(-0.4, abs=0.1)
    page.console_errors.assert_none()


def test_drawn_values_travel_in_the_link(page):
    open_playground(page)
    page.click("button[data-preset='custom']")
    page.click("#draw-task button[data-task='regression']")
    page.wait_for_selector("#value-pick", state="visible")
    assert "Two points or more" in page.text_content("#empty-hint")
    page.eval_on_selector("#draw-value", "e => { e.value = '2.5'; e.dispatchEvent(new Event('input')); }")
    click_at(page, 0.2, 0.2)
    page.eval_on_selector("#draw-value", "e => { e.value = '-1'; e.dispatchEvent(new Event('input')); }")
    click_at(page, -0.4, 0.1)
    settled(page)
    state = link_state(page)
    assert state["config"]["dataset"]["task"] == "regression"
    assert [p[2] for p in state["points"]] == [2.5, -1]
    page.wait_for_function(PICTURE)


GRID = [-0.8, -0.4, 0.0, 0.4, 0.8]
PROBES = [(-0.5, -0.5), (0.0, 0.0), (0.5, 0.5), (-0.5, 0.5)]


def least_squares(points, probes) -> np.ndarray:
    """numpy's L2 fit of a plane to the points, at the probes."""
    p = np.asarray(points, np.float64)
    a = np.column_stack([p[:, 0], p[:, 1], np.ones(len(p))])
    coef, *_ = np.linalg.lstsq(a, p[:, 2], rcond=None)
    return np.asarray([[x, y, 1.0] for x, y in probes]) @ coef


def fit_at_probes(page) -> np.ndarray:
    play_until(page, f"{STEP} > 3000")
    return np.asarray([hover_value(page, x, y) for x, y in PROBES])


def test_dragging_one_point_far_off_moves_an_l2_fit_more_than_an_l1_fit(page):
    points = [[x, y, (x + y) / 2] for x in GRID for y in GRID]
    moved = {}
    for loss in ("mse", "l1"):
        state = {
            "config": {
                "dataset": {"name": "custom", "task": "regression", "val_fraction": 0,
                            "test_fraction": 0},
                "model": {"hidden": []},
                "training": {"loss": loss, "batch_size": 25, "learning_rate": 0.1},
                "play": {"steps_per_frame": 0},
            },
            "points": points,
        }
        page.goto("about:blank")  # a new load: a link differing only in its hash would not be
        open_playground(page, link(state))
        before = fit_at_probes(page)
        if loss == "mse":
            np.testing.assert_allclose(before, least_squares(points, PROBES), atol=0.05)
        page.click("#tool-drag")
        page.mouse.move(*screen_at(page, -0.8, -0.8))
        page.mouse.down()
        page.mouse.move(*screen_at(page, -0.8, 0.0), steps=10)  # up by 0.4 of the plot: +8
        page.mouse.up()
        settled(page)
        dragged = link_state(page)["points"]
        corner = next(p for p in dragged if p[:2] == [-0.8, -0.8])
        assert corner[2] > 6
        after = fit_at_probes(page)
        if loss == "mse":
            np.testing.assert_allclose(after, least_squares(dragged, PROBES), atol=0.1)
        moved[loss] = float(np.abs(after - before).mean())
    assert moved["mse"] > 0.25
    assert moved["l1"] < moved["mse"] / 3
    page.console_errors.assert_none()


# ---- the test split and the final exam ------------------------------------------------------------
def test_the_final_exam_is_marked_only_when_asked_and_counts_the_looks(page):
    open_playground(page)
    n_test = round(DEFAULT.dataset.samples * DEFAULT.dataset.test_fraction)
    assert page.text_content("#exam-result") == f"{n_test} test points, not looked at yet"
    assert "cheating" in page.text_content("#exam-why")
    page.select_option("#speed-select", "0")
    page.select_option("#learning_rate", "0.3")
    play_until(page, "parseFloat(document.querySelector('#val-acc').textContent) >= 90", 60_000)
    page.click("#btn-exam")
    page.wait_for_function("document.querySelector('#exam-result').textContent.startsWith('Test')")
    result = page.text_content("#exam-result")
    assert f"on {n_test} points at step {step_count(page):,}" in result
    assert percent(page, "#exam-result") >= 80
    assert page.is_hidden("#exam-warn")
    page.click("#btn-exam")
    page.wait_for_selector("#exam-warn", state="visible")
    assert "2 times" in page.text_content("#exam-warn")
    # The test points can be shown (where, not what); without a test share there is no exam.
    overlay = "document.querySelector('#points').toDataURL()"
    hidden = page.evaluate(overlay)
    page.check("#show-test")
    assert page.evaluate(overlay) != hidden
    page.eval_on_selector(
        "#test_fraction",
        "e => { e.value = '0'; e.dispatchEvent(new Event('input'));"
        " e.dispatchEvent(new Event('change')); }",
    )
    settled(page)
    assert page.is_disabled("#btn-exam")
    assert page.text_content("#exam-result") == "no test points held out"
    assert page.text_content("#split-label") == "Training 70% · validation 30% · test 0%"
    page.console_errors.assert_none()


# Counts, per canvas, the round marks (arc) and the straight edges (lineTo) drawn on it.
COUNT_MARKS = """
for (const name of ["arc", "lineTo"]) {
  const draw = CanvasRenderingContext2D.prototype[name];
  CanvasRenderingContext2D.prototype[name] = function (...args) {
    const marks = (this.canvas.__marks ||= { arc: 0, lineTo: 0 });
    marks[name] += 1;
    return draw.apply(this, args);
  };
}
"""


def test_preset_icons_tell_classes_apart_by_shape_too(page):
    """A learner who cannot tell orange from blue still tells the classes of a preset apart: its
    icon draws them in the plot's shapes (class 1 circles, class 2 squares, ...); the values of
    a regression preset are coloured dots."""
    page.add_init_script(COUNT_MARKS)
    open_playground(page)
    marks = page.eval_on_selector_all(
        ".mlp-preset", "bs => Object.fromEntries(bs.map(b => [b.dataset.preset,"
        " b.querySelector('canvas').__marks]))",
    )
    for name in ("circle", "xor", "spiral", "blobs"):  # classes: circles and polygons
        assert marks[name]["arc"] > 0 and marks[name]["lineTo"] > 0, (name, marks[name])
    for name in ("plane", "gaussians"):  # values: dots only
        assert marks[name]["lineTo"] == 0, (name, marks[name])
