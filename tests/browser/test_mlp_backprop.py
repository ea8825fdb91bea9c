"""The MLP playground's backpropagation in real headless Chromium: the backward view while
playing, the vanishing-gradient demo, one example step by step, and the tensors."""

from __future__ import annotations

import json
from io import BytesIO

import numpy as np
import pytest
from PIL import Image

from tests.browser.test_mlp import STEP, click_at, open_playground, settled, step_count

pytestmark = pytest.mark.browser

# Every JSON message the page receives, recorded before its scripts run.
RECORD_RECEIVED = """
window.__received = [];
const NativeSocket = window.WebSocket;
window.WebSocket = class extends NativeSocket {
  constructor(...args) {
    super(...args);
    this.addEventListener("message", (e) => {
      if (typeof e.data === "string") window.__received.push(e.data);
    });
  }
};
"""


def received(page, kind: str) -> list[dict]:
    return [m for m in map(json.loads, page.evaluate("window.__received")) if m["type"] == kind]


def links_png(page) -> bytes:
    """The network's links alone (the neuron maps hidden for the shot), as a PNG."""
    page.evaluate("document.querySelector('#network .mlp-cols').style.visibility = 'hidden'")
    try:
        return page.locator("#network").screenshot()
    finally:
        page.evaluate("document.querySelector('#network .mlp-cols').style.visibility = ''")


def link_pixels(png: bytes) -> int:
    """Pixels of the two link colours (blue / orange, any opacity over white)."""
    rgb = np.asarray(Image.open(BytesIO(png)).convert("RGB")).astype(int)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    blue = (b > r + 40) & (b > 150)
    orange = (r > b + 60) & (r > 180) & (g > b)
    return int((blue | orange).sum())


def shown(text: str) -> float:
    """A number as the page shows it (with a real minus sign) as a float."""
    return float(text.replace("−", "-"))


def test_backward_view_while_playing_redraws_the_links_live(page):
    open_playground(page)
    page.click("#btn-play")
    page.wait_for_function(f"{STEP} > 50")
    forward = links_png(page)
    page.click("button[data-mode='backward']")
    page.wait_for_selector("#network[data-drawn='backward']")
    page.wait_for_function("document.querySelector('#net-source').textContent.includes('250')")
    first = links_png(page)
    step = step_count(page)
    page.wait_for_function(f"{STEP} > {step + 300}")  # still training, frames keep coming
    second = links_png(page)
    page.click("#btn-play")
    page.wait_for_selector("#btn-play[data-state='paused']")
    assert link_pixels(first) > 500, "the backward view drew no links"
    assert link_pixels(second) > 500
    assert first != forward, "switching to the backward view changed nothing"
    assert second != first, "the gradient links did not follow training"
    assert "all 250 training points" in page.text_content("#net-source")
    assert page.is_visible("#legend-backward")
    # Each layer's gradient size under its column, as in the chart's table (once both show the
    # last frame).
    page.wait_for_function(
        "() => { const under = Array.from(document.querySelectorAll('#network .mlp-gnorm'))"
        ".map(e => e.textContent.split('\\n').pop()).filter(Boolean);"
        " const table = Array.from(document.querySelectorAll('#grad-norms .mlp-gn-value'))"
        ".map(e => e.textContent);"
        " return under.length === 3 && under.join() === table.join(); }"
    )
    # The source of the gradients is a choice, and the page says which it shows.
    page.select_option("#grad-over", "batch")
    page.wait_for_function(
        "document.querySelector('#net-source').textContent.includes('last mini-batch (10 points)')"
    )
    assert "the last mini-batch (10 points)" in page.text_content("#grad-source")
    # The view travels in the link.
    page.reload()
    settled(page)
    page.wait_for_selector("#network[data-drawn='backward']")
    assert page.get_attribute("button[data-mode='backward']", "aria-checked") == "true"
    assert page.input_value("#grad-over") == "batch"
    page.console_errors.assert_none()


def test_the_backward_view_draws_sign_as_colour_and_size_on_a_log_scale(page):
    open_playground(page)
    styles = page.evaluate(
        """async () => {
        const m = await import('/static/js/mlp-gradients.js');
        return [1e-3, 1e-5, -1e-7, 1e-9, 1e-12, 0].map((g) => m.gradientLinkStyle(g, 1e-3));
    }"""
    )
    widths = [float(s["width"]) for s in styles]
    assert widths[0] > widths[1] > widths[2] > widths[3]  # two decades apart: clearly thinner
    assert widths[3] == widths[4] == widths[5] == pytest.approx(0.6)  # hairlines, still drawn
    assert styles[0]["stroke"] == styles[1]["stroke"]
    assert styles[2]["stroke"] != styles[1]["stroke"]  # negative: the other colour


