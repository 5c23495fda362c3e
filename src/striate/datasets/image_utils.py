"""Keras 3's image utilities: ``load_img``, ``img_to_array``, ``array_to_img``, ``save_img``.

Same signatures, defaults, dtypes and pixels as ``keras.utils`` (they are thin layers over
pillow there too): ``load_img`` returns a PIL image (default interpolation "nearest", unlike
``image_dataset_from_directory``'s "bilinear"), ``img_to_array`` a floatx (float32) array
(height, width, channels). Errors name the function, what it expected and what it received.
"""

from __future__ import annotations

import io
import os
import pathlib
import warnings

import numpy as np

from striate import backend
from striate.datasets.images import pillow

__all__ = ["array_to_img", "img_to_array", "load_img", "save_img"]

DATA_FORMATS = ("channels_last", "channels_first")


def _interpolations():
    Image, _ = pillow()
    resampling = Image.Resampling
    return {
        "nearest": resampling.NEAREST,
        "bilinear": resampling.BILINEAR,
        "bicubic": resampling.BICUBIC,
        "hamming": resampling.HAMMING,
        "box": resampling.BOX,
        "lanczos": resampling.LANCZOS,
    }


def _data_format(data_format, where):
    data_format = backend.image_data_format() if data_format is None else data_format
    if data_format not in DATA_FORMATS:
        raise ValueError(
            f"{where}: data_format must be 'channels_last' or 'channels_first'. "
            f"Received: data_format={data_format!r}"
        )
    return data_format


def load_img(
    path, color_mode="rgb", target_size=None, interpolation="nearest", keep_aspect_ratio=False
):
    """Load an image file into a PIL image, as ``keras.utils.load_img``.

    Args:
        path: a path (str, bytes, pathlib.Path) or an ``io.BytesIO``.
        color_mode: "grayscale" (8-bit, or 16/32-bit grayscale kept as is), "rgb" or "rgba".
        target_size: None (the file's size) or (height, width).
        interpolation: "nearest", "bilinear", "bicubic", "hamming", "box" or "lanczos".
        keep_aspect_ratio: crop the centered box of the target aspect ratio before resizing.

    Returns:
        A PIL image.

    Example:
        >>> import tempfile
        >>> from PIL import Image
        >>> path = tempfile.mktemp(suffix=".png")
        >>> Image.new("RGB", (40, 30), (255, 0, 0)).save(path)
        >>> load_img(path, target_size=(10, 20)).size
        (20, 10)
    """
    Image, _ = pillow()
    if isinstance(path, io.BytesIO):
        image = Image.open(path)
    elif isinstance(path, (pathlib.Path, bytes, str)):
        if isinstance(path, pathlib.Path):
            path = str(path.resolve())
        with open(path, "rb") as handle:
            image = Image.open(io.BytesIO(handle.read()))
    else:
        raise TypeError(
            f"load_img: path must be a path or an io.BytesIO. Received: {type(path).__name__}"
        )
    if color_mode == "grayscale":
        if image.mode not in ("L", "I;16", "I"):
            image = image.convert("L")
    elif color_mode in ("rgb", "rgba"):
        if image.mode != color_mode.upper():
            image = image.convert(color_mode.upper())
    else:
        raise ValueError(
            f"load_img: color_mode must be 'grayscale', 'rgb' or 'rgba'. "
            f"Received: color_mode={color_mode!r}"
        )
    if target_size is None:
        return image
    size = (target_size[1], target_size[0])
    if image.size == size:
        return image
    methods = _interpolations()
    if interpolation not in methods:
        raise ValueError(
            f"load_img: interpolation must be one of {', '.join(methods)}. "
            f"Received: interpolation={interpolation!r}"
        )
    if not keep_aspect_ratio:
        return image.resize(size, methods[interpolation])
    width, height = image.size
    crop_height = min(height, (width * size[1]) // size[0])
    crop_width = min(width, (height * size[0]) // size[1])
    left, top = (width - crop_width) // 2, (height - crop_height) // 2
    box = [left, top, left + crop_width, top + crop_height]
    return image.resize(size, methods[interpolation], box=box)


def img_to_array(img, data_format=None, dtype=None):
    """A PIL image as a 3-D array (height, width, channels), floatx by default, as Keras's."""
    data_format = _data_format(data_format, "img_to_array")
    x = np.asarray(img, dtype=backend.floatx() if dtype is None else dtype)
    if x.ndim == 3:
        return x.transpose(2, 0, 1) if data_format == "channels_first" else x
    if x.ndim == 2:
        return x[None] if data_format == "channels_first" else x[..., None]
    raise ValueError(
        f"img_to_array: expected an image of 2 or 3 dimensions. Received: shape {x.shape}"
    )


def array_to_img(x, data_format=None, scale=True, dtype=None):
    """A 3-D array as a PIL image, as ``keras.utils.array_to_img``: with ``scale`` the values
    are stretched to 0..255 (min to 0, max to 255); 1, 3 or 4 channels (L or I, RGB, RGBA)."""
    Image, _ = pillow()
    data_format = _data_format(data_format, "array_to_img")
    x = np.asarray(x, dtype=backend.floatx() if dtype is None else dtype)
    if x.ndim != 3:
        raise ValueError(
            f"array_to_img: expected one image, an array of rank 3. Received: shape {x.shape}"
        )
    if data_format == "channels_first":
        x = x.transpose(1, 2, 0)
    if scale:
        x = x - np.min(x)
        top = np.max(x)
        if top != 0:
            x /= top
        x *= 255
    channels = x.shape[2]
    if channels in (3, 4):
        return Image.fromarray(x.astype("uint8"), "RGB" if channels == 3 else "RGBA")
    if channels == 1:
        if np.max(x) > 255:  # 32-bit signed integer grayscale
            return Image.fromarray(x[:, :, 0].astype("int32"), "I")
        return Image.fromarray(x[:, :, 0].astype("uint8"), "L")
    raise ValueError(
        f"array_to_img: expected 1, 3 or 4 channels. Received: {channels} (shape {x.shape})"
    )


def save_img(path, x, data_format=None, file_format=None, scale=True, **kwargs):
    """Save a 3-D array as an image file, as ``keras.utils.save_img`` (the format from the
    extension unless ``file_format``; an RGBA image saved as JPEG becomes RGB, with a warning).
    ``kwargs`` go to ``PIL.Image.save``."""
    data_format = _data_format(data_format, "save_img")
    if file_format is None and isinstance(path, (str, pathlib.Path)):
        file_format = pathlib.Path(path).suffix[1:].lower()
    if file_format and file_format.lower() == "jpg":
        file_format = "jpeg"
    image = array_to_img(x, data_format=data_format, scale=scale)
    if image.mode == "RGBA" and file_format == "jpeg":
        warnings.warn(
            "The JPEG format does not support RGBA images, converting to RGB.", stacklevel=2
        )
        image = image.convert("RGB")
    image.save(
        os.fspath(path) if isinstance(path, pathlib.Path) else path, format=file_format, **kwargs
    )
