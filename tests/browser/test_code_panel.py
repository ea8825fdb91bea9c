"""The code panel of the MLP, perceptron and CNN pages in real headless Chromium: open it, see the
session's script, copy it, download it; it follows the page's settings and says why when there
is no script."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

# Chromium logs every 4xx answer to fetch() as a console error; the refusal a test asks for is
# expected and removed from the page's errors.
REFUSED = "console.error: Failed to load resource: the server responded with a status of 409"

LABS = {
    # lab: (what says the page has the server's run, what the script holds, its file name)
    "mlp": ("#mlp[data-synced='true']", "class Net(nn.Module):", "mlp-circle-seed0.py"),
    "perceptron": (
        "#conn-status[data-state='open']",
        "w = w + LEARNING_RATE * (target - output) * x",
        "perceptron-separable-seed0.py",
    ),
    "cnn": ("#blocks .cnn-layer-chip", "self.conv1 = nn.Conv2d(1, 16", "cnn-digits-seed0.py"),
}


def open_panel(page, lab: str) -> str:
    """Open the lab's page and its code panel; the script it shows."""
    ready, _, _ = LABS[lab]
    page.goto(f"/{lab}")
    page.wait_for_selector(ready)
    page.click("#code-panel > summary")
    page.wait_for_selector("#code-panel[data-state='ready']")
    return page.text_content("#code-text")


@pytest.mark.parametrize("lab", list(LABS))
def test_the_panel_shows_the_script_and_downloads_it(page, lab, tmp_path):
    _, holds, filename = LABS[lab]
    script = open_panel(page, lab)
    assert holds in script
    assert "def main(" in script
    assert page.is_visible("#code-copy")
    with page.expect_download() as download_info:
        page.click("#code-download")
    download = download_info.value
    assert download.suggested_filename == filename
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    assert path.read_text() == script
    compile(script, filename, "exec")  # Python, whole


def test_copy_puts_the_script_on_the_clipboard(page):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    script = open_panel(page, "mlp")
    page.click("#code-copy")
    page.wait_for_selector(".toast:has-text('Script copied')")
    assert page.evaluate("() => navigator.clipboard.readText()") == script


def test_the_other_exports_are_links_to_this_session(page):
    open_panel(page, "perceptron")
    formats = page.eval_on_selector_all(
        "#code-panel a[data-format]", "links => links.map(a => a.dataset.format)"
    )
    assert formats == ["py", "json", "csv"]  # no ONNX: the perceptron is no network
    with page.expect_download() as download_info:
        page.click("#code-panel a[data-format='json']")
    assert download_info.value.suggested_filename == "perceptron-separable-seed0.json"


def test_the_script_follows_the_settings(page):
    script = open_panel(page, "mlp")
    assert "nn.Tanh()" in script
    page.select_option("#activation", "relu")
    page.wait_for_function(
        "document.querySelector('#code-text').textContent.includes('self.act1 = nn.ReLU()')"
    )
    assert "nn.Tanh()" not in page.text_content("#code-text")


def test_without_points_the_panel_says_why(page):
    open_panel(page, "perceptron")
    page.click("#btn-clear")
    page.wait_for_selector("#code-panel[data-state='error']")
    assert "no points" in page.text_content("#code-error")
    assert page.text_content("#code-text") == ""
    page.console_errors[:] = [e for e in page.console_errors if not e.startswith(REFUSED)]
