"""The activation and loss explorer in real headless Chromium: curves change, the outlier pulls L2."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

PIXELS = ("(sel) => { const c = document.querySelector(sel);"
          " return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data); }")


def open_lab(page) -> None:
    page.goto("/functions")
    page.wait_for_function("document.querySelector('#fit-l2-slope').textContent !== '–'")


def slopes(page) -> dict[str, float]:
    return {k: float(page.text_content(f"#fit-{k}-slope")) for k in ("l1", "l2")}


def test_switch_activation_and_the_curve_changes(page):
    open_lab(page)
    relu = page.evaluate(PIXELS, "#act-plot")
    page.click("[data-activation=sigmoid]")
    page.wait_for_function("document.querySelector('#act-note').textContent.startsWith('Sigmoid')")
    assert page.evaluate(PIXELS, "#act-plot") != relu
    # Sigmoid's derivative peaks at 1/4 and half the plotted inputs are saturated.
    assert page.text_content("#max-grad") == "0.250"
    assert int(page.text_content("#saturated").rstrip("%")) > 40
    page.click("[data-activation=leaky_relu]")
    page.wait_for_function("document.querySelector('#act-note').textContent.startsWith('Leaky')")
    assert page.is_visible("#slope") and not page.is_visible("#lower")
    page.click("[data-loss=bce]")
    page.wait_for_function("document.querySelector('#loss-note').textContent.startsWith('Binary')")
    assert page.is_visible("#ptarget") and not page.is_visible("#target")


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
    page.wait_for_function(f"Math.abs(parseFloat(document.querySelector('#fit-l2-slope')"
                           f".textContent) - {before['l2']}) > 0.1")
    page.wait_for_timeout(300)  # the last throttled update lands
    after = slopes(page)
    moved = {k: abs(after[k] - before[k]) for k in after}
    assert moved["l2"] > 3 * moved["l1"], (before, after)
    page.screenshot(path="/tmp/functions.png", full_page=True)
