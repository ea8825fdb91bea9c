"""The tensors explainer in real headless Chromium: six tensors of the app's data drawn with their
named shapes, slicing, reshaping, the flatten order on a real feature map, dtypes and devices;
no session and no socket."""

from __future__ import annotations

import base64

import httpx
import numpy as np
import pytest

pytestmark = pytest.mark.browser

NO_SOCKETS = """
window.__sockets = 0;
const Native = window.WebSocket;
window.WebSocket = function (...args) { window.__sockets += 1; return new Native(...args); };
"""
# How many colours a canvas shows (a blank or one-colour canvas has 1).
COLOURS = """(canvas) => {
  const d = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  const seen = new Set();
  for (let i = 0; i < d.length && seen.size < 50; i += 4) seen.add(`${d[i]},${d[i+1]},${d[i+2]}`);
  return seen.size; }"""
FIRST_PIXEL = "(canvas) => Array.from(canvas.getContext('2d').getImageData(0, 0, 1, 1).data)"


@pytest.fixture(scope="module")
def payload(live_server) -> dict:
    return httpx.get(f"{live_server}/api/tensors", timeout=120).json()


def array(wire: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(wire["data"]), wire["dtype"]).reshape(wire["shape"])


def named(wire: dict) -> str:
    return "(" + ", ".join(f"{d}={s}" for d, s in zip(wire["dims"], wire["shape"], strict=True)) + ")"


def open_page(page) -> None:
    page.goto("/tensors")
    page.wait_for_selector("#tensors[data-state='ready']", timeout=120_000)


def test_six_tensors_of_the_apps_data_are_drawn_with_named_shapes(page, payload):
    page.add_init_script(NO_SOCKETS)
    open_page(page)
    cards = page.locator(".tensor-card")
    assert cards.count() == 6
    for k, example in enumerate(payload["examples"]):
        card = cards.nth(k)
        assert card.get_attribute("data-rank") == str(k + 1)
        assert card.locator(".tensor-shape").inner_text() == named(example["tensor"])
        assert card.locator("h3").inner_text() == example["title"]
        assert card.locator("canvas").evaluate(COLOURS) > 1, f"{example['key']} is not drawn"
    assert page.evaluate("() => window.__sockets") == 0  # an explainer: no session
    assert page.is_hidden("#conn-status")


def test_slicing_a_dimension_drops_it_and_draws_what_is_left(page, payload):
    open_page(page)
    card = page.locator(".tensor-card[data-key='photos']")
    canvas = card.locator("canvas")
    before = canvas.evaluate(FIRST_PIXEL)
    card.locator("select[data-dim]").select_option("1")  # channels
    card.locator("input[data-index]").fill("2")  # blue
    assert card.locator(".tensor-code").inner_text() == (
        "x[:, 2] → (batch=4, height=64, width=64)"
    )
    assert card.locator("output").inner_text() == "2 (blue)"
    assert card.get_attribute("data-shown-rank") == "3"
    photos = array(next(e for e in payload["examples"] if e["key"] == "photos")["tensor"])
    after = canvas.evaluate(FIRST_PIXEL)
    blue = int(photos[0, 2, 0, 0])
    assert after[:3] == [blue, blue, blue]  # the first photo's blue channel, in grey
    assert before[:3] == [int(v) for v in photos[0, :, 0, 0]]  # it was in colour


def test_slicing_a_vector_leaves_one_number(page):
    open_page(page)
    card = page.locator(".tensor-card[data-key='weights']")
    card.locator("select[data-dim]").select_option("0")
    card.locator("input[data-index]").fill("4")
    assert card.locator(".tensor-code").inner_text() == "x[4] → one number"
    assert card.locator("output").inner_text() == "4 (x₁·x₂)"


def test_reshaping_keeps_the_order_of_the_numbers(page, payload):
    open_page(page)
    assert page.get_attribute("#reshape-canvas", "data-shape") == "8,8"  # the digit's own shape
    page.click("#reshape-shapes button[data-shape='4,16']")
    assert page.get_attribute("#reshape-canvas", "data-shape") == "4,16"
    assert page.inner_text("#reshape-code") == "x.reshape(4, 16)"
    width, height = page.evaluate(
        "() => [document.querySelector('#reshape-canvas').width,"
        " document.querySelector('#reshape-canvas').height]"
    )
    assert width / height == 16 / 4  # square cells: 16 across, 4 down
    assert page.get_attribute("#reshape-shapes button[data-shape='4,16']", "aria-pressed") == "true"
    assert array(payload["reshape"]).shape == (64,)


def test_flattening_goes_row_by_row_then_channel_by_channel(page, payload):
    open_page(page)
    feature_map = array(payload["flatten"]["map"])  # (2, 4, 4)
    flat = array(payload["flatten"]["flat"])
    np.testing.assert_array_equal(flat, np.concatenate([feature_map[0].ravel(), feature_map[1].ravel()]))
    assert feature_map.max() > 0  # a real map: the edges of the digit
    page.hover("#flatten-vector .flatten-cell[data-i='21']")
    assert page.inner_text("#flatten-readout") == f"flat[21] = x[1, 1, 1] = {flat[21]:.3f}"
    hot = page.locator("#flatten-maps .flatten-cell.hot")
    assert hot.count() == 1
    assert (hot.get_attribute("data-c"), hot.get_attribute("data-r"), hot.get_attribute("data-w")) == ("1", "1", "1")
    assert float(hot.get_attribute("data-value")) == pytest.approx(float(feature_map[1, 1, 1]))


def test_dtypes_and_the_device_come_from_the_server(page, payload):
    open_page(page)
    rows = page.locator("#dtype-table tbody tr")
    assert rows.count() == len(payload["dtypes"])
    assert rows.nth(1).inner_text().split("\t")[:2] == ["float32", "4"]
    assert "196,608 bytes" in rows.nth(1).inner_text()  # 4 photos of 3 × 64 × 64 at 4 bytes
    assert page.inner_text("#device-name") == payload["device"]["name"]
    assert page.locator("#copy-table tbody tr").count() == len(payload["device"]["copies"])


RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__violations.push(`${e.violatedDirective}: ${e.blockedURI}`));
"""


@pytest.mark.csp
def test_the_page_runs_under_its_content_security_policy(page):
    page.add_init_script(RECORD_VIOLATIONS)
    open_page(page)
    page.hover("#flatten-vector .flatten-cell[data-i='0']")
    assert page.evaluate("() => window.__violations") == []
