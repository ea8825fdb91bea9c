"""The CNN lab's JSON messages, built from a run: configured, shapes, metrics, evaluation, dropped.

Each function reads a ``CNNRun`` (or a prospective config) and returns one typed message of
app/schemas/cnn.py; the pictures (binary frames) are app/labs/cnn_frames.py, the lab that sends
both is app/labs/cnn.py.
"""

from __future__ import annotations

import torch

from app.config import CNNSettings
from app.schemas.cnn import (
    Choices,
    CNNConfigured,
    CNNMetrics,
    Cost,
    DatasetOption,
    DatasetSummary,
    Dropped,
    EvaluationMessage,
    History,
    Option,
    Shapes,
    TestResultMessage,
)
from ml_core.cnn import (
    ACTIVATIONS,
    POOLS,
    PRESETS,
    ArchitectureError,
    ConvBlock,
    FCLayer,
    count_params,
    infer_shapes,
)
from ml_core.cnn_config import CNNConfig
from ml_core.cnn_data import split_sizes
from ml_core.cnn_run import CNNRun, Evaluation
from ml_core.cnn_shapes import (
    ComputeLimits,
    LayerInfo,
    check_compute,
    forward_flops,
    forward_work,
    step_cost,
)
from ml_core.device import describe
from ml_core.image_datasets import ImageDataset, availability
from ml_core.images import SAMPLE_IMAGES
from ml_core.training import OPTIMIZERS

CHOICES = Choices(
    optimizers=[Option(name=name, title=title) for name, (title, _) in OPTIMIZERS.items()],
    activations=list(ACTIVATIONS),
    pools=list(POOLS),
    block=ConvBlock(),
    fc=FCLayer(),
)


def _counts(labels: torch.Tensor, k: int) -> list[int]:
    return torch.bincount(labels.cpu(), minlength=k).tolist()


def dataset_summary(run: CNNRun) -> DatasetSummary:
    data, k = run.data, len(run.classes)
    train_counts = data.train_counts()
    return DatasetSummary(
        name=data.dataset.name,
        title=data.dataset.title,
        classes=run.classes,
        input_shape=list(run.input_shape),
        grey=run.input_shape[0] == 1,
        train=sum(train_counts),
        val=len(data.val_ids),
        test=len(data.test_ids),
        train_counts=train_counts,
        val_counts=_counts(data.y_val, k),
        test_counts=_counts(data.y_test, k),
        flipped=int(data.flipped.sum()),
        dropped=int(data.dropped.sum()),
    )


def compute_limits(limits: CNNSettings) -> ComputeLimits:
    """The bounds on one net, from the lab's settings."""
    return ComputeLimits(
        max_parameters=limits.max_parameters,
        max_step_flops=limits.max_step_flops,
        max_activation_bytes=limits.max_activation_mb * 1e6,
        max_eval_flops=limits.max_eval_flops,
    )


def cost(layers: list[LayerInfo], batch: int, eval_images: int) -> Cost:
    flops, memory = step_cost(layers, batch)
    work, _ = step_cost(layers, batch, charged=True)
    return Cost(
        batch=batch, forward_flops=forward_flops(layers), step_flops=flops, step_work=work,
        activation_bytes=memory, eval_images=eval_images,
        eval_work=eval_images * forward_work(layers),
    )


def _held_out(config: CNNConfig, dataset: ImageDataset) -> int:
    """Images in the larger of the validation and test splits (what one evaluation reads)."""
    _, val, test = split_sizes(dataset.labels, config.val_fraction, config.test_fraction)
    return max(val, test)


def configured(run: CNNRun, lab: str, data_dir: str, device: torch.device) -> CNNConfigured:
    """What the lab runs now, and everything the page offers around it."""
    held_out = max(len(run.data.val_ids), len(run.data.test_ids))
    return CNNConfigured(
        lab=lab,
        config=run.config,
        dataset=dataset_summary(run),
        layers=run.layers,
        total_params=count_params(run.layers),
        cost=cost(run.layers, run.config.batch_size, held_out),
        presets=PRESETS,
        datasets=[DatasetOption(**row) for row in availability(data_dir)],
        samples=list(SAMPLE_IMAGES),
        device=describe(device),
        choices=CHOICES,
    )


def shapes(config: CNNConfig, dataset: ImageDataset, limits: ComputeLimits) -> Shapes:
    """The shape table of a prospective config on its dataset, its cost, or where it breaks."""
    input_shape = list(dataset.input_shape)
    held_out = _held_out(config, dataset)
    try:
        layers = infer_shapes(
            config.architecture, dataset.input_shape, len(dataset.classes), limits.max_parameters
        )
        check_compute(layers, config.batch_size, held_out, limits)
    except ArchitectureError as exc:
        return Shapes(
            ok=False,
            error=str(exc),
            error_layer=exc.layer,
            input_shape=input_shape,
            layers=exc.layers,
            total_params=count_params(exc.layers),
            cost=cost(exc.layers, config.batch_size, held_out),
        )
    return Shapes(
        ok=True, input_shape=input_shape, layers=layers, total_params=count_params(layers),
        cost=cost(layers, config.batch_size, held_out),
    )


def metrics(run: CNNRun, best_val: float | None) -> CNNMetrics:
    """Training metrics since the last call (they are consumed), and the last validation."""
    train_loss, train_acc = run.read_train_metrics()
    ev = run.evaluation
    return CNNMetrics(
        step=run.steps,
        epoch=round(run.epoch, 3),
        epochs=run.config.epochs,
        samples_seen=run.samples_seen,
        train_loss=train_loss,
        train_acc=train_acc,
        val_loss=ev.loss if ev else None,
        val_acc=ev.accuracy if ev else None,
        val_step=ev.step if ev else None,
        val_epoch=round(ev.epoch, 3) if ev else None,
        best_val_acc=best_val,
        images_per_s=round(run.samples_seen / run.train_time, 1) if run.train_time else None,
        elapsed_s=round(run.train_time, 2),
    )


def evaluation(
    ev: Evaluation, classes: list[str], message: type[EvaluationMessage] = EvaluationMessage
) -> EvaluationMessage:
    """An evaluation as ``evaluation`` (validation) or ``TestResultMessage`` (test)."""
    return message(
        split=ev.split,
        step=ev.step,
        epoch=round(ev.epoch, 3),
        loss=ev.loss,
        accuracy=ev.accuracy,
        classes=classes,
        confusion=ev.confusion.tolist(),
        per_class_accuracy=ev.per_class_accuracy,
        counts=ev.counts.tolist(),
    )


def test_result(ev: Evaluation, classes: list[str]) -> EvaluationMessage:
    return evaluation(ev, classes, TestResultMessage)


def dropped(run: CNNRun, count: int, flipped: int = 0,
            before: Evaluation | None = None) -> Dropped:
    """``before``: the validation pass of the model just dropped, to compare the retrained one."""
    counts = run.data.train_counts()
    return Dropped(
        dropped=count,
        flipped=flipped,
        val_before=before.accuracy if before else None,
        val_epoch=round(before.epoch, 3) if before else None,
        total_dropped=int(run.data.dropped.sum()),
        train=sum(counts),
        train_counts=counts,
    )


def history(run: CNNRun) -> History:
    return History(points=run.history)
