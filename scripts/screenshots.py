"""Take the README's screenshots: one per lab, in headless Chromium, against a running server.

Usage: .venv/bin/python scripts/screenshots.py [BASE_URL] [OUT_DIR]
(default http://127.0.0.1:8000 and docs/screenshots). Start the server first (make run).
Each lab is put in an interesting state (training for a few seconds, a step taken) first.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def state(obj: dict) -> str:
    """The pages' shareable URL state: #s=<base64url(JSON)> (static/js/state.js)."""
    return "#s=" + base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


SPIRAL = state(
    {
        "config": {
            "dataset": {"name": "spiral", "noise": 0.05, "samples": 600},
            "model": {
                "hidden": [8, 8, 6],
                "activation": "tanh",
                "features": ["x1", "x2", "sin_x1", "sin_x2"],
            },
            "training": {"optimizer": "adam", "learning_rate": 0.01, "batch_size": 10},
        }
    }
)


def main() -> None:
    base = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"
    out = Path(sys.argv[2] if len(sys.argv) > 2 else "docs/screenshots")
    out.mkdir(parents=True, exist_ok=True)
    shots = {
        "mlp": ("/mlp" + SPIRAL, ["#btn-play"], 12000, None),
        "perceptron": ("/perceptron", ["#btn-play"], 2500, None),
        "descent": ("/descent", [], 500, None),
        "functions": ("/functions", [], 500, None),
        "convolution": ("/convolution", [], 500, None),
        "cnn": ("/cnn", ["#btn-play"], 10000, None),
        "cnn-inside": ("/cnn", ["#btn-play"], 10000, "#chart-loss"),
        "mlp-backward": ("/" + SPIRAL, ["#btn-play"], 8000, "#view-mode"),
        "cnn-channels": ("/cnn", ["#btn-play"], 10000, "#channels-caption"),
        "course": ("/course", [], 500, None),
        "tensors": ("/tensors", [], 8000, None),
    }
    # after playing: what to click before the picture (the backward view, a layer's top images)
    clicks = {
        "mlp-backward": ["#view-mode [data-mode=backward]"],
        "cnn-channels": ["#btn-play", "#channels-show"],
    }
    only = set(sys.argv[3:])
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        for name, (path, play, wait_ms, scroll_to) in shots.items():
            if only and name not in only:
                continue
            page = browser.new_page(viewport={"width": 1440, "height": 960})
            page.goto(base + path)
            if name in ("course", "tensors"):  # pages without a session socket
                page.wait_for_load_state("networkidle")
            else:
                page.wait_for_selector("#conn-status[data-state='open']")
            page.wait_for_timeout(800)
            if name == "descent":  # a race on the surface with several minima
                page.click("#surfaces [data-surface=wells]")
                page.wait_for_timeout(800)
                box = page.locator("#paths").bounding_box()
                page.mouse.click(box["x"] + 0.2 * box["width"], box["y"] + 0.25 * box["height"])
                wait_ms = 6000
            for selector in play:
                if page.locator(selector).count():
                    page.locator(selector).first.click()
                    break
            page.wait_for_timeout(wait_ms)
            for selector in clicks.get(name, []):
                page.locator(selector).first.click()
                page.wait_for_timeout(2500)
            if scroll_to:
                page.locator(scroll_to).scroll_into_view_if_needed()
                page.evaluate("window.scrollBy(0, -80)")
                page.wait_for_timeout(500)
            page.screenshot(path=str(out / f"{name}.png"))
            print("wrote", out / f"{name}.png")
            page.close()
        browser.close()


if __name__ == "__main__":
    main()
