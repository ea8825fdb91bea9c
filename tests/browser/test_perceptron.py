"""The perceptron page in headless Chromium: what a student sees while stepping and playing."""

import base64
import json
import re

import pytest

from ml_core.perceptron import PerceptronConfig

pytestmark = pytest.mark.browser

DEFAULT = PerceptronConfig()  # what the page starts from (its defaults come from the server)

# Darkest of the 3×3 pixels around each plot point (r + g + b): the line is #1f2430 (115).
DARKEST = """(pts) => {
  const c = document.querySelector('#canvas');
  const ctx = c.getContext('2d');
  return pts.map(([x, y]) => {
    const px = Math.round((x + 1) / 2 * c.width), py = Math.round((1 - y) / 2 * c.height);
    const d = ctx.getImageData(px - 1, py - 1, 3, 3).data;
    let m = 765;
    for (let i = 0; i < d.length; i += 4) m = Math.min(m, d[i] + d[i + 1] + d[i + 2]);
    return m;
  });
}"""


def weights(page) -> tuple[list[float], float]:
    text = page.inner_text("#weights")
    w1, w2, b = map(float, re.search(r"w = \((\S+), (\S+)\), b = (\S+?)(?:\s|$)", text).groups())
    return [w1, w2], b


def line_samples(w, b, count=40):
    """Points of wᵀx + b = 0 inside the plot, away from its ends."""
    if abs(w[1]) >= abs(w[0]):
        xs = [-0.95 + 1.9 * i / (count - 1) for i in range(count)]
        pts = [(x, -(w[0] * x + b) / w[1]) for x in xs]
    else:
        ys = [-0.95 + 1.9 * i / (count - 1) for i in range(count)]
        pts = [(-(w[1] * y + b) / w[0], y) for y in ys]
    return [p for p in pts if abs(p[0]) < 0.95 and abs(p[1]) < 0.95]


def line_drawn(page, w, b) -> float:
    """Fraction of points on the line wᵀx + b = 0 where the canvas shows the dark line."""
    samples = line_samples(w, b)
    assert len(samples) >= 8
    darkest = page.evaluate(DARKEST, samples)
    return sum(v < 200 for v in darkest) / len(darkest)


def step_until_update(page, limit=40) -> None:
    before = int(page.inner_text("#mistakes"))
    for _ in range(limit):
        visits = int(page.inner_text("#visits"))
        page.click("#btn-step")
        page.wait_for_function(f"document.querySelector('#visits').textContent == '{visits + 1}'")
        if int(page.inner_text("#mistakes")) > before:
            return
    raise AssertionError("no update within the step limit")


def open_page(page):
    page.goto("/perceptron")
    page.wait_for_function("document.querySelector('#s1').textContent.includes('Press Step')")


def test_stepping_shows_the_update_and_moves_the_line(page):
    open_page(page)
    assert weights(page) == ([0.0, 0.0], 0.0)  # zero weights: no line yet
    assert "no line yet" in page.inner_text("#weights")

    step_until_update(page)
    assert "wrong, update" in page.inner_text("#s3")
    update = page.inner_text("#s4")
    assert "w = (0.000, 0.000) + " in update
    assert "λ(target − output)" in update
    w, b = weights(page)
    assert w != [0.0, 0.0]
    assert line_drawn(page, w, b) > 0.7
    first = page.evaluate("document.querySelector('#canvas').toDataURL()")

    step_until_update(page)
    w2, b2 = weights(page)
    assert (w2, b2) != (w, b)
    assert f"w = ({w[0]:.3f}, {w[1]:.3f}) + " in page.inner_text("#s4").replace("−", "-")
    assert line_drawn(page, w2, b2) > 0.7
    assert page.evaluate("document.querySelector('#canvas').toDataURL()") != first
    assert int(page.inner_text("#mistakes")) == 2
    assert page.inner_text("#streak").endswith(f"/{DEFAULT.dataset.samples}")


def test_play_converges_and_says_so(page):
    open_page(page)
    page.select_option("#dataset", "margin")
    page.wait_for_function("document.querySelector('#notes').textContent.includes('(R/γ)²')")
    page.evaluate(
        "const s = document.querySelector('#speed'); s.value = 100;"
        "s.dispatchEvent(new Event('input'))"
    )
    page.click("#btn-play")
    page.wait_for_selector("#banner.good:not([hidden])")
    assert "Converged" in page.inner_text("#banner")
    assert page.is_disabled("#btn-step")
    assert page.is_hidden("#mlp-link")
    w, b = weights(page)
    assert line_drawn(page, w, b) > 0.6


