"""The CNN lab in real headless Chromium: build a net, train it, look inside, probe it with a picture."""

from __future__ import annotations

import base64
import io
import json
import re

import pytest
from PIL import Image, ImageDraw

from tests.browser.conftest import draw_a_one

pytestmark = pytest.mark.browser

# A canvas's pixels as a list, to tell whether a picture changed.
PIXELS = (
    "(sel) => { const c = document.querySelector(sel);"
    " return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data); }"
)
# True once the canvas shows a picture (several colours, not a blank or one-colour canvas) that
# differs from `before`: a canvas that went blank does not count as changed.
REDRAWN = f"""([sel, before]) => {{
    const c = document.querySelector(sel);
    if (!c || !c.width) return false;
    const px = ({PIXELS})(sel);
    return new Set(px).size > 4 && JSON.stringify(px) !== JSON.stringify(before);
}}"""
# Chromium logs every 4xx answer to fetch() as a console error; refusals the test asks for are expected.
REFUSED = "console.error: Failed to load resource: the server responded with a status of 4"
STEP = "parseInt(document.querySelector('#step').textContent.replace(/,/g, ''))"


def open_lab(page) -> None:
    page.goto("/cnn")
    # the server's `configured` has been taken: the parameter count and the layer shapes are in
    page.wait_for_function("document.querySelector('#total-params').textContent !== '–'")
    page.wait_for_selector("#blocks .cnn-layer-chip")


def set_field(page, block: int, field: str, value) -> None:
    """Type into field `field` of conv block `block` (0-based) of the architecture builder."""
    page.fill(f"#blocks li[data-kind=block][data-i='{block}'] [data-field='{field}']", str(value))


def set_range(page, selector: str, value: float) -> None:
    page.eval_on_selector(
        selector, "(e, v) => { e.value = v; e.dispatchEvent(new Event('input', {bubbles: true})); }", value
    )


def confusion_total(page) -> int:
    cells = page.locator("#confusion tbody td").all_inner_texts()
    return sum(int(c) for c in cells)


def percent(text: str) -> float:
    match = re.search(r"([\d.]+)%", text)
    assert match, f"no percentage in {text!r}"
    return float(match.group(1))


def png(draw) -> bytes:
    image = Image.new("RGB", (120, 120), "white")
    draw(ImageDraw.Draw(image))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def train_until_evaluated(page) -> None:
    page.click("#btn-play")
    page.wait_for_selector("#confusion tbody td")
    page.wait_for_selector("#kernels canvas")
    page.wait_for_selector("#layers canvas")


def pause(page) -> None:
    if page.get_attribute("#btn-play", "data-state") == "playing":
        page.click("#btn-play")
    page.wait_for_function("document.querySelector('#btn-play').dataset.state === 'paused'")


def wait_redrawn(page, selector: str, before: list) -> None:
    page.wait_for_function(REDRAWN, arg=[selector, before])


