"""The convolution and pooling lab: a kernel sliding over a small grid and over real images.

Nothing trains here, so there is no play mode: every ``configure`` recomputes the page (a few
milliseconds of torch work on the session's worker thread) and ``frame()`` returns the cached
result. Stepping the window is done by the page from the per-window products sent with the grid,
so it needs no round trip. Uploads come through the REST ``router`` below.
"""

from __future__ import annotations

import numpy as np
from fastapi import APIRouter, HTTPException, Query, Request, UploadFile
from PIL import Image

from app.frames import BinaryFrame
from app.labs.base import Lab, LabError, Message, validate
from app.schemas.common import Configure
from app.schemas.convolution import (
    ConvolutionConfigured,
    ConvWindowInfo,
    GridMessage,
    PoolGrid,
    PoolWindowInfo,
    Upload,
)
from app.sessions import lookup_session
from app.uploads import read_image
from ml_core import convolution as conv
from ml_core import convolution_invariance as invariance
from ml_core.convolution import UPLOAD, ConvolutionConfig
from ml_core.images import SAMPLE_IMAGES, load_sample, to_array
from ml_core.kernels import PRESETS, is_signed, presets_at, to_display


def _rounded(values: np.ndarray) -> list:
    """Floats for JSON, rounded so 0.1 + 0.2 shows as 0.3."""
    return np.round(np.asarray(values, dtype=np.float64), 4).tolist()


def _show(values: np.ndarray, kernel: np.ndarray) -> tuple[np.ndarray, dict]:
    """Conv outputs -> uint8 pixels: diverging for edge detectors, grey for the others."""
    return to_display(values, is_signed(kernel), high=float(np.sum(kernel)))


def _error_frame(kind: str, exc: ValueError) -> BinaryFrame:
    return BinaryFrame(kind, {"error": str(exc)}, {})


