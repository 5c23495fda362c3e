"""2-D convolution on NHWC arrays (Keras's Conv2D without the activation), and zero padding.

Layout is Keras's: inputs `(batch, height, width, channels)`, kernels
`(kernel_height, kernel_width, in_channels, filters)`. Output sizes follow Keras exactly
(`conv_output_length`, `same_padding`), including its bottom/right bias for odd 'same' padding.
The work (im2col by stride tricks, one GEMM, col2im by strided adds, in batch chunks that run on
every core during training) is `striate.ops.conv_gemm.ConvGemm`.
"""

import numpy as np

from striate.ops.conv_gemm import ConvGemm
from striate.ops.geometry import (  # noqa: F401 (conv_output_length, same_padding: public here)
    _check_4d,
    _pad,
    _pad_spec,
    conv_output_length,
    same_padding,
)
from striate.tensor import Tensor, as_tensor


def zero_padding2d(x, padding):
    """Pad the height and width of an NHWC tensor with zeros (Keras's ZeroPadding2D).

    Args:
        x: Tensor `(batch, height, width, channels)`.
        padding: `((top, bottom), (left, right))`, or `(rows, cols)` for symmetric padding, or one
            int for all four sides; non-negative ints.

    Returns:
        Tensor `(batch, top + height + bottom, left + width + right, channels)`.

    >>> out = zero_padding2d(np.ones((1, 2, 2, 1), np.float32), ((1, 0), (0, 2)))
    >>> out.shape, out.data[0, :, :, 0].tolist()
    ((1, 3, 4, 1), [[0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0]])
    """
    x = as_tensor(x)
    _check_4d(x.data, "zero_padding2d", "input", "(batch, height, width, channels)")
    (top, bottom), (left, right) = _pad_spec(padding)
    _, h, w, _ = x.data.shape
    out = _pad(x.data, (top, bottom), (left, right), 0)

    def backward(g):
        # d out / d x is the identity on the interior: crop the padding off g.
        return (g[:, top : top + h, left : left + w, :],)

    return Tensor.from_op(out, (x,), backward, "zero_padding2d")


def conv2d(x, kernel, bias=None, strides=(1, 1), padding="valid", pixel_order="rows"):
    """2-D cross-correlation (Keras's Conv2D without the activation).

    `out[n, i, j, f] = sum_{a, b, c} x_pad[n, i*sh + a, j*sw + b, c] * kernel[a, b, c, f] + bias[f]`

    Args:
        x: Tensor `(batch, height, width, in_channels)`, float32 or float64.
        kernel: Tensor `(kernel_height, kernel_width, in_channels, filters)`, same dtype.
        bias: optional Tensor `(filters,)`, same dtype.
        strides: int or (sh, sw), positive.
        padding: 'valid' or 'same' (case-insensitive); 'same' pads with zeros as Keras does.
        pixel_order: the order of the output pixels in the GEMMs: 'rows' (row-major) or
            'blocks' (2x2 blocks, `striate.ops.blocks`). The output is the same either way;
            the order only decides how the kernel gradient's sum over pixels is rounded. Conv2D
            uses 'blocks' when a 2x2 max pooling follows it, so that the fused
            `conv2d_max_pool2d` that `Sequential` runs then gives exactly the same numbers.

    Returns:
        Tensor `(batch, out_height, out_width, filters)` in the input's dtype.

    >>> x = np.arange(9, dtype=np.float32).reshape(1, 3, 3, 1)
    >>> out = conv2d(x, np.ones((2, 2, 1, 1), np.float32), np.array([0.5], np.float32))
    >>> out.data[0, :, :, 0]
    array([[ 8.5, 12.5],
           [20.5, 24.5]], dtype=float32)
    """
    conv = ConvGemm(x, kernel, bias, strides, padding, pixel_order, "conv2d")
    blocks = conv.blocks
    if blocks is None:
        out = conv.forward().reshape(conv.out_shape)
    else:
        out = np.empty(conv.out_shape, conv.dtype)
        conv.forward(then=lambda rows, n0, n1: blocks.scatter(rows, out[n0:n1], batch=(n0, n1)))

    def backward(g):
        g = g.astype(conv.dtype, copy=False)
        need_rows = conv.need_w or conv.need_b
        if blocks is None:
            g_rows = g.reshape(conv.m, conv.f) if need_rows else None
            return conv.backward(g_rows, lambda n0, n1: g[n0:n1])
        g_rows = np.empty((conv.m, conv.f), conv.dtype) if need_rows else None

        def chunk_gradient(n0, n1):
            if need_rows:
                blocks.gather(g[n0:n1], out=g_rows, batch=(n0, n1))
            return g[n0:n1]

        return conv.backward(g_rows, chunk_gradient)

    return Tensor.from_op(out, conv.parents, backward, "conv2d")