def test_build_a_net_train_it_and_watch_kernels_and_confusion_change(page, tmp_path):
    open_lab(page)
    assert page.locator("#blocks li[data-kind=block]").count() == 2  # the default preset
    # build: a third conv block, 8 channels in the first one
    page.click("#blocks button[data-act=add][data-list=block]")
    page.wait_for_selector("#blocks li[data-kind=block][data-i='2']")
    set_field(page, 0, "channels", 8)
    page.select_option("#blocks li[data-kind=block][data-i='2'] [data-field=pool]", "none")
    # the server's shape inference answers under each block: conv3 keeps the 4×4 maps of pool2
    page.wait_for_function(
        "[...document.querySelectorAll('#blocks .cnn-layer-chip')]"
        ".some(e => e.textContent.includes('conv3') && e.textContent.includes('×4×4'))"
    )
    page.wait_for_function(
        "[...document.querySelectorAll('#blocks .cnn-layer-chip')]"
        ".some(e => e.textContent.includes('conv1') && e.textContent.includes('8×16×16'))"
    )
    assert page.is_visible("#config-pending")
    page.click("#btn-apply")
    page.wait_for_selector("#config-pending", state="hidden")
    page.wait_for_function("document.querySelectorAll('#blocks li[data-kind=block]').length === 3")

    train_until_evaluated(page)
    kernels = page.evaluate(PIXELS, "#kernels canvas")
    maps = page.evaluate(PIXELS, "#layers canvas")
    seen = confusion_total(page)
    confusion = page.locator("#confusion tbody").inner_text()
    step = page.evaluate(STEP)
    assert seen > 0
    # three conv layers of kernels; feature maps of conv1..conv3 (and their batch norm, relu, pool)
    assert page.locator("#kernels .cnn-layer").count() == 3
    assert page.locator("#layers [data-layer]").count() >= 9
    # keep training: the kernels, maps and confusion matrix are redrawn with what the net learned
    page.wait_for_function(f"{STEP} > {step + 60}")
    page.wait_for_function(
        "(before) => document.querySelector('#confusion tbody').innerText !== before", arg=confusion
    )
    pause(page)
    # the complete frame after the pause carries the kernels and maps (while playing on a busy
    # machine they may have been skipped); it lands just after the "paused" state
    wait_redrawn(page, "#kernels canvas", kernels)
    wait_redrawn(page, "#layers canvas", maps)
    assert confusion_total(page) == seen  # same validation images, new predictions
    assert percent(page.text_content("#val-acc")) > 50
    # a feature map clicked is shown enlarged, named by layer and channel
    page.click("#layers [data-layer] >> nth=0 >> canvas >> nth=2")
    page.wait_for_selector("#maps-zoom", state="visible")
    assert page.text_content("#maps-zoom span") == "conv1, channel 3 of 8"
    assert page.evaluate(PIXELS, "#maps-zoom canvas") == page.evaluate(
        "() => { const c = document.querySelectorAll('#layers .cnn-maps canvas')[2];"
        " return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data); }"
    )
    assert page.locator("#per-class .cnn-pc").count() == 10
    # a cell of the confusion matrix filters the gallery of mistakes to that pair of classes
    shown = page.locator("#gallery figure").count()
    assert shown > 0
    title = page.locator("#gallery figure").first.get_attribute("title")
    true, pred = re.match(r"True: (\S+) / Pred: (\S+)", title).groups()
    page.click(f"#confusion td[data-t='{true}'][data-p='{pred}']")
    page.wait_for_function("document.querySelector('#gallery-caption').textContent.includes('predicted as')")
    titles = page.locator("#gallery figure").evaluate_all("els => els.map(e => e.title)")
    assert titles
    assert all(t.startswith(f"True: {true} / Pred: {pred} ") for t in titles)
    page.click("#gallery-all")
    assert page.locator("#gallery figure").count() == shown
    # curves, and the test accuracy on demand
    assert page.evaluate("document.querySelectorAll('#chart-acc canvas').length") >= 1
    page.click("#btn-test")
    page.wait_for_function("document.querySelector('#test-result').textContent.includes('Test accuracy')")
    assert percent(page.text_content("#test-result")) > 50
    page.screenshot(path=tmp_path / "cnn-trained.png", full_page=True)


def test_upload_draw_and_see_probabilities_and_feature_maps(page, tmp_path):
    open_lab(page)
    page.click("#btn-step")
    page.wait_for_function(f"{STEP} >= 10")
    # a "7" drawn on white paper, as a photo of ink would be
    path = tmp_path / "seven.png"
    path.write_bytes(png(lambda d: d.line([(25, 25), (95, 25), (50, 105)], fill="black", width=12)))
    page.set_input_files("#upload", str(path))
    page.wait_for_selector("#own-result", state="visible")
    assert page.is_hidden("#upload-error")
    probs = page.locator("#own-probs .cnn-prob-val").all_inner_texts()
    assert len(probs) == 10
    assert abs(sum(percent(p) for p in probs) - 100) < 1.5
    assert "seven.png" in page.text_content("#own-pred")
    # what the net sees (the preprocessed 16×16 picture) and every spatial layer's maps come
    # in the cnn.maps frame that follows the answer
    page.wait_for_function("document.querySelectorAll('#own-layers [data-layer]').length >= 8")
    assert page.evaluate("document.querySelector('#own-input').width") == 16
    first = page.evaluate(PIXELS, "#own-layers canvas")
    assert len(set(first)) > 4  # a real picture, not a blank canvas
    # the streamed feature maps now follow the uploaded picture too (the next frame shows it)
    step = page.evaluate(STEP)
    page.click("#btn-step")
    page.wait_for_function(f"{STEP} > {step}")
    page.wait_for_function("document.querySelector('#img-index').textContent === 'your image'")

    # draw a digit on the pad: it is classified when the stroke ends
    draw_a_one(page)
    wait_redrawn(page, "#own-layers canvas", first)  # the maps of the drawing
    # a bundled sample picture
    page.select_option("#sample", index=1)
    page.wait_for_function(
        "(name) => document.querySelector('#own-pred').textContent.includes(name)",
        arg=page.locator("#sample option").nth(1).inner_text(),
    )
    page.screenshot(path=tmp_path / "cnn-own-image.png", full_page=True)


