"""Convolution layers: Conv2D and ZeroPadding2D (channels-last, Keras's weight layout)."""

from striate import activations, initializers
from striate.layers.base import (
    MAX_WEIGHT_VALUES,
    Layer,
    check_channels_last,
    normalize_padding,
    normalize_tuple,
)
from striate.layers.weight_options import (
    add_weight_with_options,
    set_weight_options,
    weight_options_config,
)
from striate.ops import conv as conv_ops
from striate.ops import conv_dilated as conv_dilated_ops
from striate.ops import conv_pool as conv_pool_ops
from striate.ops.geometry import (
    conv_output_length,
    dilated_length,
    output_length_formula,
    pad_spec,
)


def check_image_input(layer, input_shape):
    """Raise unless `input_shape` has 4 dims (batch, height, width, channels)."""
    if len(input_shape) != 4:
        raise ValueError(
            f"{layer.describe()}: expected input with 4 dims (batch, height, width, channels). "
            f"Received: input shape {input_shape}."
        )


def check_window_fits(
    layer, what, window, strides, padding, input_shape, argument, dilation=(1, 1)
):
    """Raise if a kernel/pool window (spanning `dilated_length` cells with `dilation`) leaves
    no output; show Keras's size arithmetic."""
    check_image_input(layer, input_shape)
    spans = tuple(dilated_length(k, d) for k, d in zip(window, dilation))
    sizes = [
        conv_output_length(n, k, s, padding) for n, k, s in zip(input_shape[1:3], spans, strides)
    ]
    if all(size > 0 for size in sizes):
        return tuple(sizes)
    height, width = input_shape[1:3]
    axis = 0 if sizes[0] <= 0 else 1
    formula = output_length_formula(input_shape[1 + axis], spans[axis], strides[axis], padding)
    dilated = "" if spans == tuple(window) else f" (dilated to {spans[0]}x{spans[1]})"
    raise ValueError(
        f"{layer.describe()}: {what} {window[0]}x{window[1]}{dilated} does not fit input "
        f"{height}x{width} with padding '{padding}'. Output size would be {formula}. "
        f"Received: {argument}={window}."
    )


def check_dilation(layer, dilation_rate, strides=None):
    """dilation_rate as a pair; Keras refuses strides > 1 together with dilation > 1."""
    dilation = normalize_tuple(layer.describe(), "dilation_rate", dilation_rate)
    strides = layer.strides if strides is None else strides
    if max(strides) > 1 and max(dilation) > 1:
        raise ValueError(
            f"{layer.describe()}: strides > 1 are not supported together with "
            f"dilation_rate > 1 (as in Keras). Received: strides={strides}, "
            f"dilation_rate={dilation}"
        )
    return dilation


_CONV_FUSIONS = frozenset({"activation", "conv_max_pool"})


