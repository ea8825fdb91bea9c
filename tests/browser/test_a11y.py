"""Accessibility in headless Chromium: axe-core (vendored, static/vendor) finds nothing serious or
critical on any page, at desktop and phone width, before and after working each lab; every
control is reached by Tab with a visible focus, and the labs run from the keyboard alone."""

from __future__ import annotations

import pytest

from app.pages import available
from tests.browser.conftest import PHONE, ready, tap_at

pytestmark = pytest.mark.browser

AXE = "/static/vendor/axe-core-4.11.0.min.js"
PAGES = [p.name for p in available()]
SIZES = {"desktop": {"width": 1400, "height": 1000}, "phone": PHONE}

# axe's serious and critical findings: rule, help text, and the first few elements it names.
RUN_AXE = """async () => {
  const result = await axe.run(document, { resultTypes: ['violations'] });
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({ id: v.id, impact: v.impact, help: v.help,
                   targets: v.nodes.slice(0, 5).map((n) => n.target.join(' ')), count: v.nodes.length,
                   why: v.nodes[0].failureSummary.split('\\n').slice(1, 2).join('').trim() }));
}"""


# No transition or reveal animation is half way (axe would read its faded colours).
SETTLED = """() => document.getAnimations().every((a) => a.playState !== 'running'
  || a.effect.getTiming().iterations === Infinity)"""


def axe_findings(page) -> list[dict]:
    page.wait_for_function(SETTLED)
    # A same-origin script file: the pages' CSP (script-src 'self') would allow it too.
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(url=AXE)
    return page.evaluate(RUN_AXE)


def assert_accessible(page, where: str) -> None:
    findings = axe_findings(page)
    report = "\n".join(
        f"  {f['impact']} {f['id']} ({f['count']}×): {f['help']}\n      at {'; '.join(f['targets'])}"
        f"\n      first: {f['why']}"
        for f in findings
    )
    assert not findings, f"axe on {where}:\n{report}"


def open_page(page, name: str):
    page.goto(f"/{name}")
    page.wait_for_function(ready(name), timeout=120_000)
    page.wait_for_load_state("networkidle")


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", PAGES)
def test_axe_finds_nothing_serious(page, name, size):
    page.set_viewport_size(SIZES[size])
    open_page(page, name)
    assert_accessible(page, f"/{name} at {size} size")


@pytest.mark.csp
def test_axe_runs_under_the_pages_content_security_policy(page):
    # The other tests bypass the CSP (their waits use eval); axe itself needs no exception to it.
    page.goto("/course")
    page.wait_for_selector("a.course-lab[data-state]")
    page.add_script_tag(url=AXE)
    assert page.evaluate(RUN_AXE) == []


def test_axe_on_the_open_navigation(page):
    page.set_viewport_size(PHONE)
    open_page(page, "course")
    page.click("#nav-toggle")
    page.wait_for_selector("#site-nav a[aria-current='page']", state="visible")
    assert_accessible(page, "the open navigation")


# ---- the labs once worked: a step taken, their main panels open -------------------------------
STEP = "parseInt(document.querySelector('#step').textContent.replace(/,/g, ''))"
# The last `configured` message the page received (it carries the playground's training points).
RECORD_CONFIGURED = """
const NativeSocket = window.WebSocket;
window.WebSocket = class extends NativeSocket {
  constructor(...args) {
    super(...args);
    this.addEventListener("message", (e) => {
      if (typeof e.data !== "string") return;
      const message = JSON.parse(e.data);
      if (message.type === "configured") window.__configured = message;
    });
  }
};
"""


def work_mlp(page):
    page.click("#btn-step")
    page.wait_for_function(f"{STEP} >= 1")
    # Follow a training point through the network: the walk-through panel opens.
    x, y, _ = page.evaluate("window.__configured.data.train[0]")
    box = page.locator("#points").bounding_box()
    page.mouse.click(box["x"] + (x + 1) / 2 * box["width"], box["y"] + (1 - y) / 2 * box["height"])
    page.wait_for_selector("#walk[data-stage='input']")
    page.click("#walk-next")


def work_perceptron(page):
    for _ in range(3):
        visits = int(page.inner_text("#visits"))
        page.click("#btn-step")
        page.wait_for_function(f"document.querySelector('#visits').textContent == '{visits + 1}'")


def work_descent(page):
    page.click("#btn-step")
    page.wait_for_function("parseInt(document.querySelector('.opt[data-kind=gd] [data-stat=steps]')"
                           ".textContent.split(' ').at(-1)) >= 1")


