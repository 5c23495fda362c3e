"""Pooling layers: MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D
(and Keras aliases)."""

from striate.layers.base import Layer, check_channels_last, normalize_padding, normalize_tuple
from striate.layers.conv import check_image_input, check_window_fits
from striate.ops import pool as pool_ops


class Pooling2D(Layer):
    """The shared base of MaxPooling2D and AveragePooling2D: config, output shape, the op call."""

    _op = None

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        check_channels_last(self, data_format)
        self.pool_size = normalize_tuple(self.describe(), "pool_size", pool_size)
        # strides=None means strides = pool_size (Keras)
        self.strides = (
            self.pool_size
            if strides is None
            else normalize_tuple(self.describe(), "strides", strides)
        )
        self.padding = normalize_padding(self.describe(), padding)

    def compute_output_shape(self, input_shape):
        height, width = check_window_fits(
            self,
            "pool window",
            self.pool_size,
            self.strides,
            self.padding,
            input_shape,
            "pool_size",
        )
        return (input_shape[0], height, width, input_shape[3])

    def call(self, inputs, training=False):
        return type(self)._op(inputs, self.pool_size, self.strides, self.padding)

    def get_config(self):
        return {
            **super().get_config(),
            "pool_size": list(self.pool_size),
            "strides": list(self.strides),
            "padding": self.padding,
        }


class MaxPooling2D(Pooling2D):
    """Keeps the largest value of each window. 'same' pads with -inf, so padding never wins.

    >>> MaxPooling2D(2).compute_output_shape((None, 27, 27, 6))
    (None, 13, 13, 6)
    """

    _op = staticmethod(pool_ops.max_pool2d)

    @property
    def fusions(self):
        """'max_pool' (see `Layer.fusions`), unless a subclass overrides `call` or `_op`."""
        cls = type(self)
        if cls.call is Pooling2D.call and cls._op is MaxPooling2D._op:
            return frozenset({"max_pool"})
        return frozenset()


class AveragePooling2D(Pooling2D):
    """Averages each window; with 'same' only real cells are counted."""

    _op = staticmethod(pool_ops.avg_pool2d)


class GlobalAveragePooling2D(Layer):
    """Mean over height and width: (N, H, W, C) -> (N, C), or (N, 1, 1, C) with keepdims."""

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        check_channels_last(self, data_format)
        self.keepdims = bool(keepdims)

    def compute_output_shape(self, input_shape):
        check_image_input(self, input_shape)
        if self.keepdims:
            return (input_shape[0], 1, 1, input_shape[3])
        return (input_shape[0], input_shape[3])

    def call(self, inputs, training=False):
        return pool_ops.global_avg_pool2d(inputs, keepdims=self.keepdims)

    def get_config(self):
        return {**super().get_config(), "keepdims": self.keepdims}


class GlobalMaxPooling2D(GlobalAveragePooling2D):
    """Largest value over height and width: (N, H, W, C) -> (N, C), or (N, 1, 1, C) with
    keepdims."""

    def call(self, inputs, training=False):
        return pool_ops.global_max_pool2d(inputs, keepdims=self.keepdims)


MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D
GlobalAvgPool2D = GlobalAveragePooling2D
GlobalMaxPool2D = GlobalMaxPooling2D
