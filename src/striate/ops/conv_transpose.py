"""Transposed 2-D convolution (Keras's Conv2DTranspose without the activation).

Each input pixel scatters its kernel into the output: with `ke = (k - 1) * d + 1` per axis, the
full scatter has `(n - 1) * s + ke` cells and

    full[n, i*sh + a*dh, j*sw + b*dw, f] += sum_c x[n, i, j, c] * kernel[a, b, f, c]

Keras's output is a window of it, `out[y] = full[y + crop_before]` (zeros outside), whose size
and crops are `striate.ops.geometry.conv_transpose_crops`. The scatter is one GEMM
`x @ kernel^T` giving every pixel's taps, then one strided add per kernel offset
(`add_windows`). Backward is a convolution of the padded output gradient: gathering the taps
with `window_view` gives `dL/dx = taps(g) @ kernel` and `dL/dkernel = taps(g)^T @ x`;
`dL/dbias` is the sum of g over the pixels.
"""

import numpy as np

from striate.engine.windows import add_windows, window_view
from striate.ops.conv_dilated import check_bias
from striate.ops.geometry import (
    check_4d,
    check_float,
    check_same_dtypes,
    conv_transpose_crops,
    padding_mode,
    pair,
)
from striate.tensor import Tensor, as_tensor


def conv2d_transpose(
    x, kernel, bias=None, strides=(1, 1), padding="valid", output_padding=None, dilation_rate=1
):
    """Transposed convolution, with Keras's output sizes for 'valid'/'same' and output_padding.

    Args:
        x: Tensor `(batch, height, width, channels)`, float32 or float64.
        kernel: Tensor `(kernel_height, kernel_width, filters, channels)` (Keras's layout).
        bias: optional Tensor `(filters,)`.
        strides, dilation_rate: int or pair of positive ints.
        padding: 'valid' or 'same'. output_padding: None, or an int or pair of ints >= 0.

    Returns:
        Tensor `(batch, out_height, out_width, filters)`.

    >>> x = np.ones((1, 2, 2, 1), np.float32)
    >>> conv2d_transpose(x, np.ones((2, 2, 1, 1), np.float32), strides=2).data[0, :, :, 0]
    array([[1., 1., 1., 1.],
           [1., 1., 1., 1.],
           [1., 1., 1., 1.],
           [1., 1., 1., 1.]], dtype=float32)
    """
    op = "conv2d_transpose"
    x, kernel = as_tensor(x), as_tensor(kernel)
    bias = None if bias is None else as_tensor(bias)
    xd, wd = x.data, kernel.data
    check_4d(xd, op, "input", "(batch, height, width, channels)")
    check_4d(wd, op, "kernel", "(kernel_height, kernel_width, filters, channels)")
    check_float(xd, op, "input")
    check_same_dtypes(xd.dtype, wd.dtype, op, "kernel")
    n, h, w, c = xd.shape
    kh, kw, f, kc = wd.shape
    if kc != c:
        raise ValueError(
            f"{op}: the input has {c} channels but the kernel expects {kc} (kernel shape is "
            f"(kernel_height, kernel_width, filters, channels)). "
            f"Received: input shape {xd.shape}, kernel shape {wd.shape}."
        )
    check_bias(op, x, bias, f)
    strides, dilation = pair(strides, "strides", op), pair(dilation_rate, "dilation_rate", op)
    padding = padding_mode(padding, op)
    extra = (None, None) if output_padding is None else output_padding_pair(output_padding, op)
    (top, bottom, oh), (left, right, ow) = (
        conv_transpose_crops(size, k, s, padding, e, d)
        for size, k, s, e, d in zip((h, w), (kh, kw), strides, extra, dilation)
    )
    # The scatter lands in `buffer`, which covers full cells min(0, crop)..; `at` is where full
    # cell 0 sits in it, `keep` the rows and columns Keras keeps.
    at = (max(0, -top), max(0, -left))
    size = (
        at[0] + max(full_length(h, kh, strides[0], dilation[0]), top + oh),
        at[1] + max(full_length(w, kw, strides[1], dilation[1]), left + ow),
    )
    keep = (slice(at[0] + top, at[0] + top + oh), slice(at[1] + left, at[1] + left + ow))
    w_rows = wd.reshape(kh * kw * f, c)
    taps = (xd.reshape(n * h * w, c) @ w_rows.T).reshape(n, h, w, kh, kw, f)
    buffer = np.zeros((n, *size, f), xd.dtype)
    add_windows(buffer[:, at[0] :, at[1] :], taps, strides, dilation)
    out = np.ascontiguousarray(buffer[:, keep[0], keep[1]])
    if bias is not None:
        out += bias.data

    def backward(g):
        g = g.astype(xd.dtype, copy=False)
        g_full = np.zeros((n, *size, f), xd.dtype)
        g_full[:, keep[0], keep[1]] = g
        g_taps = window_view(g_full[:, at[0] :, at[1] :], (kh, kw), strides, dilation, (h, w))
        g_rows = g_taps.reshape(n * h * w, kh * kw * f)
        grad_x = (g_rows @ w_rows).reshape(xd.shape)
        grad_w = (g_rows.T @ xd.reshape(n * h * w, c)).reshape(wd.shape)
        if bias is None:
            return grad_x, grad_w
        return grad_x, grad_w, g.sum(axis=(0, 1, 2))

    parents = (x, kernel) if bias is None else (x, kernel, bias)
    return Tensor.from_op(out, parents, backward, op)


def full_length(n, k, stride, dilation):
    """Length of the full scatter of n cells: `(n - 1) * stride + (k - 1) * dilation + 1`."""
    return (n - 1) * stride + (k - 1) * dilation + 1


def output_padding_pair(value, op):
    """(rows, cols) of ints >= 0 from an int or a pair; a ValueError naming `op` otherwise."""
    values = (value, value) if isinstance(value, int) else value
    if (
        not isinstance(values, (tuple, list))
        or len(values) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values)
    ):
        raise ValueError(
            f"{op}: output_padding must be None, an int or a pair of ints >= 0. "
            f"Received: output_padding={value!r}."
        )
    return tuple(values)
