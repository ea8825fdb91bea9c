"""The activation and loss explorer in real headless Chromium: curves change, the outlier pulls L2."""

from __future__ import annotations

import pytest
import torch

from ml_core.functions import fit_l1, fit_l2

pytestmark = pytest.mark.browser

# Pixels of a canvas close to the curves' blue (#1f77b4): 0 on a blank or curve-less canvas.
BLUE_PIXELS = """(sel) => {
  const c = document.querySelector(sel);
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4)
    if (Math.abs(d[i] - 31) < 40 && Math.abs(d[i + 1] - 119) < 40 && Math.abs(d[i + 2] - 180) < 40
        && d[i + 3] > 200) n++;
  return n;
}"""
# A fingerprint of a canvas's pixels, to wait for them to change.
FINGERPRINT = """(sel) => {
  const c = document.querySelector(sel);
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let h = 0;
  for (let i = 0; i < d.length; i++) h = (h * 31 + d[i]) | 0;
  return h;
}"""
# The page's state as its URL holds it (the shareable link).
STATE = """() => {
  const m = /#s=([A-Za-z0-9_-]+)/.exec(location.hash);
  if (!m) return null;
  const b = m[1].replace(/-/g, '+').replace(/_/g, '/');
  return JSON.parse(atob(b + '==='.slice((b.length + 3) % 4)));
}"""


def open_lab(page) -> None:
    page.goto("/functions")
    page.wait_for_function("document.querySelector('#fit-l2-slope').textContent !== '–'")


def slopes(page) -> dict[str, float]:
    return {k: float(page.text_content(f"#fit-{k}-slope")) for k in ("l1", "l2")}


def test_switch_activation_and_the_curve_changes(page):
    open_lab(page)
    assert page.evaluate(BLUE_PIXELS, "#act-plot") > 100  # ReLU is drawn: not a blank canvas
    relu = page.evaluate(FINGERPRINT, "#act-plot")
    page.click("[data-activation=sigmoid]")
    page.wait_for_function(f"({FINGERPRINT})('#act-plot') !== {relu}")
    assert page.text_content("#act-note").startswith("Sigmoid")
    assert page.evaluate(BLUE_PIXELS, "#act-plot") > 100  # and the new curve is drawn
    # Sigmoid's derivative peaks at 1/4 and half the plotted inputs are saturated.
    assert page.text_content("#max-grad") == "0.250"
    assert int(page.text_content("#saturated").rstrip("%")) > 40
    page.click("[data-activation=leaky_relu]")
    page.wait_for_function("document.querySelector('#act-note').textContent.startsWith('Leaky')")
    assert page.is_visible("#slope")
    assert not page.is_visible("#lower")
    page.click("[data-loss=bce]")
    page.wait_for_function("document.querySelector('#loss-note').textContent.startsWith('Binary')")
    assert page.is_visible("#ptarget")
    assert not page.is_visible("#target")
    # The URL is a link to this setup: a new tab (a new session) opens on the same choices.
    shared = page.context.new_page()
    shared.goto(page.url)
    shared.wait_for_function(
        "document.querySelector('#loss-note').textContent.startsWith('Binary')"
    )
    assert shared.text_content("#act-note").startswith("Leaky")
    assert shared.get_attribute("[data-activation=leaky_relu]", "aria-pressed") == "true"
    shared.close()


def test_softmax_temperature_sharpens(page):
    open_lab(page)
    first = lambda: float(page.text_content(".fx-logit:first-child .fx-prob").rstrip("%"))  # noqa: E731
    before = first()
    page.locator("#temperature").fill("-1")  # T = 0.1
    page.wait_for_function("document.querySelector('#temperature-label').textContent === '0.10'")
    page.wait_for_function(f"parseFloat(document.querySelector('.fx-logit .fx-prob').textContent) > {before}")
    assert first() > 99
    page.click("#logit-add")
    page.wait_for_function("document.querySelectorAll('.fx-logit').length === 5")


def test_drag_the_outlier_and_l2_moves_more_than_l1(page):
    open_lab(page)
    before = slopes(page)
    canvas = page.locator("#fit-plot")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    # Plot area: 44 px left margin, 10 right, 10 top, 34 bottom; data range [0, 10]².
    x = lambda v: box["x"] + 44 + (box["width"] - 54) * v / 10  # noqa: E731
    y = lambda v: box["y"] + 10 + (box["height"] - 44) * (1 - v / 10)  # noqa: E731
    page.mouse.move(x(8), y(1))  # the outlier starts at (8, 1)
    page.mouse.down()
    page.mouse.move(x(8), y(9.5), steps=10)
    page.mouse.up()
    # The last throttled update has left the page once its link holds the outlier's final place.
    page.wait_for_function(f"({STATE})().config.fit.points.at(-1)[1] > 9.4")
    points = page.evaluate(STATE)["config"]["fit"]["points"]
    expected = {"l1": fit_l1(torch.tensor(points)), "l2": fit_l2(torch.tensor(points))}
    # The page shows the server's fits of exactly those points (checked against the core's).
    shown = " && ".join(
        f"Math.abs(parseFloat(document.querySelector('#fit-{k}-slope').textContent)"
        f" - {fit.slope}) < 0.0011"
        for k, fit in expected.items()
    )
    page.wait_for_function(shown)
    after = slopes(page)
    moved = {k: abs(after[k] - before[k]) for k in after}
    assert moved["l2"] > 3 * moved["l1"], (before, after)


