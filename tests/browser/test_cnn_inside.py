"""Inside the CNN, in real headless Chromium: trace a deep pixel, each channel's top images and
the input it likes most, with vs without batch norm, Grad-CAM on a drawn digit, the batch-norm
panel, the layer table's tensors, VGG-16."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import draw_a_one
from tests.browser.test_cnn import PIXELS, REDRAWN, STEP, open_lab, pause

pytestmark = pytest.mark.browser

# Pixels of a canvas that have a given colour (r, g, b) within a tolerance.
COLOURED = """([sel, rgb]) => {
    const c = document.querySelector(sel);
    const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < px.length; i += 4) {
        if (Math.abs(px[i] - rgb[0]) < 30 && Math.abs(px[i + 1] - rgb[1]) < 30
            && Math.abs(px[i + 2] - rgb[2]) < 30 && px[i + 3] > 200) n++;
    }
    return n;
}"""
WITH_BN, WITHOUT_BN = (8, 119, 189), (245, 147, 34)  # palette.js CLASS_RGB[1], CLASS_RGB[0]


def train_steps(page, steps: int = 30) -> None:
    """Press step (10 mini-batches) until ``steps`` more are done."""
    target = page.evaluate(STEP) + steps
    while page.evaluate(STEP) < target:
        before = page.evaluate(STEP)
        page.click("#btn-step")
        page.wait_for_function(f"{STEP} >= {before + 10}")
    page.wait_for_selector("#layers canvas")


def test_click_a_deep_feature_map_pixel_and_see_its_computation(page, tmp_path):
    open_lab(page)
    train_steps(page)
    # conv2's 8×8 maps: click the middle of its 4th channel
    canvas = page.locator("#layers [data-layer='4'] .cnn-maps canvas").nth(3)
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.55, box["y"] + box["height"] * 0.45)
    page.wait_for_selector("#trace:not([hidden]) .cnn-trace-title")
    title = page.text_content("#trace .cnn-trace-title")
    assert re.match(r"conv2 channel 3, row 3, column 4 = -?[\d.]", title)
    steps = page.locator("#trace .cnn-steps > li h4").all_inner_texts()
    assert steps[0].startswith("conv2: for each of the 16 input channels, its 3×3 window")
    assert steps[1].startswith("bn2: batch norm")
    assert steps[2].startswith("act2: activation")
    assert steps[3].startswith("pool2: max pooling — the window that consumes it")
    assert page.locator("#trace .cnn-term").count() == 16  # every input channel's window × kernel
    assert page.locator("#trace .cnn-term").first.locator("table").count() == 3
    # the receptive field: an 8×8 box outlined on the 16×16 input
    field = page.eval_on_selector("#trace .cnn-field i", "e => [e.style.width, e.style.height]")
    assert field == ["50%", "50%"]
    assert "rows 3–10, columns 5–12" in page.text_content("#trace .cnn-field figcaption")
    # a pixel of the last pooled maps lands in the flattened vector
    pooled = page.locator("#layers [data-layer='7'] .cnn-maps canvas").nth(1)
    pbox = pooled.bounding_box()
    page.mouse.click(pbox["x"] + 2, pbox["y"] + 2)
    page.wait_for_function("document.querySelector('#trace .cnn-trace-title').textContent.startsWith('pool2 channel 1, row 0, column 0')")
    assert "element 16 of the 512 numbers" in page.text_content("#trace")
    # the flatten step, laid out: channel 1 starts at element 16 (4×4 maps)
    page.click(".cnn-flatten-box summary")
    assert "element = channel × 16 + row × 4 + column" in page.text_content("#flatten")
    channel1 = page.locator("#flatten .cnn-flatten-cells > div").nth(1).locator("td").all_inner_texts()
    assert channel1[:5] == ["16", "17", "18", "19", "20"]
    # a class's probability: its logit, then softmax over all of them
    page.click("#maps-probs .cnn-prob >> nth=4")
    page.wait_for_selector("#softmax")
    assert page.text_content("#trace .cnn-trace-title").startswith("output unit 4")
    probs = page.locator("#softmax tbody tr td:nth-child(4)").all_inner_texts()
    assert len(probs) == 10
    assert sum(float(p) for p in probs) == pytest.approx(1.0, abs=0.01)
    page.screenshot(path=tmp_path / "trace.png", full_page=True)


def test_the_top_images_of_a_second_layer_channel_and_the_input_it_likes(page):
    open_lab(page)
    options = page.locator("#channels-layer option").all_inner_texts()
    assert options == ["conv1: 16 channels, each sees 3×3 pixels",
                       "conv2: 32 channels, each sees 8×8 pixels"]  # deeper sees more
    train_steps(page, 20)
    page.select_option("#channels-layer", index=1)
    page.click("#channels-show")
    page.wait_for_function("document.querySelectorAll('#channels .cnn-channel').length === 32")
    page.wait_for_function("document.querySelector('#channels').dataset.layer === 'act2'")
    second = page.eval_on_selector("#channels .cnn-channel canvas", "c => [c.width, c.height]")
    assert second == [3 * 8 + 2, 3 * 8 + 2]  # 9 crops of 8×8 with 1-pixel gutters
    tiles = page.evaluate(PIXELS, "#channels .cnn-channel canvas")
    assert len(set(tiles)) > 10  # real picture pieces
    step = page.get_attribute("#channels", "data-step")
    train_steps(page, 10)  # a validation pass: the top images are refreshed
    page.wait_for_function(f"document.querySelector('#channels').dataset.step !== '{step}'")
    # the first layer's crops are smaller: it sees less
    page.select_option("#channels-layer", index=0)
    page.click("#channels-show")
    page.wait_for_function("document.querySelectorAll('#channels .cnn-channel').length === 16")
    first = page.eval_on_selector("#channels .cnn-channel canvas", "c => [c.width, c.height]")
    assert first == [3 * 3 + 2, 3 * 3 + 2]
    # the input channel 2 of conv2 likes most, forming step by step
    page.select_option("#channels-layer", index=1)
    page.click("#channels-show")
    page.wait_for_function("document.querySelectorAll('#channels .cnn-channel').length === 32")
    page.click("#channels .cnn-channel >> nth=2 >> button")
    page.wait_for_selector("#dream:not([hidden])")
    page.wait_for_function("Number(document.querySelector('#dream-canvas').dataset.step) > 0")
    page.wait_for_function("document.querySelector('#dream').dataset.done === 'true'", timeout=30_000)
    assert page.text_content("#dream-caption").startswith("conv2, channel 2: step")
    assert "done in" in page.text_content("#dream-caption")
    assert len(set(page.evaluate(PIXELS, "#dream-canvas"))) > 10


def test_with_and_without_batch_norm_gives_two_curves(page, tmp_path):
    open_lab(page)
    page.click("#compare-toggle")
    page.wait_for_selector("#compare-body:not([hidden])")
    assert page.text_content("#compare-toggle") == "Stop comparing"
    page.click("#btn-play")
    page.wait_for_function(
        "/with batch norm: step (\\d+).*without: step (\\d+)/.test(document.querySelector('#compare-status').textContent)"
        " && Math.min(...document.querySelector('#compare-status').textContent.match(/step (\\d+)/g)"
        ".map(s => Number(s.slice(5)))) >= 40", timeout=60_000)
    page.wait_for_selector("#compare-hists canvas[data-run='off']")
    pause(page)
    page.locator("#compare-loss").scroll_into_view_if_needed()
    page.wait_for_function(f"({COLOURED})(['#compare-loss canvas', {list(WITH_BN)}]) > 20")
    page.wait_for_function(f"({COLOURED})(['#compare-loss canvas', {list(WITHOUT_BN)}]) > 20")
    assert page.locator("#compare-hists canvas").count() == 4  # 2 blocks × with / without
    page.screenshot(path=tmp_path / "compare.png", full_page=True)
    page.click("#compare-toggle")
    page.wait_for_selector("#compare-body", state="hidden")


def test_grad_cam_on_a_drawn_digit(page, tmp_path):
    open_lab(page)
    train_steps(page, 30)
    draw_a_one(page)
    page.click("#explain-show")
    page.wait_for_selector("#explain-result:not([hidden])")
    caption = page.text_content("#explain-caption")
    assert caption.startswith("Grad-CAM at act2")
    assert "your image" in caption
    heat = page.evaluate(PIXELS, "#explain-heat")
    assert len(set(heat)) > 8  # a heat map, not a flat colour
    # the same for another class: a different map
    page.select_option("#explain-target", index=9)  # class "8"
    page.wait_for_function("document.querySelector('#explain-caption').textContent.includes('score of 8 ')")
    page.wait_for_function(REDRAWN, arg=["#explain-heat", heat])
    page.select_option("#explain-method", "saliency")
    page.wait_for_function("document.querySelector('#explain-heat').dataset.method === 'saliency'")
    page.screenshot(path=tmp_path / "explain.png", full_page=True)


def test_the_batch_norm_panel_and_train_versus_eval(page):
    open_lab(page)
    train_steps(page, 20)
    page.select_option("#bn-layer", index=1)
    page.fill("#bn-channel", "5")
    page.click("#bn-show")
    # (choosing the layer already showed its channel 0: wait for the one asked for)
    page.wait_for_function("document.querySelector('#bn-numbers').textContent.includes('bn2, channel 5')")
    text = page.text_content("#bn-numbers")
    assert re.search(r"m = \d+ values", text)
    assert "training: y = γ · (x − μB) / √(σ²B + ε) + β =" in text
    assert "evaluation: y =" in text
    for name in ("input", "train", "eval"):
        assert len(set(page.evaluate(PIXELS, f"#bn-map-{name}"))) > 4
    assert page.evaluate(PIXELS, "#bn-map-train") != page.evaluate(PIXELS, "#bn-map-eval")


def test_the_layer_table_names_dimensions_and_shows_tensors(page):
    open_lab(page)
    page.wait_for_selector("#layer-table tbody tr")
    conv2 = page.locator("#layer-table tbody tr[data-index='4']")
    cells = conv2.locator("td").all_inner_texts()
    assert cells[:4] == ["conv2", "conv", "64 × 16 × 8 × 8", "64 × 32 × 8 × 8"]
    assert cells[4] == "4,640"
    flatten = page.locator("#layer-table tbody tr[data-index='8'] td").all_inner_texts()
    assert flatten[3] == "64 × 512"  # N × features
    assert "float32 on cpu" in page.text_content("#layer-table caption")
    assert "limit 8 GFLOP" in page.text_content("#layer-table tfoot")
    train_steps(page, 10)
    conv2.click()
    page.wait_for_selector("#tensor .cnn-tensor-view")
    views = page.locator("#tensor .cnn-tensor-view").all_inner_texts()
    assert "shape out 32 × in 16 × kH 3 × kW 3" in views[0]
    assert "shape N 1 × C 32 × H 8 × W 8" in views[1]
    assert page.locator("#tensor .cnn-tensor-view >> nth=0 >> .cnn-grid td").count() == 9
    page.fill("#tensor input[data-slice='out']", "5")
    page.dispatch_event("#tensor input[data-slice='out']", "change")
    page.wait_for_function("document.querySelector('#tensor').textContent.includes('slice [5, 0, :, :]')")


def test_vgg16_and_the_classic_nets(page):
    open_lab(page)
    page.wait_for_selector("#reference-params")
    assert page.text_content("#reference-params") == "138,357,544"
    assert page.locator("#reference-table tr.k-conv").count() == 13
    assert "two 3×3" in page.text_content("#reference-stacks")
    assert "(72%)" in page.text_content("#reference-stacks")
    page.select_option("#reference-name", "alexnet")
    page.wait_for_function("document.querySelector('#reference-params').textContent === '62,378,344'")
    page.select_option("#reference-name", "lenet5")
    page.wait_for_function("document.querySelector('#reference-params').textContent === '61,706'")
