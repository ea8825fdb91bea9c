"""Inside the CNN: traced numbers against the forward pass, the batch-norm panel against
nn.BatchNorm2d, each channel's strongest images against a brute-force search, activation
maximisation, Captum's heat maps against a hand-computed case, tensor views."""

from __future__ import annotations

import copy
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ml_core.cnn import PRESETS, Architecture, ConvBlock, FCLayer, build_model
from ml_core.cnn_bn import PanelError, bn_panel, train_mode_input
from ml_core.cnn_channels import HIST_BINS, blocks, crops
from ml_core.cnn_config import CNNConfig
from ml_core.cnn_dream import MAX_SECONDS, Dream, DreamError
from ml_core.cnn_explain import explain, grad_cam, saliency
from ml_core.cnn_inspect import feature_maps
from ml_core.cnn_run import CNNRun
from ml_core.cnn_shapes import ArchitectureError, ComputeLimits, LayerInfo, field_box
from ml_core.cnn_tensors import activation_view, weight_view
from ml_core.cnn_trace import TraceError, trace_pixel, trace_unit
from ml_core.image_datasets import LoadOptions, load
from ml_core.training import Cancelled, CancelToken, current_token

CPU = torch.device("cpu")
TOL = 1e-5


@pytest.fixture(scope="module")
def digits():
    return load("digits", LoadOptions(upscale=2))


@pytest.fixture(scope="module")
def run(digits):
    """The default net after 60 steps (batch norm, ReLU, max pooling, a hidden dense layer)."""
    r = CNNRun(CNNConfig(), digits, CPU)
    r.train_steps(60)
    return r


def image(run: CNNRun, i: int = 3) -> torch.Tensor:
    return run.data.normalise(run.data.x_val[i : i + 1])  # (1, C, H, W)


def unfolded_window(inp: torch.Tensor, conv: nn.Conv2d, y: int, x: int, w_out: int):
    """An independent read of the conv's window at (y, x): F.unfold's column."""
    cols = F.unfold(inp[None], conv.kernel_size, padding=conv.padding, stride=conv.stride)
    k = conv.kernel_size[0]
    return cols[0, :, y * w_out + x].reshape(inp.shape[0], k, k)


def check_pixel_traces(model, layers, x, rng, count=6):
    outputs, _ = feature_maps(model, x)
    out = [o[0] for o in outputs]
    traced = 0
    for layer in layers:
        if layer.rf is None:
            continue
        c, h, w = layer.shape
        for _ in range(count):
            ch, y, x_ = rng.randrange(c), rng.randrange(h), rng.randrange(w)
            t = trace_pixel(model, layers, x, layer.index, ch, y, x_)
            assert t.value == pytest.approx(float(out[layer.index][ch, y, x_]), abs=TOL)
            conv = next(b for b in blocks(layers) if b.conv.name == t.conv.layer).conv
            fy, fx = t.focus
            assert t.conv.value == pytest.approx(float(out[conv.index][ch, fy, fx]), abs=TOL)
            assert sum(term.total for term in t.conv.terms) + t.conv.bias == pytest.approx(
                t.conv.value, abs=TOL)
            inp = out[conv.index - 1] if conv.index else x[0]
            first = t.conv.terms[0]
            window = unfolded_window(inp, model[conv.index], fy, fx, conv.shape[2])
            assert np.allclose(first.window, window[first.channel].numpy(), atol=TOL)
            assert np.allclose(first.products, np.multiply(first.window, first.kernel), atol=TOL)
            block = next(b for b in blocks(layers) if b.conv is conv)
            if t.norm is not None:
                assert t.norm.value == pytest.approx(float(out[block.norm.index][ch, fy, fx]),
                                                     abs=TOL)
            if t.act is not None:
                assert t.act.value == pytest.approx(float(out[block.act.index][ch, fy, fx]),
                                                    abs=TOL)
            if t.pool is not None:
                assert t.pool.value == pytest.approx(
                    float(out[block.pool.index][ch, t.pool.y, t.pool.x]), abs=TOL)
            box = field_box(layers, layer.index, y, x_)
            assert t.field == box
            traced += 1
    return traced


