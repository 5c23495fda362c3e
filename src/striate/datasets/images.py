"""Your own images as NumPy arrays: a folder of labelled images, one file, a photo of a digit.

* ``striate.datasets.image_folder.image_dataset_from_directory`` reads one subfolder per class,
  as Keras's function of the same name does.
* :func:`load_image` reads one file into the array a model takes (the same path the folder loader
  uses, so ``striate predict`` prepares images exactly as training saw them).
* ``striate.datasets.digit_photo`` turns a photo of a handwritten digit into a 28x28
  input made the way MNIST's were made.

Reading files needs pillow (``pip install 'striate[images]'``); it is imported on first use.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

__all__ = [
    "IMAGE_FORMATS",
    "load_image",
    "open_image",
]

IMAGE_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
MAX_IMAGE_PIXELS = 2**26  # pixels an image file may decode to (67 MP; pillow's own bomb limit
# is 89 MP, and only a warning below 179 MP)
COLOR_MODES = {"grayscale": ("L", 1), "rgb": ("RGB", 3), "rgba": ("RGBA", 4)}
INTERPOLATIONS = {
    "bilinear": "BILINEAR",
    "nearest": "NEAREST",
    "bicubic": "BICUBIC",
    "area": "BOX",
    "lanczos3": "LANCZOS",
    "hamming": "HAMMING",
}


def pillow():
    """(PIL.Image, PIL.ImageOps), with a clear ImportError when pillow is missing."""
    try:
        from PIL import Image, ImageOps
    except ImportError as exc:
        raise ImportError(
            "striate.datasets.images needs pillow to read image files. Install it with: "
            "pip install 'striate[images]'  (or: pip install pillow)"
        ) from exc
    # MAX_IMAGE_PIXELS, below pillow's limit, refuses every image pillow would warn about
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
    return Image, ImageOps


def open_image(path, draft=None):
    """The image in `path` as a loaded PIL image turned upright (EXIF orientation applied).

    `draft=(w, h)` lets a JPEG decode at 1/2, 1/4 or 1/8 scale while staying at least that big
    (much faster for large photos that are shrunk anyway). Raises FileNotFoundError for a missing
    file and ValueError, naming the file, for a file that is not an image or cannot be decoded.
    """
    Image, ImageOps = pillow()
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path}")
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path} is a directory, not an image file")
    if not os.path.isfile(path):  # a FIFO or a device would block or never end
        raise ValueError(f"{path} is not a regular file, so not an image file")
    try:
        with Image.open(path) as image:
            if draft is not None and image.format == "JPEG":
                image.draft(image.mode, draft)
            width, height = image.size
            if width * height > MAX_IMAGE_PIXELS:
                raise ValueError(
                    f"{path} is {width}x{height} = {width * height} pixels, over the "
                    f"limit of {MAX_IMAGE_PIXELS} (striate.datasets.images."
                    f"MAX_IMAGE_PIXELS); shrink it first"
                )
            image.load()
            return ImageOps.exif_transpose(image)
    except Image.UnidentifiedImageError:
        raise ValueError(
            f"{path} is not an image pillow can read (use PNG, JPEG, BMP or GIF)"
        ) from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        message = str(error)
        raise ValueError(
            message if message.startswith(path) else f"cannot read image {path}: {message}"
        ) from None


def convert_mode(image, color_mode):
    """A PIL image in the mode of `color_mode`; 16- and 32-bit integer images are scaled to 8 bits
    (pillow alone would clip them)."""
    Image, _ = pillow()
    mode, _ = COLOR_MODES[color_mode]
    if image.mode.startswith("I"):
        array = np.asarray(image, dtype=np.float64)
        image = Image.fromarray(np.clip(np.rint(array / 257.0), 0, 255).astype(np.uint8), "L")
    elif image.mode == "F":
        array = np.asarray(image, dtype=np.float64)
        if not np.isfinite(array).all():
            raise ValueError("the image holds NaN or infinite pixel values")
        scale = 255.0 if array.max(initial=0.0) <= 1.0 else 1.0
        image = Image.fromarray(np.clip(np.rint(array * scale), 0, 255).astype(np.uint8), "L")
    elif image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    return image if image.mode == mode else image.convert(mode)


def check_size(image_size, where):
    if (
        not isinstance(image_size, (tuple, list))
        or len(image_size) != 2
        or any(
            isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1 for n in image_size
        )
    ):
        raise ValueError(
            f"{where}: image_size must be (height, width), two positive ints. "
            f"Received: image_size={image_size!r}"
        )
    if int(image_size[0]) * int(image_size[1]) > MAX_IMAGE_PIXELS:
        raise ValueError(
            f"{where}: image_size {tuple(image_size)} is over the limit of "
            f"{MAX_IMAGE_PIXELS} pixels (MAX_IMAGE_PIXELS). Received: "
            f"image_size={image_size!r}"
        )
    return int(image_size[0]), int(image_size[1])


def check_choice(value, choices, name, where):
    if value not in choices:
        raise ValueError(
            f"{where}: {name} must be one of {', '.join(map(repr, choices))}. "
            f"Received: {name}={value!r}"
        )


def load_image(
    path, image_size=None, color_mode="rgb", interpolation="bilinear", crop_to_aspect_ratio=False
):
    """Read one image file into a uint8 array (height, width, channels).

    Args:
        path: the file (anything pillow reads: PNG, JPEG, BMP, GIF's first frame...).
        image_size: (height, width) to resize to, or None to keep the file's size.
        color_mode: 'grayscale' (1 channel), 'rgb' (3) or 'rgba' (4).
        interpolation: 'bilinear', 'nearest', 'bicubic', 'area', 'lanczos3' or 'hamming'
            (pillow's filters, which anti-alias when shrinking).
        crop_to_aspect_ratio: crop the largest centered box of the target aspect ratio first,
            instead of stretching.

    Returns:
        uint8 ndarray (height, width, channels).

    Raises:
        FileNotFoundError: no such file. ValueError: not an image, unreadable, bad arguments.

    Example:
        >>> import os, tempfile
        >>> from PIL import Image
        >>> path = os.path.join(tempfile.mkdtemp(), "red.png")
        >>> Image.new("RGB", (40, 30), (255, 0, 0)).save(path)
        >>> load_image(path, (10, 20)).shape, load_image(path, color_mode="grayscale")[0, 0, 0]
        ((10, 20, 3), np.uint8(76))
    """
    check_choice(color_mode, tuple(COLOR_MODES), "color_mode", "load_image")
    check_choice(interpolation, tuple(INTERPOLATIONS), "interpolation", "load_image")
    if image_size is not None:
        image_size = check_size(image_size, "load_image")
    return read_image(os.fspath(path), image_size, color_mode, interpolation, crop_to_aspect_ratio)


def read_image(
    path, image_size, color_mode, interpolation, crop_to_aspect_ratio, pad_to_aspect_ratio=False
):
    Image, ImageOps = pillow()
    draft = None
    if image_size is not None:  # a JPEG may decode smaller, to twice the target size at least
        side = 2 * max(image_size)
        draft = (side, side)
    try:
        image = convert_mode(open_image(path, draft), color_mode)
    except ValueError as error:
        message = str(error)
        raise ValueError(message if path in message else f"{path}: {message}") from None
    if image_size is not None:
        height, width = image_size
        method = getattr(Image.Resampling, INTERPOLATIONS[interpolation])
        if crop_to_aspect_ratio:
            image = ImageOps.fit(image, (width, height), method)
        elif pad_to_aspect_ratio:
            image = _pad_to_aspect_ratio(image, (width, height), method)
        elif image.size != (width, height):
            image = image.resize((width, height), method)
    array = np.asarray(image, dtype=np.uint8)
    return array.reshape(array.shape[:2] + (COLOR_MODES[color_mode][1],))


def _pad_to_aspect_ratio(image, size, method):
    """Resize within `size` keeping the aspect ratio, then pad with zeros around it, centered
    as ``tf.image.resize_with_pad`` does (the odd pixel of padding at the bottom / right)."""
    Image, _ = pillow()
    width, height = size
    ratio = max(image.width / width, image.height / height)
    inner = (max(1, int(image.width / ratio)), max(1, int(image.height / ratio)))
    padded = Image.new(image.mode, size)
    padded.paste(image.resize(inner, method), ((width - inner[0]) // 2, (height - inner[1]) // 2))
    return padded


# -- a folder of labelled images ----------------------------------------------------------------
