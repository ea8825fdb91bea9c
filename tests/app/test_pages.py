"""Pages render server-side with the navigation and limits; unknown pages are 404."""

from html import escape

import httpx

from app.pages import PAGES


def test_every_lab_page_renders(live_server):
    for lab, label, _ in PAGES:
        response = httpx.get(f"{live_server}/{lab}")
        assert response.status_code == 200, lab
        html = response.text
        assert f"<title>{escape(label)} · torchplay</title>" in html
        assert f'data-lab="{lab}"' in html and "TORCHPLAY_LIMITS" in html
        assert all(f'href="/{other}"' in html for other, _, _ in PAGES)


def test_index_is_the_playground_and_unknown_pages_are_404(live_server):
    assert 'data-lab="mlp"' in httpx.get(live_server + "/").text
    assert httpx.get(live_server + "/no-such-lab").status_code == 404
    assert httpx.get(live_server + "/static/vendor/uPlot-1.6.32.min.js").status_code == 200
