"""2-D convolution on NHWC arrays: im2col by stride tricks, one GEMM, col2im by strided adds.

Layout is Keras's: inputs `(batch, height, width, channels)`, kernels
`(kernel_height, kernel_width, in_channels, filters)`. Output sizes follow Keras exactly
(`conv_output_length`, `same_padding`), including its bottom/right bias for odd 'same' padding.

The patch matrix ("cols") holds one row per (kernel position, input channel) and one column per
output pixel, or the transpose of that. With few input channels (the first layer of an image model)
it is built kernel-position-major, `(kh*kw*C, N*oh*ow)`, so that each of its kh*kw blocks is a long
copy of a shifted image; with many channels it is built pixel-major, `(N*oh*ow, kh*kw*C)`, so that
each copied run is a whole `kw*C` stretch of a row. When there is a bias, the patch matrix carries
one extra row (or column) of ones and the kernel one extra row holding the bias: the GEMM then adds
the bias, and the kernel-gradient GEMM yields the bias gradient as its last row (a ones-vector
product, which on tall arrays beats `sum(axis=0)`), so neither costs a pass of its own.

The output pixels are the GEMM's rows (or columns) in row-major order, or, with
`pixel_order='blocks'`, grouped by 2x2 pooling window (`striate.ops.blocks`), which lets
`striate.ops.conv_pool` pool the GEMM's output without gathering it. `ConvGemm` holds one call's
checked arguments, patch matrix and GEMMs, for `conv2d` and the fused op alike.

The input gradient (skipped when the input needs none, as for a model's first layer) is col2im of
`g @ W^T`: one (N*oh*ow, C) block per kernel offset, from a GEMM into a reused buffer, each added
back with one strided `+=` along whole image rows, then cropped of the 'same' padding.
"""

import functools
import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from striate.ops.blocks import PixelBlocks
from striate.ops.dense import column_sum
from striate.ops.geometry import (  # noqa: F401 (conv_output_length, same_padding: public here)
    _check_4d,
    _check_4d_shape,
    _check_float_dtype,
    _check_same_dtypes,
    _checked_length,
    _pad,
    _pad_spec,
    _padding_mode,
    _pair,
    conv_output_length,
    same_padding,
)
from striate.tensor import Tensor, as_tensor, grad_enabled

# Below this many input channels the patch matrix is built kernel-position-major (see above);
# measured: C <= 4 faster kernel-major, C >= 8 pixel-major.
_KERNEL_MAJOR_CHANNELS = 5


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
    rows = conv.forward()
    if conv.blocks is None:
        out = rows.reshape(conv.out_shape)
    else:
        out = conv.blocks.scatter(rows)

    def backward(g):
        g = g.astype(conv.dtype, copy=False)
        if conv.blocks is None:
            g_rows = g.reshape(conv.m, conv.f)
        else:
            g_rows = conv.blocks.gather(g) if conv.need_w or conv.need_b else None
        return conv.backward(g_rows, g)

    return Tensor.from_op(out, conv.parents, backward, "conv2d")


