"""Keras 3's preprocessing layers for images: Rescaling, Normalization (with `adapt`),
Resizing and CenterCrop. They run at inference as in training and pass gradients.

Image layers take channels_last images of rank 4 (a batch) or rank 3 (one image, returned
without a batch axis) and return the layer's float dtype (Resizing keeps an integer input's
dtype, rounded, as Keras does).
"""

import itertools
import math
import numbers

import numpy as np

from striate import backend
from striate.layers import symbolic
from striate.layers.base import Layer, check_channels_last, format_shape
from striate.ops import image as image_ops
from striate.ops import pixel
from striate.tensor import Tensor


class ImageLayer(Layer):
    """Base of the image layers: rank-3 or rank-4 channels_last input, any height and width."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        check_channels_last(self, data_format)
        self.data_format = "channels_last"

    def _rank_error(self, shape):
        return ValueError(
            f"{self.describe()}: expected images of rank 3 (height, width, channels) or rank 4 "
            f"(batch, height, width, channels), channels_last. Received: input shape "
            f"{format_shape(tuple(shape))}."
        )

    def __call__(self, inputs, training=None):
        if symbolic.is_symbolic(inputs) or isinstance(inputs, (list, tuple)):
            return super().__call__(inputs, training=training)
        tensor = inputs if isinstance(inputs, Tensor) else Tensor(np.asarray(inputs))
        shape = tensor.data.shape
        if len(shape) == 3:  # one image: as a batch of one, then without the batch axis
            out = super().__call__(image_ops.reshape_all(tensor, (1,) + shape), training)
            return image_ops.reshape_all(out, out.data.shape[1:])
        if len(shape) != 4:
            raise self._rank_error(shape)
        return super().__call__(tensor, training=training)

    def check_input_shape(self, shape):
        if len(shape) != 4:
            raise self._rank_error(shape)

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 4:
            raise self._rank_error(input_shape)
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


def _size(layer, name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(
            f"{layer.describe()}: {name} must be a positive int. Received: {name}={value!r}"
        )
    return int(value)


def _choice(layer, name, value, allowed):
    if value not in allowed:
        raise ValueError(
            f"{layer.describe()}: {name} must be one of {allowed}. Received: {name}={value!r}"
        )
    return value


def _to_config(value):
    return np.asarray(value).tolist() if isinstance(value, (np.ndarray, list, tuple)) else value


def aspect_window(height, width, target_height, target_width):
    """Keras's largest centered window of the target's aspect ratio: (top, left, h, w)."""
    crop_height = max(min(height, int(float(width * target_height) / target_width)), 1)
    crop_width = max(min(width, int(float(height * target_width) / target_height)), 1)
    top = int(float(height - crop_height) / 2)
    left = int(float(width - crop_width) / 2)
    return top, left, crop_height, crop_width


def smart_resize(x, height, width, interpolation="bilinear"):
    """Keras's `smart_resize`: crop the centered window of the target aspect ratio, resize."""
    top, left, h, w = aspect_window(x.data.shape[1], x.data.shape[2], height, width)
    return image_ops.resize(image_ops.crop(x, top, left, h, w), height, width, interpolation)


class Rescaling(Layer):
    """`inputs * scale + offset` in the layer's dtype (`Rescaling(1 / 255)` maps 0..255 to
    0..1; `Rescaling(1 / 127.5, offset=-1)` to -1..1). scale and offset may be per channel.

    >>> Rescaling(0.5, offset=1.0)(np.array([[2.0, 4.0]])).data
    array([[2., 3.]], dtype=float32)
    """

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("scale", scale), ("offset", offset)):
            array = np.asarray(value, dtype=object)
            if not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in array.flat):
                raise ValueError(
                    f"{self.describe()}: {name} must be a number or a list of numbers. "
                    f"Received: {name}={value!r}"
                )
        self.scale, self.offset = scale, offset

    def call(self, inputs, training=False):
        return pixel.scale_shift(image_ops.cast(inputs, self.dtype), self.scale, self.offset)

    def get_config(self):
        return {
            **super().get_config(),
            "scale": _to_config(self.scale),
            "offset": _to_config(self.offset),
        }


