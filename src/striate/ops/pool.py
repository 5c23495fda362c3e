"""Pooling on NHWC arrays: max, average and global average, with Keras's output sizes.

Each op states its rule and its gradient here; how the windows are read fast (strided views, or
an `np.take` into one buffer for few channels), the 2x2 tournament and the gradients' way back
to the input are `striate.engine.pooling`. Max pooling sends each gradient to the first maximum
of its window in row-major order (as PyTorch and TensorFlow do); 'same' max pooling pads with
-inf, so padding never wins; 'same' average pooling divides by the number of real cells, as
Keras does.
"""

import functools

import numpy as np

from striate.engine import pooling
from striate.ops.geometry import (
    check_4d,
    check_float,
    checked_length,
    pad,
    padding_mode,
    pair,
    same_padding,
    unpad,
)
from striate.tensor import Tensor, as_tensor, grad_enabled


def max_pool2d(x, pool_size=(2, 2), strides=None, padding="valid"):
    """Max pooling (Keras's MaxPooling2D).

    `out[n, i, j, c] = max_{a < ph, b < pw} x_pad[n, i*sh + a, j*sw + b, c]`, with -inf padding.

    Args:
        x: Tensor `(batch, height, width, channels)`, float.
        pool_size: int or (ph, pw), positive.
        strides: int or (sh, sw), positive; None means `pool_size`.
        padding: 'valid' or 'same' (case-insensitive).

    Returns:
        Tensor `(batch, out_height, out_width, channels)`. The gradient of each output goes to
        the first maximum of its window in row-major order; overlapping windows add up.

    >>> x = np.array([1, 5, 2, 0, 3, 4, 9, 9, 6, 7, 8, 2], np.float32).reshape(1, 3, 4, 1)
    >>> max_pool2d(x).data[..., 0]
    array([[[5., 9.]]], dtype=float32)
    >>> max_pool2d(x, 2, strides=1, padding="SAME").data[0, :, :, 0]
    array([[5., 9., 9., 9.],
           [7., 9., 9., 9.],
           [7., 8., 8., 2.]], dtype=float32)
    """
    x = as_tensor(x)
    windows = _windows(x.data, pool_size, strides, padding, "max_pool2d")
    x_pad = windows.source(pad(x.data, windows.pads_h, windows.pads_w, -np.inf))
    recording = grad_enabled() and x.requires_grad
    if windows.two_by_two:
        # out = max(max(p0, p1), max(p2, p3)) over the 4 cells of each window; the masks say
        # which cell won (the first maximum)
        out, masks = pooling.tournament(*windows.all_parts(x_pad), recording)
    else:
        # out = the running maximum over the window's cells; code = which cell holds the first
        out, code = pooling.running_max(windows, x_pad, recording)
    if not recording:
        return Tensor.from_op(out, (x,), None, "max_pool2d")

    def backward(g):
        # dL/dx[first argmax of window w] += g[w]; every other cell of the window gets nothing.
        g = g.astype(out.dtype, copy=False)
        if windows.two_by_two:
            dx_pad = pooling.to_tournament_winner(windows, g, masks)
        else:
            dx_pad = pooling.to_first_max(windows, g, code)
        return (unpad(dx_pad, windows.pads_h, windows.pads_w),)

    return Tensor.from_op(out, (x,), backward, "max_pool2d")


def avg_pool2d(x, pool_size=(2, 2), strides=None, padding="valid"):
    """Average pooling (Keras's AveragePooling2D).

    `out[n, i, j, c] = sum_{a, b} x_pad[n, i*sh + a, j*sw + b, c] / count[i, j]`, where
    `count` is ph*pw for 'valid' and, for 'same', the number of real (not padding) cells.

    Args:
        x: Tensor `(batch, height, width, channels)`, float.
        pool_size: int or (ph, pw), positive.
        strides: int or (sh, sw), positive; None means `pool_size`.
        padding: 'valid' or 'same' (case-insensitive).

    Returns:
        Tensor `(batch, out_height, out_width, channels)`.

    >>> x = np.arange(6, dtype=np.float32).reshape(1, 2, 3, 1)
    >>> avg_pool2d(x, 2, padding="same").data[0, :, :, 0]
    array([[2. , 3.5]], dtype=float32)
    """
    x = as_tensor(x)
    windows = _windows(x.data, pool_size, strides, padding, "avg_pool2d")
    x_pad = windows.source(pad(x.data, windows.pads_h, windows.pads_w, 0))
    out = pooling.window_sum(windows, x_pad)
    scale = windows.inverse_counts(out.dtype)  # a Python float, or (oh, ow, C) where counts vary
    np.multiply(out, scale, out=out)

    def backward(g):
        # dL/dx[cell] = sum over the windows w holding the cell of g[w] / count[w]
        g = g.astype(out.dtype, copy=False)
        dx_pad = pooling.to_every_cell(windows, g, scale)
        return (unpad(dx_pad, windows.pads_h, windows.pads_w),)

    return Tensor.from_op(out, (x,), backward, "avg_pool2d")


