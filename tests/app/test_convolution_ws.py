"""The convolution lab over a real websocket: the worked example, geometry, real images."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ml_core.convolution import POOL_MODES, ConvolutionConfig, output_size
from ml_core.images import SAMPLE_IMAGES, load_sample, to_array
from ml_core.kernels import PRESETS, preset_kernel
from tests.wsclient import Frame


def _kinds(client, kinds=("conv", "pool", "shift")) -> dict:
    """The grid message and the three binary frames that follow a configure."""
    got = {"grid": client.wait_for("grid")}
    for kind in kinds:
        got[kind] = client.frame(kind)
    return got


def test_classic_example_out_of_the_box(ws_connect):
    client = ws_connect("convolution")
    configured = client.configure({})
    assert configured["config"] == ConvolutionConfig().model_dump(mode="json")
    assert configured["config"]["kernel"] == [[1, 0, 1], [0, 1, 0], [1, 0, 1]]
    assert configured["presets"] == list(PRESETS)
    assert configured["samples"] == list(SAMPLE_IMAGES)
    assert configured["options"]["pool_modes"] == list(POOL_MODES)
    assert configured["preset_kernels"]["sobel_x"] == preset_kernel("sobel_x").tolist()
    grid = client.wait_for("grid")
    assert grid["output"] == [[4, 3, 4], [2, 4, 3], [2, 3, 4]]
    first = grid["windows"][0]
    assert first["products"] == [[1, 0, 1], [0, 1, 0], [0, 0, 1]]
    assert first["total"] == 4
    assert [w["total"] for w in grid["windows"]] == [4, 3, 4, 2, 4, 3, 2, 3, 4]
    pool = grid["pool"]  # 2x2 max pooling, stride 2, of the 5x5 image
    assert pool["output"] == [[1, 1], [0, 1]]
    assert pool["windows"][1] == {"rows": [0, 1], "cols": [2, 3], "chosen": [0, 0], "result": 1}
    assert pool["windows"][2] == {"rows": [2, 3], "cols": [0, 1], "chosen": [0, 0], "result": 0}


@pytest.mark.parametrize(("stride", "padding", "dilation"), [(1, 1, 1), (2, 1, 1), (1, 2, 2)])
def test_geometry_changes_the_output_size_and_windows(ws_connect, stride, padding, dilation):
    client = ws_connect("convolution")
    grid_side = 7
    config = {
        "grid": np.eye(grid_side).tolist(),
        "stride": stride,
        "padding": padding,
        "dilation": dilation,
    }
    client.configure(config)
    grid = client.wait_for("grid")
    side = output_size(grid_side, 3, stride, padding, dilation)
    assert np.array(grid["output"]).shape == (side, side)
    assert len(grid["windows"]) == side * side
    last = grid["windows"][-1]
    assert last["rows"][0] == (side - 1) * stride
    assert last["rows"][1] - last["rows"][0] == dilation


def test_a_kernel_that_does_not_fit_is_explained_and_the_rest_still_updates(ws_connect):
    client = ws_connect("convolution")
    client.configure({"kernel": np.ones((7, 7)).tolist()})
    got = _kinds(client)
    assert "padded input is only 5x5" in got["grid"]["error"]
    assert got["grid"]["pool"]["output"] == [[1, 1], [0, 1]]  # pooling the image still works
    assert got["conv"].arrays["outputs"].shape[0] == 2  # the picture is large enough for 7x7


def test_bad_configs_are_refused_and_the_session_stays_usable(ws_connect, settings):
    client = ws_connect("convolution")
    client.configure({"stride": 2})
    limits = settings.convolution
    too_many = limits.max_kernels + 1
    too_wide = limits.max_grid + 1
    bad = [
        ({"stride": limits.max_stride + 1},
         f"stride is {limits.max_stride + 1}; the most is {limits.max_stride}"),
        ({"grid": [[1, 0], [1]]}, "equal length"),
        ({"kernel": [[1, 2, 3], [4, 5, 6]]}, "square"),
        ({"kernels": ["sobel_z"]}, "kernels.0"),
        ({"kernels": ["identity"] * too_many}, f"number of kernels is {too_many}"),
        ({"grid": np.zeros((too_wide, too_wide)).tolist()}, f"grid side is {too_wide}"),
        ({"kernel": [[1e9]]}, "kernel"),
        ({"sample": "upload"}, "upload one"),
        ({"shift_x": limits.max_shift + 1}, "shift x"),
        ({"surprise": 1}, "surprise"),
    ]
    for config, expected in bad:
        with pytest.raises(ValueError, match=expected):
            client.configure(config)
    client.send({"type": "play"})  # nothing trains here: play ends at once, with a frame
    client.wait_for(lambda m: m.get("state") == "finished")
    # The refused configs changed nothing: the session still runs stride 2.
    assert np.array(client.wait_for("grid")["output"]).shape == (2, 2)
    client.send({"type": "step"})
    assert "nothing to step" in client.wait_for("error")["message"]


def test_identity_on_a_real_image_gives_the_image_back(ws_connect, settings):
    client = ws_connect("convolution")
    client.configure(
        {"kernel": np.zeros((3, 3)).tolist(), "kernels": ["identity", "sobel_x"], "padding": 1}
    )
    got = _kinds(client)
    conv = got["conv"]
    image = conv.arrays["input"]
    side = settings.convolution.display_size  # the camera man is square
    expected = to_array(Image.fromarray(load_sample("camera")), max_side=side, grey=True)
    assert image.shape == (side, side)
    assert abs(image.astype(int) - expected).max() <= 1
    outputs = conv.arrays["outputs"]
    assert outputs.shape == (2, side, side)
    assert conv.meta["maps"][0] == {"map": "gray", "scale": 1.0}
    np.testing.assert_array_equal(outputs[0], image)  # identity: the same pixels
    assert conv.meta["maps"][1]["map"] == "diverging"  # Sobel: signed, 128 = 0
    assert conv.meta["kernels"][1][0] == preset_kernel("sobel_x").tolist()
    flat = image.astype(float)
    sobel = np.abs(outputs[1].astype(float) - 128)
    # a vertical edge detector responds most where brightness changes from left to right
    horizontal_change = np.abs(np.diff(flat, axis=1))[1:-1, :-1]
    strong = horizontal_change > np.percentile(horizontal_change, 95)
    assert sobel[1:-1, 1:-1][strong].mean() > 3 * sobel[1:-1, 1:-1][~strong].mean()


def test_rgb_mode_shows_each_channel_and_their_sum(ws_connect):
    client = ws_connect("convolution")
    client.configure(
        {"sample": "coffee", "color": "rgb", "rgb_kernels": ["identity", "box_blur", "sobel_y"]}
    )
    conv = client.frame("conv")
    assert conv.arrays["input"].shape[2] == 3
    assert conv.arrays["channels"].shape[0] == 3
    assert conv.arrays["outputs"].shape[0] == 1
    assert conv.meta["channel_names"] == ["R * identity", "G * box_blur", "B * sobel_y"]
    assert [m["map"] for m in conv.meta["channel_maps"]] == ["gray", "gray", "diverging"]
    red = conv.arrays["input"][1:-1, 1:-1, 0]
    assert abs(conv.arrays["channels"][0].astype(int) - red).max() <= 1


def test_pooling_real_images_and_the_translation_demo(ws_connect, settings):
    client = ws_connect("convolution")
    client.configure({"picture_pool": {"mode": "max", "size": 4, "stride": 4}, "shift_x": 1})
    got = _kinds(client)
    pool, shift = got["pool"], got["shift"]
    side = settings.convolution.display_size
    assert pool.arrays["before"].shape == (side, side)
    assert pool.arrays["after"].shape == (side // 4, side // 4)
    before = pool.arrays["before"].astype(int)
    assert pool.arrays["after"][0, 0] == before[:4, :4].max()
    # a one-pixel shift changes the edge map a lot, its 4x4 max-pooled version much less
    assert shift.meta["conv_change"] > 2 * shift.meta["pooled_change"] > 0
    assert shift.arrays["conv"].shape[0] == 2
    client.configure({"shift_x": 0, "shift_y": 0})
    shift = client.frame("shift")
    assert shift.meta["conv_change"] == shift.meta["pooled_change"] == 0
    client.configure({"shift_x": 8, "picture_pool": {"size": 8, "stride": 8, "source": "feature"}})
    assert client.frame("pool").meta["source"] == "feature"


def test_reconnect_resumes_with_the_same_numbers(ws_connect):
    first = ws_connect("convolution")
    first.configure({"stride": 2, "padding": 1})
    first.wait_for("grid")
    again = ws_connect("convolution", session=first.session)
    assert again.initial["config"]["stride"] == 2
    grid = again.wait_for(lambda m: not isinstance(m, Frame) and m.get("type") == "grid")
    assert np.array(grid["output"]).shape == (3, 3)