def test_a_bad_upload_shows_a_clear_message(page):
    open_lab(page)
    page.set_input_files(
        "#upload", files=[{"name": "photo.png", "mimeType": "image/png", "buffer": b"not an image"}]
    )
    page.wait_for_selector("#upload-error", state="visible")
    message = page.text_content("#upload-error")
    assert "photo.png" in message
    assert "not a PNG, JPEG, WebP or GIF" in message
    assert page.is_hidden("#own-result")
    # the page goes on working: a good picture afterwards is classified and the message goes
    page.set_input_files(
        "#upload", files=[{"name": "dot.png", "mimeType": "image/png",
                           "buffer": png(lambda d: d.ellipse([40, 40, 80, 80], fill="black"))}]
    )
    page.wait_for_selector("#own-result", state="visible")
    assert page.is_hidden("#upload-error")
    # Chromium logs the refused request (415: not an image) as "Failed to load resource"
    assert any(e.startswith(REFUSED) for e in page.console_errors)
    page.console_errors[:] = [e for e in page.console_errors if not e.startswith(REFUSED)]


def test_an_impossible_architecture_is_explained_before_training(page):
    open_lab(page)
    # stride 4 shrinks 16×16 to 4×4, pooling to 2×2: block 2's 3×3 kernel no longer fits
    set_field(page, 0, "stride", 4)
    set_field(page, 1, "padding", 0)
    page.wait_for_selector("#arch-error", state="visible")
    assert "conv2" in page.text_content("#arch-error")
    assert "2×2" in page.text_content("#arch-error")
    block = page.locator("#blocks li[data-kind=block][data-i='1']")
    assert "bad" in (block.get_attribute("class") or "")
    assert "kernel" in block.locator(".cnn-block-error").inner_text()
    assert page.is_disabled("#btn-apply")
    # fixing it (padding back) clears the message and shapes come back
    set_field(page, 1, "padding", 1)
    page.wait_for_selector("#arch-error", state="hidden")
    assert not page.is_disabled("#btn-apply")
    assert "bad" not in (block.get_attribute("class") or "")


def test_save_the_trained_model_and_load_it_back(page, tmp_path):
    open_lab(page)
    page.fill("#blocks li[data-kind=block][data-i='0'] [data-field=channels]", "12")
    page.click("#btn-apply")
    page.wait_for_selector("#config-pending", state="hidden")
    page.click("#btn-step")
    page.wait_for_function(f"{STEP} >= 10")
    with page.expect_download() as download:
        page.click("#btn-save")
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    assert path.suffix == ".safetensors"
    # another architecture, then the file brings the saved one back
    page.select_option("#preset", "vgg_small")
    page.click("#btn-apply")
    page.wait_for_function("document.querySelectorAll('#blocks li[data-kind=block]').length === 4")
    page.set_input_files("#model-file", str(path))
    page.wait_for_selector("#model-msg.good")
    page.wait_for_function("document.querySelectorAll('#blocks li[data-kind=block]').length === 2")
    channels = "#blocks li[data-kind=block][data-i='0'] [data-field=channels]"
    assert page.input_value(channels) == "12"
    # a file that is not a saved model is refused with the server's reason
    page.set_input_files(
        "#model-file", files=[{"name": "fake.safetensors", "mimeType": "application/octet-stream",
                               "buffer": b"\x00" * 64}]
    )
    page.wait_for_selector("#model-msg.bad")
    assert "fake.safetensors" in page.text_content("#model-msg")
    page.console_errors[:] = [e for e in page.console_errors if not e.startswith(REFUSED)]


def test_class_imbalance_hides_behind_good_overall_accuracy(page):
    open_lab(page)
    bars = "[...document.querySelectorAll('#class-bars .cnn-cbar i')].map(e => e.style.height)"
    # shrink the training images of class 3 to 2% (about two images left)
    page.click("#imbalance-classes button[data-k='3']")
    set_range(page, "#imbalance-fraction", 0.02)
    assert page.is_visible("#config-pending")
    page.click("#btn-apply")
    page.wait_for_selector("#config-pending", state="hidden")
    heights = page.evaluate(bars)
    assert float(heights[3].rstrip("%")) < 5 < min(float(h.rstrip("%")) for i, h in enumerate(heights) if i != 3)
    # train: the overall accuracy looks fine, while class 3 is mostly wrong, and the page says so
    page.click("#btn-play")
    page.wait_for_selector("#eval-note", state="visible", timeout=90_000)
    pause(page)
    assert "class 3" in page.text_content("#eval-note")
    assert "shrunk" in page.text_content("#eval-note")
    assert "bad" in (page.locator("#per-class .cnn-pc").nth(3).get_attribute("class") or "")


