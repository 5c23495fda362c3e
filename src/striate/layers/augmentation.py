"""Keras 3's random augmentation layers for images. Each is the identity at inference
(`training=False`: `predict`, `evaluate`, a plain call) except RandomCrop, which then takes the
centered window of the target's aspect ratio and resizes it (Keras's `smart_resize`), so its
output shape holds in both modes.

Random draws are one per image of the batch, as Keras draws them (RandomCrop: one window per
batch, as Keras). Each layer owns a `numpy.random.Generator` (`layer.generator`), seeded from
`seed`, or else from striate's shared generator when the layer is made, so
`striate.utils.set_random_seed` makes runs repeatable; model files save its state.
"""

import math
import numbers

import numpy as np

from striate import backend
from striate.layers.preprocessing import (
    ImageLayer,
    _choice,
    _size,
    aspect_window,
    smart_resize,
)
from striate.ops import affine, pixel
from striate.ops import image as image_ops


class RandomLayer(ImageLayer):
    """An image layer with its own seeded generator; `augment` runs only in training."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
            raise ValueError(
                f"{self.describe()}: seed must be an int or None. Received: seed={seed!r}"
            )
        self.seed = None if seed is None else int(seed)
        start = self.seed if seed is not None else int(backend.rng().integers(2**63))
        self.generator = np.random.default_rng(start)

    def call(self, inputs, training=False):
        x = image_ops.cast(inputs, self.dtype)
        return self.augment(x) if training else x

    def augment(self, x):
        """The layer's random change of the batch `x` (each Random* layer defines it)."""
        raise NotImplementedError(f"{type(self).__name__} must define augment(x).")

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


def _factor_pair(layer, name, factor, low, high, open_low=False):
    """Keras's `(lower, upper)` from a number `f` (`(-f, f)`) or a pair (sorted), each in
    `[low, high]` (`(low, high]` with `open_low`)."""
    interval = f"{'(' if open_low else '['}{low}, {high}]"
    message = (
        f"{layer.describe()}: {name} must be a number or a pair of numbers in {interval}. "
        f"Received: {name}={factor!r}"
    )
    values = list(factor) if isinstance(factor, (tuple, list)) else [factor]
    if len(values) not in (1, 2) or not all(
        isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v) for v in values
    ):
        raise ValueError(message)
    if any(v > high or v < low or (open_low and v == low) for v in values):
        raise ValueError(message)
    if len(values) == 1:
        return (-abs(float(values[0])), abs(float(values[0])))
    return tuple(float(v) for v in sorted(values))


class RandomFlip(RandomLayer):
    """Flip each image with probability 1/2: 'horizontal' (left-right), 'vertical'
    (top-bottom) or 'horizontal_and_vertical' (one draw per image: both flips or neither, as
    Keras).

    >>> x = np.arange(4.0).reshape(1, 1, 4, 1)
    >>> out = RandomFlip("horizontal", seed=1)(x, training=True).data.ravel()
    >>> out.tolist() in ([0.0, 1.0, 2.0, 3.0], [3.0, 2.0, 1.0, 0.0])
    True
    """

    MODES = ("horizontal", "vertical", "horizontal_and_vertical")

    def __init__(self, mode="horizontal_and_vertical", seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.mode = _choice(self, "mode", mode, self.MODES)

    def augment(self, x):
        flips = self.generator.random(x.data.shape[0]) <= 0.5
        horizontal, vertical = self.mode != "vertical", self.mode != "horizontal"
        return image_ops.flip(x, flips, horizontal, vertical)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


class _AffineLayer(RandomLayer):
    """Shared arguments of the layers that resample images through an affine map."""

    def __init__(
        self, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0, **kwargs
    ):
        super().__init__(seed=seed, **kwargs)
        self.fill_mode = _choice(self, "fill_mode", fill_mode, affine.FILL_MODES)
        self.interpolation = _choice(self, "interpolation", interpolation, image_ops.INTERPOLATIONS)
        self.fill_value = float(fill_value)

    def augment(self, x):
        transforms = self.transforms(*x.data.shape[:3])
        return affine.affine_transform(
            x, transforms, self.interpolation, self.fill_mode, self.fill_value
        )

    def get_config(self):
        return {
            **super().get_config(),
            "fill_mode": self.fill_mode,
            "interpolation": self.interpolation,
            "fill_value": self.fill_value,
        }


class RandomRotation(_AffineLayer):
    """Rotate each image about its center by a random angle of `factor` turns: `factor=0.1`
    draws in [-36, 36] degrees, `factor=(-0.2, 0.3)` in [-72, 108] degrees (positive:
    counter-clockwise).

    >>> x = np.arange(9.0).reshape(1, 3, 3, 1)
    >>> layer = RandomRotation((0.25, 0.25), interpolation="nearest")  # exactly a quarter turn
    >>> layer(x, training=True).data[0, :, :, 0]
    array([[2., 5., 8.],
           [1., 4., 7.],
           [0., 3., 6.]], dtype=float32)
    """

    def __init__(
        self,
        factor,
        fill_mode="reflect",
        interpolation="bilinear",
        seed=None,
        fill_value=0.0,
        **kwargs,
    ):
        super().__init__(fill_mode, interpolation, seed, fill_value, **kwargs)
        self.factor = _factor_pair(self, "factor", factor, -1, 1)

    def transforms(self, n, height, width):
        angle = self.generator.uniform(self.factor[0] * 360.0, self.factor[1] * 360.0, n)
        return affine.affine_matrices(angle=angle, height=height, width=width, size=n)

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor)}


