"""Browser-test helpers for pages at phone and tablet sizes: when each page has loaded and drawn,
a fixture that opens a page at a size (with touch), and a tap on a square plot."""

from __future__ import annotations

import pytest

from tests.conftest import ConsoleErrors

PHONE = {"width": 390, "height": 844}
TABLET = {"width": 768, "height": 1024}

# When each page has loaded and drawn: the server's first answer is on the page.
READY = {
    "course": "document.querySelector('a.course-lab[data-state]')",
    "mlp": "document.querySelector('#mlp[data-synced=\"true\"]')"
    " && document.querySelector('#params').textContent !== '–'"
    " && document.querySelector('#boundary').width > 1",
    "perceptron": "document.querySelector('#s1').textContent.includes('Press Step')",
    "descent": "document.querySelector('#surface-title').textContent !== 'Loss surface'"
    " && document.querySelector('#heat').width > 1",
    "functions": "document.querySelector('#fit-l2-slope').textContent !== '–'",
    "tensors": "document.querySelector('#tensors[data-state=\"ready\"]')",
    "convolution": "document.querySelector('#window-sum') && document.querySelector('#figures canvas')",
    "cnn": "document.querySelector('#total-params').textContent !== '–'"
    " && document.querySelector('#blocks .cnn-layer-chip')",
}


def ready(name: str) -> str:
    assert name in READY, f"tests/browser/conftest.py: say when page /{name} has loaded (READY)"
    return READY[name]


@pytest.fixture
def open_at(browser, live_server):
    """open_at(name, size, touch=False) -> a page of /name at that size, loaded and drawn."""
    contexts = []
    errors = ConsoleErrors()

    def open_at(name: str, size: dict, touch: bool = False):
        context = browser.new_context(
            base_url=live_server, viewport=size, bypass_csp=True,
            has_touch=touch, is_mobile=touch, device_scale_factor=2 if touch else 1,
        )
        contexts.append(context)
        page = context.new_page()
        page.on("console", lambda m: errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
        page.set_default_timeout(30_000)
        page.goto(f"/{name}")
        page.wait_for_function(ready(name), timeout=120_000)
        page.wait_for_load_state("networkidle")
        return page

    yield open_at
    for context in contexts:
        context.close()
    errors.assert_none()


def tap_at(page, selector: str, x: float, y: float) -> tuple[float, float]:
    """Tap the square plot `selector` at data coordinates (x, y) in [-1, 1]; the page point."""
    page.locator(selector).scroll_into_view_if_needed()
    box = page.locator(selector).bounding_box()
    at = (box["x"] + (x + 1) / 2 * box["width"], box["y"] + (1 - y) / 2 * box["height"])
    page.touchscreen.tap(*at)
    return at


def draw_a_one(page) -> None:
    """A vertical stroke on the CNN page's drawing pad, then wait for the net's answer to it."""
    page.locator("#pad").scroll_into_view_if_needed()
    box = page.locator("#pad").bounding_box()
    page.mouse.move(box["x"] + 100, box["y"] + 40)
    page.mouse.down()
    for y in range(40, 170, 10):
        page.mouse.move(box["x"] + 100, box["y"] + y)
    page.mouse.up()
    page.wait_for_function("document.querySelector('#own-pred').textContent.includes('your drawing')")
