"""The CNN page's lessons in real headless Chromium, each set up as a learner would and looked at:
figures that say which epoch they are from and catch up on pause, the imbalance remedies side by
side, dropping every suspected flip, the learnable shapes, the own-image panel, a loaded model,
and the sticky training bar."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import draw_a_one
from tests.browser.test_cnn import (
    PIXELS,
    REFUSED,
    STEP,
    open_lab,
    pause,
    percent,
    png,
    set_range,
)

pytestmark = pytest.mark.browser

EPOCH = "parseFloat(document.querySelector('#epoch').textContent)"
FINISHED = "document.querySelector('#run-state').textContent.includes('Finished')"


def epoch_in(text: str) -> float:
    match = re.search(r"epoch ([\d.]+)", text)
    assert match, f"no epoch in {text!r}"
    return float(match.group(1))


def set_epochs(page, epochs: int) -> None:
    set_range(page, "#epochs", epochs)


def apply(page) -> None:
    page.click("#btn-apply")
    page.wait_for_selector("#config-pending", state="hidden")


def play_to_the_end(page, timeout: float = 180_000) -> None:
    page.click("#btn-play")
    page.wait_for_function(FINISHED, timeout=timeout)


def test_pausing_brings_every_figure_to_the_epoch_it_paused_at(page):
    """Issue 10.5: paused at epoch 20, the confusion matrix said "epoch 13.5"."""
    open_lab(page)
    page.click("#btn-play")
    page.wait_for_function(f"{EPOCH} >= 2.3", timeout=90_000)
    pause(page)
    # the complete frame after the pause validates the weights as they are: every figure says so
    page.wait_for_function(
        "document.querySelector('#eval-caption').textContent"
        ".includes(`epoch ${document.querySelector('#epoch').textContent}`)"
    )
    epoch = page.text_content("#epoch")
    assert page.text_content("#val-at") == f"at epoch {epoch}"
    assert epoch_in(page.text_content("#gallery-caption")) == float(epoch)
    assert epoch_in(page.text_content("#hardest-caption")) == float(epoch)
    assert epoch_in(page.text_content("#maps-caption")) == float(epoch)
    assert f"at epoch {epoch}" in page.get_attribute("#gap", "title")
    page.click("#btn-test")
    page.wait_for_function("document.querySelector('#test-result').textContent.includes('epoch')")
    assert epoch_in(page.text_content("#test-result")) == float(epoch)


def test_a_finished_run_shows_its_last_epoch(page):
    open_lab(page)
    set_epochs(page, 2)
    apply(page)
    play_to_the_end(page)
    page.wait_for_function("document.querySelector('#eval-caption').textContent.includes('epoch 2.0')")
    assert page.text_content("#val-at") == "at epoch 2.0"


@pytest.mark.slow
def test_the_imbalance_remedies_show_the_shrunk_class_lifted(page, tmp_path):
    """Issue 10.8: class 3 shrunk, then the weighted loss and oversampling, each figure kept."""
    open_lab(page)
    page.click("#imbalance-classes button[data-k='3']")
    set_range(page, "#imbalance-fraction", 0.05)
    set_epochs(page, 3)  # the note's workings; the lift itself at 10 epochs: test_cnn_lessons.py
    apply(page)
    last = "(r) => document.querySelector(`#remedy-note [data-remedy='${r}']`)?.textContent" \
        ".includes('epoch 3.0')"
    play_to_the_end(page)
    page.wait_for_function(last, arg="no remedy")
    for box, remedy in (("#weighted_loss", "weighted loss"), ("#oversample", "oversampling")):
        page.uncheck("#weighted_loss")
        page.uncheck("#oversample")
        page.check(box)
        apply(page)
        play_to_the_end(page)
        page.wait_for_function(last, arg=remedy)
    figures = {
        r: percent(page.text_content(f"#remedy-note [data-remedy='{r}'] b"))
        for r in ("no remedy", "weighted loss", "oversampling")
    }
    # Each run's figure is kept beside the others, for class 3 of this data: after 3 epochs
    # the shrunk class is still mostly wrong without a remedy, and either remedy lifts it.
    assert figures["no remedy"] < 70, figures
    assert figures["weighted loss"] >= figures["no remedy"] + 10, figures
    assert figures["oversampling"] >= figures["no remedy"] + 10, figures
    page.locator(".cnn-eval").screenshot(path=tmp_path / "cnn-remedies.png")


@pytest.mark.slow
def test_label_noise_and_dropping_every_suspected_flip(page, tmp_path):
    """Issue 10.8 and 10.10: with 30% of the labels flipped training accuracy stays below
    validation; "drop" takes all the suspects, ranked by loss over the whole training set."""
    open_lab(page)
    set_range(page, "#label_noise", 0.3)
    set_epochs(page, 6)
    apply(page)
    flipped = int(re.search(r"([\d,]+) labels flipped", page.text_content("#counts")).group(1)
                  .replace(",", ""))
    train_before = int(page.text_content("#counts .cnn-split b").replace(",", ""))
    play_to_the_end(page)
    page.wait_for_function("document.querySelector('#val-at').textContent === 'at epoch 6.0'")
    assert percent(page.text_content("#train-acc")) < percent(page.text_content("#val-acc")) - 10
    # every flipped label is a suspect to drop, not only the 24 shown
    page.wait_for_selector("#suspects", state="visible")
    assert page.input_value("#suspects-count") == str(flipped)
    assert flipped > page.locator("#hardest figure").count()
    val_before = page.text_content("#val-acc")
    page.click("#btn-drop-suspects")
    page.wait_for_function("document.querySelector('#suspects-result').textContent.includes('Dropped')")
    result = page.text_content("#suspects-result")
    caught = int(re.search(r"— ([\d,]+) of them", result).group(1).replace(",", ""))
    assert caught > flipped * 0.6  # most of them were the flipped ones
    assert int(page.text_content("#counts .cnn-split b").replace(",", "")) == train_before - flipped
    # retrained without them: the page shows the validation accuracy before and now
    play_to_the_end(page)
    page.wait_for_function(
        "document.querySelector('#suspects-result').textContent.includes('now (epoch 6.0')"
    )
    result = page.text_content("#suspects-result")
    before, now = (float(v) for v in re.findall(r"([\d.]+)%", result)[-2:])
    assert before == percent(val_before)
    assert now > before
    page.locator(".cnn-hardest").screenshot(path=tmp_path / "cnn-suspects.png")


@pytest.mark.slow
def test_the_default_net_learns_the_shapes(page):
    """Issue 10.9: on the shapes the default net stopped near 61% validation. The page's claim
    ("passes 90% in a few epochs"), through the page's own defaults, as the learner sees it."""
    open_lab(page)
    page.select_option("#dataset", "shapes")
    page.wait_for_function("document.querySelector('#counts').textContent.includes('32×32')")
    set_epochs(page, 5)
    apply(page)
    play_to_the_end(page, timeout=300_000)
    page.wait_for_function("document.querySelector('#val-at').textContent === 'at epoch 5.0'")
    assert percent(page.text_content("#val-acc")) >= 90