def test_walk_one_example_step_by_step(page):
    page.add_init_script(RECORD_RECEIVED)
    open_playground(page)
    page.click("#btn-step")
    page.wait_for_function(f"{STEP} >= 1")
    data = received(page, "configured")[-1]["data"]["train"]
    index = 5
    x, y, label = data[index]
    click_at(page, x, y)
    page.wait_for_selector("#walk[data-stage='input']")
    walk = received(page, "explanation")[-1]
    assert walk["index"] == index
    assert f"Training point {index + 1} at" in page.text_content("#walk-point")
    layers = walk["layers"]
    stages = page.eval_on_selector_all(".mlp-walk-dot", "ds => ds.map(d => d.dataset.kind)")
    assert stages == ["input", *["forward"] * 3, "loss", *["backward"] * 3, "update"]
    page.click("#walk-next")  # forward through hidden layer 1
    assert page.get_attribute("#walk", "data-stage") == "forward"
    assert page.locator("#network .mlp-node.hl").count() == 4  # its neurons light up
    for j, z in enumerate(layers[0]["z"]):
        unit = page.locator(f"#walk-content .mlp-walk-unit[data-unit='{j}']")
        values = [float(v) for v in unit.locator(".mlp-num").evaluate_all(
            "ns => ns.map(n => n.dataset.value)")]
        assert z in values  # z_j, to the last digit
        assert layers[0]["outputs"][j] in values  # a_j = tanh(z_j)
    for _ in range(3):
        page.click("#walk-next")
    assert page.get_attribute("#walk", "data-stage") == "loss"
    loss = page.locator("#walk-content .mlp-loss-value")
    assert float(loss.get_attribute("data-value")) == walk["loss"]["value"]
    assert shown(loss.text_content()) == pytest.approx(walk["loss"]["value"], rel=1e-3)
    page.click("#walk-next")  # backward at the output: delta = p - t
    deltas = page.locator("#walk-content .mlp-delta")
    assert float(deltas.first.get_attribute("data-value")) == layers[-1]["delta"][0]
    page.keyboard.press("ArrowRight")  # the arrow keys step too (focus is in the panel)
    page.keyboard.press("ArrowRight")
    assert page.get_attribute("#walk", "data-stage") == "backward"
    assert page.locator("#network .mlp-node.hl").count() == 4  # back at hidden layer 1
    got = [float(v) for v in deltas.evaluate_all("ns => ns.map(n => n.dataset.value)")]
    assert got == layers[0]["delta"]
    page.click("#walk-next")
    assert page.get_attribute("#walk", "data-stage") == "update"
    first = walk["update"]["layers"][-1]["weight"]
    new = page.locator("#walk-content details[open] .mlp-new .mlp-num").first
    assert float(new.get_attribute("data-value")) == first["new"][0][0]
    assert page.is_disabled("#walk-next")
    # The picked example's activation tensors in the tensor inspector.
    page.click("#network .mlp-col-pick[data-layer='0']")
    acts = page.locator("#tensor-inspector .mlp-tensor-acts")
    assert f"Training point {index + 1}" in acts.text_content()
    values = [float(v) for v in acts.locator(".mlp-num").evaluate_all(
        "ns => ns.map(n => n.dataset.value)")]
    assert values == [*layers[0]["inputs"], *layers[0]["z"], *layers[0]["outputs"]]
    page.console_errors.assert_none()


def test_picking_a_validation_point_says_why_not(page):
    page.add_init_script(RECORD_RECEIVED)
    open_playground(page)
    x, y, _ = received(page, "configured")[-1]["data"]["val"][0]
    click_at(page, x, y)
    page.locator(".toast", has_text="validation point").wait_for()
    assert page.is_hidden("#walk-body")


def norms_shown(page) -> list[float]:
    return [shown(v) for v in page.locator("#grad-norms .mlp-gn-value").all_text_contents()]


def test_vanishing_gradients_with_six_sigmoid_layers_not_with_relu(page):
    open_playground(page)
    page.click("#demo-sigmoid")
    settled(page)
    assert page.input_value("#activation") == "sigmoid"
    assert page.text_content("#layer-count") == "6"
    page.wait_for_selector("#network[data-drawn='backward']")
    page.click("#btn-play")
    page.wait_for_function(f"{STEP} > 300")
    page.click("#btn-play")
    page.wait_for_selector("#btn-play[data-state='paused']")
    norms = norms_shown(page)
    assert len(norms) == 7
    assert norms[-1] / norms[0] >= 100  # the first layer's gradient, orders of magnitude below
    assert page.locator("#grad-norms .mlp-gn-summary.vanishing").count() == 1
    width = "(l) => { const ws = Array.from(document.querySelectorAll(`path[data-link^='${l},']`))" \
        ".map(p => +p.getAttribute('stroke-width')); return Math.max(...ws); }"
    assert page.evaluate(f"({width})(0)") < page.evaluate(f"({width})(6)")  # thinnest first
    page.click("#demo-relu")
    settled(page)
    page.wait_for_function("document.querySelector('#grad-source').textContent.includes('step 0.')")
    page.click("#btn-play")
    page.wait_for_function(f"{STEP} > 300")
    page.click("#btn-play")
    page.wait_for_selector("#btn-play[data-state='paused']")
    norms = norms_shown(page)
    assert page.input_value("#activation") == "relu"
    assert norms[-1] / norms[0] < 100
    assert page.locator("#grad-norms .mlp-gn-summary.vanishing").count() == 0
    page.console_errors.assert_none()


def test_the_tensor_table_names_every_shape(page):
    open_playground(page)
    rows = page.locator("#tensor-table tr[data-layer]")
    assert rows.count() == 6  # Linear, tanh, Linear, tanh, Linear, sigmoid
    first = rows.first.locator("td")
    assert first.nth(1).text_content().startswith("N × 2")
    assert first.nth(3).text_content().startswith("N × 4")
    assert "float32 · cpu" in first.nth(4).text_content()
    assert "10 points in a training step" in page.text_content("#tensor-n")
    rows.first.click()
    inspector = page.locator("#tensor-inspector")
    assert "W 4 × 2 (h1 × features)" in inspector.text_content()
    cells = [shown(c) for c in inspector.locator(".mlp-tensor-grid.weights td").all_text_contents()]
    assert len(cells) == 8
    stats = inspector.locator(".mlp-tensor-stats").first.locator(".mlp-num").all_text_contents()
    assert shown(stats[0]) == pytest.approx(min(cells), abs=1e-3)  # min
    assert shown(stats[1]) == pytest.approx(max(cells), abs=1e-3)  # max
