"""The MLP playground in real headless Chromium: draw, train, share, and honest failure."""

from __future__ import annotations

import base64
import json
import re

import pytest

from ml_core.datasets2d import DATASETS
from ml_core.mlp import ACTIVATIONS, LOSSES, OPTIMIZERS
from ml_core.mlp_config import PlaygroundConfig

pytestmark = pytest.mark.browser

# The boundary canvas's pixels as a list, to tell whether the picture changed.
PIXELS = (
    "() => { const c = document.querySelector('#boundary');"
    " return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data); }"
)
# True when the boundary canvas holds a picture: more than one colour (a blank map has one).
PICTURE = (
    "() => { const c = document.querySelector('#boundary');"
    " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
    " for (let i = 4; i < d.length; i += 4) {"
    " if (d[i] !== d[0] || d[i + 1] !== d[1] || d[i + 2] !== d[2]) return true; }"
    " return false; }"
)
# The step counter as a number (it is shown with thousands separators).
STEP = "parseInt(document.querySelector('#step').textContent.replace(/,/g, ''))"
# Every message the page sends, recorded before its scripts run.
RECORD_SENT = """
window.__sent = [];
const send = WebSocket.prototype.send;
WebSocket.prototype.send = function (data) { window.__sent.push(data); return send.call(this, data); };
"""


def percent(page, selector: str) -> float:
    text = page.text_content(selector) or ""
    match = re.search(r"([\d.]+)%", text)
    return float(match.group(1)) if match else -1.0


def step_count(page) -> int:
    return int((page.text_content("#step") or "0").replace(",", ""))


def colours(pixels: list[int]) -> int:
    return len(set(zip(pixels[0::4], pixels[1::4], pixels[2::4], strict=True)))


def settled(page) -> None:
    """Wait until the server has answered the page's last configure and the page took it."""
    page.wait_for_selector("#mlp[data-synced='true']")


def open_playground(page, url: str = "/mlp") -> None:
    page.goto(url)
    settled(page)
    # The server's answer has been taken: the parameter count is filled in and a frame drawn.
    page.wait_for_function("document.querySelector('#params').textContent !== '–'")
    page.wait_for_function("document.querySelector('#boundary').width > 1")


# The plot's square on screen (inside its border): data [-1, 1]² spans it; the points' canvas
# overhangs it so that points on the edge are drawn whole.
PLOT_BOX = (
    "() => { const p = document.querySelector('#plot'); const r = p.getBoundingClientRect();"
    " return {x: r.left + p.clientLeft, y: r.top + p.clientTop,"
    " width: p.clientWidth, height: p.clientHeight}; }"
)


def screen_at(page, x: float, y: float) -> tuple[float, float]:
    """Where data coordinates (x, y) in [-1, 1] are on screen."""
    box = page.evaluate(PLOT_BOX)
    return box["x"] + (x + 1) / 2 * box["width"], box["y"] + (1 - y) / 2 * box["height"]


def click_at(page, x: float, y: float) -> None:
    """Click the plot at data coordinates (x, y) in [-1, 1]."""
    page.mouse.click(*screen_at(page, x, y))


def draw_two_clusters(page) -> None:
    page.click("button[data-preset='custom']")
    page.click("#btn-clear")
    page.wait_for_selector("#empty-hint", state="visible")
    offsets = [
        (0, 0), (0.08, 0.05), (-0.07, 0.06), (0.05, -0.08), (-0.06, -0.05),
        (0.1, -0.02), (-0.1, 0.0), (0.02, 0.1), (0.0, -0.1), (0.12, 0.1),
    ]
    for cls, (cx, cy) in enumerate([(-0.5, 0.5), (0.5, -0.5)]):
        page.click(f".mlp-swatch[data-class='{cls}']")
        for dx, dy in offsets:
            click_at(page, cx + dx, cy + dy)
    page.wait_for_selector("#empty-hint", state="hidden")


def test_draw_points_and_train(page):
    open_playground(page)
    draw_two_clusters(page)
    assert page.text_content("#samples-label") == "20 drawn"
    settled(page)
    # The network's first picture of the drawn data (untrained) is on the canvas.
    page.wait_for_function(PICTURE)
    before = page.evaluate(PIXELS)
    page.click("#btn-play")
    page.wait_for_selector("#btn-play[data-state='playing']")
    page.wait_for_function(
        "() => ['#train-acc', '#val-acc'].every(s =>"
        " parseFloat(document.querySelector(s).textContent) >= 90)",
        timeout=30_000,
    )
    page.click("#btn-play")
    page.wait_for_selector("#btn-play[data-state='paused']")
    assert percent(page, "#train-acc") >= 90
    assert percent(page, "#val-acc") >= 90
    after = page.evaluate(PIXELS)
    assert len(after) == len(before)
    assert colours(before) > 1
    assert colours(after) > 1
    assert after != before, "the decision map did not change while training"
    assert step_count(page) > 0
    # The read-out under the cursor names the class of the cluster there (map orientation).
    for (x, y), name in [((-0.5, 0.5), "class 1"), ((0.5, -0.5), "class 2")]:
        page.mouse.move(*screen_at(page, x, y))
        assert f"→ {name}," in page.text_content("#hover-title")
    page.console_errors.assert_none()