def test_every_traced_pixel_number_equals_the_models_forward(run):
    assert check_pixel_traces(run.model, run.layers, image(run), random.Random(0)) >= 40


@pytest.mark.parametrize("preset", ["lenet5", "tiny_vgg"])
def test_traces_hold_for_average_pooling_tanh_and_no_batch_norm(preset):
    arch = PRESETS[preset]
    model, layers = build_model(arch, (1, 32, 32), 10, seed=3)
    x = torch.randn(1, 1, 32, 32)
    assert check_pixel_traces(model, layers, x, random.Random(1), count=3) > 10


def test_a_pooled_pixel_traces_the_position_its_max_window_chose(run):
    pool = next(layer for layer in run.layers if layer.name == "pool2")
    t = trace_pixel(run.model, run.layers, image(run), pool.index, 7, 1, 2)
    window = np.array(t.pool.window)
    assert t.pool.kind == "max"
    assert t.pool.value == pytest.approx(window.max(), abs=TOL)
    assert t.act.value == pytest.approx(window.max(), abs=TOL)  # the winner is the one traced
    assert (t.pool.y, t.pool.x) == (1, 2)
    assert t.focus[0] in range(t.pool.rows[0], t.pool.rows[1] + 1)


def test_the_last_maps_land_in_the_flattened_vector_channel_row_column(run):
    outputs, _ = feature_maps(run.model, image(run))
    pool = next(layer for layer in run.layers if layer.name == "pool2")
    flatten = next(layer for layer in run.layers if layer.kind == "flatten")
    c, h, w = pool.shape
    t = trace_pixel(run.model, run.layers, image(run), pool.index, 5, 2, 3)
    assert t.flat_index == 5 * h * w + 2 * w + 3
    assert t.flat_size == c * h * w
    assert float(outputs[flatten.index][0, t.flat_index]) == pytest.approx(t.value, abs=TOL)
    conv1 = trace_pixel(run.model, run.layers, image(run), 0, 0, 0, 0)
    assert conv1.flat_index is None


def test_dense_units_and_the_softmax_are_traced_from_the_forward(run):
    x = image(run)
    outputs, logits = feature_maps(run.model, x)
    fc1 = next(layer for layer in run.layers if layer.name == "fc1")
    t = trace_unit(run.model, run.layers, x, fc1.index, 11)
    assert t.value == pytest.approx(float(outputs[fc1.index][0, 11]), abs=TOL)
    assert sum(term.product for term in t.terms) + t.rest + t.bias == pytest.approx(t.value,
                                                                                    abs=TOL)
    assert t.activation.value == pytest.approx(float(outputs[fc1.index + 1][0, 11]), abs=TOL)
    assert t.inputs == outputs[fc1.index - 1].shape[1]
    out = trace_unit(run.model, run.layers, x, len(run.layers) - 1, 4)
    assert out.value == pytest.approx(float(logits[0, 4]), abs=TOL)
    assert np.allclose(out.logits, logits[0].numpy(), atol=TOL)
    assert np.allclose(out.probabilities, torch.softmax(logits[0], 0).numpy(), atol=TOL)
    assert sum(out.probabilities) == pytest.approx(1.0)
    assert np.allclose(np.array(out.exps) / sum(out.exps), out.probabilities)


def test_positions_and_layers_that_do_not_exist_are_refused(run):
    x = image(run)
    with pytest.raises(TraceError, match="16 channels of 16×16"):
        trace_pixel(run.model, run.layers, x, 0, 16, 0, 0)
    with pytest.raises(TraceError, match="not a feature map"):
        trace_pixel(run.model, run.layers, x, 99, 0, 0, 0)
    with pytest.raises(TraceError, match="not a fully-connected layer"):
        trace_unit(run.model, run.layers, x, 0, 0)


