"""Safe image input: decode user uploads with an allowlist, and load bundled sample images.

Uploads are checked by decoding them, never by their file name: only PNG, JPEG, WebP and GIF
decode, within a byte limit and a pixel limit (so a small file that claims 20000 x 20000 pixels —
a decompression bomb — is refused before its pixels are read).
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image

ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP", "GIF")

# scikit-image ships these with the package: nothing is downloaded.
SAMPLE_IMAGES = {
    "camera": "camera",
    "astronaut": "astronaut",
    "coffee": "coffee",
    "chelsea": "chelsea",
    "rocket": "rocket",
    "coins": "coins",
    "moon": "moon",
}


class ImageError(ValueError):
    """An upload that is not an image we accept; the message says why, for the user."""


def decode_image(data: bytes, *, max_bytes: int, max_pixels: int) -> Image.Image:
    """Decode uploaded bytes to an RGB or L ``PIL.Image``, or raise ImageError.

    Checks, in order: empty, too many bytes, not a decodable allowlisted format, too many pixels,
    truncated or corrupt pixel data. Animated GIFs give their first frame.
    """
    if not data:
        raise ImageError("the file is empty")
    if len(data) > max_bytes:
        raise ImageError(
            f"the file is {len(data) / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.1f} MB"
        )
    try:
        # Opening reads only the header, so the pixel count is known before decoding.
        image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except Image.DecompressionBombError as exc:
        raise ImageError(
            f"the image has too many pixels; the limit is {max_pixels:,} pixels in all"
        ) from exc
    except Exception as exc:  # PIL raises several types for unknown data
        raise ImageError(
            "not a PNG, JPEG, WebP or GIF image (the content was checked, not the name)"
        ) from exc
    width, height = image.size
    if width < 1 or height < 1:
        raise ImageError("the image has no pixels")
    if width * height > max_pixels:
        raise ImageError(
            f"the image is {width} x {height} pixels; the limit is {max_pixels:,} pixels in all"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()
    except Exception as exc:
        raise ImageError(f"the {image.format} file is truncated or corrupt") from exc
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
        if image.mode == "RGBA":  # flatten transparency onto white, as a viewer shows it
            background = Image.new("RGB", image.size, (255, 255, 255))
            background.paste(image, mask=image.getchannel("A"))
            image = background
    return image


def to_array(image: Image.Image, *, max_side: int | None = None, grey: bool = False) -> np.ndarray:
    """Image -> uint8 array (H, W) if grey else (H, W, 3), downscaled so its longest side <= max_side."""
    image = image.convert("L" if grey else "RGB")
    if max_side and max(image.size) > max_side:
        image = image.copy()
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return np.asarray(image, dtype=np.uint8)


def load_sample(name: str) -> np.ndarray:
    """A bundled sample image as uint8, (H, W) for grey ones or (H, W, 3) for colour ones."""
    if name not in SAMPLE_IMAGES:
        raise ImageError(f"unknown sample image {name!r}; choose one of {', '.join(SAMPLE_IMAGES)}")
    from skimage import data as skdata  # imported lazily: it is slow to import

    array = np.asarray(getattr(skdata, SAMPLE_IMAGES[name])())
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    if array.ndim == 3 and array.shape[2] == 4:
        array = array[:, :, :3]
    return array.astype(np.uint8)
