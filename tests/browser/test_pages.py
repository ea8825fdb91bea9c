"""Every lab page opens, connects to its session and shows its explanation, with no console errors,
under its Content-Security-Policy."""

from __future__ import annotations

import pytest

from app.labs import LABS
from app.pages import available

PAGES = [(lab.name, lab.title, lab.summary) for lab in LABS]

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("lab", [p[0] for p in PAGES])
def test_page_opens_connects_and_explains(page, lab):
    page.goto(f"/{lab}")
    page.wait_for_selector("#conn-status[data-state='open']")
    assert page.locator("nav.labs a").count() == len(available())  # labs and explainers
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


# Records every CSP violation the page reports (an init script runs before the page's own).
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__violations.push(`${e.violatedDirective}: ${e.blockedURI}`));
"""


@pytest.mark.csp
@pytest.mark.parametrize("lab", [p[0] for p in PAGES])
def test_every_page_runs_under_its_content_security_policy(page, lab):
    page.add_init_script(RECORD_VIOLATIONS)
    response = page.goto(f"/{lab}")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_selector("#conn-status[data-state='open']")
    # Work the page a little: its first frames and pictures arrive (and, where it trains, play).
    play = page.locator("#btn-play")
    if play.count():
        play.click()
        page.wait_for_selector("#btn-play[data-state='playing']")
        play.click()
        page.wait_for_selector("#btn-play:not([data-state='playing'])")
    page.wait_for_load_state("networkidle")
    assert page.evaluate("() => window.__violations") == []