class Normalization(Layer):
    """`(inputs - mean) / max(sqrt(variance), epsilon)` per index of `axis` (default: the
    last axis, the channels), or its inverse with `invert=True`. The mean and variance are given
    (`mean=`, `variance=`) or learnt by `adapt(data)`; adapted, they are the layer's
    non-trainable weights `mean`, `variance` (and Keras's `count`), saved with the model.

    >>> layer = Normalization()
    >>> layer.adapt(np.array([[1.0], [3.0]]))
    >>> layer(np.array([[3.0]])).data
    array([[1.]], dtype=float32)
    """

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        if axis is None:
            axis = ()
        elif isinstance(axis, numbers.Integral):
            axis = (int(axis),)
        self.axis = tuple(int(a) for a in axis)
        if (mean is None) != (variance is None):
            raise ValueError(
                f"{self.describe()}: when setting values directly, both mean and variance "
                f"must be set. Received: mean={mean!r}, variance={variance!r}"
            )
        if mean is not None:
            if np.shape(mean) != np.shape(variance):
                raise ValueError(
                    f"{self.describe()}: mean and variance must have the same shape. Received: "
                    f"mean shape {np.shape(mean)}, variance shape {np.shape(variance)}"
                )
            if np.ndim(mean) > len(self.axis):
                raise ValueError(
                    f"{self.describe()}: the rank of mean must be at most the number of axes "
                    f"({len(self.axis)}). Received: mean shape {np.shape(mean)}, "
                    f"axis={self.axis}"
                )
        self.input_mean, self.input_variance = mean, variance
        self.invert = bool(invert)
        self._keep = None

    def _layout(self, input_shape):
        """Sorted kept axes and the shape mean/variance broadcast to, for `input_shape`."""
        ndim = len(input_shape)
        if any(a < -ndim or a >= ndim for a in self.axis):
            raise ValueError(
                f"{self.describe()}: every axis must be in [-{ndim}, {ndim}) for an input of "
                f"rank {ndim}. Received: axis={self.axis}, input shape "
                f"{format_shape(tuple(input_shape))}."
            )
        keep = tuple(sorted(a % ndim for a in self.axis))
        if any(input_shape[a] is None for a in keep):
            raise ValueError(
                f"{self.describe()}: the kept axes {keep} must have a known size. Received: "
                f"input shape {format_shape(tuple(input_shape))}."
            )
        return keep, tuple(input_shape[d] if d in keep else 1 for d in range(ndim))

    def build(self, input_shape):
        if self._keep is not None:
            return
        self._keep, self._broadcast = self._layout(input_shape)
        self._build_shape = tuple(input_shape)
        shape = tuple(input_shape[d] for d in self._keep)
        if self.input_mean is None:
            self.adapt_mean = self.add_weight("mean", shape, "zeros", trainable=False)
            self.adapt_variance = self.add_weight("variance", shape, "ones", trainable=False)
            self.count = self.add_weight("count", (), "zeros", trainable=False)
        else:
            self.mean_value = self._given(self.input_mean, shape)
            self.variance_value = self._given(self.input_variance, shape)

    def _given(self, value, shape):
        """A given mean or variance, aligned with the kept axes from the right (as Keras)."""
        value = np.asarray(value, np.float64)
        return np.broadcast_to(value, shape).astype(self.dtype)

    def adapt(self, data):
        """Learn the mean and variance from an array or an iterable of batches (arrays, or
        `(x, y)` tuples whose x is used), combined batch by batch as Keras does."""
        if isinstance(data, (np.ndarray, Tensor)):
            batches, first = None, np.asarray(data.data if isinstance(data, Tensor) else data)
        elif hasattr(data, "__iter__"):
            batches = iter(data)
            first = next(batches, None)
            if first is None:
                raise ValueError(
                    f"{self.describe()}.adapt: received an empty iterable (no batches). "
                    f"Expected at least one batch of arrays."
                )
            first = np.asarray(first[0] if isinstance(first, tuple) else first)
            batches = itertools.chain([first], batches)
        else:
            raise TypeError(
                f"{self.describe()}.adapt: expected an array or an iterable of batches. "
                f"Received: {type(data).__name__}"
            )
        if self.input_mean is not None:
            raise ValueError(
                f"{self.describe()}.adapt: the layer was given mean and variance; adapt "
                f"learns them only when they are not given. Received: mean={self.input_mean!r}"
            )
        self.build(first.shape)
        if batches is None:
            self._check(first)
            reduce = self._reduce(first.ndim)
            mean, variance = np.mean(first, axis=reduce), np.var(first, axis=reduce)
        else:
            mean, variance, count = 0.0, 0.0, 0
            for batch in batches:
                batch = np.asarray(batch[0] if isinstance(batch, tuple) else batch, self.dtype)
                self._check(batch)
                reduce = self._reduce(batch.ndim)
                batch_mean, batch_variance = np.mean(batch, axis=reduce), np.var(batch, axis=reduce)
                batch_count = math.prod(batch.shape[d] for d in reduce)
                count += batch_count
                weight = float(batch_count) / count
                new_mean = mean * (1.0 - weight) + batch_mean * weight
                variance = (variance + (mean - new_mean) ** 2) * (1.0 - weight) + (
                    batch_variance + (batch_mean - new_mean) ** 2
                ) * weight
                mean = new_mean
        self.adapt_mean.data[...] = mean
        self.adapt_variance.data[...] = variance

    def _reduce(self, ndim):
        return tuple(d for d in range(ndim) if d not in self._keep)

    def _check(self, batch):
        if batch.ndim != len(self._build_shape) or any(
            batch.shape[d] != self._build_shape[d] for d in self._keep
        ):
            raise ValueError(
                f"{self.describe()}.adapt: the layer was built for input shape "
                f"{format_shape(self._build_shape)} (axes {self._keep} kept). Received: data "
                f"of shape {format_shape(batch.shape)}."
            )

    def call(self, inputs, training=False):
        x = image_ops.cast(inputs, self.dtype)
        self.check_input_shape(x.data.shape)
        _, broadcast = self._layout(x.data.shape)
        if self.input_mean is None:
            mean, variance = self.adapt_mean.data, self.adapt_variance.data
        else:
            mean, variance = self.mean_value, self.variance_value
        mean, variance = mean.reshape(broadcast), variance.reshape(broadcast)
        return pixel.normalize(x, mean, variance, backend.epsilon(), self.invert)

    def check_input_shape(self, shape):
        """The rank and the kept axes' sizes must be those built for (other sizes may vary)."""
        built = self._build_shape
        if len(shape) != len(built) or any(shape[d] != built[d] for d in self._keep):
            raise ValueError(
                f"{self.describe()}: expected inputs of rank {len(built)} with sizes "
                f"{[built[d] for d in self._keep]} on axes {list(self._keep)} (built for "
                f"{format_shape(built)}). Received: input shape {format_shape(tuple(shape))}."
            )

    def get_config(self):
        return {
            **super().get_config(),
            "axis": list(self.axis),
            "invert": self.invert,
            "mean": _to_config(self.input_mean),
            "variance": _to_config(self.input_variance),
        }


