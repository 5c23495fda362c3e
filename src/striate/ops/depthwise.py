"""Depthwise 2-D convolution (Keras's DepthwiseConv2D without the activation).

Not a GEMM: each channel is convolved with its own `depth_multiplier` kernels, a sum over the
window of per-channel products:

    out[n, i, j, c*m + k] = sum_{a, b} x_pad[n, i*sh + a*dh, j*sw + b*dw, c]
                            * kernel[a, b, c, k] + bias[c*m + k]

(Keras's channel order: the multiplier varies fastest). The window is a strided view
(`striate.engine.windows`); the loop runs over kernel offsets, never over pixels. Backward:
`dL/dkernel[a, b, c, k] = sum_{n, i, j} x_tap(a, b)[n, i, j, c] * g[n, i, j, c, k]`,
`dL/dx_tap(a, b) = sum_k g[..., c, k] * kernel[a, b, c, k]` added back where the tap came from,
`dL/dbias = sum of g over the pixels`.
"""

import numpy as np

from striate.engine.windows import window_view
from striate.ops.conv_dilated import check_bias, conv_sizes
from striate.ops.geometry import check_4d, check_float, check_same_dtypes, pad, unpad
from striate.tensor import Tensor, as_tensor


def depthwise_conv2d(x, kernel, bias=None, strides=(1, 1), padding="valid", dilation_rate=1):
    """Per-channel 2-D cross-correlation.

    Args:
        x: Tensor `(batch, height, width, channels)`, float32 or float64.
        kernel: Tensor `(kernel_height, kernel_width, channels, depth_multiplier)`.
        bias: optional Tensor `(channels * depth_multiplier,)`.
        strides, dilation_rate: int or pair of positive ints. padding: 'valid' or 'same'.

    Returns:
        Tensor `(batch, out_height, out_width, channels * depth_multiplier)`.

    >>> x = np.ones((1, 3, 3, 2), np.float32)
    >>> k = np.stack([np.ones((2, 2)), 2 * np.ones((2, 2))], -1)[..., None].astype(np.float32)
    >>> depthwise_conv2d(x, k).data[0, 0, 0]
    array([4., 8.], dtype=float32)
    """
    op = "depthwise_conv2d"
    x, kernel = as_tensor(x), as_tensor(kernel)
    bias = None if bias is None else as_tensor(bias)
    xd, wd = x.data, kernel.data
    check_4d(xd, op, "input", "(batch, height, width, channels)")
    check_4d(wd, op, "kernel", "(kernel_height, kernel_width, channels, depth_multiplier)")
    check_float(xd, op, "input")
    check_same_dtypes(xd.dtype, wd.dtype, op, "kernel")
    n, h, w, c = xd.shape
    kh, kw, kc, m = wd.shape
    if kc != c:
        raise ValueError(
            f"{op}: the input has {c} channels but the kernel expects {kc} (kernel shape is "
            f"(kernel_height, kernel_width, channels, depth_multiplier)). "
            f"Received: input shape {xd.shape}, kernel shape {wd.shape}."
        )
    check_bias(op, x, bias, c * m)
    (oh, ow), pads_h, pads_w, strides, dilation = conv_sizes(
        op, xd.shape, (kh, kw), strides, padding, dilation_rate
    )
    windows = window_view(pad(xd, pads_h, pads_w, 0), (kh, kw), strides, dilation, (oh, ow))
    out = np.zeros((n, oh, ow, c, m), xd.dtype)
    for a in range(kh):  # the sum over the window, one kernel offset at a time
        for b in range(kw):
            out += windows[:, :, :, a, b, :, None] * wd[a, b]
    out = out.reshape(n, oh, ow, c * m)
    if bias is not None:
        out += bias.data

    def backward(g):
        g = g.astype(xd.dtype, copy=False).reshape(n, oh, ow, c, m)
        grad_w = np.empty(wd.shape, xd.dtype)
        dx_pad = np.zeros((n, h + sum(pads_h), w + sum(pads_w), c), xd.dtype)
        (sh, sw), (dh, dw) = strides, dilation
        for a in range(kh):
            rows = slice(a * dh, a * dh + (oh - 1) * sh + 1, sh)
            for b in range(kw):
                cols = slice(b * dw, b * dw + (ow - 1) * sw + 1, sw)
                grad_w[a, b] = np.einsum("nijc,nijck->ck", windows[:, :, :, a, b, :], g)
                dx_pad[:, rows, cols, :] += np.einsum("nijck,ck->nijc", g, wd[a, b])
        grad_x = unpad(dx_pad, pads_h, pads_w)
        if bias is None:
            return grad_x, grad_w
        return grad_x, grad_w, g.sum(axis=(0, 1, 2)).reshape(c * m)

    parents = (x, kernel) if bias is None else (x, kernel, bias)
    return Tensor.from_op(out, parents, backward, op)