def test_xor_never_converges_and_opens_the_mlp_playground(page):
    open_page(page)
    page.select_option("#dataset", "xor")
    page.wait_for_function(
        "document.querySelector('#notes').textContent.includes('No straight line')"
    )
    page.fill("#max_epochs", "12")
    page.press("#max_epochs", "Enter")
    page.evaluate(
        "const s = document.querySelector('#speed'); s.value = 100;"
        "s.dispatchEvent(new Event('input'))"
    )
    page.click("#btn-play")
    page.wait_for_selector("#banner.bad:not([hidden])")
    banner = page.inner_text("#banner")
    assert "Never converges" in banner
    assert "No straight line separates" in banner
    assert page.inner_text("#epoch") == "12"

    page.click("#mlp-link")
    page.wait_for_url(re.compile(r"/mlp#s="))
    encoded = page.url.split("#s=", 1)[1]
    state = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    assert state["config"]["model"]["hidden"] == [4]
    assert state["config"]["model"]["activation"] == "tanh"
    assert state["config"]["dataset"]["name"] == "custom"
    default = DEFAULT.dataset.model_copy(update={"name": "xor"})  # the page's defaults, on XOR
    points, labels = default.generate()
    assert len(state["points"]) == default.samples
    for (x, y, label), p, t in zip(state["points"], points.tolist(), labels.tolist(), strict=True):
        assert (x, y) == pytest.approx(p, abs=1e-4)
        assert label == (1 if t == 1 else 0)  # −1 → 0, +1 → 1
    page.wait_for_selector("body[data-lab='mlp']")


def test_draw_points_and_drag_the_initial_line(page):
    open_page(page)
    page.click("#btn-clear")
    page.wait_for_selector("#empty-hint:not([hidden])")
    box = page.locator("#canvas").bounding_box()

    def at(x, y):
        """Page pixels of the plot point (x, y)."""
        return box["x"] + (x + 1) / 2 * box["width"], box["y"] + (1 - y) / 2 * box["height"]

    def click_at(x, y):
        page.mouse.click(*at(x, y))

    click_at(0.5, 0.5)
    page.click("#draw-class button[data-label='-1']")
    click_at(-0.5, -0.4)
    page.wait_for_function("document.querySelector('#streak').textContent == '0/2'")
    assert page.input_value("#dataset") == "custom"

    page.click("#init button[data-init='line']")
    page.wait_for_function("!document.querySelector('#weights').textContent.includes('no line')")
    first, second = ((h.x, h.y) for h in DEFAULT.perceptron.line)  # the default handles
    w, b = weights(page)
    for hx, hy in (first, second):  # the line goes through both
        assert w[0] * hx + w[1] * hy + b == pytest.approx(0, abs=0.01)
    before = page.inner_text("#weights")
    page.locator("#canvas").scroll_into_view_if_needed()
    box = page.locator("#canvas").bounding_box()
    moved = (-0.3, 0.8)  # drag the first handle there
    page.mouse.move(*at(*first))
    page.mouse.down()
    page.mouse.move(*at(*moved), steps=6)
    page.mouse.up()
    page.wait_for_function(f"document.querySelector('#weights').textContent != {before!r}")
    w, b = weights(page)
    for hx, hy in (moved, second):  # the line goes through both handles
        assert w[0] * hx + w[1] * hy + b == pytest.approx(0, abs=0.01)
    assert line_drawn(page, w, b) > 0.6
    assert page.input_value("#dataset") == "custom"  # the drawing is kept
    assert page.inner_text("#streak") == "0/2"

    # The link is the drawing: a new tab (a new session) gets the same points and line.
    shared = page.context.new_page()
    shared.goto(page.url)
    shared.wait_for_function("document.querySelector('#streak').textContent == '0/2'")
    assert shared.input_value("#dataset") == "custom"
    assert weights(shared) == (w, b)
    shared.close()


def _plot_clicker(page):
    """click(x, y): a click on the plot point (x, y) (the plot spans [-1, 1]², y up)."""

    def click(x, y):
        page.locator("#canvas").scroll_into_view_if_needed()
        box = page.locator("#canvas").bounding_box()  # after any scroll
        page.mouse.click(box["x"] + (x + 1) / 2 * box["width"], box["y"] + (1 - y) / 2 * box["height"])

    return click


def _link_points(page) -> list | None:
    """The drawing the page's link holds (what a shared link would give a new tab)."""
    encoded = page.url.split("#s=", 1)[1]
    return json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))).get("points")


def test_your_own_drawing_starts_from_an_empty_plane(page):
    # The newcomer's steps: open the page (a preset of 30 points), choose "Your own drawing",
    # click two points. Only those two are the data, not the preset's 30 as well.
    open_page(page)
    samples = DEFAULT.dataset.samples
    page.wait_for_function(f"document.querySelector('#streak').textContent == '0/{samples}'")
    page.select_option("#dataset", "custom")
    page.wait_for_selector("#empty-hint:not([hidden])")
    # No points, no perceptron: the streak says 0 once the server's answer to the switch is in
    # (the hint shows at once, on the page's side; the streak follows the server's metrics).
    page.wait_for_function("document.querySelector('#streak').textContent == '0'")
    assert page.is_hidden("#keep-field")  # the option belongs to presets
    click = _plot_clicker(page)
    click(0.5, 0.5)
    page.click("#draw-class button[data-label='-1']")
    click(-0.5, -0.4)
    page.wait_for_function("document.querySelector('#streak').textContent == '0/2'")
    assert [label for _, _, label in _link_points(page)] == [1, -1]

    # On request the drawing starts from the preset's points instead.
    page.select_option("#dataset", "margin")
    page.wait_for_function(f"document.querySelector('#streak').textContent == '0/{samples}'")
    assert page.inner_text("#draw-hint") == "Click to start your own drawing"
    page.check("#keep-points")
    assert page.inner_text("#draw-hint") == "Click to draw on top of these points"
    page.select_option("#dataset", "custom")
    page.wait_for_function(f"document.querySelector('#streak').textContent == '0/{samples}'")
    click(0.6, 0.1)
    page.wait_for_function(f"document.querySelector('#streak').textContent == '0/{samples + 1}'")
    assert len(_link_points(page)) == samples + 1