def test_shared_link_restores_state(page):
    open_playground(page)
    page.click("button[data-preset='xor']")
    page.click("#layer-add")
    page.select_option("#activation", "relu")
    page.select_option("#learning_rate", "0.1")
    page.fill("#seed", "7")
    page.press("#seed", "Enter")
    page.click("button[data-feature='x1x2']")
    draw_two_clusters(page)  # the drawn points travel in the link too
    settled(page)
    url = page.url
    assert "#s=" in url

    other = page.context.new_page()
    errors = []
    other.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    other.on("pageerror", lambda e: errors.append(str(e)))
    open_playground(other, url)
    other.wait_for_selector("#empty-hint", state="hidden")
    settled(other)
    other.wait_for_function(PICTURE)  # the first frame after the answer
    for selector in ["#activation", "#learning_rate", "#seed", "#optimizer", "#loss"]:
        assert other.input_value(selector) == page.input_value(selector), selector
    assert other.input_value("#activation") == "relu"
    assert other.input_value("#learning_rate") == "0.1"
    assert other.input_value("#seed") == "7"
    assert other.text_content("#layer-count") == "3"
    assert other.get_attribute("button[data-preset='custom']", "aria-checked") == "true"
    assert "on" in (other.get_attribute("button[data-feature='x1x2']", "class") or "")
    assert other.text_content("#samples-label") == "20 drawn"
    assert other.text_content("#params") == page.text_content("#params")
    # Same points, same train/validation split: the point overlays are identical.
    overlay = "document.querySelector('#points').toDataURL()"
    page.mouse.move(0, 0)
    page.evaluate("document.querySelector('#points').dispatchEvent(new Event('pointerleave'))")
    assert other.evaluate(overlay) == page.evaluate(overlay)
    assert not errors, errors
    other.close()


def test_typing_a_seed_survives_a_render_before_enter(page):
    # A render set off by something else (here another control's change; in the wild, a server
    # message) while the learner is typing a seed must not undo the keys before Enter sends them.
    open_playground(page)
    page.fill("#seed", "7")
    page.evaluate(
        "() => { const s = document.querySelector('#activation'); s.value = 'relu';"
        " s.dispatchEvent(new Event('change')); }"
    )
    assert page.evaluate("document.activeElement.id") == "seed"
    assert page.input_value("#seed") == "7"
    page.press("#seed", "Enter")
    settled(page)
    page.click("#btn-regenerate")  # moves focus away; the field shows what the config holds
    settled(page)
    assert page.input_value("#seed") == "8"
    shared = json.loads(base64.urlsafe_b64decode(page.url.split("#s=")[1] + "=="))
    assert shared["config"]["dataset"]["seed"] == 8
    page.console_errors.assert_none()


def test_learning_rate_changes_without_reset(page):
    open_playground(page)
    page.click("#btn-play")
    page.wait_for_function(f"{STEP} > 100")
    # Watch the step counter from now on: a reset would send it back towards 0.
    before = step_count(page)
    page.evaluate(
        "() => { window.__minStep = Infinity; window.__watch = setInterval(() =>"
        f" {{ window.__minStep = Math.min(window.__minStep, {STEP}); }}, 5); }}"
    )
    page.select_option("#learning_rate", "0.1")
    page.wait_for_function(f"{STEP} > {before + 200}")
    page.click("#btn-play")
    page.wait_for_selector("#btn-play[data-state='paused']")
    assert page.evaluate("window.__minStep") >= before
    assert page.input_value("#learning_rate") == "0.1"
    page.evaluate("clearInterval(window.__watch)")


def test_xor_without_hidden_layer_says_why(page):
    open_playground(page)
    page.click("button[data-preset='xor']")
    page.click("#layer-remove")
    page.click("#layer-remove")
    assert page.is_disabled("#layer-remove")
    note = page.locator("#notes li", has_text="hidden layer")
    note.wait_for()
    assert "XOR" in note.first.text_content()
    assert page.text_content("#layer-count") == "0"