def work_cnn(page):
    page.click("#btn-step")
    page.wait_for_selector("#layers canvas")
    page.wait_for_selector("#btn-play[data-state='paused']")
    closed = page.locator("main details:not([open]) > summary").locator("visible=true")
    for _ in range(10):  # every folded section of the page, opened one by one
        if not closed.count():
            break
        closed.first.click()


def work_convolution(page):
    page.click("#btn-next")
    page.click("#pool-next")


WORK = {
    "mlp": work_mlp, "perceptron": work_perceptron, "descent": work_descent,
    "cnn": work_cnn, "convolution": work_convolution,
}


@pytest.mark.parametrize("name", WORK)
def test_axe_after_working_the_lab(page, name):
    page.add_init_script(RECORD_CONFIGURED)
    open_page(page, name)
    WORK[name](page)
    page.wait_for_load_state("networkidle")
    assert_accessible(page, f"/{name} after working it")


# ---- keyboard ---------------------------------------------------------------------------------
# The labs that play, and how far each has gone (0 after a reset).
COUNTERS = {
    "mlp": STEP,
    "perceptron": "parseInt(document.querySelector('#visits').textContent)",
    "descent": "parseInt(document.querySelector('.opt[data-kind=gd] [data-stat=steps]').textContent.split(' ').at(-1))",
    "cnn": STEP,
}
# The focused element and whether its focus shows: an outline or a ring (box-shadow).
FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const s = getComputedStyle(el);
  const outline = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2;
  const ring = s.boxShadow !== 'none';
  const name = el.id ? '#' + el.id : el.tagName.toLowerCase()
    + (el.getAttribute('aria-label') ? `[aria-label="${el.getAttribute('aria-label')}"]` : '')
    + (el.textContent.trim() ? ` "${el.textContent.trim().slice(0, 30)}"` : '');
  return { name, id: el.id, visible: outline || ring, footer: !!el.closest('footer') };
}"""


@pytest.mark.parametrize("name", PAGES)
def test_tab_reaches_every_control_with_a_visible_focus(page, name):
    open_page(page, name)
    seen, hidden = [], []
    for _ in range(600):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        if focused is None:
            continue
        seen.append(focused["name"])
        if not focused["visible"]:
            hidden.append(focused["name"])
        if focused["footer"]:  # the last control: the page let Tab through all the others
            break
    else:
        pytest.fail(f"Tab never reached the footer (a keyboard trap?); last: {seen[-5:]}")
    assert hidden == [], f"no visible focus on: {hidden[:10]}"
    if name in COUNTERS:
        assert {"#btn-reset", "#btn-play", "#btn-step"} <= set(seen)


def tab_to(page, selector: str, limit: int = 200) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement?.matches(s)", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


@pytest.mark.parametrize("name", COUNTERS)
def test_play_pause_step_and_reset_by_keyboard(page, name):
    count = COUNTERS[name]
    open_page(page, name)
    tab_to(page, "#btn-play")
    page.keyboard.press("Enter")
    page.wait_for_selector("#btn-play[data-state='playing']")
    page.keyboard.press("Enter")
    page.wait_for_selector("#btn-play:not([data-state='playing'])")
    page.wait_for_load_state("networkidle")
    tab_to(page, "#btn-step")
    before = page.evaluate(count)
    page.keyboard.press("Space")
    page.wait_for_function(f"{count} > {before}")
    tab_to(page, "#btn-reset")
    page.keyboard.press("Enter")
    page.wait_for_function(f"{count} === 0")


# A select of each lab, changed with the arrow keys, and what shows that the lab took it.
SELECTS = {
    "mlp": ("#activation", "document.querySelector('#activation').value !== 'tanh'"),
    "perceptron": ("#order", "document.querySelector('#order').selectedIndex === 1"),
}


@pytest.mark.parametrize("name", SELECTS)
def test_a_select_works_by_keyboard(page, name):
    selector, changed = SELECTS[name]
    open_page(page, name)
    tab_to(page, selector)
    before = page.input_value(selector)
    page.keyboard.press("ArrowDown")
    page.wait_for_function(changed)
    assert page.input_value(selector) != before


# ---- class shapes: classes told apart without colour ------------------------------------------
# How fully the pixels of exactly colour `rgb` near the page point (x, y) of a canvas fill their
# bounding box: a square marker fills it (1), a circle about π/4, a triangle about half.
FILL = """([sel, x, y, rgb, reach]) => {
  const c = document.querySelector(sel);
  const box = c.getBoundingClientRect();
  const cx = Math.round((x - box.left) * c.width / box.width);
  const cy = Math.round((y - box.top) * c.height / box.height);
  const side = 2 * reach + 1;
  const d = c.getContext('2d').getImageData(cx - reach, cy - reach, side, side).data;
  let n = 0, x0 = side, x1 = -1, y0 = side, y1 = -1;
  for (let j = 0; j < side; j++) for (let i = 0; i < side; i++) {
    const k = 4 * (j * side + i);
    if (d[k] !== rgb[0] || d[k + 1] !== rgb[1] || d[k + 2] !== rgb[2] || d[k + 3] !== 255) continue;
    n++; x0 = Math.min(x0, i); x1 = Math.max(x1, i); y0 = Math.min(y0, j); y1 = Math.max(y1, j);
  }
  return n ? n / ((x1 - x0 + 1) * (y1 - y0 + 1)) : 0;
}"""
ORANGE, BLUE = [245, 147, 34], [8, 119, 189]  # palette.js CLASS_RGB[0], CLASS_RGB[1]


def test_the_playgrounds_classes_differ_in_shape_as_well_as_colour(open_at):
    page = open_at("mlp", PHONE, touch=True)
    page.locator("button[data-preset='custom']").tap()
    page.locator("#btn-clear").tap()
    page.wait_for_selector("#empty-hint", state="visible")
    # Every drawn point for training (none held out: validation is drawn hollow, test as crosses).
    for held_out in ("#val_fraction", "#test_fraction"):
        page.eval_on_selector(held_out, "(e) => { e.value = 0; e.dispatchEvent(new Event('input'));"
                              " e.dispatchEvent(new Event('change')); }")
    page.wait_for_function("document.querySelector('#split-label').textContent.startsWith('Training 100')")
    page.locator(".mlp-swatch[data-class='0']").tap()
    circle = tap_at(page, "#points", -0.5, 0.5)
    page.wait_for_function("document.querySelector('#samples-label').textContent === '1 drawn'")
    page.locator(".mlp-swatch[data-class='1']").tap()
    square = tap_at(page, "#points", 0.5, -0.5)
    page.wait_for_function("document.querySelector('#samples-label').textContent === '2 drawn'")
    page.wait_for_selector("#mlp[data-synced='true']")
    assert page.evaluate(FILL, ["#points", *square, BLUE, 20]) > 0.9
    assert 0.6 < page.evaluate(FILL, ["#points", *circle, ORANGE, 20]) < 0.85


def test_the_perceptrons_classes_differ_in_shape_as_well_as_colour(open_at):
    page = open_at("perceptron", PHONE, touch=True)
    page.locator("#btn-clear").tap()
    page.wait_for_selector("#empty-hint:not([hidden])")
    square = tap_at(page, "#canvas", 0.5, 0.5)  # +1 (blue)
    page.wait_for_function("document.querySelector('#streak').textContent == '0/1'")
    page.locator("#draw-class button[data-label='-1']").tap()
    circle = tap_at(page, "#canvas", -0.5, -0.4)  # −1 (orange)
    page.wait_for_function("document.querySelector('#streak').textContent == '0/2'")
    assert page.evaluate(FILL, ["#canvas", *square, BLUE, 24]) > 0.9
    assert 0.6 < page.evaluate(FILL, ["#canvas", *circle, ORANGE, 24]) < 0.85


# Each of the palette's class markers drawn alone on a canvas: which pixels it covers.
MARKERS = """async () => {
  const { CLASS_SHAPES, classMarker } = await import('/static/js/palette.js');
  return CLASS_SHAPES.map((_, k) => {
    const c = document.createElement('canvas');
    c.width = c.height = 40;
    const ctx = c.getContext('2d');
    ctx.beginPath();
    classMarker(ctx, k, 20, 20, 10);
    ctx.fill();
    const d = ctx.getImageData(0, 0, 40, 40).data;
    return Array.from({ length: 1600 }, (_, i) => (d[4 * i + 3] > 127 ? 1 : 0));
  });
}"""


def test_every_class_has_its_own_marker_of_about_the_same_size(page):
    open_page(page, "course")
    masks = page.evaluate(MARKERS)
    assert len(masks) == 8
    areas = [sum(m) for m in masks]
    for area in areas:  # about the circle's π·10² ≈ 314 pixels: no class stands out by size
        assert 250 < area < 380, areas
    for i in range(len(masks)):
        for j in range(i):
            differ = sum(a != b for a, b in zip(masks[i], masks[j], strict=True))
            assert differ > 40, f"classes {j} and {i} look alike ({differ} pixels differ)"