def test_clicking_a_preset_starts_a_drawing_of_its_own(page):
    open_page(page)
    click = _plot_clicker(page)
    click(0.3, -0.6)
    page.wait_for_function("document.querySelector('#streak').textContent == '0/1'")
    assert page.input_value("#dataset") == "custom"
    assert len(_link_points(page)) == 1


EPOCH_TEXTS = """() => ({
  stat: document.querySelector('#epoch').textContent,
  step5: document.querySelector('#s5').textContent,
  caption: document.querySelector('#epoch-caption').textContent,
})"""


def step_to(page, visits: int) -> dict:
    while int(page.inner_text("#visits")) < visits:
        done = int(page.inner_text("#visits"))
        page.click("#btn-step")
        page.wait_for_function(f"document.querySelector('#visits').textContent == '{done + 1}'")
    return page.evaluate(EPOCH_TEXTS)


def test_the_epoch_count_and_its_texts_agree(page):
    # XOR with 4 points never converges, so every pass of 4 visits is a whole epoch.
    open_page(page)
    page.select_option("#dataset", "xor")
    page.eval_on_selector(
        "#samples", "el => { el.value = 4; el.dispatchEvent(new Event('change')); }"
    )
    page.wait_for_function("document.querySelector('#streak').textContent == '0/4'")
    assert page.inner_text("#epoch") == "0"
    for visits, done in ((1, 0), (3, 0), (4, 1), (5, 1), (8, 2), (9, 2)):
        texts = step_to(page, visits)
        assert texts["stat"] == str(done), visits
        assert f"epochs done: {done}" in texts["step5"], visits
        if visits % 4:  # a pass is under way: it is epoch done + 1
            assert f"epoch {done + 1} (under way)" in texts["caption"], visits
        else:  # at a pass's end: the last epoch is done
            assert f"epoch {done} (done)" in texts["caption"], visits
            assert "under way" not in texts["caption"], visits


def test_stopped_at_the_epoch_limit_raise_it_and_play_on(page):
    """The banner: "Stopped at the limit of N epochs before converging: raise the limit and
    play on." (the default data needs more than 2 epochs)."""
    open_page(page)
    page.fill("#max_epochs", "2")
    page.press("#max_epochs", "Enter")
    page.evaluate(
        "const s = document.querySelector('#speed'); s.value = 100;"
        "s.dispatchEvent(new Event('input'))"
    )
    page.click("#btn-play")
    page.wait_for_selector("#banner.bad:not([hidden])")
    assert "Stopped at the limit of 2 epochs" in page.inner_text("#banner")
    assert page.inner_text("#epoch") == "2"
    visits = int(page.inner_text("#visits"))
    assert visits == 2 * DEFAULT.dataset.samples
    page.fill("#max_epochs", "100")
    page.press("#max_epochs", "Enter")
    page.wait_for_selector("#btn-step:not([disabled])")
    page.click("#btn-step")  # the run goes on from where it stopped, not from the start
    page.wait_for_function(f"document.querySelector('#visits').textContent == '{visits + 1}'")
    page.click("#btn-play")
    page.wait_for_selector("#banner.good:not([hidden])")
    assert "Converged" in page.inner_text("#banner")


def test_random_weights_are_new_each_click_and_the_keys_work(page):
    """"Random ... Click again for new ones." and "Keys: space play/pause · → step · R reset.\""""
    open_page(page)
    page.click("#init button[data-init='random']")
    page.wait_for_function("!document.querySelector('#weights').textContent.includes('no line')")
    first = weights(page)
    shown = page.inner_text("#weights")
    page.click("#init button[data-init='random']")
    page.wait_for_function(f"document.querySelector('#weights').innerText !== {shown!r}")
    assert weights(page) != first
    page.locator("body").press("ArrowRight")
    page.wait_for_function("document.querySelector('#visits').textContent == '1'")
    page.locator("body").press("r")
    page.wait_for_function("document.querySelector('#visits').textContent == '0'")
    page.evaluate("document.activeElement.blur()")  # space on a focused button presses it
    page.keyboard.press(" ")
    page.wait_for_selector("#btn-play[data-state='playing']")
    page.keyboard.press(" ")
    page.wait_for_selector("#btn-play[data-state='paused']")
