"""Pages render server-side with the navigation, the limits and the defaults; unknown pages 404."""

import json
import re
from html import escape, unescape

import httpx

from app.labs import LABS


def _boot(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="boot">(.*?)</script>', html, re.S)
    assert match, "the page has no boot block"
    return json.loads(unescape(match.group(1)))


def test_every_lab_page_renders(live_server, settings):
    for lab in LABS:
        response = httpx.get(f"{live_server}/{lab.name}")
        assert response.status_code == 200, lab.name
        html = response.text
        assert f"<title>{escape(lab.title)} · torchplay</title>" in html
        assert f'data-lab="{lab.name}"' in html
        assert all(f'href="/{other.name}"' in html for other in LABS)
        boot = _boot(html)
        # The page's limits and defaults come from the server's settings and the lab's config.
        assert boot["lab"] == lab.name
        assert boot["limits"] == getattr(settings, lab.name).model_dump()
        assert boot["defaults"] == lab.defaults()


def test_index_is_the_playground_and_unknown_pages_are_404(live_server):
    assert 'data-lab="mlp"' in httpx.get(live_server + "/").text
    assert httpx.get(live_server + "/no-such-lab").status_code == 404
    assert httpx.get(live_server + "/static/vendor/uPlot-1.6.32.min.js").status_code == 200


def test_lab_descriptions_for_other_clients(live_server, settings):
    listing = httpx.get(f"{live_server}/api/labs").json()
    assert [entry["name"] for entry in listing] == [lab.name for lab in LABS]
    for lab in LABS:
        info = httpx.get(f"{live_server}/api/labs/{lab.name}").json()
        assert info["limits"] == getattr(settings, lab.name).model_dump()
        assert info["defaults"] == lab.defaults()
        assert {"configure", "play", "pause", "step", "reset"} <= set(info["messages"])
        # The schema describes the defaults: every top-level default is a property.
        assert set(info["defaults"]) <= set(info["config_schema"]["properties"])
    missing = httpx.get(f"{live_server}/api/labs/nope")
    assert missing.status_code == 404 and "labs: mlp" in missing.json()["detail"]
