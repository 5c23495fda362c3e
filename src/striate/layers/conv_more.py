"""More convolution layers: DepthwiseConv2D, SeparableConv2D (channels-last, Keras 3's
arguments, defaults, weight names and shapes), and what they share with Conv2DTranspose
(`striate.layers.conv_transpose`)."""

from striate import activations, initializers
from striate.layers.base import (
    Layer,
    check_channels_last,
    normalize_padding,
    normalize_tuple,
)
from striate.layers.conv import check_dilation, check_window_fits
from striate.layers.weight_options import (
    add_weight_with_options,
    set_named_options,
    weight_options_config,
)
from striate.ops import conv as conv_ops
from striate.ops import depthwise as depthwise_ops

DEPTHWISE_OPTIONS = (
    "depthwise_regularizer",
    "bias_regularizer",
    "depthwise_constraint",
    "bias_constraint",
)
SEPARABLE_OPTIONS = DEPTHWISE_OPTIONS + ("pointwise_regularizer", "pointwise_constraint")


def positive_int(layer, name, value):
    """A positive int, or a ValueError naming the layer and the argument."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(
            f"{layer.describe()}: {name} must be a positive int. Received: {name}={value!r}"
        )
    return value


class _WindowConv(Layer):
    """What the three share: kernel_size, strides, padding, dilation_rate, activation, bias."""

    def __init__(
        self,
        kernel_size,
        strides,
        padding,
        data_format,
        dilation_rate,
        activation,
        use_bias,
        bias_initializer,
        refuse_strided_dilation,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_channels_last(self, data_format)
        self.kernel_size = normalize_tuple(self.describe(), "kernel_size", kernel_size)
        self.strides = normalize_tuple(self.describe(), "strides", strides)
        self.padding = normalize_padding(self.describe(), padding)
        if refuse_strided_dilation:
            self.dilation_rate = check_dilation(self, dilation_rate)
        else:
            self.dilation_rate = normalize_tuple(self.describe(), "dilation_rate", dilation_rate)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.bias_initializer = initializers.get(bias_initializer)

    def window_output(self, input_shape):
        """(height, width) of a conv window over `input_shape`, or the error if it does not fit."""
        return check_window_fits(
            self,
            "kernel",
            self.kernel_size,
            self.strides,
            self.padding,
            input_shape,
            "kernel_size",
            self.dilation_rate,
        )

    def call(self, inputs, training=False):
        return self.activation(self.call_without_activation(inputs))

    def get_config(self):
        return {
            **super().get_config(),
            "kernel_size": list(self.kernel_size),
            "strides": list(self.strides),
            "padding": self.padding,
            "dilation_rate": list(self.dilation_rate),
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "bias_initializer": initializers.serialize(self.bias_initializer),
        }


class DepthwiseConv2D(_WindowConv):
    """Each input channel convolved with its own `depth_multiplier` kernels (no mixing).

    Weights: kernel `(kh, kw, channels, depth_multiplier)`, bias `(channels * depth_multiplier,)`.

    >>> DepthwiseConv2D(3, depth_multiplier=2).compute_output_shape((None, 8, 8, 4))
    (None, 6, 6, 8)
    """

    def __init__(
        self,
        kernel_size,
        strides=(1, 1),
        padding="valid",
        depth_multiplier=1,
        data_format=None,
        dilation_rate=(1, 1),
        activation=None,
        use_bias=True,
        depthwise_initializer="glorot_uniform",
        bias_initializer="zeros",
        depthwise_regularizer=None,
        bias_regularizer=None,
        depthwise_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(
            kernel_size,
            strides,
            padding,
            data_format,
            dilation_rate,
            activation,
            use_bias,
            bias_initializer,
            False,
            **kwargs,
        )
        self.depth_multiplier = positive_int(self, "depth_multiplier", depth_multiplier)
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        set_named_options(
            self,
            depthwise_regularizer=depthwise_regularizer,
            bias_regularizer=bias_regularizer,
            depthwise_constraint=depthwise_constraint,
            bias_constraint=bias_constraint,
        )

    def compute_output_shape(self, input_shape):
        height, width = self.window_output(input_shape)
        return (input_shape[0], height, width, input_shape[3] * self.depth_multiplier)

    def build(self, input_shape):
        channels = input_shape[-1]
        self.kernel = add_weight_with_options(
            self,
            "kernel",
            self.kernel_size + (channels, self.depth_multiplier),
            self.depthwise_initializer,
            "depthwise",
        )
        self.bias = (
            add_weight_with_options(
                self, "bias", (channels * self.depth_multiplier,), self.bias_initializer
            )
            if self.use_bias
            else None
        )

    def call_without_activation(self, inputs):
        """The depthwise convolution plus bias, before the activation."""
        return depthwise_ops.depthwise_conv2d(
            inputs, self.kernel, self.bias, self.strides, self.padding, self.dilation_rate
        )

    def get_config(self):
        return {
            **super().get_config(),
            "depth_multiplier": self.depth_multiplier,
            "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
            **weight_options_config(self, DEPTHWISE_OPTIONS),
        }


class SeparableConv2D(_WindowConv):
    """A depthwise convolution (`depth_multiplier` kernels per channel, no bias) followed by a
    1x1 pointwise convolution to `filters` outputs with the bias.

    Weights: depthwise_kernel `(kh, kw, channels, depth_multiplier)`, pointwise_kernel
    `(1, 1, channels * depth_multiplier, filters)`, bias `(filters,)`.

    >>> SeparableConv2D(16, 3, padding="same").compute_output_shape((None, 8, 8, 4))
    (None, 8, 8, 16)
    """

    def __init__(
        self,
        filters,
        kernel_size,
        strides=(1, 1),
        padding="valid",
        data_format=None,
        dilation_rate=(1, 1),
        depth_multiplier=1,
        activation=None,
        use_bias=True,
        depthwise_initializer="glorot_uniform",
        pointwise_initializer="glorot_uniform",
        bias_initializer="zeros",
        depthwise_regularizer=None,
        pointwise_regularizer=None,
        bias_regularizer=None,
        depthwise_constraint=None,
        pointwise_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(
            kernel_size,
            strides,
            padding,
            data_format,
            dilation_rate,
            activation,
            use_bias,
            bias_initializer,
            False,
            **kwargs,
        )
        self.filters = positive_int(self, "filters", filters)
        self.depth_multiplier = positive_int(self, "depth_multiplier", depth_multiplier)
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.pointwise_initializer = initializers.get(pointwise_initializer)
        set_named_options(
            self,
            depthwise_regularizer=depthwise_regularizer,
            pointwise_regularizer=pointwise_regularizer,
            bias_regularizer=bias_regularizer,
            depthwise_constraint=depthwise_constraint,
            pointwise_constraint=pointwise_constraint,
            bias_constraint=bias_constraint,
        )

    def compute_output_shape(self, input_shape):
        height, width = self.window_output(input_shape)
        return (input_shape[0], height, width, self.filters)

    def build(self, input_shape):
        middle = input_shape[-1] * self.depth_multiplier
        self.depthwise_kernel = add_weight_with_options(
            self,
            "depthwise_kernel",
            self.kernel_size + (input_shape[-1], self.depth_multiplier),
            self.depthwise_initializer,
            "depthwise",
        )
        self.pointwise_kernel = add_weight_with_options(
            self,
            "pointwise_kernel",
            (1, 1, middle, self.filters),
            self.pointwise_initializer,
            "pointwise",
        )
        self.bias = (
            add_weight_with_options(self, "bias", (self.filters,), self.bias_initializer)
            if self.use_bias
            else None
        )

    def call_without_activation(self, inputs):
        """Depthwise, then the 1x1 pointwise convolution plus bias."""
        middle = depthwise_ops.depthwise_conv2d(
            inputs, self.depthwise_kernel, None, self.strides, self.padding, self.dilation_rate
        )
        return conv_ops.conv2d(middle, self.pointwise_kernel, self.bias)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "depth_multiplier": self.depth_multiplier,
            "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
            "pointwise_initializer": initializers.serialize(self.pointwise_initializer),
            **weight_options_config(self, SEPARABLE_OPTIONS),
        }