def test_label_noise_shows_up_in_the_hardest_images_and_can_be_dropped(page):
    open_lab(page)
    set_range(page, "#label_noise", 0.3)
    page.click("#btn-apply")
    page.wait_for_function("document.querySelector('#counts').textContent.includes('labels flipped')")
    page.click("#btn-play")
    # once the net has learned the digits, the poisoned labels are what it finds hardest
    page.wait_for_function(
        "document.querySelectorAll('#hardest figure.flipped').length * 2"
        " > document.querySelectorAll('#hardest figure').length",
        timeout=90_000,
    )
    pause(page)
    train_before = int(page.text_content("#counts .cnn-split b").replace(",", ""))
    # Select the flipped ones and drop them in one go, as a person clicking would, and without
    # a gallery that arrives in between changing what was counted (the complete frame after the
    # pause may bring one).
    flipped, selected = page.evaluate(
        """() => {
            const flipped = document.querySelectorAll('#hardest figure.flipped').length;
            document.querySelector('#btn-select-flipped').click();
            const selected = document.querySelectorAll('#hardest figure.selected').length;
            document.querySelector('#btn-drop').click();
            return [flipped, selected];
        }"""
    )
    assert flipped > 0
    assert selected == flipped
    page.wait_for_function("document.querySelector('#counts').textContent.includes('dropped')")
    assert int(page.text_content("#counts .cnn-split b").replace(",", "")) == train_before - flipped
    page.wait_for_function(f"{STEP} === 0")  # the model starts again without them
    page.click("#btn-restore")
    page.wait_for_function("!document.querySelector('#counts').textContent.includes('dropped')")
    assert int(page.text_content("#counts .cnn-split b").replace(",", "")) == train_before


def test_augmentation_preview_shows_a_changed_batch(page):
    open_lab(page)
    page.check("#aug-flip")
    set_range(page, "#aug-rotate", 30)
    set_range(page, "#aug-shift", 2)
    page.click("#btn-augment")
    page.wait_for_selector("#aug-preview", state="visible")
    page.wait_for_function("document.querySelector('#aug-augmented').width > 16")
    original = page.evaluate(PIXELS, "#aug-original")
    augmented = page.evaluate(PIXELS, "#aug-augmented")
    assert len(original) == len(augmented)  # the same 16 images, side by side
    assert original != augmented
    assert len(set(original)) > 10  # real pictures, not blank tiles


def test_the_page_without_a_link_keeps_what_the_session_trained(page):
    open_lab(page)
    set_field(page, 0, "channels", 6)
    page.click("#btn-apply")
    page.wait_for_selector("#config-pending", state="hidden")
    page.click("#btn-step")
    page.wait_for_function(f"{STEP} === 10")
    page.goto("/cnn")  # the same tab (the same session), no settings in the address
    open_lab(page)
    page.wait_for_function(f"{STEP} === 10")
    channels = "#blocks li[data-kind=block][data-i='0'] [data-field=channels]"
    assert page.input_value(channels) == "6"


def test_a_shared_link_opens_the_lab_with_its_settings(page):
    config = {
        "label_noise": 0.1,
        "epochs": 12,
        "architecture": {
            "blocks": [{"channels": 12, "kernel_size": 5, "stride": 1, "padding": 2,
                        "activation": "tanh", "batch_norm": False, "pool": "avg",
                        "pool_size": 2, "pool_stride": 2, "dropout": 0.0}],
            "fc": [],
        },
    }
    state = base64.urlsafe_b64encode(json.dumps({"config": config}).encode()).decode().rstrip("=")
    page.goto(f"/cnn#s={state}")
    page.wait_for_function("document.querySelector('#counts').textContent.includes('labels flipped')")
    assert page.locator("#blocks li[data-kind=block]").count() == 1
    assert page.input_value("#blocks li[data-kind=block] [data-field=channels]") == "12"
    assert page.input_value("#blocks li[data-kind=block] [data-field=activation]") == "tanh"
    assert page.text_content("#epochs-out") == "12"
    assert page.is_hidden("#config-pending")  # what is shown is what the server built
    assert "conv1 12×16×16" in page.locator("#blocks .cnn-chain").first.inner_text()


def test_a_reload_resumes_the_trained_session_and_redraws_it(page):
    open_lab(page)
    set_field(page, 0, "channels", 6)
    page.click("#btn-apply")
    page.wait_for_selector("#config-pending", state="hidden")
    page.click("#btn-step")
    page.wait_for_selector("#confusion tbody td")
    page.wait_for_function(f"{STEP} === 10")
    # the evaluation of step 10 (it follows the step's metrics, in a message of its own)
    page.wait_for_function("document.querySelector('#eval-caption').textContent"
                           ".endsWith('epoch ' + document.querySelector('#epoch').textContent)")
    confusion = page.locator("#confusion tbody").inner_text()
    page.reload()
    # the same session, not a new one: its step, its config, and (after the resync's refresh)
    # its evaluation come back
    page.wait_for_function(
        "(before) => document.querySelector('#confusion tbody')?.innerText === before", arg=confusion
    )
    page.wait_for_function(f"{STEP} === 10")
    assert page.input_value("#blocks li[data-kind=block][data-i='0'] [data-field=channels]") == "6"
    assert page.is_hidden("#config-pending")
