"""A photo of a handwritten digit made into an MNIST-like 28x28 input, the way MNIST's own
images were made: grayscale, dark background, cropped to the digit, fitted in 20x20, centered by
mass in 28x28. Needs pillow (``pip install 'striate[images]'``)."""

from __future__ import annotations

import numpy as np

from striate.datasets.images import convert_mode, open_image, pillow

_WORK_SIDE = 512  # photos are shrunk to at most this many pixels a side before thresholding


def load_digit_photo(path, invert=None):
    """Read a photo or scan of one handwritten digit as an MNIST-like 28x28 uint8 image.

    See :func:`mnist_like` for what is done to it. Crop the photo to the digit and the paper around
    it first: a table or shadow at the border is taken for background.

    Raises:
        FileNotFoundError: no such file. ValueError: not an image, or no digit found in it.

    Example:
        >>> import os, tempfile
        >>> from PIL import Image, ImageDraw
        >>> photo = Image.new("RGB", (300, 200), "white")
        >>> ImageDraw.Draw(photo).line([(100, 30), (100, 170)], fill="black", width=12)
        >>> path = os.path.join(tempfile.mkdtemp(), "one.jpg")
        >>> photo.save(path)
        >>> load_digit_photo(path).shape
        (28, 28)
    """
    image = open_image(path, draft=(2 * _WORK_SIDE, 2 * _WORK_SIDE))
    factor = max(image.size) // (2 * _WORK_SIDE)
    if factor >= 2:  # as the JPEG draft does for every format: float copies stay small
        if image.mode not in ("L", "LA", "RGB", "RGBA", "I", "F"):
            transparent = image.mode == "PA" or "transparency" in image.info
            image = image.convert("RGBA" if transparent else "RGB")
        image = image.reduce(factor)
    return mnist_like(image, invert=invert)


def mnist_like(image, invert=None):
    """Turn an image of one handwritten digit into a 28x28 input made as MNIST's were made.

    The steps: grayscale (transparent pixels become paper); invert when the background is light
    (decided by the border pixels: light border, dark ink); shrink to at most 512 pixels a side;
    level uneven lighting (a plane fitted to the border); Otsu's threshold separates ink from
    paper (the border's side of it is the paper); specks (ink blobs under 5% of the largest one) are
    dropped; thin pen strokes are thickened to about a tenth of the digit's size, as MNIST's are;
    crop to the digit's bounding box; resize (anti-aliased) so the longer side is 20 pixels,
    keeping the aspect ratio; paste into a black 28x28 field so the center of mass of the pixels
    is at (14, 14).

    Args:
        image: a PIL image, or an array (H, W), (H, W, 1), (H, W, 3) or (H, W, 4): uint8, or
            floats in 0..1 or 0..255.
        invert: None to decide from the border, True for dark ink on light paper, False for light
            ink on a dark background.

    Returns:
        uint8 ndarray (28, 28): white digit on black, like ``mnist.load_data()``'s images.

    Raises:
        ValueError: the image is (almost) uniform or has no digit-sized ink.

    Example:
        >>> canvas = np.full((120, 90), 255, np.uint8)
        >>> canvas[20:100, 40:52] = 0  # a black "1" on white paper
        >>> digit = mnist_like(canvas)
        >>> digit.shape, digit[0, 0], digit.max()
        ((28, 28), np.uint8(0), np.uint8(255))
    """
    gray = _shrink(_gray_float(image))
    low, high = np.percentile(gray, [0.1, 99.9])
    if high - low < 32:
        raise ValueError(
            f"mnist_like: no digit found: the image is almost uniform (pixel values "
            f"{low:.0f} to {high:.0f})."
        )
    border = np.zeros(gray.shape, dtype=bool)
    margin = max(1, round(0.02 * min(gray.shape)))
    border[:margin] = border[-margin:] = border[:, :margin] = border[:, -margin:] = True
    gray = _level(gray, border)
    threshold = _otsu(gray)
    if invert is None:  # the background is the side of the threshold the border is on
        invert = np.median(gray[border]) > threshold
    mask = _drop_specks(gray <= threshold if invert else gray > threshold)
    mask = _thicken(mask)
    rows, cols = np.nonzero(mask)
    box = mask[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].astype(np.float32)
    return _center_in_field(_fit(box, 20), 28)


def _gray_float(image):
    """Luma (ITU-R 601, as pillow's 'L') in 0..255; transparency composited onto the paper."""
    Image, _ = pillow()
    if isinstance(image, np.ndarray):
        array = image.astype(np.float64)
        if array.ndim == 3 and array.shape[-1] == 1:
            array = array[..., 0]
        if (
            array.ndim not in (2, 3)
            or (array.ndim == 3 and array.shape[-1] not in (3, 4))
            or array.size == 0
        ):
            raise ValueError(
                f"mnist_like: expected an image array (H, W), (H, W, 1), (H, W, 3) "
                f"or (H, W, 4). Received: shape {image.shape}"
            )
        if image.dtype.kind == "f" and array.max(initial=0) <= 1.0:
            array = array * 255.0
        image = Image.fromarray(np.clip(np.rint(array), 0, 255).astype(np.uint8))
    elif not isinstance(image, Image.Image):
        raise TypeError(
            f"mnist_like: expected a PIL image or a NumPy array. Received: {type(image).__name__}"
        )
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float64)
        luma = rgba[..., :3] @ np.array([0.299, 0.587, 0.114])
        alpha = rgba[..., 3] / 255.0
        opaque = alpha > 0.5
        ink_is_dark = not opaque.any() or luma[opaque].mean() < 128
        paper = 255.0 if ink_is_dark else 0.0
        return luma * alpha + paper * (1.0 - alpha)
    return np.asarray(convert_mode(image, "grayscale"), dtype=np.float64)