class ConvGemm:
    """One conv2d call as GEMMs: checks the arguments, builds the patch matrix and runs the
    forward product (`forward`); `backward` turns the output gradient into the gradients of the
    input, kernel and bias. Shared by `conv2d` and `striate.ops.conv_pool.conv2d_max_pool2d`."""

    def __init__(self, x, kernel, bias, strides, padding, pixel_order, op):
        x, kernel = as_tensor(x), as_tensor(kernel)
        bias = None if bias is None else as_tensor(bias)
        xd, wd = x.data, kernel.data
        bd = None if bias is None else bias.data
        key = (xd.shape, xd.dtype, wd.shape, wd.dtype, None if bd is None else bd.shape,
               None if bd is None else bd.dtype, strides, padding, pixel_order, op,
               _KERNEL_MAJOR_CHANNELS)
        try:
            geometry = _conv_geometry(*key)
        except TypeError:  # unhashable arguments (e.g. strides as a list): check uncached
            geometry = _conv_geometry.__wrapped__(*key)
        (self.strides, self.pads_h, self.pads_w, self.in_shape, self.out_shape, self.window,
         self.k, self.kernel_major, self.blocks) = geometry
        self.m, self.f = math.prod(self.out_shape[:3]), self.out_shape[3]
        self.x, self.kernel, self.bias = x, kernel, bias
        self.parents = (x, kernel) if bias is None else (x, kernel, bias)
        self.dtype = xd.dtype
        recording = grad_enabled()
        self.need_x = recording and x.requires_grad
        self.need_w = recording and kernel.requires_grad
        self.need_b = recording and bias is not None and bias.requires_grad
        self.cols = None

    def forward(self, pooled_only=False):
        """The output as `(M, filters)` rows, in this call's pixel order; in block order with
        `pooled_only`, only the rows of the pixels that 2x2 windows cover (the others would
        get no gradient from the pooling, and nobody reads them)."""
        kh, kw = self.window
        (sh, sw), (_, oh, ow, f), k = self.strides, self.out_shape, self.k
        xp = _pad(self.x.data, self.pads_h, self.pads_w, 0)
        w2 = self.kernel.data.reshape(k, f)
        if self.bias is None:
            wb = w2
        else:
            wb = np.empty((k + 1, f), self.dtype)
            wb[:k] = w2
            wb[k] = self.bias.data
        ones = self.bias is not None
        if self.blocks is None:
            cols = _im2col(xp, kh, kw, sh, sw, oh, ow, self.kernel_major, ones)
        else:
            cols = _im2col_blocks(xp, kh, kw, sh, sw, self.blocks, self.kernel_major, ones,
                                  pooled_only)
        rows = (cols.T @ wb) if self.kernel_major else (cols @ wb)
        self.cols = cols if self.need_w else None  # only the kernel gradient reads the patches
        return rows

    def backward(self, g_rows, g_image):
        """(grad_x, grad_kernel[, grad_bias]) from the output gradient as rows in this call's
        pixel order (`g_rows`, read when the kernel or bias needs a gradient) and as an image
        (`g_image`, read when the input needs one; it may be the top-left `(n, h', w', f)`
        corner of the output when the gradient is zero elsewhere)."""
        (kh, kw), (sh, sw), f, k = self.window, self.strides, self.f, self.k
        grad_x = grad_w = grad_b = None
        if self.need_w:
            # dL/d[kernel; bias] = cols^T @ g  (the ones row of cols gives dL/dbias = sum_m g)
            cols = self.cols
            if self.blocks is None:
                gwb = (cols @ g_rows) if self.kernel_major else (cols.T @ g_rows)
            else:
                # In block order, the pooled pixels and the rest are two sums, so that the
                # fused conv + pool op, whose rest has no gradient, can skip the second.
                pooled = 4 * self.blocks.parts_size
                gwb = self._kernel_gradient(cols, g_rows, 0, pooled)
                if cols.shape[1 if self.kernel_major else 0] > pooled:
                    gwb += self._kernel_gradient(cols, g_rows, pooled, self.m)
            grad_w = gwb[:k].reshape(self.kernel.data.shape)
            if self.need_b:
                grad_b = gwb[k]
        elif self.need_b:
            grad_b = column_sum(g_rows)  # dL/dbias = sum over pixels of g
        if self.need_x:
            # dL/dx = col2im(g @ W^T): every patch entry goes back to the pixel it was read from.
            _, gh, gw, _ = g_image.shape
            g2 = g_image.reshape(-1, f)
            w2 = self.kernel.data.reshape(k, f)
            grad_x = _col2im(g2, w2, self.in_shape, self.pads_h, self.pads_w, kh, kw, sh, sw,
                             gh, gw)
        self.cols = None
        if self.bias is None:
            return grad_x, grad_w
        return grad_x, grad_w, grad_b

    def _kernel_gradient(self, cols, g_rows, start, stop):
        """cols^T @ g over the pixels start:stop."""
        if self.kernel_major:
            return cols[:, start:stop] @ g_rows[start:stop]
        return cols[start:stop].T @ g_rows[start:stop]


@functools.lru_cache(maxsize=64)
def _conv_geometry(x_shape, x_dtype, w_shape, w_dtype, b_shape, b_dtype, strides, padding,
                   pixel_order, op, kernel_major_channels):
    """Check one conv call's arguments (raising as the docs say) and work out its geometry;
    cached, so that a training step checks each layer's arguments once, not every step."""
    sh, sw = _pair(strides, "strides", op)
    padding = _padding_mode(padding, op)
    if pixel_order not in ("rows", "blocks"):
        raise ValueError(f"{op}: pixel_order must be 'rows' or 'blocks'. "
                         f"Received: pixel_order={pixel_order!r}.")
    _check_4d_shape(x_shape, op, "input", "(batch, height, width, channels)")
    _check_4d_shape(w_shape, op, "kernel", "(kernel_height, kernel_width, in_channels, filters)")
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
    _check_float_dtype(x_dtype, op, "input")
    _check_same_dtypes(x_dtype, w_dtype, op, "kernel")
    if b_shape is not None:
        if b_shape != (f,):
            raise ValueError(
                f"{op}: expected a bias of shape ({f},), one value per filter. "
                f"Received: bias shape {b_shape}."
            )
        _check_same_dtypes(x_dtype, b_dtype, op, "bias")
    window, received = f"kernel {kh}x{kw}", f"input shape {x_shape}, kernel shape {w_shape}"
    oh = _checked_length(h, kh, sh, padding, op, window, (h, w), received)
    ow = _checked_length(w, kw, sw, padding, op, window, (h, w), received)
    if padding == "same":
        pads_h, pads_w = same_padding(h, kh, sh), same_padding(w, kw, sw)
    else:
        pads_h, pads_w = (0, 0), (0, 0)
    blocks = PixelBlocks(n, oh, ow) if pixel_order == "blocks" else None
    return ((sh, sw), pads_h, pads_w, (n, h, w, c), (n, oh, ow, f), (kh, kw), kh * kw * c,
            c < kernel_major_channels, blocks)