def test_the_own_image_panel_shows_one_picture_at_a_time(page, tmp_path):
    """Issue 10.11: the old drawing stayed beside a new upload's result, a refused upload left
    the last result up, and the uploaded photo was never shown."""
    open_lab(page)
    page.click("#btn-step")
    page.wait_for_function(f"{STEP} >= 10")
    draw_a_one(page)
    assert page.is_hidden("#own-photo-box")  # a drawing is on the pad already
    # an upload: its photo beside what the net sees, and the pad wiped
    path = tmp_path / "seven.png"
    path.write_bytes(png(lambda d: d.line([(25, 25), (95, 25), (50, 105)], fill="black", width=12)))
    page.set_input_files("#upload", str(path))
    page.wait_for_function("document.querySelector('#own-pred').textContent.includes('seven.png')")
    page.wait_for_function("document.querySelector('#own-photo').naturalWidth === 120")
    assert page.is_visible("#own-photo-box")
    page.locator(".cnn-own").screenshot(path=tmp_path / "cnn-own-photo.png")
    assert max(page.evaluate(PIXELS, "#pad")[0::4]) == 0  # no red left: no white ink
    # a refused upload: the message, and no result of another picture left standing
    page.set_input_files(
        "#upload", files=[{"name": "broken.png", "mimeType": "image/png", "buffer": b"not an image"}]
    )
    page.wait_for_selector("#upload-error", state="visible")
    assert page.is_hidden("#own-result")
    assert page.locator("#own-layers canvas").count() == 0
    for _ in range(2):  # the frames that follow still show the server's older picture
        step = page.evaluate(STEP)
        page.click("#btn-step")
        page.wait_for_function(f"{STEP} > {step}")
    assert page.text_content("#img-index") == "your image"
    assert page.is_hidden("#own-result")
    page.console_errors[:] = [e for e in page.console_errors if not e.startswith(REFUSED)]


def test_a_loaded_model_shows_its_step_and_training_accuracy(page, tmp_path):
    """Issue 10.11: a loaded model showed step 0 and no training accuracy."""
    open_lab(page)
    page.click("#btn-step")
    page.wait_for_function(f"{STEP} === 10")
    page.click("#btn-step")
    page.wait_for_function(f"{STEP} === 20")
    with page.expect_download() as download:
        page.click("#btn-save")
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    page.click("#btn-reset")
    page.wait_for_function(f"{STEP} === 0")
    page.set_input_files("#model-file", str(path))
    page.wait_for_selector("#model-msg.good")
    page.wait_for_function(f"{STEP} === 20")
    page.wait_for_function("document.querySelector('#train-acc').textContent.includes('%')")
    assert percent(page.text_content("#train-acc")) > 50
    assert page.text_content("#epoch") == "1.0"  # 20 steps of 20 an epoch


def test_the_sticky_training_bar_never_covers_what_the_page_scrolls_to(page):
    """Issue 10.11: the sticky bar hid part of the "Select flipped" row."""
    open_lab(page)
    set_range(page, "#label_noise", 0.3)
    apply(page)
    page.click("#btn-step")
    page.wait_for_selector("#suspects", state="visible")
    for selector in ("#btn-drop", "#btn-drop-suspects"):
        page.eval_on_selector(selector, "e => e.closest('.panel').querySelector('.cnn-section-head')"
                                        ".scrollIntoView()")
        hit = page.eval_on_selector(
            selector,
            "e => { const r = e.getBoundingClientRect();"
            " return document.elementFromPoint(r.x + r.width / 2, r.y + 2) === e; }",
        )
        assert hit, f"{selector} is covered by the sticky bar"
    bar = page.locator(".cnn-bar").bounding_box()
    head = page.locator(".cnn-hardest .cnn-section-head").bounding_box()
    assert head["y"] >= bar["y"] + bar["height"]