# ---- batch norm ---------------------------------------------------------------------------------
def test_the_batch_norm_panel_equals_nn_batchnorm2d(run):
    bn = next(layer for layer in run.layers if layer.name == "bn2")
    batch = run.last_batch
    panel = bn_panel(run.model, run.layers, bn.index, 6, batch, image(run))
    shadow = copy.deepcopy(run.model).train()  # training mode: every batch norm on its batch
    inputs = shadow[: bn.index](batch)
    module = shadow[bn.index]
    module.momentum = 1.0  # its running statistics become this batch's
    outputs = module(inputs)[:, 6].flatten()
    values = inputs[:, 6].flatten().detach()
    assert panel.count == values.numel() == batch.shape[0] * bn.shape[1] * bn.shape[2]
    assert np.allclose(panel.batch_values, values.numpy(), atol=TOL)
    assert panel.mean == pytest.approx(float(module.running_mean[6]), abs=TOL)
    n = panel.count
    assert panel.var * n / (n - 1) == pytest.approx(float(module.running_var[6]), rel=1e-4)
    formula = panel.gamma * (values.double() - panel.mean) / np.sqrt(panel.var + panel.eps)
    assert np.allclose((formula + panel.beta).numpy(), outputs.detach().numpy(), atol=1e-4)
    live = run.model[bn.index]
    assert panel.running_mean == pytest.approx(float(live.running_mean[6]))
    assert panel.running_var == pytest.approx(float(live.running_var[6]))
    assert panel.gamma == pytest.approx(float(live.weight[6].detach()))
    assert sum(panel.inputs.counts) == n


def test_eval_mode_uses_running_statistics_and_train_mode_the_batchs(run):
    bn = next(layer for layer in run.layers if layer.name == "bn1")
    x = image(run)
    panel = bn_panel(run.model, run.layers, bn.index, 2, run.last_batch, x)
    outputs, _ = feature_maps(run.model, x)  # eval mode
    assert np.allclose(panel.probe_eval, outputs[bn.index][0, 2].numpy(), atol=TOL)
    module = run.model[bn.index]
    batch_norm = F.batch_norm(torch.from_numpy(panel.probe_input)[None, None],
                              torch.tensor([panel.mean]), torch.tensor([panel.var]),
                              module.weight[2:3], module.bias[2:3], False, 0.0, module.eps)
    assert np.allclose(panel.probe_train, batch_norm[0, 0].detach().numpy(), atol=1e-4)
    assert not np.allclose(panel.probe_train, panel.probe_eval, atol=1e-3)


def test_computing_the_panel_leaves_the_running_statistics_alone(run):
    bn = run.model[1]
    before = bn.running_mean.clone(), bn.running_var.clone(), int(bn.num_batches_tracked)
    train_mode_input(run.model, run.last_batch, 5)
    bn_panel(run.model, run.layers, 1, 0, run.last_batch, image(run))
    assert torch.equal(bn.running_mean, before[0])
    assert torch.equal(bn.running_var, before[1])
    assert int(bn.num_batches_tracked) == before[2]
    with pytest.raises(PanelError, match="not a batch-norm layer"):
        bn_panel(run.model, run.layers, 0, 0, run.last_batch, image(run))
    with pytest.raises(PanelError, match="no channel 99"):
        bn_panel(run.model, run.layers, 1, 99, run.last_batch, image(run))


# ---- what each channel responds to ------------------------------------------------------------
def test_each_channels_top_images_are_the_strongest_validation_responses(run):
    run.watch_peaks = True
    run.evaluate_val()
    tops = {t.block: t for t in run.channel_tops}
    assert set(tops) == {1, 2}
    block = blocks(run.layers)[1]
    responses = []
    for i in range(0, len(run.data.x_val), 256):
        outputs, _ = feature_maps(run.model, run.data.normalise(run.data.x_val[i : i + 256]))
        responses.append(outputs[block.response.index])
    response = torch.cat(responses)  # (N, C, H, W)
    peak, where = response.flatten(2).max(2)  # (N, C)
    top = tops[2]
    assert top.values.shape == (32, 9)
    for c in range(32):
        expected = torch.topk(peak[:, c], 9).values.numpy()
        assert np.allclose(top.values[c], expected, atol=TOL)
        first = int(top.images[c, 0])
        assert peak[first, c] == pytest.approx(float(expected[0]), abs=TOL)
        w = block.response.shape[2]
        assert (top.ys[c, 0], top.xs[c, 0]) == divmod(int(where[first, c]), w)


