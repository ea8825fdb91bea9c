"""Every page on a phone (390 × 844, touch) and a tablet (768 × 1024): nothing scrolls sideways,
the navigation folds and leaves the controls clickable, canvases fit, and drawing works by touch."""

from __future__ import annotations

import pytest

from app.pages import available
from tests.browser.conftest import PHONE, TABLET, tap_at

pytestmark = pytest.mark.browser

SIZES = {"phone": PHONE, "tablet": TABLET}
PAGES = [p.name for p in available()]

# What sticks out past the right edge of the viewport (W), outside any box that scrolls or clips
# it: the culprits of a page that scrolls sideways.
OVERFLOW = """(W) => {
  const inScroller = (el) => {
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      if (getComputedStyle(a).overflowX !== 'visible') return true;
    }
    return false;
  };
  const name = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
    + (typeof el.className === 'string' && el.className.trim()
       ? '.' + el.className.trim().split(/\\s+/).join('.') : '');
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.width > 0 && r.right > W + 0.5 && !inScroller(el)) out.push(`${name(el)} (${Math.round(r.right)} px)`);
  }
  return {scroll: document.documentElement.scrollWidth, inner: innerWidth, wide: out.slice(0, 8)};
}"""

# Canvases that are shown and do not fit across the viewport (W): wider than it, or out of it
# other than in a strip that scrolls sideways (the CNN's row of feature-map columns).
WIDE_CANVASES = """(W) => {
  const scrolls = (c) => {
    for (let a = c.parentElement; a; a = a.parentElement) {
      if (['auto', 'scroll'].includes(getComputedStyle(a).overflowX)) return true;
    }
    return false;
  };
  return [...document.querySelectorAll('canvas')]
    .map((c) => [c, c.getBoundingClientRect()])
    .filter(([c, r]) => r.width > 0
      && (r.width > W + 0.5 || ((r.left < -0.5 || r.right > W + 0.5) && !scrolls(c))))
    .map(([c, r]) => `${c.id || c.className || c.parentElement.className}:`
      + ` ${Math.round(r.left)}..${Math.round(r.right)}`);
}"""


def assert_fits(page, width: int) -> None:
    layout = page.evaluate(OVERFLOW, width)
    # A phone zooms out a page wider than the screen: its layout viewport grows past the screen.
    assert layout["inner"] == width, f"the page is zoomed out to {layout['inner']} px: {layout['wide']}"
    assert layout["scroll"] <= width, f"scrolls sideways ({layout['scroll']} px): {layout['wide']}"
    assert page.evaluate(WIDE_CANVASES, width) == []


def first_control(page):
    """The page's play button, or else its first control."""
    play = page.locator("#btn-play")
    if play.count():
        return play
    return page.locator("main").locator("button, select, input, a[href]").locator("visible=true").first


def assert_clickable(page, control) -> None:
    """The control is the element under its own centre: nothing (the header) lies on top of it."""
    control.scroll_into_view_if_needed()
    hit = control.evaluate("""(el) => {
      const r = el.getBoundingClientRect();
      const top = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
      return el === top || el.contains(top);
    }""")
    assert hit, "something covers the page's first control"


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", PAGES)
def test_every_page_fits_the_screen(open_at, name, size):
    touch = size == "phone"
    page = open_at(name, SIZES[size], touch=touch)
    width = SIZES[size]["width"]
    assert_fits(page, width)

    # The navigation is folded behind its button, and the page's controls are not covered.
    assert page.locator("#nav-toggle").is_visible()
    assert not page.locator("#site-nav").is_visible()
    header = page.locator("header.topbar").bounding_box()
    assert header["height"] < 80, "the folded top bar is one row"
    assert_clickable(page, first_control(page))

    # Opened, every lab is listed within the screen; Escape folds it again.
    toggle = page.locator("#nav-toggle")
    toggle.scroll_into_view_if_needed()
    toggle.tap() if touch else toggle.click()
    assert toggle.get_attribute("aria-expanded") == "true"
    links = page.locator("#site-nav a")
    assert links.count() == len(PAGES)
    for i in range(links.count()):
        box = links.nth(i).bounding_box()
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= width
    assert_fits(page, width)
    page.keyboard.press("Escape")
    assert not page.locator("#site-nav").is_visible()
    assert toggle.get_attribute("aria-expanded") == "false"


# The colour of a canvas's pixel under the page point (x, y), whatever the canvas's scale.
PIXEL_AT = """([sel, x, y]) => {
  const c = document.querySelector(sel);
  const r = c.getBoundingClientRect();
  const px = Math.floor((x - r.left) * c.width / r.width);
  const py = Math.floor((y - r.top) * c.height / r.height);
  return Array.from(c.getContext('2d').getImageData(px, py, 1, 1).data);
}"""


def test_drawing_by_touch_on_the_playground(open_at):
    page = open_at("mlp", PHONE, touch=True)
    page.locator("button[data-preset='custom']").tap()
    page.locator("#btn-clear").tap()
    page.wait_for_selector("#empty-hint", state="visible")
    page.locator(".mlp-swatch[data-class='1']").tap()
    at = tap_at(page, "#points", 0.4, -0.3)
    page.wait_for_function("document.querySelector('#samples-label').textContent === '1 drawn'")
    at = tap_at(page, "#points", -0.5, 0.5)
    page.wait_for_function("document.querySelector('#samples-label').textContent === '2 drawn'")
    # The point is drawn where the finger touched, in class 1's colour (blue).
    assert page.evaluate(PIXEL_AT, ["#points", *at]) == [8, 119, 189, 255]


def test_drawing_by_touch_on_the_perceptron(open_at):
    page = open_at("perceptron", PHONE, touch=True)
    page.locator("#btn-clear").tap()
    page.wait_for_selector("#empty-hint:not([hidden])")
    tap_at(page, "#canvas", 0.5, 0.5)
    page.wait_for_function("document.querySelector('#streak').textContent == '0/1'")
    page.locator("#draw-class button[data-label='-1']").tap()
    at = tap_at(page, "#canvas", -0.5, -0.4)
    page.wait_for_function("document.querySelector('#streak').textContent == '0/2'")
    assert page.input_value("#dataset") == "custom"
    # The −1 point is drawn where the finger touched, in orange.
    assert page.evaluate(PIXEL_AT, ["#canvas", *at]) == [245, 147, 34, 255]