def global_avg_pool2d(x, keepdims=False):
    """Mean over height and width (Keras's GlobalAveragePooling2D).

    Args:
        x: Tensor `(batch, height, width, channels)`, float.
        keepdims: keep the pooled axes, giving `(batch, 1, 1, channels)`.

    Returns:
        Tensor `(batch, channels)`, or `(batch, 1, 1, channels)` with keepdims.

    >>> global_avg_pool2d(np.arange(8, dtype=np.float32).reshape(1, 2, 2, 2)).data
    array([[3., 4.]], dtype=float32)
    """
    x = as_tensor(x)
    xd = x.data
    check_4d(xd, "global_avg_pool2d", "input", "(batch, height, width, channels)")
    check_float(xd, "global_avg_pool2d", "input")
    n, h, w, c = xd.shape
    if h * w == 0:
        raise ValueError(
            f"global_avg_pool2d: the input has no pixels to average. "
            f"Received: input shape {xd.shape}."
        )
    out = xd.sum(axis=(1, 2), keepdims=keepdims) * (1.0 / (h * w))  # a Python float keeps dtype

    def backward(g):
        # dL/dx[n, y, x, c] = g[n, c] / (h * w), the same for every pixel
        share = g.astype(xd.dtype, copy=False).reshape(n, 1, 1, c) * (1.0 / (h * w))
        grad = np.empty(xd.shape, xd.dtype)
        grad[...] = share
        return (grad,)

    return Tensor.from_op(out, (x,), backward, "global_avg_pool2d")


def global_max_pool2d(x, keepdims=False):
    """Largest value over height and width (Keras's GlobalMaxPooling2D).

    Backward sends g to the pixels that hold the maximum, shared equally when several tie
    (as torch's amax): `dL/dx = g * (x == max) / count(x == max)`.

    Args:
        x: Tensor `(batch, height, width, channels)`, float.
        keepdims: keep the pooled axes, giving `(batch, 1, 1, channels)`.

    Returns:
        Tensor `(batch, channels)`, or `(batch, 1, 1, channels)` with keepdims.

    >>> global_max_pool2d(np.arange(8, dtype=np.float32).reshape(1, 2, 2, 2)).data
    array([[6., 7.]], dtype=float32)
    """
    x = as_tensor(x)
    xd = x.data
    check_4d(xd, "global_max_pool2d", "input", "(batch, height, width, channels)")
    check_float(xd, "global_max_pool2d", "input")
    n, h, w, c = xd.shape
    if h * w == 0:
        raise ValueError(
            f"global_max_pool2d: the input has no pixels to pool. Received: input shape {xd.shape}."
        )
    top = xd.max(axis=(1, 2), keepdims=True)

    def backward(g):
        winners = xd == top
        share = g.astype(xd.dtype, copy=False).reshape(n, 1, 1, c) / winners.sum(
            axis=(1, 2), keepdims=True, dtype=xd.dtype
        )
        return (winners * share,)

    out = top if keepdims else top.reshape(n, c)
    return Tensor.from_op(out, (x,), backward, "global_max_pool2d")


def _windows(xd, pool_size, strides, padding, op):
    """Check one call's arguments (raising as the docs say) and return its `pooling.Windows`."""
    pool = pair(pool_size, "pool_size", op)
    strides = pool if strides is None else pair(strides, "strides", op)
    padding = padding_mode(padding, op)
    check_4d(xd, op, "input", "(batch, height, width, channels)")
    check_float(xd, op, "input")
    return _windows_of_shape(xd.shape, pool, strides, padding, op, pooling.TAKE_MAX_CHANNELS)


@functools.lru_cache(maxsize=16)
def _windows_of_shape(shape, pool, strides, padding, op, take_max_channels):
    """Keras's output size and padding for one input shape, or the error when the window does
    not fit; cached, so that a training step works them out once per layer."""
    (_, h, w, _), (ph, pw), (sh, sw) = shape, pool, strides
    window = f"pool {ph}x{pw}"
    received = f"input shape {shape}, pool_size={pool}, strides={strides}"
    oh = checked_length(h, ph, sh, padding, op, window, (h, w), received)
    ow = checked_length(w, pw, sw, padding, op, window, (h, w), received)
    same = padding == "same"
    pads_h = same_padding(h, ph, sh) if same else (0, 0)
    pads_w = same_padding(w, pw, sw) if same else (0, 0)
    return pooling.Windows(shape, pool, strides, pads_h, pads_w, (oh, ow), take_max_channels)