def _strided_view(xp, shape, strides):
    """A read-only view of xp's memory; the ndarray constructor is ~10x cheaper than as_strided
    (which goes through __array_interface__), and checks the view stays inside xp's buffer."""
    if xp.flags.c_contiguous:
        view = np.ndarray(shape, xp.dtype, buffer=xp, strides=strides)
        view.flags.writeable = False
        return view
    return as_strided(xp, shape, strides, writeable=False)


def _im2col(xp, kh, kw, sh, sw, oh, ow, kernel_major, ones):
    """Patch matrix of xp, `(K[+1], M)` kernel-major or `(M, K[+1])`; one copy, no Python loop."""
    n, _, _, c = xp.shape
    s0, s1, s2, s3 = xp.strides
    m, k = n * oh * ow, kh * kw * c
    if kernel_major:
        view = _strided_view(xp, (kh, kw, c, n, oh, ow), (s1, s2, s3, s0, s1 * sh, s2 * sw))
        cols = np.empty((k + ones, m), xp.dtype)
        cols[:k].reshape(kh, kw, c, n, oh, ow)[...] = view
        if ones:
            cols[k] = 1
        return cols
    view = _strided_view(xp, (n, oh, ow, kh, kw, c), (s0, s1 * sh, s2 * sw, s1, s2, s3))
    if not ones:
        return view.reshape(m, k)  # a view when no copy is needed (1x1 kernel, stride 1)
    cols = np.empty((m, k + 1), xp.dtype)
    cols[:, :k].reshape(n, oh, ow, kh, kw, c)[...] = view
    cols[:, k] = 1
    return cols


def _im2col_blocks(xp, kh, kw, sh, sw, blocks, kernel_major, ones, pooled_only=False):
    """`_im2col` with the pixels in block order (`striate.ops.blocks`); with `pooled_only`,
    only the pixels that 2x2 windows cover."""
    n, _, _, c = xp.shape
    s0, s1, s2, s3 = xp.strides
    m = 4 * blocks.parts_size if pooled_only else blocks.size
    k = kh * kw * c
    view = _strided_view(xp, (n, blocks.oh, blocks.ow, kh, kw, c),
                         (s0, s1 * sh, s2 * sw, s1, s2, s3))
    if kernel_major:
        cols = np.empty((k + ones, m), xp.dtype)
        blocks.gather(view, out=cols[:k].T.reshape(m, kh, kw, c), pooled_only=pooled_only)
        if ones:
            cols[k] = 1
        return cols
    cols = np.empty((m, k + ones), xp.dtype)
    blocks.gather(view, out=cols[:, :k].reshape(m, kh, kw, c), pooled_only=pooled_only)
    if ones:
        cols[:, k] = 1
    return cols


def _col2im(g2, w2, x_shape, pads_h, pads_w, kh, kw, sh, sw, oh, ow):
    """Input gradient: patch gradients g @ W^T added back with one strided += per kernel offset.

    Each offset's patch gradients are one `(M, C)` block, so that each += runs along whole
    `ow * C` rows rather than C-long runs strided by K: one GEMM for all offsets when C == 1,
    else one GEMM per offset into a reused buffer (in a training step this beats one batched
    GEMM of all offsets, whose 9x larger result streams through memory). With stride 1 the
    first block covers a corner of the gradient: it is copied in, and only the rest is zeroed.
    """
    n, h, w, c = x_shape
    rows, columns = sh * (oh - 1) + 1, sw * (ow - 1) + 1
    dxp = np.empty((n, h + sum(pads_h), w + sum(pads_w), c), g2.dtype)
    copy_first = (sh, sw) == (1, 1)
    if copy_first:
        dxp[:, rows:] = 0
        dxp[:, :rows, columns:] = 0
    else:
        dxp[...] = 0
    if c == 1:
        blocks = (w2 @ g2.T).reshape(kh * kw, n, oh, ow, c)
    else:
        weights = np.ascontiguousarray(w2.reshape(kh * kw, c, -1).transpose(0, 2, 1))
        block = np.empty((n * oh * ow, c), g2.dtype)
    for offset in range(kh * kw):
        a, b = divmod(offset, kw)
        if c != 1:
            np.matmul(g2, weights[offset], out=block)
        target = dxp[:, a : a + rows : sh, b : b + columns : sw, :]
        source = blocks[offset] if c == 1 else block.reshape(n, oh, ow, c)
        if copy_first and offset == 0:
            np.copyto(target, source)
        else:
            target += source
    return dxp[:, pads_h[0] : pads_h[0] + h, pads_w[0] : pads_w[0] + w, :]