def test_hover_neuron_shows_its_map_large(page):
    open_playground(page)
    page.click("#btn-step")
    page.wait_for_function("document.querySelector('#step').textContent !== '0'")
    page.hover(".mlp-hidden >> nth=0")
    page.wait_for_selector(".mlp-neuron-large", state="visible")
    assert "neuron 1" in page.text_content("#hover-title")
    page.mouse.move(0, 0)
    page.wait_for_selector(".mlp-neuron-large", state="hidden")


def test_many_classes_and_bad_input(page):
    open_playground(page)
    page.click("button[data-preset='blobs']")
    page.wait_for_function("document.querySelectorAll('.mlp-swatch').length === 4")
    assert page.locator(".mlp-out").count() == 4  # one softmax unit per class
    assert "softmax" in page.text_content(".mlp-network")
    # A bad seed is refused with a visible message, never a console error.
    page.fill("#seed", "-3")
    page.press("#seed", "Enter")
    page.wait_for_selector(".toast.error")
    assert page.input_value("#seed") == "0"


def test_divergence_stops_with_a_clear_banner(page):
    # A partial config in the link (as the perceptron lab's "open in MLP playground" makes one):
    # six linear layers at learning rate 10 blow up within a few epochs.
    state = {"config": {"model": {"hidden": [8] * 6, "activation": "linear"},
                        "training": {"learning_rate": 10}}}
    raw = base64.urlsafe_b64encode(json.dumps(state).encode()).decode().rstrip("=")
    open_playground(page, f"/mlp#s={raw}")
    assert page.input_value("#learning_rate") == "10"
    assert page.text_content("#layer-count") == "6"
    page.click("#btn-play")
    banner = page.locator("#diverged")
    banner.wait_for(timeout=30_000)
    assert "diverged — lower the learning rate" in banner.text_content().lower()
    assert page.get_attribute("#btn-play", "data-state") == "paused"
    # The run stands where it blew up: its step and its curve stay (the blow-up is the lesson).
    assert step_count(page) > 0
    assert page.get_attribute("#chart", "data-last") is not None
    # One click lowers the learning rate and starts afresh.
    page.click("#btn-lower-lr")
    banner.wait_for(state="hidden")
    assert page.input_value("#learning_rate") == "1"


def test_refused_config_is_explained_and_rolled_back(page):
    open_playground(page)
    page.evaluate("document.querySelector('#batch_size').value = 0")  # batch size 1
    page.dispatch_event("#batch_size", "change")
    page.wait_for_function("document.querySelector('#batch-label').textContent === '1'")
    page.wait_for_function("document.querySelector('#notes').textContent.includes('stochastic')")
    page.click("#batch_norm")  # batch norm cannot normalise a batch of one point
    error = page.locator(".toast.error")
    error.wait_for()
    assert "batch" in error.text_content().lower()
    page.wait_for_function("!document.querySelector('#batch_norm').checked")
    assert "batch_norm%22%3Atrue" not in page.url


def drawn(page) -> int:
    return int((page.text_content("#samples-label") or "0").split()[0])


def test_drag_draws_a_stroke_and_erase_removes_it(page):
    open_playground(page)
    page.click("button[data-preset='custom']")
    page.click("#btn-clear")
    at = lambda x, y: screen_at(page, x, y)  # noqa: E731
    page.click(".mlp-swatch[data-class='1']")
    page.mouse.move(*at(-0.6, -0.6))
    page.mouse.down()
    page.mouse.move(*at(0.6, -0.6), steps=30)
    page.mouse.up()
    stroke = drawn(page)
    assert stroke >= 8, "a drag across the plot leaves a trail of points"
    page.click(".mlp-swatch[data-class='0']")
    for x in (-0.5, 0.0, 0.5):
        click_at(page, x, 0.6)
    assert drawn(page) == stroke + 3
    page.wait_for_selector("#empty-hint", state="hidden")  # two classes: the server trains on it
    page.click("#tool-erase")
    click_at(page, 0.0, -0.6)
    assert drawn(page) < stroke + 3
    assert drawn(page) >= stroke  # the eraser only took points near the cursor
    # Hiding the validation points (hollow) changes the overlay; showing them brings it back.
    page.mouse.move(0, 0)
    settled(page)
    overlay = "document.querySelector('#points').toDataURL()"
    shown = page.evaluate(overlay)
    page.uncheck("#show-val")
    assert page.evaluate(overlay) != shown
    page.check("#show-val")
    assert page.evaluate(overlay) == shown