class Conv2D(Layer):
    """2-D convolution: `filters` kernels of `kernel_size` sliding with `strides` over NHWC input.

    Output size per axis: 'valid' floor((n - k) / s) + 1, 'same' ceil(n / s), where k is the
    dilated kernel length `(kernel - 1) * dilation_rate + 1`. With `groups`, the channels and
    filters split into that many groups, each convolved on its own (kernel
    `(kh, kw, channels / groups, filters)`). Dilation 1 and groups 1 run `striate.ops.conv`
    (and its fusions); the rest run `striate.ops.conv_dilated`.

    >>> Conv2D(6, 2).compute_output_shape((None, 28, 28, 1))
    (None, 27, 27, 6)
    """

    def __init__(
        self,
        filters,
        kernel_size,
        strides=(1, 1),
        padding="valid",
        data_format=None,
        dilation_rate=(1, 1),
        groups=1,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        set_weight_options(
            self, kernel_regularizer, bias_regularizer, kernel_constraint, bias_constraint
        )
        if isinstance(filters, bool) or not isinstance(filters, int) or filters <= 0:
            raise ValueError(
                f"{self.describe()}: filters must be a positive int. Received: filters={filters!r}"
            )
        if filters > MAX_WEIGHT_VALUES:
            raise ValueError(
                f"{self.describe()}: filters must be at most {MAX_WEIGHT_VALUES} "
                f"(MAX_WEIGHT_VALUES). Received: filters={filters!r:.40}"
            )
        check_channels_last(self, data_format)
        self.filters = filters
        self.kernel_size = normalize_tuple(self.describe(), "kernel_size", kernel_size)
        self.strides = normalize_tuple(self.describe(), "strides", strides)
        self.dilation_rate = check_dilation(self, dilation_rate)
        if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
            raise ValueError(
                f"{self.describe()}: groups must be a positive int. Received: groups={groups!r}"
            )
        if filters % groups:
            raise ValueError(
                f"{self.describe()}: filters must be divisible by groups (each group has "
                f"filters / groups filters). Received: filters={filters}, groups={groups}"
            )
        self.groups = groups
        self.padding = normalize_padding(self.describe(), padding)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def compute_output_shape(self, input_shape):
        height, width = check_window_fits(
            self,
            "kernel",
            self.kernel_size,
            self.strides,
            self.padding,
            input_shape,
            "kernel_size",
            self.dilation_rate,
        )
        return (input_shape[0], height, width, self.filters)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels % self.groups:
            raise ValueError(
                f"{self.describe()}: the input's channels must be divisible by groups. "
                f"Received: groups={self.groups}, input shape {tuple(input_shape)} "
                f"({channels} channels)."
            )
        self.kernel = add_weight_with_options(
            self,
            "kernel",
            self.kernel_size + (channels // self.groups, self.filters),
            self.kernel_initializer,
        )
        self.bias = (
            add_weight_with_options(self, "bias", (self.filters,), self.bias_initializer)
            if self.use_bias
            else None
        )

    def call(self, inputs, training=False, pixel_order="rows"):
        """The convolution, bias and activation. `pixel_order` ('rows' or 'blocks', see
        `striate.ops.conv.conv2d`) only decides how the kernel gradient is rounded: 'blocks'
        gives the numbers of the fused `call_max_pooled` that the plan runs."""
        return self.activation(self.call_without_activation(inputs, pixel_order))

    def call_without_activation(self, inputs, pixel_order="rows"):
        """The convolution plus bias, before the activation."""
        if self.dilation_rate != (1, 1) or self.groups != 1:  # the separate path
            return conv_dilated_ops.conv2d_dilated(
                inputs,
                self.kernel,
                self.bias,
                self.strides,
                self.padding,
                self.dilation_rate,
                self.groups,
            )
        return conv_ops.conv2d(
            inputs, self.kernel, self.bias, self.strides, self.padding, pixel_order
        )

    def call_max_pooled(self, inputs, relu=False):
        """`call_without_activation(inputs, pixel_order='blocks')` followed by 2x2 max pooling
        (and with `relu`, a ReLU), fused into one op with exactly those numbers."""
        return conv_pool_ops.conv2d_max_pool2d(
            inputs, self.kernel, self.bias, self.strides, self.padding, relu=relu
        )

    @property
    def fusions(self):
        """'activation' and 'conv_max_pool' (see `Layer.fusions`), unless a subclass overrides
        `call`, `call_without_activation` or `call_max_pooled`."""
        cls = type(self)
        if self.dilation_rate != (1, 1) or self.groups != 1:
            plain = cls.call is Conv2D.call
            plain = plain and cls.call_without_activation is Conv2D.call_without_activation
            return frozenset({"activation"}) if plain else frozenset()
        if (
            cls.call is Conv2D.call
            and cls.call_max_pooled is Conv2D.call_max_pooled
            and cls.call_without_activation is Conv2D.call_without_activation
        ):
            return _CONV_FUSIONS
        return frozenset()

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": list(self.kernel_size),
            "strides": list(self.strides),
            "padding": self.padding,
            "dilation_rate": list(self.dilation_rate),
            "groups": self.groups,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            **weight_options_config(self),
        }


class ZeroPadding2D(Layer):
    """Pads rows and columns with zeros: `padding` is an int, (rows, cols) or ((t, b), (l, r)).

    >>> ZeroPadding2D(1).compute_output_shape((None, 5, 5, 3))
    (None, 7, 7, 3)
    """

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(**kwargs)
        check_channels_last(self, data_format)
        self.padding = pad_spec(padding, self.describe())

    def compute_output_shape(self, input_shape):
        check_image_input(self, input_shape)
        (top, bottom), (left, right) = self.padding

        def grow(n, extra):
            return None if n is None else n + extra

        return (
            input_shape[0],
            grow(input_shape[1], top + bottom),
            grow(input_shape[2], left + right),
            input_shape[3],
        )

    def call(self, inputs, training=False):
        return conv_ops.zero_padding2d(inputs, self.padding)

    def get_config(self):
        return {**super().get_config(), "padding": [list(p) for p in self.padding]}