class ConvolutionLab(Lab):
    name = "convolution"
    config_model = ConvolutionConfig
    title = "Convolution"
    summary = "Slide a kernel over an image; pooling."

    def __init__(self, settings, device) -> None:
        super().__init__(settings, device)
        self.config = ConvolutionConfig()
        self.upload: Image.Image | None = None  # downscaled to display_size; kept in memory only
        self._images: dict[str, Image.Image] = {}  # samples, downscaled once
        self._messages: list[Message] = []

    # ---- the Lab contract --------------------------------------------------------------------
    def configure(self, request: Configure) -> ConvolutionConfigured:
        cfg = validate(
            ConvolutionConfig, request.config, "configure: ", context={"limits": self.limits}
        )
        if cfg.sample == UPLOAD and self.upload is None:
            raise LabError("no uploaded image in this session: upload one, or pick a sample")
        self._messages = self._compute(cfg)
        self.config = cfg
        return self._configured()

    def train(self, budget_s: float) -> None:
        """Nothing trains here; ``finished`` makes a ``play`` end at once (state "finished")."""

    def finished(self) -> bool:
        return True

    def frame(self, streaming: bool) -> list[Message]:
        return list(self._messages)

    # ---- uploads (called on the worker thread through session.call) ---------------------------
    def set_upload(self, image: Image.Image) -> dict:
        width, height = image.size
        if min(width, height) < self.limits.min_image_side:
            side = self.limits.min_image_side
            raise LabError(f"the image is {width}x{height} pixels; it needs at least {side}x{side}")
        image = image.convert("RGB")
        image.thumbnail((self.limits.display_size,) * 2, Image.Resampling.LANCZOS)
        previous, self.upload = self.upload, image
        try:
            config = {**self.config.model_dump(), "sample": UPLOAD}
            self.configure(Configure(type="configure", config=config))
        except LabError:
            self.upload = previous
            raise
        return Upload(
            width=image.size[0],
            height=image.size[1],
            original_width=width,
            original_height=height,
            config=self.config,
        ).model_dump()

    def configured(self) -> ConvolutionConfigured:
        """As it is now: an upload (a REST call) changes the config outside ``configure``."""
        return self._configured()

    # ---- computing the page ------------------------------------------------------------------
    def _configured(self) -> ConvolutionConfigured:
        kernels = presets_at(len(self.config.kernel))  # for the page's "load" menu
        return ConvolutionConfigured(
            lab=self.name,
            config=self.config,
            presets=list(PRESETS),
            preset_kernels={name: _rounded(k) for name, k in kernels.items()},
            samples=list(SAMPLE_IMAGES),
            has_upload=self.upload is not None,
        )

    def _compute(self, cfg: ConvolutionConfig) -> list[Message]:
        messages: list[Message] = [self._grid(cfg)]
        messages.extend(self._real(cfg))
        return messages

    def _grid(self, cfg: ConvolutionConfig) -> GridMessage:
        """The worked example: output, every window's products, and pooling, as exact numbers."""
        image = np.asarray(cfg.grid, dtype=np.float32)  # (H, W)
        kernel = np.asarray(cfg.kernel, dtype=np.float32)  # (k, k)
        output, windows, error = None, None, None
        try:
            output = conv.conv2d(image[None], kernel[None, None], cfg.geometry)[0]  # (H', W')
        except ValueError as exc:
            error = str(exc)
        else:
            windows = [
                ConvWindowInfo(
                    rows=w.rows,
                    cols=w.cols,
                    values=_rounded(w.values),
                    products=_rounded(w.products),
                    total=round(w.total, 4),
                )
                for w in (conv.conv_window(image, kernel, cfg.geometry, i) for i in range(output.size))
            ]
        return GridMessage(
            image=_rounded(image),
            kernel=_rounded(kernel),
            output=None if output is None else _rounded(output),
            windows=windows,
            error=error,
            pool=self._pool_grid(cfg, image, output),
        )

    @staticmethod
    def _pool_grid(cfg: ConvolutionConfig, image: np.ndarray, output: np.ndarray | None) -> PoolGrid:
        """Pooling of the small grid, or of its convolution (None: the kernel does not fit)."""
        pool = PoolGrid(source=cfg.pool.source, mode=cfg.pool.mode)
        source = image if cfg.pool.source == "image" else output
        if source is None:
            pool.error = "the convolution has no output to pool: fix it first"
            return pool
        size, stride = cfg.pool.size, cfg.pool.stride
        try:
            pooled, _ = conv.pool2d(source[None], cfg.pool.mode, size, stride)
        except ValueError as exc:
            pool.error = str(exc)
            return pool
        pool.input = _rounded(source)
        pool.output = _rounded(pooled[0])
        pool.windows = []
        for index in range(pooled[0].size):
            w = conv.pool_window(source, cfg.pool.mode, size, stride, index)
            pool.windows.append(
                PoolWindowInfo(rows=w.rows, cols=w.cols, chosen=w.chosen, result=round(w.result, 4))
            )
        return pool

    def _image(self, cfg: ConvolutionConfig) -> np.ndarray:
        """The chosen picture as (C, H, W) float32 in [0, 1], C = 1 (grey) or 3 (rgb)."""
        if cfg.sample == UPLOAD:
            picture = self.upload
        else:
            picture = self._images.get(cfg.sample)
            if picture is None:
                picture = Image.fromarray(load_sample(cfg.sample))
                picture.thumbnail((self.limits.display_size,) * 2, Image.Resampling.LANCZOS)
                self._images[cfg.sample] = picture
        pixels = to_array(picture, grey=cfg.color == "grey").astype(np.float32) / 255.0
        return pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)

    def _real(self, cfg: ConvolutionConfig) -> list[Message]:
        image = self._image(cfg)  # (C, H, W)
        shown = np.round(image * 255).astype(np.uint8)
        shown = shown[0] if cfg.color == "grey" else shown.transpose(1, 2, 0)  # (H, W[, 3])
        try:
            bank = cfg.kernel_bank()  # (K, C, k, k)
            contributions = conv.conv2d_per_channel(image, bank, cfg.geometry)  # (K, C, H', W')
        except ValueError as exc:
            return [_error_frame(kind, exc) for kind in ("conv", "pool", "shift", "rotate")]
        outputs = contributions.sum(axis=1)  # (K, H', W'): what a conv layer outputs
        shows = [_show(channel, kernel) for channel, kernel in zip(outputs, bank, strict=True)]
        arrays: dict[str, np.ndarray] = {"input": shown, "outputs": np.stack([p for p, _ in shows])}
        maps = [scale for _, scale in shows]
        meta = {
            "sample": cfg.sample,
            "color": cfg.color,
            "names": cfg.kernels if cfg.color == "grey" else ["sum over R, G, B"],
            "maps": maps,
            "kernels": _rounded(bank),
        }
        if cfg.color == "rgb":  # what each input channel adds to the one output channel
            parts = [_show(contributions[0, c], bank[0, c]) for c in range(3)]
            arrays["channels"] = np.stack([px for px, _ in parts])
            meta["channel_maps"] = [scale for _, scale in parts]
            meta["channel_names"] = [
                f"R * {cfg.rgb_kernels[0]}",
                f"G * {cfg.rgb_kernels[1]}",
                f"B * {cfg.rgb_kernels[2]}",
            ]
        messages: list[Message] = [BinaryFrame("conv", meta, arrays)]
        messages.append(self._pool_frame(cfg, image, outputs[0], bank[0]))
        messages.append(self._shift_frame(cfg, image, bank[0]))
        messages.append(self._rotate_frame(cfg, image, bank[0]))
        return messages

    def _pool_frame(self, cfg, image: np.ndarray, feature: np.ndarray, kernel) -> BinaryFrame:
        """Pool the picture (every channel) or the first feature map, as the picture's own
        pooling says."""
        pool = cfg.picture_pool
        source = image if pool.source == "image" else feature[None]  # (C, H, W)
        try:
            pooled, _ = conv.pool2d(source, pool.mode, pool.size, pool.stride)
        except ValueError as exc:
            return _error_frame("pool", exc)
        if pool.source == "image":  # pixels stay pixels
            before = np.round(source * 255).astype(np.uint8)
            after = np.round(pooled * 255).astype(np.uint8)
            scale = {"map": "gray" if len(source) == 1 else "rgb", "scale": 1.0}
        else:  # one scale for both, so they compare
            both, scale = _show(np.concatenate([source.ravel(), pooled.ravel()]), kernel)
            before = both[: source.size].reshape(source.shape)
            after = both[source.size :].reshape(pooled.shape)
        meta = {
            "source": pool.source,
            "mode": pool.mode,
            "size": pool.size,
            "stride": pool.stride,
            "map": scale,
            # what the pooled map keeps of what was pooled (values a channel)
            "kept": int(pooled[0].size),
            "of": int(source[0].size),
        }
        # (C, H, W) -> (H, W) or (H, W, 3) for drawing
        arrays = {
            name: a[0] if len(a) == 1 else a.transpose(1, 2, 0)
            for name, a in (("before", before), ("after", after))
        }
        return BinaryFrame("pool", meta, arrays)

    def _shift_frame(self, cfg, image, kernel) -> BinaryFrame:
        """Translation demo with the first kernel and the picture's pooling."""
        pool = cfg.picture_pool
        try:
            demo = invariance.translation_demo(
                image, kernel, cfg.geometry, pool.mode, pool.size, pool.stride,
                cfg.shift_x, cfg.shift_y,
            )
        except ValueError as exc:
            return _error_frame("shift", exc)
        return self._invariance_frame("shift", demo, kernel, {"dx": cfg.shift_x, "dy": cfg.shift_y})

    def _rotate_frame(self, cfg, image, kernel) -> BinaryFrame:
        """Rotation demo (the picture's central square turned) with the first kernel and the
        picture's pooling."""
        pool = cfg.picture_pool
        try:
            demo = invariance.rotation_demo(
                image, kernel, cfg.geometry, pool.mode, pool.size, pool.stride, cfg.rotation
            )
        except ValueError as exc:
            return _error_frame("rotate", exc)
        return self._invariance_frame("rotate", demo, kernel, {"degrees": cfg.rotation})

    @staticmethod
    def _invariance_frame(kind: str, demo, kernel, meta: dict) -> BinaryFrame:
        conv_px, conv_map = _show(np.stack(demo.conv), kernel)  # (2, H', W')
        pool_px, pool_map = _show(np.stack(demo.pooled), kernel)  # (2, H'', W'')
        meta = {
            **meta,
            "input_change": round(demo.input_change, 4),
            "conv_change": round(demo.conv_change, 4),
            "pooled_change": round(demo.pooled_change, 4),
            "conv_map": conv_map,
            "pool_map": pool_map,
        }
        return BinaryFrame(kind, meta, {"conv": conv_px, "pooled": pool_px})


router = APIRouter(tags=["convolution"])


@router.post("/convolution/image", response_model=Upload)
async def upload_image(
    request: Request,
    file: UploadFile,
    session: str = Query(..., max_length=64, description="The page's session id."),
) -> dict:
    """Use an uploaded PNG, JPEG, WebP or GIF in the session's lab (kept in memory only)."""
    lab_session = lookup_session(request, session, ConvolutionLab.name)
    image = await read_image(file, request.app.state.settings)  # 4xx for anything but an image
    try:
        return await lab_session.call(ConvolutionLab.set_upload, image)
    except LabError as exc:
        raise HTTPException(422, str(exc)) from None
