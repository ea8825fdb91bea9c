"""ml_core.cnn_run, cnn_data, cnn_inspect, cnn_config: splits, pitfalls on the training split,
learning, evaluation, inspection, determinism, the config."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ml_core.checkpoint import CheckpointError, from_bytes
from ml_core.cnn import Architecture, ConvBlock, FCLayer
from ml_core.cnn_config import CNNConfig, Imbalance
from ml_core.cnn_data import split_indices
from ml_core.cnn_inspect import Probe, augment_preview, hardest, mistakes
from ml_core.cnn_run import CNNRun
from ml_core.image_datasets import DATASETS, LoadOptions, load, prepare_image
from ml_core.pitfalls import AugmentConfig, class_weights
from ml_core.training import OPTIMIZERS, Diverged

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def digits():
    return load("digits", LoadOptions(upscale=2))


@pytest.fixture(scope="module")
def trained(digits):
    """The default net after 8 epochs on digits (shared: training is the slow part)."""
    session = CNNRun(CNNConfig(), digits, CPU)
    session.train_steps(7 * 20)  # 1259 training images / 64 per batch = 20 steps an epoch
    session.read_train_metrics()  # what follows averages the last epoch only
    session.train_steps(20)
    return session


def tiny_config(batch_norm: bool = True, **changes) -> CNNConfig:
    blocks = [ConvBlock(channels=c, batch_norm=batch_norm) for c in (4, 8)]
    arch = Architecture(blocks=blocks, fc=[FCLayer(units=16)])
    return CNNConfig(architecture=arch, **changes)


def test_split_is_stratified_disjoint_and_complete():
    labels = np.repeat(np.arange(3), [100, 50, 20])
    train, val, test = split_indices(labels, 0.2, 0.1, np.random.default_rng(0))
    assert len(set(train) | set(val) | set(test)) == 170
    assert not set(train) & set(val)
    assert not set(val) & set(test)
    assert np.bincount(labels[val]).tolist() == [20, 10, 4]
    assert np.bincount(labels[test]).tolist() == [10, 5, 2]


def test_default_net_reaches_97_percent_on_digits(trained):
    assert trained.evaluation is not None
    assert trained.evaluation.accuracy >= 0.97
    assert trained.epoch == pytest.approx(8.0)
    loss, acc = trained.read_train_metrics()
    assert loss is not None
    assert loss < 0.2
    assert acc > 0.95


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
    gallery = mistakes(trained, 24)
    ev = trained.evaluation
    assert gallery.total_wrong == int((ev.preds != ev.labels).sum())
    assert gallery.total_wrong > 0
    assert np.all(gallery.true != gallery.pred)
    assert np.all(np.diff(gallery.confidence) <= 0)
    first = gallery.indices[0]
    assert gallery.images.shape[1:] == (16, 16, 1)
    assert np.array_equal(gallery.images[0], trained.data.x_val[first].permute(1, 2, 0).numpy())


def test_pitfalls_change_the_training_split_only(digits):
    imbalanced = Imbalance(classes=[3], fraction=0.1)
    config = tiny_config(imbalance=imbalanced, label_noise=0.25, weighted_loss=True)
    session = CNNRun(config, digits, CPU)
    data, clean = session.data, CNNRun(tiny_config(), digits, CPU).data
    counts = data.train_counts()
    assert np.array_equal(data.val_ids, clean.val_ids)  # validation untouched
    true_train = digits.labels[data.train_ids]
    assert np.bincount(true_train)[3] == round(0.1 * np.bincount(digits.labels[clean.train_ids])[3])
    assert data.flipped.sum() == round(0.25 * len(data.train_ids))
    assert np.all((data.train_labels != true_train) == data.flipped)
    assert sum(counts) == len(data.train_ids)
    expected = class_weights(data.train_labels, 10)
    assert torch.allclose(session.loss_weights, torch.from_numpy(expected))


def test_mislabeled_images_rise_to_the_top_of_the_loss_list_and_can_be_dropped(digits):
    session = CNNRun(CNNConfig(label_noise=0.1, seed=1), digits, CPU)
    session.train_steps(12 * 18)
    top = hardest(session, 24)
    assert np.all(np.diff(top.losses) <= 0)
    assert session.data.flipped.mean() == pytest.approx(0.1, abs=0.01)
    assert top.flipped.mean() >= 0.75  # far above the 10% base rate
    train_before = sum(session.data.train_counts())
    ids = [int(i) for i in top.ids]
    assert session.drop(ids) == 24
    assert session.steps == 0
    assert sum(session.data.train_counts()) == train_before - 24
    positions = np.flatnonzero(np.isin(session.data.train_ids, ids))
    session.train_steps(20)  # one full epoch: the dropped images are never trained on
    assert torch.isnan(session.sample_loss[positions]).all()
    assert not np.isin(hardest(session, 24).ids, ids).any()
    with pytest.raises(ValueError, match="not training images"):
        session.drop([int(session.data.val_ids[0])])
    session.restore()
    assert sum(session.data.train_counts()) == train_before


def test_probe_maps_follow_the_layer_table_for_val_and_user_images(trained):
    probe = Probe()
    image, outputs, probs = probe.look(trained)
    assert image.shape == (16, 16, 1)
    assert probs.sum() == pytest.approx(1.0, abs=1e-5)
    assert [tuple(o.shape) for o in outputs] == [layer.shape for layer in trained.layers]
    probe.select_val(trained, 5)
    _, _, probs = probe.look(trained)
    assert probs.argmax() == trained.evaluate("val").preds[5]
    assert probe.label(trained) == trained.data.y_val[5].item()
    with pytest.raises(ValueError, match="index must be"):
        probe.select_val(trained, 10_000)


def test_a_photo_of_a_digit_is_prepared_like_the_training_images(trained, digits):
    """Ink on white paper, large, off-centre -> the same picture as the dataset's image."""
    original = trained.data.x_val[7, 0].numpy()  # (16, 16), light on dark
    big = np.kron(original, np.ones((12, 12))).astype(np.uint8)  # 192 x 192
    photo = np.full((300, 260), 240, np.uint8)
    photo[40:232, 20:212] = 240 - (big.astype(np.int32) * 200 // 255)
    prepared = prepare_image(photo, digits)
    assert prepared.shape == (16, 16, 1)
    corr = np.corrcoef(prepared[..., 0].ravel(), original.ravel())[0, 1]
    assert corr > 0.85
    probe = Probe()
    probe.set_image(trained, prepared)
    _, _, probs = probe.look(trained)
    assert probe.source == "upload"
    assert probs.argmax() == trained.data.y_val[7].item()
    rgb = prepare_image(np.zeros((40, 90, 3), np.uint8), load("shapes", LoadOptions(samples=8)))
    assert rgb.shape == (32, 32, 3)
    with pytest.raises(ValueError, match="expected a prepared image"):
        probe.set_image(trained, rgb)


def test_same_seed_same_run_and_reset_restarts(digits):
    a, b = (CNNRun(tiny_config(), digits, CPU) for _ in range(2))
    a.train_steps(5)
    b.train_steps(5)
    for pa, pb in zip(a.model.parameters(), b.model.parameters(), strict=True):
        assert torch.equal(pa, pb)
    a.reset()
    assert a.steps == 0
    assert a.evaluation is None
    assert a.history == []
    a.train_steps(5)
    for pa, pb in zip(a.model.parameters(), b.model.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_augment_preview_returns_pairs_and_leaves_training_as_it_was(digits):
    config = tiny_config(augment=AugmentConfig(flip=True))
    session, untouched = CNNRun(config, digits, CPU), CNNRun(config, digits, CPU)
    original, augmented, labels = augment_preview(session, 16, torch.Generator().manual_seed(0))
    assert original.shape == (16, 16, 16, 1)
    assert augmented.shape == original.shape
    assert len(labels) == 16
    flipped = [np.array_equal(a, o[:, ::-1]) for a, o in zip(augmented, original, strict=True)]
    same = [np.array_equal(a, o) for a, o in zip(augmented, original, strict=True)]
    assert all(f or s for f, s in zip(flipped, same, strict=True))
    assert any(flipped)
    session.train_steps(3)  # the preview took nothing from the run's random streams
    untouched.train_steps(3)
    assert session.history[-1] == untouched.history[-1]


def test_a_huge_learning_rate_diverges_loudly(digits):
    linear = ConvBlock(channels=4, batch_norm=False, activation="none")
    arch = Architecture(blocks=[linear, linear])
    config = CNNConfig(architecture=arch, optimizer="sgd", learning_rate=10)  # the highest rate
    session = CNNRun(config, digits, CPU)
    with pytest.raises(Diverged):
        session.train_steps(40)


def test_a_saved_model_loads_back_to_the_same_predictions(trained, digits):
    data = trained.checkpoint()
    config, extra, tensors = from_bytes(data, "cnn")
    assert CNNConfig.model_validate(config) == trained.config
    assert extra["classes"] == trained.classes
    fresh = CNNRun(CNNConfig.model_validate(config), digits, CPU)
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


def _train_losses(digits, results: dict, name: str, start: threading.Barrier) -> None:
    """A run with every random stream in use (init, batches, dropout, augmentation, label
    noise): its training loss after each step."""
    block = ConvBlock(channels=4, dropout=0.2)
    arch = Architecture(blocks=[block, block], fc=[FCLayer(units=16, dropout=0.3)])
    augment = AugmentConfig(flip=True, shift=1, rotate=10, color_jitter=0.2)
    config = CNNConfig(architecture=arch, augment=augment, label_noise=0.1, seed=3)
    run = CNNRun(config, digits, CPU)
    start.wait()
    losses = []
    for _ in range(15):
        run.train_step()
        losses.append(run.read_train_metrics()[0])
    results[name] = losses


def test_same_seed_runs_on_concurrent_threads_train_identically(digits):
    """Two sessions at once (two worker threads) and someone else drawing from the global RNG:
    each run's numbers depend on its seed only."""
    results: dict[str, list] = {}
    start = threading.Barrier(3)
    stop = threading.Event()

    def meddle() -> None:
        start.wait()
        while not stop.is_set():
            torch.manual_seed(int(torch.randint(0, 1000, ())))
            torch.rand(1000)

    threads = [
        threading.Thread(target=_train_losses, args=(digits, results, name, start))
        for name in ("a", "b")
    ]
    meddler = threading.Thread(target=meddle)
    for thread in (*threads, meddler):
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    stop.set()
    meddler.join(timeout=10)
    assert len(results["a"]) == 15
    assert results["a"] == results["b"]
    assert len(set(results["a"])) > 10  # real, changing losses


def test_the_config_takes_its_allowed_values_from_the_core_registries():
    for name in DATASETS:
        assert CNNConfig(dataset=name).dataset == name
    for name in OPTIMIZERS:
        assert CNNConfig(optimizer=name).optimizer == name
    schema = CNNConfig.model_json_schema()
    assert schema["properties"]["optimizer"]["enum"] == list(OPTIMIZERS)
    assert schema["properties"]["dataset"]["enum"] == list(DATASETS)
    with pytest.raises(ValueError, match="optimizer"):
        CNNConfig(optimizer="lbfgs")


class Limits:
    """Settings-like limits, as the lab passes them through the validation context."""

    max_blocks, max_fc_layers, max_channels, max_kernel_size, max_fc_units = 2, 1, 32, 3, 64
    max_batch_size, max_epochs, max_samples = 128, 30, 500


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"architecture": {"blocks": [{}, {}, {}]}}, "conv blocks: at most 2"),
        ({"architecture": {"blocks": [{"channels": 33}]}}, "conv1 channels: at most 32"),
        ({"architecture": {"blocks": [{}, {"kernel_size": 5}]}}, "conv2 kernel size: at most 3"),
        ({"architecture": {"blocks": [{}], "fc": [{}, {}]}}, "fully-connected layers: at most 1"),
        ({"architecture": {"blocks": [{}], "fc": [{"units": 65}]}}, "fc1 units: at most 64"),
        ({"batch_size": 129}, "batch_size: at most 128"),
        ({"epochs": 31}, "epochs: at most 30"),
        ({"samples": 501}, "samples: at most 500"),
        ({"val_fraction": 0.4, "test_fraction": 0.4}, "at most 0.7"),
        ({"imbalance": {"classes": [1, 1]}}, "distinct"),
        ({"learning_rate": float("nan")}, "learning_rate"),
    ],
)
def test_settings_limits_come_through_the_validation_context(config, message):
    with pytest.raises(ValueError, match=message):
        CNNConfig.model_validate(config, context={"limits": Limits()})


def test_without_limits_only_the_hard_ceilings_apply():
    config = CNNConfig.model_validate({"epochs": 31, "architecture": {"blocks": [{}] * 3}})
    assert config.epochs == 31
    with pytest.raises(ValueError, match="epochs"):
        CNNConfig.model_validate({"epochs": 100_001})
