"""2-D convolution on NHWC arrays (Keras's Conv2D without the activation), and zero padding.

Layout is Keras's: inputs `(batch, height, width, channels)`, kernels
`(kernel_height, kernel_width, in_channels, filters)`. Output sizes follow Keras exactly
(`conv_output_length`, `same_padding`), including its bottom/right bias for odd 'same' padding.

conv2d is one GEMM: `out = patches(x_pad) @ W + b`, where each row of the patch matrix is the
window of the padded input that one output pixel sees (im2col). Its gradients are
`dL/dx = col2im(g @ W^T)` (each patch's gradient added back where the patch came from, then the
padding cropped off), `dL/dW = patches^T @ g` and `dL/db = sum of g over the pixels`. How these
products are made fast (the patch matrix's layout, the bias folded into the GEMM, col2im by
strided adds) is `striate.engine.conv_gemm`. Large calls run in pieces of the batch on every core
(`striate.parallel`): a piece's patches and GEMM in one task forward, its share of the kernel
gradient and its col2im in one task backward; the shares are added in piece order, so the
numbers do not depend on the threads.
"""

import functools

import numpy as np

from striate import parallel
from striate.engine import conv_gemm
from striate.engine.blocks import PixelBlocks
from striate.engine.sums import column_sum
from striate.ops.geometry import (  # noqa: F401 (conv_output_length: public here too)
    check_4d,
    check_4d_shape,
    check_float_dtype,
    check_same_dtypes,
    checked_length,
    conv_output_length,
    pad,
    pad_spec,
    padding_mode,
    pair,
    same_padding,
    unpad,
)
from striate.tensor import Tensor, as_tensor, grad_enabled


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
    check_4d(x.data, "zero_padding2d", "input", "(batch, height, width, channels)")
    pads_h, pads_w = pad_spec(padding)
    out = pad(x.data, pads_h, pads_w, 0)

    def backward(g):
        # d out / d x is the identity on the interior: crop the padding off g.
        return (unpad(g, pads_h, pads_w),)

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
            'blocks' (2x2 blocks, `striate.engine.blocks`). The output is the same either way;
            the order only decides how the kernel gradient's sum over pixels is rounded. The
            fused `conv2d_max_pool2d` sums in block order: `Conv2D.call(x, pixel_order=
            'blocks')` is the unfused path that sums the same way (`striate.models.plan`).

    Returns:
        Tensor `(batch, out_height, out_width, filters)` in the input's dtype.

    >>> x = np.arange(9, dtype=np.float32).reshape(1, 3, 3, 1)
    >>> out = conv2d(x, np.ones((2, 2, 1, 1), np.float32), np.array([0.5], np.float32))
    >>> out.data[0, :, :, 0]
    array([[ 8.5, 12.5],
           [20.5, 24.5]], dtype=float32)
    """
    x, kernel = as_tensor(x), as_tensor(kernel)
    bias = None if bias is None else as_tensor(bias)
    bd = None if bias is None else bias.data
    geo = conv_geometry(x.data, kernel.data, bd, strides, padding, pixel_order, "conv2d")
    need_x, need_w, need_b = needs_gradient(x, kernel, bias)
    blocks, dtype = geo.blocks, x.data.dtype
    # out = patches(x_pad) @ [W; b]: the patch matrix has a column of ones for the bias.
    wb = conv_gemm.kernel_with_bias(kernel.data, bd)
    patches = conv_gemm.patch_matrix(geo, dtype, ones=bias is not None)
    rows = np.empty((geo.rows, geo.filters), dtype)  # one row per output pixel
    out = rows.reshape(geo.out_shape) if blocks is None else np.empty(geo.out_shape, dtype)

    def forward_piece(n0, n1):  # images n0:n1
        x_pad = pad(x.data[n0:n1], geo.pads_h, geo.pads_w, 0)
        conv_gemm.conv_rows(x_pad, wb, patches, rows, geo, n0, n1)
        if blocks is not None:  # the rows are in block order: back to an image
            blocks.scatter(rows, out[n0:n1], batch=(n0, n1))

    pieces = parallel.split(geo.n, patches.size)
    parallel.run_pieces(forward_piece, pieces)
    if not need_w:
        patches = None  # only the kernel gradient reads them again

    def backward(g):
        # dL/dx = col2im(g @ W^T); dL/d[W; b] = patches^T @ g, whose last row (from the ones
        # column) is dL/db = sum of g over the pixels.
        g = g.astype(dtype, copy=False)
        g_rows = None  # g as the GEMM's rows (one per pixel), for the kernel and bias gradients
        if (need_w or need_b) and blocks is None:
            g_rows = g.reshape(geo.rows, geo.filters)
        elif need_w or need_b:
            g_rows = np.empty((geo.rows, geo.filters), dtype)  # filled piece by piece
        dx_pad = conv_gemm.padded_input_gradient(geo, dtype) if need_x else None
        w_offsets = conv_gemm.kernel_per_offset(kernel.data) if need_x else None

        def backward_piece(n0, n1):
            if blocks is not None and g_rows is not None:
                blocks.gather(g[n0:n1], out=g_rows, batch=(n0, n1))
            share = conv_gemm.kernel_gradient(patches, g_rows, geo, n0, n1) if need_w else None
            if need_x:
                conv_gemm.col2im(dx_pad[n0:n1], g[n0:n1], w_offsets, geo)
            return share

        shares = parallel.run_pieces(backward_piece, pieces)
        grad_x = None if dx_pad is None else unpad(dx_pad, geo.pads_h, geo.pads_w)
        return (grad_x, *kernel_and_bias_gradients(shares, g_rows, geo, bias, need_b))

    parents = (x, kernel) if bias is None else (x, kernel, bias)
    return Tensor.from_op(out, parents, backward, "conv2d")


def needs_gradient(x, kernel, bias):
    """Whether the input, the kernel and the bias of a conv call need a gradient."""
    recording = grad_enabled()
    return (
        recording and x.requires_grad,
        recording and kernel.requires_grad,
        recording and bias is not None and bias.requires_grad,
    )


def kernel_and_bias_gradients(shares, g_rows, geo, bias, need_b):
    """`(grad_kernel[, grad_bias])` from the pieces' shares of `patches^T @ g` (None where the
    kernel needs no gradient), added in piece order; the bias gradient alone is a column sum of
    `g_rows`."""
    grad_w = grad_b = None
    if shares[0] is not None:
        gwb = conv_gemm.add_in_order(shares)
        grad_w = gwb[: geo.k].reshape(geo.kernel_shape)
        if need_b:
            grad_b = gwb[geo.k]
    elif need_b:
        grad_b = column_sum(g_rows)  # dL/db = sum over the pixels of g
    return (grad_w,) if bias is None else (grad_w, grad_b)


def conv_geometry(xd, wd, bd, strides, padding, pixel_order, op, pooled=False):
    """Check a conv call's arrays (input, kernel, bias or None) and arguments, raising as
    `conv2d` documents, and return the call's sizes as a
    `striate.engine.conv_gemm.ConvGeometry`; `pooled` (for `conv2d_max_pool2d`) also checks that
    a 2x2 pool window fits the output. Cached by shape, so that a training step checks each
    layer's arguments once, not every step.

    >>> conv_geometry(np.zeros((2, 5, 5, 1)), np.zeros((3, 3, 1, 4)), None, 1, "same", "rows",
    ...               "conv2d").out_shape
    (2, 5, 5, 4)
    """
    key = (
        xd.shape,
        xd.dtype,
        wd.shape,
        wd.dtype,
        None if bd is None else bd.shape,
        None if bd is None else bd.dtype,
        strides,
        padding,
        pixel_order,
        op,
        pooled,
    )
    try:
        return _conv_geometry(*key)
    except TypeError:  # unhashable arguments (e.g. strides as a list): check uncached
        return _conv_geometry.__wrapped__(*key)


@functools.lru_cache(maxsize=64)
def _conv_geometry(
    x_shape, x_dtype, w_shape, w_dtype, b_shape, b_dtype, strides, padding, pixel_order, op, pooled
):
    sh, sw = pair(strides, "strides", op)
    padding = padding_mode(padding, op)
    if pixel_order not in ("rows", "blocks"):
        raise ValueError(
            f"{op}: pixel_order must be 'rows' or 'blocks'. Received: pixel_order={pixel_order!r}."
        )
    check_4d_shape(x_shape, op, "input", "(batch, height, width, channels)")
    check_4d_shape(w_shape, op, "kernel", "(kernel_height, kernel_width, in_channels, filters)")
    n, h, w, c = x_shape
    kh, kw, kc, f = w_shape
    if min(kh, kw, f) < 1:
        raise ValueError(
            f"{op}: the kernel needs at least one row, column and filter. "
            f"Received: kernel shape {w_shape}."
        )
    if kc != c:
        raise ValueError(
            f"{op}: the input has {c} channels but the kernel expects {kc} "
            f"(kernel shape is (kernel_height, kernel_width, in_channels, filters)). "
            f"Received: input shape {x_shape}, kernel shape {w_shape}."
        )
    check_float_dtype(x_dtype, op, "input")
    check_same_dtypes(x_dtype, w_dtype, op, "kernel")
    if b_shape is not None:
        if b_shape != (f,):
            raise ValueError(
                f"{op}: expected a bias of shape ({f},), one value per filter. "
                f"Received: bias shape {b_shape}."
            )
        check_same_dtypes(x_dtype, b_dtype, op, "bias")
    window, received = f"kernel {kh}x{kw}", f"input shape {x_shape}, kernel shape {w_shape}"
    oh = checked_length(h, kh, sh, padding, op, window, (h, w), received)
    ow = checked_length(w, kw, sw, padding, op, window, (h, w), received)
    if pooled and (oh < 2 or ow < 2):
        raise ValueError(
            f"{op}: a 2x2 pool window does not fit the convolution's {oh}x{ow} output. "
            f"Received: {received}."
        )
    if padding == "same":
        pads_h, pads_w = same_padding(h, kh, sh), same_padding(w, kw, sw)
    else:
        pads_h, pads_w = (0, 0), (0, 0)
    blocks = PixelBlocks(n, oh, ow) if pixel_order == "blocks" else None
    return conv_gemm.ConvGeometry(
        x_shape, w_shape, (sh, sw), pads_h, pads_w, (oh, ow), blocks, pooled
    )