def test_reload_resumes_the_session(page):
    page.add_init_script(RECORD_SENT)  # runs again after the reload
    open_playground(page)
    draw_two_clusters(page)
    settled(page)
    page.click("#btn-play")
    page.wait_for_function(f"{STEP} > 200")
    page.click("#btn-play")
    page.wait_for_selector("#btn-play[data-state='paused']")
    step = step_count(page)  # at most the step the run paused at
    page.reload()
    settled(page)
    # The server kept the run: the counter comes back where it was, not from 0 (a reconfigure).
    page.wait_for_function(f"{STEP} >= {step}")
    assert page.text_content("#samples-label") == "20 drawn"
    assert page.get_attribute("#btn-play", "data-state") == "paused"
    assert step_count(page) >= step
    sent = [json.loads(m)["type"] for m in page.evaluate("window.__sent")]
    assert "configure" not in sent  # the page agreed with the session: nothing reset it


def test_choices_and_defaults_come_from_the_server(page):
    open_playground(page)
    values = lambda select: page.eval_on_selector_all(  # noqa: E731
        f"{select} option", "options => options.map(o => o.value)"
    )
    assert values("#activation") == list(ACTIVATIONS)
    assert values("#loss") == list(LOSSES)
    assert values("#optimizer") == list(OPTIMIZERS)
    presets = page.eval_on_selector_all(".mlp-preset", "bs => bs.map(b => b.dataset.preset)")
    assert presets == [*DATASETS, "custom"]
    defaults = PlaygroundConfig()
    assert page.input_value("#activation") == defaults.model.activation
    assert page.input_value("#learning_rate") == str(defaults.training.learning_rate)
    assert page.text_content("#layer-count") == str(len(defaults.model.hidden))
    assert page.text_content("#samples-label") == str(defaults.dataset.samples)


def test_a_change_to_a_drawing_is_one_configure(page):
    page.add_init_script(RECORD_SENT)
    open_playground(page)
    draw_two_clusters(page)
    settled(page)
    page.evaluate("window.__sent = []")
    page.select_option("#activation", "relu")
    settled(page)
    sent = [json.loads(m) for m in page.evaluate("window.__sent")]
    assert [m["type"] for m in sent] == ["configure"]  # config and drawing in one message
    assert sent[0]["config"]["model"]["activation"] == "relu"
    assert len(sent[0]["points"]) == 20
    assert page.input_value("#activation") == "relu"  # the server's answer kept the change
    assert page.text_content("#samples-label") == "20 drawn"



def test_points_can_be_drawn_and_erased_from_the_keyboard(page):
    """Drawing without a pointer: Tab to the plot, arrows move a cursor (Shift: a quarter of the
    way), Enter draws at it; the eraser works the same way; each change is said and sent."""
    page.add_init_script(RECORD_SENT)
    open_playground(page)
    page.click("button[data-preset='custom']")
    page.click("#btn-clear")
    page.wait_for_selector("#empty-hint", state="visible")
    assert page.text_content("#empty-keys") == "Keyboard: arrow keys, then Enter."
    page.click(".mlp-swatch[data-class='1']")
    page.focus("#points")
    assert page.evaluate("document.activeElement.id") == "points"
    before = page.evaluate("document.querySelector('#points').toDataURL()")
    page.keyboard.press("ArrowRight")  # the cursor shows, at the centre
    assert page.evaluate("document.querySelector('#points').toDataURL()") != before
    page.keyboard.press("Enter")
    page.keyboard.press("Shift+ArrowLeft")
    page.keyboard.press("Shift+ArrowLeft")
    page.keyboard.press("Enter")
    assert drawn(page) == 2
    assert page.text_content("#draw-said") == "Added a point at (-0.50, 0.00): 2 points."
    page.click(".mlp-swatch[data-class='0']")  # a click elsewhere: the cursor starts again
    page.focus("#points")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Shift+ArrowUp")
    page.keyboard.press(" ")
    page.wait_for_selector("#empty-hint", state="hidden")  # two classes now: it trains
    settled(page)
    points = [m for m in map(json.loads, page.evaluate("window.__sent")) if m["type"] == "configure"]
    assert points[-1]["points"] == [[0, 0, 1], [-0.5, 0, 1], [0, 0.25, 0]]
    page.click("#tool-erase")
    page.focus("#points")
    page.keyboard.press("ArrowDown")  # at the centre again: the first point is under it
    page.keyboard.press("Enter")
    assert drawn(page) == 2
    assert page.text_content("#draw-said") == "Erased around (0.00, 0.00): 2 points left."
    settled(page)
    points = [m for m in map(json.loads, page.evaluate("window.__sent")) if m["type"] == "configure"]
    assert points[-1]["points"] == [[-0.5, 0, 1], [0, 0.25, 0]]
