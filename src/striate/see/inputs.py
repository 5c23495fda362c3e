"""Images into a model's input shape: resize (pillow) and convert channels, for files and arrays."""

import os

import numpy as np

from striate.see import draw


def fit_images(images, shape):
    """Resize uint8 or float images (N, H, W, C) to (N, shape[0], shape[1], shape[2]).

    Channels: gray -> RGB repeats, RGB -> gray takes the luminance (ITU-R 601-2, as pillow).
    Resizing is bilinear (pillow) and keeps the value range; nothing changes when the shape
    already matches.

    >>> fit_images(np.zeros((2, 8, 8, 1), np.uint8), (28, 28, 1)).shape
    (2, 28, 28, 1)
    """
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    height, width, channels = shape
    if images.shape[-1] != channels:
        images = _convert_channels(images, channels)
    if images.shape[1:3] == (height, width):
        return images
    Image = draw.pil_image()
    out = np.empty((len(images), height, width, channels), np.float32)
    for i, image in enumerate(images):
        for c in range(channels):
            plane = Image.fromarray(np.ascontiguousarray(image[..., c], dtype=np.float32))
            out[i, ..., c] = np.asarray(plane.resize((width, height), Image.Resampling.BILINEAR))
    if images.dtype == np.uint8:
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return out


def _convert_channels(images, channels):
    have = images.shape[-1]
    if have == 1 and channels in (3, 4):
        return np.repeat(images, channels, axis=-1)
    if have in (3, 4) and channels == 1:
        rgb = images[..., :3].astype(np.float32)
        gray = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
        gray = gray[..., None]
        return np.rint(gray).astype(images.dtype) if images.dtype == np.uint8 else gray
    raise ValueError(f"cannot turn {have}-channel images into the model's {channels} channels")


def load_picture(path, shape, invert=False):
    """Read an image file (PNG, JPEG, ...) as uint8 (H, W, C) in a model's input `shape`.

    Args:
        path: the file. shape: (height, width, channels) the model takes.
        invert: 255 - pixels, for dark-on-light drawings fed to a light-on-dark model (MNIST).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no image file at {path}")
    from striate.datasets.images import convert_mode, open_image

    draw.pil_image()  # the clear ImportError first
    array = np.asarray(convert_mode(open_image(path), "grayscale" if shape[-1] == 1 else "rgb"))
    if array.ndim == 2:
        array = array[..., None]
    array = fit_images(array[None], shape)[0]
    return 255 - array if invert else array
