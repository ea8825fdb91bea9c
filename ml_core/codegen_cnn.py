"""The CNN lab's configuration as a runnable PyTorch script (see ml_core/codegen.py).

The script loads the same dataset (scikit-learn's digits, scikit-image's faces, or the generated
shapes, whose generator is copied in), splits it and applies the pitfalls (imbalance, label
noise, augmentation, class weights, images you left out) as ``ml_core.cnn_data.RunData`` does,
builds an ``nn.Module`` whose layers are the rows of the lab's shape table, draws its weights
from the seed in the lab's order, and trains with the same batch order and loss. Datasets read
from the server's data files (MNIST, Fashion-MNIST, CIFAR-10) are not expressible: the script
could not find them.
"""

from __future__ import annotations

from ml_core.cnn import ACTIVATION_LAYERS, infer_shapes
from ml_core.cnn_config import CNNConfig
from ml_core.cnn_data import split_indices
from ml_core.codegen import OPTIMIZER_CODE, ScriptError, render, sources
from ml_core.image_datasets import SHAPES_COUNT, make_shapes
from ml_core.pitfalls import augment, class_weights, flip_labels, imbalance

CNN_ACTIVATION_CODE = {
    "relu": "nn.ReLU()",
    "leaky_relu": "nn.LeakyReLU(0.01)",
    "elu": "nn.ELU()",
    "gelu": "nn.GELU()",
    "tanh": "nn.Tanh()",
    "sigmoid": "nn.Sigmoid()",
    "none": None,
}
POOL_CODE = {"max": "nn.MaxPool2d", "avg": "nn.AvgPool2d", "none": None}
SCRIPT_DATASETS = ("digits", "faces", "shapes")  # loaders the script can run by itself
assert set(CNN_ACTIVATION_CODE) == set(ACTIVATION_LAYERS)


def _layers(config: CNNConfig, input_shape: tuple[int, int, int], classes: int) -> list[dict]:
    """The shape table's rows with each one's module as code (``ml_core.cnn._modules``' order)."""
    code: list[tuple[str, str]] = []
    channels = input_shape[0]
    arch = config.architecture
    for b, block in enumerate(arch.blocks, start=1):
        code.append((
            f"conv{b}",
            f"nn.Conv2d({channels}, {block.channels}, kernel_size={block.kernel_size}, "
            f"stride={block.stride}, padding={block.padding})",
        ))
        channels = block.channels
        if block.batch_norm:
            code.append((f"bn{b}", f"nn.BatchNorm2d({channels})"))
        if (act := CNN_ACTIVATION_CODE[block.activation]) is not None:
            code.append((f"act{b}", act))
        if (pool := POOL_CODE[block.pool]) is not None:
            code.append((f"pool{b}", f"{pool}({block.pool_size}, stride={block.pool_stride})"))
        if block.dropout > 0:
            code.append((f"drop{b}", f"SeededDropout({block.dropout!r}, noise)"))
    code.append(("flatten", "nn.Flatten()"))
    rows = infer_shapes(arch, input_shape, classes)
    features = rows[len(code) - 1].shape[0]
    for j, fc in enumerate(arch.fc, start=1):
        code.append((f"fc{j}", f"nn.Linear({features}, {fc.units})"))
        features = fc.units
        if (act := CNN_ACTIVATION_CODE[fc.activation]) is not None:
            code.append((f"act_fc{j}", act))
        if fc.dropout > 0:
            code.append((f"drop_fc{j}", f"SeededDropout({fc.dropout!r}, noise)"))
    code.append(("output", f"nn.Linear({features}, {classes})"))
    assert [name for name, _ in code] == [row.name for row in rows]
    return [
        {"name": name, "code": module, "shape": ", ".join(map(str, row.shape))}
        for (name, module), row in zip(code, rows, strict=True)
    ]


def cnn_script(
    config: CNNConfig,
    input_shape: tuple[int, int, int],
    classes: list[str],
    dropped: list[int] | None = None,
    max_samples: int = 20_000,
) -> str:
    """The CNN lab's run as a script. ``input_shape`` (C, H, W) and ``classes`` are the
    dataset's, ``dropped`` the dataset ids of training images left out, ``max_samples`` the
    server's cap on a dataset's size (settings.cnn.max_samples)."""
    if config.dataset not in SCRIPT_DATASETS:
        raise ScriptError(
            f"the {config.dataset} dataset is read from the server's data files, which a script "
            f"cannot reach; scripts can load {', '.join(SCRIPT_DATASETS)}"
        )
    aug = config.augment
    return render(
        "cnn.py.j2",
        filename=f"cnn_{config.dataset}.py",
        c=config,
        classes=classes,
        input_shape=input_shape,
        max_samples=max_samples,
        dropped=sorted(int(i) for i in dropped or ()),
        layers=_layers(config, input_shape, len(classes)),
        dropout=any(b.dropout > 0 for b in config.architecture.blocks)
        or any(f.dropout > 0 for f in config.architecture.fc),
        shapes_source=sources(make_shapes) if config.dataset == "shapes" else "",
        shapes_count=SHAPES_COUNT,
        split_source=sources(split_indices),
        pitfall_source=sources(imbalance, flip_labels, class_weights),
        augment_source=sources(augment, skip=("AugmentConfig",)) if aug.active else "",
        optimizer=OPTIMIZER_CODE[config.optimizer],
    )
