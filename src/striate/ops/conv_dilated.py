"""2-D convolution with dilation and groups (Keras's Conv2D `dilation_rate` and `groups`).

The plain case (dilation 1, groups 1) stays `striate.ops.conv.conv2d`, with its tuned GEMM; this
op is the separate path for the rest. Its im2col is a strided view (`striate.engine.windows`):
dilation only changes the step between a window's taps. Each group is one GEMM of its own
channels' patches with its own filters:

    out[n, i, j, g*fg + f] = sum_{a, b, c} x_pad[n, i*sh + a*dh, j*sw + b*dw, g*cg + c]
                             * kernel[a, b, c, g*fg + f] + bias[g*fg + f]

with `cg = channels / groups` and `fg = filters / groups`. Backward, per group:
`dL/dkernel = patches^T @ g`, `dL/dpatches = g @ kernel^T` added back to the cells each
patch came from (`add_windows`, the col2im), `dL/dbias = sum of g over the pixels`.
"""

import numpy as np

from striate.engine.windows import add_windows, window_view
from striate.ops.geometry import (
    check_4d,
    check_float,
    check_same_dtypes,
    checked_length,
    dilated_length,
    pad,
    padding_mode,
    pair,
    same_padding,
    unpad,
)
from striate.tensor import Tensor, as_tensor


def conv_sizes(op, x_shape, kernel, strides, padding, dilation):
    """Check strides/padding/dilation and return `(out_hw, pads_h, pads_w, strides, dilation)`
    for a window of `kernel` taps over an NHWC input of `x_shape` (Keras's 'same' padding of
    the dilated kernel); a ValueError with the arithmetic when the window does not fit."""
    strides, dilation = pair(strides, "strides", op), pair(dilation, "dilation_rate", op)
    padding = padding_mode(padding, op)
    _, h, w, _ = x_shape
    spans = [dilated_length(k, d) for k, d in zip(kernel, dilation)]
    window = f"kernel {kernel[0]}x{kernel[1]} (dilated to {spans[0]}x{spans[1]})"
    received = f"input shape {x_shape}, kernel {kernel}, dilation_rate={dilation}"
    oh = checked_length(h, spans[0], strides[0], padding, op, window, (h, w), received)
    ow = checked_length(w, spans[1], strides[1], padding, op, window, (h, w), received)
    if padding == "same":
        pads = same_padding(h, spans[0], strides[0]), same_padding(w, spans[1], strides[1])
    else:
        pads = (0, 0), (0, 0)
    return (oh, ow), pads[0], pads[1], strides, dilation


def check_bias(op, x, bias, size):
    """None, or a bias of shape (size,) in the input's dtype."""
    if bias is None:
        return
    if bias.data.shape != (size,):
        raise ValueError(
            f"{op}: expected a bias of shape ({size},). Received: bias shape {bias.data.shape}."
        )
    check_same_dtypes(x.data.dtype, bias.data.dtype, op, "bias")


def conv2d_dilated(
    x, kernel, bias=None, strides=(1, 1), padding="valid", dilation_rate=(1, 1), groups=1
):
    """2-D cross-correlation with dilation and groups (Keras's Conv2D without the activation).

    Args:
        x: Tensor `(batch, height, width, channels)`, float32 or float64.
        kernel: Tensor `(kernel_height, kernel_width, channels / groups, filters)`, same dtype.
        bias: optional Tensor `(filters,)`.
        strides, dilation_rate: int or pair of positive ints.
        padding: 'valid' or 'same' (the dilated kernel padded as Keras does).
        groups: a positive int dividing both the channels and the filters.

    Returns:
        Tensor `(batch, out_height, out_width, filters)`.

    >>> x = np.arange(5, dtype=np.float32).reshape(1, 1, 5, 1)
    >>> conv2d_dilated(x, np.ones((1, 2, 1, 1), np.float32), dilation_rate=(1, 3)).data.ravel()
    array([3., 5.], dtype=float32)
    """
    op = "conv2d_dilated"
    x, kernel = as_tensor(x), as_tensor(kernel)
    bias = None if bias is None else as_tensor(bias)
    xd, wd = x.data, kernel.data
    check_4d(xd, op, "input", "(batch, height, width, channels)")
    check_4d(wd, op, "kernel", "(kernel_height, kernel_width, channels / groups, filters)")
    check_float(xd, op, "input")
    check_same_dtypes(xd.dtype, wd.dtype, op, "kernel")
    n, _, _, c = xd.shape
    kh, kw, cg, f = wd.shape
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int. Received: groups={groups!r}.")
    if c % groups or f % groups or cg != c // groups:
        raise ValueError(
            f"{op}: the input's {c} channels and the kernel's {f} filters must both split into "
            f"{groups} groups, with kernel shape (kh, kw, channels / groups, filters). "
            f"Received: input shape {xd.shape}, kernel shape {wd.shape}, groups={groups}."
        )
    check_bias(op, x, bias, f)
    (oh, ow), pads_h, pads_w, strides, dilation = conv_sizes(
        op, xd.shape, (kh, kw), strides, padding, dilation_rate
    )
    fg = f // groups
    windows = window_view(pad(xd, pads_h, pads_w, 0), (kh, kw), strides, dilation, (oh, ow))
    out = np.empty((n, oh, ow, f), xd.dtype)
    patches, kernels = [], []
    for g in range(groups):  # one GEMM per group: its channels' patches @ its filters
        cols = windows[..., g * cg : (g + 1) * cg].reshape(n * oh * ow, kh * kw * cg)
        w_g = wd[..., g * fg : (g + 1) * fg].reshape(kh * kw * cg, fg)
        out[..., g * fg : (g + 1) * fg] = (cols @ w_g).reshape(n, oh, ow, fg)
        patches.append(cols)
        kernels.append(w_g)
    if bias is not None:
        out += bias.data

    def backward(g_out):
        g_out = g_out.astype(xd.dtype, copy=False)
        grad_w = np.empty(wd.shape, xd.dtype)
        grad_patches = np.empty((n, oh, ow, kh, kw, c), xd.dtype)
        for g in range(groups):
            g_rows = g_out[..., g * fg : (g + 1) * fg].reshape(n * oh * ow, fg)
            grad_w[..., g * fg : (g + 1) * fg] = (patches[g].T @ g_rows).reshape(kh, kw, cg, fg)
            grad_patches[..., g * cg : (g + 1) * cg] = (g_rows @ kernels[g].T).reshape(
                n, oh, ow, kh, kw, cg
            )
        dx_pad = np.zeros((n, xd.shape[1] + sum(pads_h), xd.shape[2] + sum(pads_w), c), xd.dtype)
        add_windows(dx_pad, grad_patches, strides, dilation)  # col2im
        grad_x = unpad(dx_pad, pads_h, pads_w)
        if bias is None:
            return grad_x, grad_w
        return grad_x, grad_w, g_out.sum(axis=(0, 1, 2))

    parents = (x, kernel) if bias is None else (x, kernel, bias)
    return Tensor.from_op(out, parents, backward, "conv2d_dilated")