def readout(page, selector: str) -> dict[str, float]:
    """The read-out's numbers by name, e.g. {"x": 1.2, "f(x)": 1.2, "f′(x)": 1.0}."""
    parts = (part.split(" = ") for part in page.text_content(selector).split(" · "))
    return {name: float(value) for name, value in parts}


def hover_x(page, canvas: str, x: float, lo: float, hi: float) -> None:
    """Point at data x on a plot whose x axis spans [lo, hi] (margins: 44 px left, 10 right)."""
    box = page.locator(canvas).bounding_box()
    px = box["x"] + 44 + (box["width"] - 54) * (x - lo) / (hi - lo)
    page.mouse.move(px, box["y"] + box["height"] / 2)


def test_hovering_the_activation_plot_reads_x_f_and_its_derivative(page):
    open_lab(page)
    page.click("[data-activation=sigmoid]")
    page.wait_for_function("document.querySelector('#act-note').textContent.startsWith('Sigmoid')")
    page.locator("#act-plot").scroll_into_view_if_needed()
    before = page.evaluate(FINGERPRINT, "#act-plot")
    hover_x(page, "#act-plot", -2.0, -6.0, 6.0)
    page.wait_for_function("document.querySelector('#act-readout').textContent.startsWith('x = ')")
    values = readout(page, "#act-readout")
    assert values["x"] == pytest.approx(-2.0, abs=0.03)  # the sample nearest the cursor
    s = torch.sigmoid(torch.tensor(values["x"], dtype=torch.float64))
    assert values["f(x)"] == pytest.approx(float(s), abs=1e-4)
    assert values["f′(x)"] == pytest.approx(float(s * (1 - s)), abs=1e-4)
    assert page.evaluate(FINGERPRINT, "#act-plot") != before  # the cursor is marked


def test_the_plots_read_out_by_keyboard_too(page):
    open_lab(page)
    page.focus("[data-activation=relu]")
    for _ in range(30):  # Tab on from the activation buttons until the plot has the focus
        if page.evaluate("document.activeElement.id") == "act-plot":
            break
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "act-plot"
    page.wait_for_function("document.querySelector('#act-readout').textContent.startsWith('x = ')")
    start = readout(page, "#act-readout")
    assert start["x"] == pytest.approx(0.0, abs=1e-6)  # focus starts at x = 0
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Shift+ArrowRight")
    page.wait_for_function("!document.querySelector('#act-readout').textContent.startsWith('x = 0.0000')")
    values = readout(page, "#act-readout")
    step = 12 / (240)  # 241 samples on [-6, 6]
    assert values["x"] == pytest.approx(11 * step, abs=1e-3)
    assert values["f(x)"] == pytest.approx(values["x"], abs=1e-4)  # ReLU: x for x > 0
    assert values["f′(x)"] == 1.0
    page.keyboard.press("Home")
    page.wait_for_function("document.querySelector('#act-readout').textContent.startsWith('x = -6')")
    assert readout(page, "#act-readout")["f′(x)"] == 0.0


def test_hovering_the_loss_plot_reads_prediction_loss_and_its_derivative(page):
    open_lab(page)  # L2 with target 0: loss = p², d loss / d p = 2p
    page.locator("#loss-plot").scroll_into_view_if_needed()
    hover_x(page, "#loss-plot", 1.5, -4.0, 4.0)
    page.wait_for_function(
        "document.querySelector('#loss-readout').textContent.startsWith('prediction = ')"
    )
    values = readout(page, "#loss-readout")
    p = values["prediction"]
    assert p == pytest.approx(1.5, abs=0.04)
    assert values["loss"] == pytest.approx(p**2, abs=1e-3)
    assert values["d loss/d prediction"] == pytest.approx(2 * p, abs=1e-3)
    page.locator("#loss-plot").focus()
    page.keyboard.press("End")
    page.wait_for_function(
        "document.querySelector('#loss-readout').textContent.startsWith('prediction = 4.0000')"
    )
    assert readout(page, "#loss-readout")["loss"] == pytest.approx(16.0, abs=1e-3)