def _shrink(gray):
    Image, _ = pillow()
    height, width = gray.shape
    scale = _WORK_SIDE / max(height, width)
    if scale >= 1:
        return gray
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = Image.fromarray(gray.astype(np.float32), "F").resize(size, Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float64)


def _level(gray, border):
    """Remove uneven lighting: subtract the tilt of a plane fitted to the border (the paper)."""
    rows, cols = np.nonzero(border)
    design = np.column_stack([np.ones(len(rows)), rows, cols])
    values = gray[border]
    keep = np.ones(len(values), dtype=bool)
    for _ in range(2):  # fit, then refit without outliers (ink or specks touching the border)
        coef = np.linalg.lstsq(design[keep], values[keep], rcond=None)[0]
        residual = np.abs(values - design @ coef)
        keep = residual <= 3 * np.median(residual) + 1
    height, width = gray.shape
    tilt = coef[1] * (np.arange(height)[:, None] - (height - 1) / 2) + coef[2] * (
        np.arange(width)[None, :] - (width - 1) / 2
    )
    return gray - tilt


def _otsu(values):
    """Otsu's threshold: the level between 0 and 255 that maximizes the variance between the two
    classes (the middle of the best levels when several tie, as in a two-tone image)."""
    counts = np.bincount(np.rint(np.clip(values, 0, 255)).astype(np.int64).ravel(), minlength=256)
    levels = np.arange(256)
    weight = np.cumsum(counts)[:-1]
    mass = np.cumsum(counts * levels)[:-1]
    total, total_mass = counts.sum(), (counts * levels).sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        gap = mass / weight - (total_mass - mass) / (total - weight)
        between = np.nan_to_num(weight * (total - weight) * gap**2)
    best = np.flatnonzero(between >= between.max() * (1 - 1e-9))
    return (best[0] + best[-1]) / 2 + 0.5


def _drop_specks(mask, keep_fraction=0.05):
    """The mask without 8-connected blobs smaller than keep_fraction of the largest blob."""
    height, width = mask.shape
    padded = np.zeros((height + 2, width + 2), dtype=bool)
    padded[1:-1, 1:-1] = mask
    flat = padded.ravel()
    stride = width + 2
    steps = [dy * stride + dx for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]
    labels = np.zeros(flat.size, dtype=np.int32)
    sizes = [0]
    for start in np.flatnonzero(flat):
        if labels[start]:
            continue
        label = len(sizes)
        labels[start] = label
        stack, size = [start], 0
        while stack:
            index = stack.pop()
            size += 1
            for step in steps:
                neighbor = index + step
                if flat[neighbor] and not labels[neighbor]:
                    labels[neighbor] = label
                    stack.append(neighbor)
        sizes.append(size)
    if len(sizes) == 1:
        raise ValueError("mnist_like: no digit found in the image.")
    sizes = np.asarray(sizes)
    keep = sizes >= keep_fraction * sizes.max()
    keep[0] = False
    return keep[labels].reshape(padded.shape)[1:-1, 1:-1]


def _thicken(mask, target=0.1):
    """Dilate strokes thinner than target x the digit's size (width estimated as 2 area / edge)."""
    inner = mask.copy()
    inner[1:] &= mask[:-1]
    inner[:-1] &= mask[1:]
    inner[:, 1:] &= mask[:, :-1]
    inner[:, :-1] &= mask[:, 1:]
    area, edge = mask.sum(), (mask & ~inner).sum()
    rows, cols = np.nonzero(mask)
    size = max(rows.max() - rows.min(), cols.max() - cols.min()) + 1
    radius = round((target * size - 2.0 * area / max(edge, 1)) / 2)
    if radius <= 0:
        return mask
    mask = np.pad(mask, radius)
    for step in range(radius):  # alternate 4- and 8-neighbourhoods: an octagon, close to a disk
        grown = mask.copy()
        grown[1:] |= mask[:-1]
        grown[:-1] |= mask[1:]
        grown[:, 1:] |= mask[:, :-1]
        grown[:, :-1] |= mask[:, 1:]
        if step % 2:
            grown[1:, 1:] |= mask[:-1, :-1]
            grown[1:, :-1] |= mask[:-1, 1:]
            grown[:-1, 1:] |= mask[1:, :-1]
            grown[:-1, :-1] |= mask[1:, 1:]
        mask = grown
    return mask


def _fit(box, side):
    """Resize (anti-aliased) so the longer side is `side`, keeping the aspect ratio; max -> 255."""
    Image, _ = pillow()
    height, width = box.shape
    scale = side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resized = np.asarray(
        Image.fromarray(box, "F").resize(size, Image.Resampling.BILINEAR), dtype=np.float64
    )
    resized = np.clip(resized, 0, None)
    return np.rint(resized * (255.0 / resized.max())).astype(np.uint8)


def _center_in_field(box, field):
    """Paste box into a black field x field image with its center of mass at (field/2, field/2)."""
    height, width = box.shape
    weights = box.astype(np.float64)
    total = weights.sum()
    center_y = (weights.sum(axis=1) @ np.arange(height)) / total
    center_x = (weights.sum(axis=0) @ np.arange(width)) / total
    top = int(np.clip(round(field / 2 - center_y), 0, field - height))
    left = int(np.clip(round(field / 2 - center_x), 0, field - width))
    out = np.zeros((field, field), dtype=np.uint8)
    out[top : top + height, left : left + width] = box
    return out