def test_crops_show_the_receptive_field_black_past_the_border(run):
    block = blocks(run.layers)[1]
    layer = block.response  # receptive field 8: a crop is 8x8
    images = run.data.x_val[:2]
    cut = np.round(crops(images, layer, np.array([3, 0]), np.array([4, 0]), side=16) * 255)
    assert cut.shape == (2, 8, 8, 1)
    size, jump, start = layer.rf
    top, left = start + 3 * jump, start + 4 * jump
    assert np.array_equal(cut[0, ..., 0], images[0, 0, top : top + 8, left : left + 8].numpy())
    assert np.all(cut[1, :3, :, 0] == 0)  # (0, 0) sees 3 rows of padding above the image
    assert np.array_equal(cut[1, 3:, 3:, 0], images[1, 0, :5, :5].numpy())
    small = crops(images, layer, np.array([3, 0]), np.array([4, 0]), side=4)  # pooled down
    assert small.shape == (2, 4, 4, 1)
    assert small[0, 0, 0, 0] == pytest.approx(cut[0, :2, :2, 0].mean() / 255, abs=1e-6)


def test_histograms_of_pre_activations_are_kept_over_time(run):
    run.watch_peaks, run.watch_histograms = False, True
    steps, tops = len(run.histograms), run.channel_tops
    run.evaluate_val()
    assert run.channel_tops is tops  # only what was asked for is recorded
    point = run.histograms[-1]
    assert len(run.histograms) == steps + 1
    assert set(point.counts) == {1, 2}
    assert point.counts[1].shape == (HIST_BINS,)
    conv1 = blocks(run.layers)[0].pre_activation
    assert point.counts[1].sum() == 64 * conv1.values  # the first 64 validation images


# ---- activation maximisation --------------------------------------------------------------------
def test_activation_maximisation_finds_an_input_the_channel_likes(run):
    x = image(run)
    outputs, _ = feature_maps(run.model, x)
    pre = blocks(run.layers)[1].pre_activation
    real = float(outputs[pre.index][0, 4].mean())
    before = [p.detach().clone() for p in run.model.parameters()]
    dream = Dream(run.model, run.layers, pre.index, 4, run.input_shape, run.data.mean,
                  run.data.std, seed=0)
    assert dream.advance(0.05) is False  # a slice, not the whole job
    while not dream.advance(0.05):
        pass
    assert dream.seconds <= MAX_SECONDS + 0.2  # bounded, however busy the machine
    assert dream.done_steps == dream.steps or dream.seconds >= MAX_SECONDS
    assert dream.activation > real  # beyond what a real digit does
    picture = dream.image()
    assert picture.shape == (16, 16, 1)
    assert 0 <= picture.min() and picture.max() <= 1
    assert all(torch.equal(a, b) for a, b in zip(before, run.model.parameters(), strict=True))
    assert run.model[1].training  # eval mode was only borrowed


def test_activation_maximisation_stops_when_cancelled_and_refuses_what_is_not_there(run):
    token = CancelToken()
    token.cancel("stopped")
    dream = Dream(run.model, run.layers, 0, 0, run.input_shape, run.data.mean, run.data.std)
    reset = current_token.set(token)
    try:
        with pytest.raises(Cancelled):
            dream.advance(1.0)
    finally:
        current_token.reset(reset)
    with pytest.raises(DreamError, match="no channel 40"):
        Dream(run.model, run.layers, 0, 40, run.input_shape, run.data.mean, run.data.std)
    dense = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    rows = [LayerInfo(0, "flatten", "flatten", (4,), 0), LayerInfo(1, "output", "linear", (2,), 10)]
    with pytest.raises(DreamError, match="no conv layer"):
        Dream(dense, rows, 0, 0, (1, 2, 2), torch.zeros(1), torch.ones(1))


