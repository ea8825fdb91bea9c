"""The course map (/course): first in the navigation, what deep learning is, the course's steps in
order with their labs, links that open a lab set up, and every lab's way back to its step."""

from __future__ import annotations

import base64
import json

import pytest

from app.labs import LABS

pytestmark = pytest.mark.browser

# The course's sections, in the lecture's order (/work/shared/course/intro-to-deep-learning.md).
STEPS = [
    "perceptron", "gradient-descent", "sgd", "backprop", "xor", "neurons", "activations", "losses",
    "validation", "feed-forward", "images", "convolution", "conv-layers", "batch-norm", "pooling",
    "cnn", "tensors", "pipeline", "datasets",
]


def open_map(page):
    page.goto("/course")
    page.wait_for_selector("a.course-lab[data-state][href*='#s=']")  # course.js has run


def link_state(href: str) -> dict:
    encoded = href.split("#s=", 1)[1]
    return json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))


def test_the_map_comes_first_and_says_what_deep_learning_is(page):
    open_map(page)
    first = page.locator("nav.labs a").first
    assert first.get_attribute("href") == "/course"
    assert first.get_attribute("aria-current") == "page"
    nest = page.locator(".course-nest")
    assert nest.locator(".nest.ai .nest.ml .nest.dl").count() == 1  # AI ⊃ ML ⊃ DL
    assert "Deep learning" in nest.inner_text()
    assert page.is_hidden("#conn-status")  # no socket on this page: no "connecting…"
    steps = page.eval_on_selector_all(".course-steps > li", "items => items.map((li) => li.id)")
    assert steps == STEPS
    numbers = page.eval_on_selector_all(
        ".course-steps", "lists => lists.map((ol) => ol.start)")
    assert numbers == [1, 10, 11, 17, 19]  # one count across the parts
    assert page.locator("#reading a[href], #reading ~ ul a[href]").count() >= 5


def test_walk_from_the_map_to_each_lab_and_back(page):
    open_map(page)
    labs = [lab.name for lab in LABS]
    linked = page.eval_on_selector_all(
        "a.course-lab", "links => [...new Set(links.map((a) => a.dataset.lab))]")
    assert set(labs) <= set(linked)  # every lab is on the map
    for name in linked:
        open_map(page)
        link = page.locator(f"a.course-lab[data-lab='{name}']:not([data-state])").first
        link.click()
        page.wait_for_url(f"**/{name}")
        if name in labs:
            page.wait_for_selector("#conn-status[data-state='open']")
        back = page.locator("#explain a[href^='/course#']")
        assert back.count() == 1, name
        target = back.get_attribute("href").split("#", 1)[1]
        back.click()
        page.wait_for_url(f"**/course#{target}")
        # Its place on the map is a step that links to this lab (not always the first step
        # that names it: the playground's place is the feed-forward network, for one).
        assert page.locator(f"li#{target} a.course-lab[data-lab='{name}']").count() >= 1, name
        assert page.evaluate("document.querySelector(':target').id") == target


def test_setup_links_open_their_lab_set_up(page):
    open_map(page)
    xor = page.locator("#xor a.course-lab[data-lab='mlp']")
    assert link_state(xor.get_attribute("href")) == {
        "config": {"dataset": {"name": "xor"}, "model": {"hidden": []}}}
    xor.click()
    page.wait_for_selector(".mlp-preset[data-preset='xor'][aria-checked='true']")
    page.wait_for_function("document.querySelector('#layer-count').textContent === '0'")

    open_map(page)
    page.click("#gradient-descent a.course-lab[data-lab='descent']")
    page.wait_for_selector("[data-surface='saddle'][aria-checked='true']")
    page.wait_for_function("location.hash.length > 3")  # the page keeps what the server holds
    config = link_state(page.url)["config"]
    assert config["surface"] == "saddle"
    assert config["start"] == [-1.8, 0.0]  # exactly on the ridge

    open_map(page)
    page.click("#activations a.course-lab[data-lab='functions']")
    page.wait_for_function("document.querySelector('#act-note').textContent.startsWith('Sigmoid')")

    open_map(page)
    page.click("#pooling a.course-lab[data-lab='convolution']")
    page.wait_for_function("document.querySelector('#picture-pool-size').value === '4'")
    page.wait_for_function(
        "document.querySelector('#realpool-caption').textContent.endsWith('4×4, stride 4')")

    open_map(page)
    page.click("#xor a.course-lab[data-lab='perceptron']")
    page.wait_for_function("document.querySelector('#dataset').value === 'xor'")


RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__violations.push(`${e.violatedDirective}: ${e.blockedURI}`));
"""


@pytest.mark.csp
def test_the_map_runs_under_its_content_security_policy(page):
    page.add_init_script(RECORD_VIOLATIONS)
    response = page.goto("/course")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_selector("a.course-lab[data-state][href*='#s=']")
    page.wait_for_load_state("networkidle")
    assert page.evaluate("() => window.__violations") == []
