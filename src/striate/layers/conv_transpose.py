"""Conv2DTranspose (channels-last, Keras 3's arguments, defaults, weight names and shapes)."""

from striate import initializers
from striate.layers.conv import check_image_input
from striate.layers.conv_more import _WindowConv, positive_int
from striate.layers.weight_options import (
    add_weight_with_options,
    set_weight_options,
    weight_options_config,
)
from striate.ops import conv_transpose as transpose_ops
from striate.ops.geometry import conv_transpose_crops


class Conv2DTranspose(_WindowConv):
    """Transposed convolution ("deconvolution"): grows the image by `strides`.

    Output size per axis (Keras): 'valid' `(n - 1) * s + max(k, s)`, 'same' `n * s`; with
    output_padding p, `(n - 1) * s + k + p` ('valid') or `(n - 1) * s + k % 2 + p` ('same'),
    where k is the dilated kernel length (`striate.ops.geometry.conv_transpose_crops`).
    Weights: kernel `(kh, kw, filters, channels)`, bias `(filters,)`.

    >>> Conv2DTranspose(8, 3, strides=2, padding="same").compute_output_shape((None, 7, 7, 4))
    (None, 14, 14, 8)
    """

    def __init__(
        self,
        filters,
        kernel_size,
        strides=(1, 1),
        padding="valid",
        output_padding=None,
        data_format=None,
        dilation_rate=(1, 1),
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
        super().__init__(
            kernel_size,
            strides,
            padding,
            data_format,
            dilation_rate,
            activation,
            use_bias,
            bias_initializer,
            True,
            **kwargs,
        )
        set_weight_options(
            self, kernel_regularizer, bias_regularizer, kernel_constraint, bias_constraint
        )
        self.filters = positive_int(self, "filters", filters)
        self.output_padding = None
        if output_padding is not None:
            self.output_padding = transpose_ops.output_padding_pair(output_padding, self.describe())
            if any(p >= s for p, s in zip(self.output_padding, self.strides)):
                raise ValueError(
                    f"{self.describe()}: output_padding must be smaller than strides on each "
                    f"axis. Received: output_padding={self.output_padding}, "
                    f"strides={self.strides}"
                )
        self.kernel_initializer = initializers.get(kernel_initializer)

    def compute_output_shape(self, input_shape):
        check_image_input(self, input_shape)
        extra = self.output_padding or (None, None)
        sizes = tuple(
            None if n is None else conv_transpose_crops(n, k, s, self.padding, e, d)[2]
            for n, k, s, e, d in zip(
                input_shape[1:3], self.kernel_size, self.strides, extra, self.dilation_rate
            )
        )
        if any(size is not None and size <= 0 for size in sizes):
            raise ValueError(
                f"{self.describe()}: kernel {self.kernel_size[0]}x{self.kernel_size[1]} with "
                f"output_padding={self.output_padding} gives an empty output {sizes} for input "
                f"shape {tuple(input_shape)}. Received: kernel_size={self.kernel_size}."
            )
        return (input_shape[0], *sizes, self.filters)

    def build(self, input_shape):
        self.kernel = add_weight_with_options(
            self,
            "kernel",
            self.kernel_size + (self.filters, input_shape[-1]),
            self.kernel_initializer,
        )
        self.bias = (
            add_weight_with_options(self, "bias", (self.filters,), self.bias_initializer)
            if self.use_bias
            else None
        )

    def call_without_activation(self, inputs):
        """The transposed convolution plus bias, before the activation."""
        return transpose_ops.conv2d_transpose(
            inputs,
            self.kernel,
            self.bias,
            self.strides,
            self.padding,
            self.output_padding,
            self.dilation_rate,
        )

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "output_padding": None if self.output_padding is None else list(self.output_padding),
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            **weight_options_config(self),
        }
