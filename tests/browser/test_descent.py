"""The gradient-descent lab in real headless Chromium: click a start, watch the race, read the ends."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.browser

# Pixels of the trajectory layer close to one optimizer's colour (momentum's green, #06d6a0).
GREEN_PIXELS = """() => {
  const c = document.querySelector('#paths');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4)
    if (d[i] < 60 && d[i + 1] > 180 && d[i + 2] > 120 && d[i + 2] < 200 && d[i + 3] > 200) n++;
  return n;
}"""
# The heat map is drawn (once the surface frame arrives): its pixels are not all one colour.
HEAT_DRAWN = """() => {
  const c = document.querySelector('#heat');
  if (c.width <= 1) return false;
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  for (let i = 4; i < d.length; i += 4) if (d[i] !== d[0] || d[i + 2] !== d[2]) return true;
  return false;
}"""


def open_lab(page, surface: str) -> None:
    page.goto("/descent")
    page.wait_for_function(HEAT_DRAWN)
    page.click(f"#surfaces [data-surface={surface}]")
    page.wait_for_function(f"document.querySelector('#surface-title').textContent !== 'Loss surface'"
                           f" && document.querySelector('[data-surface={surface}]')"
                           ".getAttribute('aria-checked') === 'true'")


def click_surface(page, fx: float, fy: float) -> None:
    """Click the surface at fractions (fx, fy) of its width and height from the top left."""
    box = page.locator("#paths").bounding_box()
    page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])


def test_click_a_start_point_and_see_the_trajectories(page):
    open_lab(page, "bowl")
    before = page.evaluate(GREEN_PIXELS)
    click_surface(page, 0.85, 0.15)  # upper right of the bowl
    page.wait_for_function("document.querySelector('.opt[data-kind=gd] [data-stat=ending]')"
                           ".dataset.ending === 'global_minimum'", timeout=30_000)
    after = page.evaluate(GREEN_PIXELS)
    assert after > 3 * max(before, 10), (before, after)  # a drawn path, not just a dot
    text = page.text_content(".opt[data-kind=gd] [data-stat=ending]")
    assert "converged to the global minimum at (0.00, 0.00)" in text
    assert "below 0.001" in text  # the threshold it was judged by
    steps = page.text_content(".opt[data-kind=gd] [data-stat=steps]")
    assert int(steps.split()[-1]) > 10


def test_saddle_ridge_stalls_gd_and_the_page_says_so(page):
    open_lab(page, "saddle")
    page.click("#btn-ridge")
    page.wait_for_function("document.querySelector('.opt[data-kind=gd] [data-stat=ending]')"
                           ".dataset.ending === 'saddle'", timeout=30_000)
    text = page.text_content(".opt[data-kind=gd] [data-stat=ending]")
    assert "saddle point" in text
    assert "Hessian eigenvalues -1.00" in text
    page.wait_for_function("document.querySelector('.opt[data-kind=sgd] [data-stat=ending]')"
                           ".dataset.ending === 'global_minimum'", timeout=30_000)


def test_learning_rate_change_and_shared_link(page):
    open_lab(page, "valley")
    page.locator(".opt[data-kind=gd] [data-field=lr]").fill("0")  # 10^0 = 1: past 2/curvature
    page.locator(".opt[data-kind=gd] [data-field=lr]").dispatch_event("change")
    page.wait_for_function("document.querySelector('.opt[data-kind=gd] [data-out=lr]').textContent === '1'")
    page.click("#btn-step")
    page.click("#btn-play")
    page.wait_for_function("document.querySelector('.opt[data-kind=gd] [data-stat=ending]')"
                           ".dataset.ending === 'diverged'", timeout=30_000)
    # The configuration is in the URL: a new tab with the link gets the same surface and rate.
    url = page.url
    assert "#s=" in url
    other = page.context.new_page()
    other.goto(url)
    other.wait_for_function("document.querySelector('[data-surface=valley]')?"
                            ".getAttribute('aria-checked') === 'true'")
    assert other.text_content(".opt[data-kind=gd] [data-out=lr]") == "1"
    other.close()


def ending(page, kind: str) -> str:
    return page.text_content(f".opt[data-kind={kind}] [data-stat=ending]")


def wait_ending(page, kind: str, name: str) -> None:
    page.wait_for_function(f"document.querySelector('.opt[data-kind={kind}] [data-stat=ending]')"
                           f".dataset.ending === '{name}'", timeout=60_000)


def set_fast(page, steps: int | None = None) -> None:
    """The speed slider to its top (near the server's max_speed) and, if given, "Stop after"."""
    page.eval_on_selector("#speed", "el => { el.value = el.max; }")
    if steps is not None:
        page.fill("#max_steps", str(steps))
    page.dispatch_event("#speed", "change")
    # The label follows the server's `configured` (a `change` does not touch it): confirmed.
    page.wait_for_function("parseInt(document.querySelector('#speed-label').textContent) > 1000")


def test_local_minimum_and_sgd_judged_where_it_rests(page):
    # The newcomer's steps: the local-minima surface, its own start, play to the end. GD falls
    # into a side valley; SGD, whose |∇f| at its last point stays large (its noise), is judged at
    # the average of its last 50 points, and its card says so, with the threshold.
    open_lab(page, "wells")
    set_fast(page)
    page.click("#btn-play")
    wait_ending(page, "gd", "local_minimum")
    assert "converged to a local minimum at (-1.90, -1.43), not the deepest one" in ending(page, "gd")
    wait_ending(page, "sgd", "global_minimum")
    text = ending(page, "sgd")
    assert "at the average of its last 50 points" in text
    gradient, threshold = map(float, re.search(r"\|∇f\| = (\S+) .*?, below (\S+?):", text).groups())
    assert gradient < threshold
    assert threshold == pytest.approx(0.21, abs=0.005)  # 3 · (1/√4) / √50
    assert float(page.text_content(".opt[data-kind=sgd] [data-stat=grad]")) > threshold


def test_ran_out_of_steps_while_still_moving(page):
    open_lab(page, "rosenbrock")
    set_fast(page, steps=300)
    page.click("#btn-play")
    wait_ending(page, "gd", "moving")
    text = ending(page, "gd")
    assert "ran out of steps while still moving after 300 steps" in text
    assert "not below 0.001" in text


def test_sgd_noise_kicks_it_out_of_the_shallowest_valley(page):
    """"Start in the shallowest valley (bottom right) and raise SGD's noise to 1.5: its noise
    kicks it out, while GD stays." (the valley's minimum is at (1.71, −1.90))"""
    open_lab(page, "wells")
    set_fast(page)
    slider = ".opt[data-kind=sgd] [data-field=noise]"
    page.fill(slider, "1.5")
    page.dispatch_event(slider, "change")
    page.wait_for_function("document.querySelector('.opt[data-kind=sgd] [data-out=noise]')"
                           ".textContent === '1.5'")
    click_surface(page, (1.71 + 4) / 8, (4 + 1.90) / 8)  # the window is [-4, 4]², y up
    wait_ending(page, "gd", "local_minimum")
    assert "at (1.71, -1.90)" in ending(page, "gd")
    page.wait_for_function("document.querySelector('.opt[data-kind=sgd] [data-stat=ending]')"
                           ".dataset.ending?.endsWith('minimum')", timeout=60_000)
    assert "(1.71, -1.90)" not in ending(page, "sgd")