# ---- where the net looks (Captum) ---------------------------------------------------------------
def hand_model() -> nn.Sequential:
    """conv 1 -> 2 channels (1x1, weights 1 and -1), flatten, dense 8 -> 2."""
    conv = nn.Conv2d(1, 2, 1, bias=False)
    dense = nn.Linear(8, 2)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([1.0, -1.0]).reshape(2, 1, 1, 1))
        dense.weight.copy_(torch.tensor([[1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5], [0] * 8]))
        dense.bias.zero_()
    return nn.Sequential(conv, nn.Flatten(), dense)


def test_grad_cam_and_saliency_match_a_case_done_by_hand():
    model = hand_model()
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 1, 2, 2)
    # A_0 = x, A_1 = -x; d y_0 / d A_0 = 1 everywhere, d y_0 / d A_1 = 0.5: alpha = (1, 0.5);
    # CAM = relu(1 * x + 0.5 * (-x)) = x / 2
    cam = grad_cam(model, model[0], x, target=0)
    assert np.allclose(cam, [[0.5, 1.0], [1.5, 2.0]])
    # d y_0 / d x = 1 * 1 + (-1) * 0.5 = 0.5 at every pixel
    assert np.allclose(saliency(model, x, target=0), 0.5)
    assert np.allclose(saliency(model, x, target=1), 0.0)


def test_heat_maps_for_the_predicted_class_and_any_other(run):
    x = image(run)
    heat, layer = explain(run.model, run.layers, x, 3, "gradcam")
    assert heat.shape == (16, 16)
    assert heat.min() >= 0
    assert layer == "act2"
    other, _ = explain(run.model, run.layers, x, 5, "gradcam")
    assert not np.allclose(heat, other)
    grads, where = explain(run.model, run.layers, x, 3, "saliency")
    assert where == "input"
    assert grads.shape == (16, 16)
    assert run.model[1].training


# ---- named tensors ------------------------------------------------------------------------------
def test_tensor_views_name_dimensions_and_show_real_slices(run):
    conv2 = next(layer for layer in run.layers if layer.name == "conv2")
    view = weight_view(run.model, conv2, out=3, in_=1)
    weight = run.model[conv2.index].weight
    assert view.dims == ["out", "in", "kH", "kW"]
    assert view.shape == [32, 16, 3, 3]
    assert view.dtype == "float32"
    assert view.device == "cpu"
    assert np.allclose(view.grid, weight[3, 1].detach().numpy())
    assert view.min == pytest.approx(float(weight.detach().min()))
    outputs, _ = feature_maps(run.model, image(run))
    act = activation_view(outputs[conv2.index], conv2, channel=2)
    assert act.dims == ["N", "C", "H", "W"]
    assert act.shape == [1, 32, 8, 8]
    assert np.allclose(act.grid, outputs[conv2.index][0, 2].numpy())
    flat = next(layer for layer in run.layers if layer.kind == "flatten")
    vector = activation_view(outputs[flat.index], flat)
    assert vector.dims == ["N", "features"]
    assert vector.shape == [1, 512]
    assert np.allclose(np.array(vector.grid).ravel()[:12], outputs[flat.index][0, :12].numpy())
    assert weight_view(run.model, next(r for r in run.layers if r.kind == "activation")) is None


def test_a_tiny_vgg_learns_the_digits(digits):
    r = CNNRun(CNNConfig(architecture=PRESETS["tiny_vgg"]), digits, CPU)
    r.train_steps(120)
    assert r.evaluation.accuracy > 0.9


def test_compute_bounds_refuse_at_construction(digits):
    wide = Architecture(blocks=[ConvBlock(channels=64, pool="none")] * 3, fc=[FCLayer(units=8)])
    with pytest.raises(ArchitectureError, match="conv2: too big"):
        CNNRun(CNNConfig(architecture=wide, batch_size=512), digits, CPU,
               ComputeLimits(max_step_flops=8e9))