class RandomZoom(_AffineLayer):
    """Zoom each image by a random factor: `height_factor` in (-1, 1], a number `f` drawing
    in [-f, f] or a pair; positive zooms out, negative zooms in. `width_factor=None` zooms both
    axes by the height's draw (keeping the aspect ratio).

    >>> RandomZoom(0.2, seed=0)(np.ones((2, 8, 8, 3)), training=True).shape
    (2, 8, 8, 3)
    """

    def __init__(
        self,
        height_factor,
        width_factor=None,
        fill_mode="reflect",
        interpolation="bilinear",
        seed=None,
        fill_value=0.0,
        **kwargs,
    ):
        super().__init__(fill_mode, interpolation, seed, fill_value, **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self.height_range = _factor_pair(self, "height_factor", height_factor, -1, 1, True)
        self.width_range = None
        if width_factor is not None:
            self.width_range = _factor_pair(self, "width_factor", width_factor, -1, 1, True)

    def transforms(self, n, height, width):
        zoom_y = self.generator.uniform(1 + self.height_range[0], 1 + self.height_range[1], n)
        zoom_x = zoom_y
        if self.width_range is not None:
            zoom_x = self.generator.uniform(1 + self.width_range[0], 1 + self.width_range[1], n)
        return affine.affine_matrices(scale=(zoom_x, zoom_y), height=height, width=width, size=n)

    def get_config(self):
        return {
            **super().get_config(),
            "height_factor": _plain(self.height_factor),
            "width_factor": _plain(self.width_factor),
        }


def _plain(value):
    return list(value) if isinstance(value, (tuple, list)) else value


class RandomTranslation(_AffineLayer):
    """Shift each image by a random fraction of its size: `height_factor`, `width_factor` in
    [-1, 1], a number `f` drawing in [-f, f] or a pair (positive: down / right).

    >>> x = np.arange(4.0).reshape(1, 1, 4, 1)
    >>> layer = RandomTranslation(0, (0.25, 0.25), fill_mode="constant")  # one pixel right
    >>> layer(x, training=True).data.ravel()
    array([0., 0., 1., 2.], dtype=float32)
    """

    def __init__(
        self,
        height_factor,
        width_factor,
        fill_mode="reflect",
        interpolation="bilinear",
        seed=None,
        fill_value=0.0,
        **kwargs,
    ):
        super().__init__(fill_mode, interpolation, seed, fill_value, **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self.height_range = _factor_pair(self, "height_factor", height_factor, -1, 1)
        self.width_range = _factor_pair(self, "width_factor", width_factor, -1, 1)

    def transforms(self, n, height, width):
        dy = self.generator.uniform(*self.height_range, n) * height
        dx = self.generator.uniform(*self.width_range, n) * width
        dx, dy = dx.astype(np.float32), dy.astype(np.float32)  # Keras casts to float32
        return affine.affine_matrices(translate=(dx, dy), size=n)

    def get_config(self):
        return {
            **super().get_config(),
            "height_factor": _plain(self.height_factor),
            "width_factor": _plain(self.width_factor),
        }


class RandomContrast(RandomLayer):
    """Per image, `(x - mean) * c + mean` (mean over height and width, per channel) with `c`
    drawn in `[1 - lower, 1 + upper]`, clipped to `value_range`. As Keras, `factor=f` gives
    `(lower, upper) = (0, f)`; a pair `(a, b)` is sorted, and `(-f, f)` fixes `c = 1 + f`.

    >>> x = np.array([0.0, 2.0, 4.0, 6.0]).reshape(1, 2, 2, 1)
    >>> RandomContrast((-0.5, 0.5))(x, training=True).data.ravel()  # c = 1.5 about the mean 3
    array([0. , 1.5, 4.5, 7.5], dtype=float32)
    """

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        message = (
            f"{self.describe()}: factor must be a number in [0, 1] or a pair (a, b) with "
            f"a <= 1 and b >= 0. Received: factor={factor!r}"
        )
        values = list(factor) if isinstance(factor, (tuple, list)) else [factor]
        if len(values) not in (1, 2) or not all(
            isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)
            for v in values
        ):
            raise ValueError(message)
        if len(values) == 1:
            if not 0 <= values[0] <= 1:
                raise ValueError(message)
            self.factor = (0.0, float(values[0]))
        else:
            if values[0] > 1 or values[1] < 0:
                raise ValueError(message)
            self.factor = tuple(float(v) for v in sorted(values))
        self.value_range = _value_range(self, value_range, sort=False)

    def augment(self, x):
        factors = self.generator.uniform(1.0 - self.factor[0], 1.0 + self.factor[1], len(x.data))
        return pixel.adjust_contrast(x, factors, *self.value_range)

    def get_config(self):
        return {
            **super().get_config(),
            "factor": list(self.factor),
            "value_range": list(self.value_range),
        }


def _value_range(layer, value_range, sort=True):
    if (
        not isinstance(value_range, (tuple, list))
        or len(value_range) != 2
        or not all(isinstance(v, numbers.Real) for v in value_range)
    ):
        raise ValueError(
            f"{layer.describe()}: value_range must be a pair of numbers. "
            f"Received: value_range={value_range!r}"
        )
    return tuple(sorted(value_range)) if sort else tuple(value_range)


class RandomBrightness(RandomLayer):
    """Add to each image a random `delta * (value_range[1] - value_range[0])`, delta drawn in
    `factor` (a number `f`: [-f, f]; a pair in [-1, 1]), then clip to `value_range`.

    >>> x = np.array([0.0, 100.0, 250.0]).reshape(1, 1, 3, 1)
    >>> RandomBrightness((0.02, 0.02))(x, training=True).data.ravel()  # + 0.02 * 255
    array([  5.1, 105.1, 255. ], dtype=float32)
    """

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.factor = _factor_pair(self, "factor", factor, -1, 1)
        self.value_range = _value_range(self, value_range)

    def augment(self, x):
        low, high = self.value_range
        deltas = self.generator.uniform(*self.factor, len(x.data)) * (high - low)
        return pixel.adjust_brightness(x, deltas, low, high)

    def get_config(self):
        return {
            **super().get_config(),
            "factor": list(self.factor),
            "value_range": list(self.value_range),
        }


class RandomCrop(RandomLayer):
    """In training, a random `height` x `width` window (one position per batch, as Keras);
    an image not larger than the window in both dimensions, and every image at inference, is
    cropped to the window's aspect ratio about its center and resized instead.

    >>> layer = RandomCrop(2, 3, seed=0)
    >>> layer(np.ones((4, 5, 6, 1)), training=True).shape, layer(np.ones((4, 5, 6, 1))).shape
    ((4, 2, 3, 1), (4, 2, 3, 1))
    """

    def __init__(self, height, width, seed=None, **kwargs):
        if seed is None:  # Keras records a seed drawn when the layer is made
            seed = int(backend.rng().integers(2**31))
        super().__init__(seed=seed, **kwargs)
        self.height, self.width = _size(self, "height", height), _size(self, "width", width)

    def compute_output_shape(self, input_shape):
        super().compute_output_shape(input_shape)
        return (input_shape[0], self.height, self.width, input_shape[3])

    def call(self, inputs, training=False):
        x = image_ops.cast(inputs, self.dtype)
        _, h, w, _ = x.data.shape
        if not training:
            if (h, w) == (self.height, self.width):
                return x
            return smart_resize(x, self.height, self.width)
        return self.augment(x)

    def augment(self, x):
        _, h, w, _ = x.data.shape
        if h > self.height and w > self.width:
            top = int(self.generator.uniform(0, h - self.height + 1))
            left = int(self.generator.uniform(0, w - self.width + 1))
        else:  # Keras: the aspect window's corner, then the target size, then a resize
            top, left, _, _ = aspect_window(h, w, self.height, self.width)
        x = image_ops.crop(x, top, left, min(self.height, h - top), min(self.width, w - left))
        if x.data.shape[1:3] != (self.height, self.width):
            x = image_ops.resize(x, self.height, self.width)
        return x

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width}
