"""ml_core.cnn_run: splits, pitfalls on the training split, learning, evaluation, inspection."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ml_core.checkpoint import CheckpointError, from_bytes
from ml_core.cnn import Architecture, ConvBlock, FCLayer
from ml_core.cnn_run import CNNConfig, CNNRun, Imbalance, split_indices
from ml_core.image_datasets import LoadOptions, load, prepare_image
from ml_core.pitfalls import class_weights
from ml_core.training import Diverged

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def digits():
    return load("digits", LoadOptions(upscale=2))


@pytest.fixture(scope="module")
def trained(digits):
    """The default net after 8 epochs on digits (shared: training is the slow part)."""
    torch.manual_seed(0)
    session = CNNRun(CNNConfig(), digits, CPU)
    session.train_steps(7 * 20)  # 1259 training images / 64 per batch = 20 steps an epoch
    session.read_train_metrics()  # what follows averages the last epoch only
    session.train_steps(20)
    return session


def tiny_config(batch_norm: bool = True, **changes) -> CNNConfig:
    arch = Architecture(
        [ConvBlock(4, batch_norm=batch_norm), ConvBlock(8, batch_norm=batch_norm)], [FCLayer(16)]
    )
    return CNNConfig(architecture=arch, **changes)


def test_split_is_stratified_disjoint_and_complete():
    labels = np.repeat(np.arange(3), [100, 50, 20])
    train, val, test = split_indices(labels, 0.2, 0.1, np.random.default_rng(0))
    assert len(set(train) | set(val) | set(test)) == 170
    assert not set(train) & set(val) and not set(val) & set(test)
    assert np.bincount(labels[val]).tolist() == [20, 10, 4]
    assert np.bincount(labels[test]).tolist() == [10, 5, 2]


def test_default_net_reaches_97_percent_on_digits(trained):
    assert trained.evaluation is not None and trained.evaluation.accuracy >= 0.97
    assert trained.epoch == pytest.approx(8.0)
    loss, acc = trained.read_train_metrics()
    assert loss is not None and loss < 0.2 and acc > 0.95


def test_confusion_matrix_and_per_class_accuracy_match_a_manual_count(trained):
    ev = trained.evaluate("val")
    preds = ev.probs.argmax(1)
    k = len(trained.classes)
    manual = np.zeros((k, k), dtype=np.int64)
    for t, p in zip(ev.labels, preds, strict=True):
        manual[t, p] += 1
    assert np.array_equal(ev.confusion, manual)
    for c in range(k):
        assert ev.per_class_accuracy[c] == pytest.approx(manual[c, c] / manual[c].sum())
    assert ev.accuracy == pytest.approx((preds == ev.labels).mean())
    logp = torch.log(torch.from_numpy(ev.probs))
    assert ev.loss == pytest.approx(F.nll_loss(logp, torch.from_numpy(ev.labels)).item(), rel=1e-4)


def test_misclassified_gallery_holds_only_mistakes_most_confident_first(trained):
    gallery = trained.misclassified(24)
    ev = trained.evaluation
    assert gallery["total_wrong"] == int((ev.preds != ev.labels).sum()) > 0
    assert np.all(gallery["true"] != gallery["pred"])
    assert np.all(np.diff(gallery["confidence"]) <= 0)
    first = gallery["indices"][0]
    assert gallery["images"].shape[1:] == (16, 16, 1)
    assert np.array_equal(gallery["images"][0], trained.x_val[first].permute(1, 2, 0).numpy())


def test_pitfalls_change_the_training_split_only(digits):
    config = tiny_config(imbalance=Imbalance([3], 0.1), label_noise=0.25, weighted_loss=True)
    session = CNNRun(config, digits, CPU)
    clean = CNNRun(tiny_config(), digits, CPU)
    counts = session.train_counts()
    assert np.array_equal(session.val_ids, clean.val_ids)  # validation untouched
    true_train = digits.labels[session.train_ids]
    assert np.bincount(true_train)[3] == round(0.1 * np.bincount(digits.labels[clean.train_ids])[3])
    assert session.flipped.sum() == round(0.25 * len(session.train_ids))
    assert np.all((session.train_labels != true_train) == session.flipped)
    assert sum(counts) == len(session.train_ids)
    expected = class_weights(session.train_labels, 10)
    assert torch.allclose(session.loss_weights, torch.from_numpy(expected))


def test_mislabeled_images_rise_to_the_top_of_the_loss_list_and_can_be_dropped(digits):
    session = CNNRun(CNNConfig(label_noise=0.1, seed=1), digits, CPU)
    session.train_steps(12 * 18)
    hardest = session.hardest(24)
    assert np.all(np.diff(hardest["losses"]) <= 0)
    base_rate = session.flipped.mean()
    assert hardest["flipped"].mean() >= 0.75 > base_rate  # far above the 10% base rate
    train_before = sum(session.train_counts())
    ids = [int(i) for i in hardest["ids"]]
    assert session.drop(ids) == 24
    assert session.steps == 0 and sum(session.train_counts()) == train_before - 24
    positions = np.flatnonzero(np.isin(session.train_ids, ids))
    session.train_steps(20)  # one full epoch: the dropped images are never trained on
    assert torch.isnan(session.sample_loss[positions]).all()
    with pytest.raises(ValueError, match="not training images"):
        session.drop([int(session.val_ids[0])])
    session.restore()
    assert sum(session.train_counts()) == train_before


def test_probe_maps_follow_the_layer_table_for_val_and_user_images(trained):
    image, outputs, probs = trained.probe()
    assert image.shape == (16, 16, 1) and probs.sum() == pytest.approx(1.0, abs=1e-5)
    assert [tuple(o.shape) for o in outputs] == [layer.shape for layer in trained.layers]
    trained.select_val(5)
    _, _, probs = trained.probe()
    assert probs.argmax() == trained.evaluate("val").preds[5]
    with pytest.raises(ValueError):
        trained.select_val(10_000)


def test_a_photo_of_a_digit_is_prepared_like_the_training_images(trained, digits):
    """Ink on white paper, large, off-centre -> the same picture as the dataset's image."""
    original = trained.x_val[7, 0].numpy()  # (16, 16), light on dark
    big = np.kron(original, np.ones((12, 12))).astype(np.uint8)  # 192 x 192
    photo = np.full((300, 260), 240, np.uint8)
    photo[40:232, 20:212] = 240 - (big.astype(np.int32) * 200 // 255)
    prepared = prepare_image(photo, digits)
    assert prepared.shape == (16, 16, 1)
    corr = np.corrcoef(prepared[..., 0].ravel(), original.ravel())[0, 1]
    assert corr > 0.85
    trained.set_probe(prepared)
    _, _, probs = trained.probe()
    assert probs.argmax() == trained.y_val[7].item()
    rgb = prepare_image(np.zeros((40, 90, 3), np.uint8), load("shapes", LoadOptions(samples=8)))
    assert rgb.shape == (32, 32, 3)
    trained.select_val(0)


def test_same_seed_same_run_and_reset_restarts(digits):
    a, b = (CNNRun(tiny_config(), digits, CPU) for _ in range(2))
    a.train_steps(5)
    b.train_steps(5)
    for pa, pb in zip(a.model.parameters(), b.model.parameters(), strict=True):
        assert torch.equal(pa, pb)
    a.reset()
    assert a.steps == 0 and a.evaluation is None and a.history == []


def test_augment_preview_returns_pairs(digits):
    from ml_core.pitfalls import AugmentConfig

    session = CNNRun(tiny_config(augment=AugmentConfig(flip=True)), digits, CPU)
    original, augmented, labels = session.augment_preview(16)
    assert original.shape == augmented.shape == (16, 16, 16, 1) and len(labels) == 16
    flipped = [np.array_equal(a, o[:, ::-1]) for a, o in zip(augmented, original, strict=True)]
    same = [np.array_equal(a, o) for a, o in zip(augmented, original, strict=True)]
    assert all(f or s for f, s in zip(flipped, same, strict=True)) and any(flipped)


def test_a_huge_learning_rate_diverges_loudly(digits):
    session = CNNRun(tiny_config(False, optimizer="sgd", learning_rate=1e6), digits, CPU)
    with pytest.raises(Diverged):
        session.train_steps(30)


def test_a_saved_model_loads_back_to_the_same_predictions(trained, digits):
    data = trained.checkpoint()
    config, extra, tensors = from_bytes(data, "cnn")
    assert config == trained.config.to_dict() and extra["classes"] == trained.classes
    fresh = CNNRun(CNNConfig.from_dict(config), digits, CPU)
    assert fresh.evaluate("val").accuracy < 0.5  # untrained
    fresh.load_checkpoint(tensors, extra)
    np.testing.assert_allclose(
        fresh.evaluate("val").probs, trained.evaluate("val").probs, atol=1e-5
    )


def test_model_files_that_do_not_fit_are_refused(trained, digits):
    config, extra, tensors = from_bytes(trained.checkpoint(), "cnn")
    other = CNNRun(tiny_config(), digits, CPU)
    with pytest.raises(CheckpointError, match=r"conv1.weight has shape \(16, 1, 3, 3\) but"):
        other.load_checkpoint(tensors, extra)
    fewer = {k: v for k, v in tensors.items() if not k.startswith("fc1")}
    with pytest.raises(CheckpointError, match="missing: fc1.bias, fc1.weight"):
        trained.load_checkpoint(fewer, extra)
    assert trained.steps > 0  # a refused file leaves the run as it was
    with pytest.raises(CheckpointError, match="classes"):
        other.load_checkpoint(tensors, {**extra, "classes": ["a", "b"]})
    with pytest.raises(CheckpointError, match="not a torchplay mlp model"):
        from_bytes(trained.checkpoint(), "mlp")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "too short"),
        (b"\xff" * 64, "bad header length"),
        (b"\x0c\0\0\0\0\0\0\0" + b'{"a": "b"}  ', "no metadata"),
    ],
)
def test_garbage_model_files_are_refused(data, message):
    with pytest.raises(CheckpointError, match=message):
        from_bytes(data, "cnn")


def test_a_pickled_torch_file_is_refused_without_unpickling(tmp_path, trained):
    import io

    buffer = io.BytesIO()
    torch.save(trained.model.state_dict(), buffer)  # a zip of pickles: must never be loaded
    with pytest.raises(CheckpointError, match="not a safetensors model file"):
        from_bytes(buffer.getvalue(), "cnn")