class Resizing(ImageLayer):
    """Resize images to `height` x `width` ('bilinear' or 'nearest', as Keras on torch).
    With `crop_to_aspect_ratio` the centered window of the target's aspect ratio is resized;
    with `pad_to_aspect_ratio` the image is padded evenly with `fill_value` to that ratio first.

    >>> Resizing(2, 2)(np.ones((1, 4, 4, 3))).shape
    (1, 2, 2, 3)
    """

    def __init__(
        self,
        height,
        width,
        interpolation="bilinear",
        crop_to_aspect_ratio=False,
        pad_to_aspect_ratio=False,
        fill_mode="constant",
        fill_value=0.0,
        antialias=False,
        data_format=None,
        **kwargs,
    ):
        super().__init__(data_format=data_format, **kwargs)
        self.height, self.width = _size(self, "height", height), _size(self, "width", width)
        self.interpolation = _choice(self, "interpolation", interpolation, image_ops.INTERPOLATIONS)
        self.fill_mode = _choice(self, "fill_mode", fill_mode, ("constant",))
        if crop_to_aspect_ratio and pad_to_aspect_ratio:
            raise ValueError(
                f"{self.describe()}: only one of pad_to_aspect_ratio and crop_to_aspect_ratio "
                f"can be True. Received: crop_to_aspect_ratio=True, pad_to_aspect_ratio=True"
            )
        self.crop_to_aspect_ratio = bool(crop_to_aspect_ratio)
        self.pad_to_aspect_ratio = bool(pad_to_aspect_ratio)
        self.fill_value, self.antialias = float(fill_value), bool(antialias)

    def compute_output_shape(self, input_shape):
        super().compute_output_shape(input_shape)
        return (input_shape[0], self.height, self.width, input_shape[3])

    def call(self, inputs, training=False):
        source = inputs.data.dtype
        x = image_ops.cast(inputs, self.dtype)
        _, h, w, _ = x.data.shape
        if self.crop_to_aspect_ratio:
            x = image_ops.crop(x, *aspect_window(h, w, self.height, self.width))
        elif self.pad_to_aspect_ratio:
            padded_h = max(h, int(float(w * self.height) / self.width))
            padded_w = max(w, int(float(h * self.width) / self.height))
            top, left = int(float(padded_h - h) / 2), int(float(padded_w - w) / 2)
            x = image_ops.pad(x, top, left, h + 2 * top, w + 2 * left, self.fill_value)
        out = image_ops.resize(x, self.height, self.width, self.interpolation, self.antialias)
        if source.kind in "iu":  # Keras: round and saturate back to the integer dtype
            info = np.iinfo(source)
            data = np.clip(np.rint(out.data), info.min, info.max).astype(source)
            return Tensor(data)
        return out

    def get_config(self):
        return {
            **super().get_config(),
            "height": self.height,
            "width": self.width,
            "interpolation": self.interpolation,
            "crop_to_aspect_ratio": self.crop_to_aspect_ratio,
            "pad_to_aspect_ratio": self.pad_to_aspect_ratio,
            "fill_mode": self.fill_mode,
            "fill_value": self.fill_value,
            "antialias": self.antialias,
        }


class CenterCrop(ImageLayer):
    """The centered `height` x `width` window of each image; an image smaller than that in
    either dimension is instead cropped to the target's aspect ratio and resized (Keras's
    `smart_resize`), so the output is always `height` x `width`.

    >>> CenterCrop(2, 2)(np.arange(16.0).reshape(1, 4, 4, 1)).data[0, :, :, 0]
    array([[ 5.,  6.],
           [ 9., 10.]], dtype=float32)
    """

    def __init__(self, height, width, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.height, self.width = _size(self, "height", height), _size(self, "width", width)

    def compute_output_shape(self, input_shape):
        super().compute_output_shape(input_shape)
        return (input_shape[0], self.height, self.width, input_shape[3])

    def call(self, inputs, training=False):
        x = image_ops.cast(inputs, self.dtype)
        _, h, w, _ = x.data.shape
        if h >= self.height and w >= self.width:
            top, left = (h - self.height) // 2, (w - self.width) // 2
            return image_ops.crop(x, top, left, self.height, self.width)
        return smart_resize(x, self.height, self.width)

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width}
