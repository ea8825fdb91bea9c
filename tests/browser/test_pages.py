"""Every lab page opens, connects to its session and shows its explanation, with no console errors."""

from __future__ import annotations

import pytest

from app.labs import LABS

PAGES = [(lab.name, lab.title, lab.summary) for lab in LABS]

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("lab", [p[0] for p in PAGES])
def test_page_opens_connects_and_explains(page, lab):
    page.goto(f"/{lab}")
    page.wait_for_selector("#conn-status[data-state='open']")
    assert page.locator("nav.labs a").count() == len(PAGES)
    assert page.locator("nav.labs a[aria-current='page']").get_attribute("href") == f"/{lab}"
    assert len(page.locator("#explain").inner_text().strip()) > 200, "the page explains itself"
    page.wait_for_function("document.getElementById('device-label').textContent.trim() !== ''")
    assert page.locator("#device-label").inner_text().strip() == "cpu"


def test_navigation_between_labs(page):
    page.goto("/")
    page.wait_for_selector("#conn-status[data-state='open']")
    for lab, label, _ in PAGES[1:]:
        page.click(f"nav.labs a[href='/{lab}']")
        page.wait_for_url(f"**/{lab}")
        page.wait_for_selector("#conn-status[data-state='open']")
        assert label in page.title()


def test_reload_resumes_the_same_session(page):
    page.goto("/perceptron")
    page.wait_for_selector("#conn-status[data-state='open']")
    first = page.evaluate("sessionStorage.getItem('torchplay-session-perceptron')")
    page.reload()
    page.wait_for_selector("#conn-status[data-state='open']")
    assert page.evaluate("sessionStorage.getItem('torchplay-session-perceptron')") == first
