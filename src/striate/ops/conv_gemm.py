"""One conv2d call as GEMMs: the patch matrix (im2col), the forward GEMM, the kernel-gradient
GEMM and col2im; shared by `striate.ops.conv.conv2d` and `striate.ops.conv_pool`.

The patch matrix ("cols") holds one row per (kernel position, input channel) and one column per
output pixel, or the transpose of that. With few input channels (the first layer of an image model)
it is built kernel-position-major, `(kh*kw*C, N*oh*ow)`, so that each of its kh*kw blocks is a long
copy of a shifted image; with many channels it is built pixel-major, `(N*oh*ow, kh*kw*C)`, so that
each copied run is a whole `kw*C` stretch of a row. When there is a bias, the patch matrix carries
one extra row (or column) of ones and the kernel one extra row holding the bias: the GEMM then adds
the bias, and the kernel-gradient GEMM yields the bias gradient as its last row (a ones-vector
product, which on tall arrays beats `sum(axis=0)`), so neither costs a pass of its own.

The output pixels are the GEMM's rows (or columns) in row-major order, or, with
`pixel_order='blocks'`, grouped by 2x2 pooling window (`striate.ops.blocks`).

The input gradient (skipped when the input needs none, as for a model's first layer) is col2im of
`g @ W^T`: one (N*oh*ow, C) block per kernel offset, from a GEMM into a reused buffer, each added
back with one strided `+=` along whole image rows, then cropped of the 'same' padding.

Large calls work in pieces of the batch that run side by side (`striate.parallel`): in one
task, a piece's patches, GEMM rows and whatever the caller does next with them (pooling); in
the backward pass, its gradient routing, its part of the kernel gradient (added up in piece
order) and its col2im. The pieces depend on the sizes only, so the numbers do not depend on
the threads.
"""

import functools
import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from striate import parallel
from striate.ops.blocks import PixelBlocks
from striate.ops.dense import column_sum
from striate.ops.geometry import (
    _check_4d_shape,
    _check_float_dtype,
    _check_same_dtypes,
    _checked_length,
    _pad,
    _padding_mode,
    _pair,
    same_padding,
)
from striate.tensor import as_tensor, grad_enabled

# Below this many input channels the patch matrix is built kernel-position-major (see above);
# measured: C <= 4 faster kernel-major, C >= 8 pixel-major.
_KERNEL_MAJOR_CHANNELS = 5


class ConvGemm:
    """One conv2d call: checks the arguments, builds the patch matrix and runs the forward
    product (`forward`); `backward` turns the output gradient into the gradients of the input,
    kernel and bias."""

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
        self.n = self.in_shape[0]
        self.m, self.f = math.prod(self.out_shape[:3]), self.out_shape[3]
        self.x, self.kernel, self.bias = x, kernel, bias
        self.parents = (x, kernel) if bias is None else (x, kernel, bias)
        self.dtype = xd.dtype
        recording = grad_enabled()
        self.need_x = recording and x.requires_grad
        self.need_w = recording and kernel.requires_grad
        self.need_b = recording and bias is not None and bias.requires_grad
        self.cols = None
        self.pooled_only = False
        self.pieces = [(0, self.n)]

    def forward(self, pooled_only=False, then=None):
        """The output as `(M, filters)` rows, in this call's pixel order; in block order with
        `pooled_only`, only the rows of the pixels that 2x2 windows cover (the others would
        get no gradient from the pooling, and nobody reads them). `then(rows, n0, n1)`, if
        given, runs as soon as the rows of images n0:n1 are done, in the same task."""
        k, f, ones = self.k, self.f, self.bias is not None
        w2 = self.kernel.data.reshape(k, f)
        if ones:
            wb = np.empty((k + 1, f), self.dtype)
            wb[:k] = w2
            wb[k] = self.bias.data
        else:
            wb = w2
        self.pooled_only = pooled_only
        m = 4 * self.blocks.parts_size if pooled_only else self.m
        cols = np.empty((k + ones, m) if self.kernel_major else (m, k + ones), self.dtype)
        rows = np.empty((m, f), self.dtype)

        def chunk(n0, n1):
            self._im2col(cols, n0, n1)
            for a, b in self._row_ranges(n0, n1):
                patches = cols[:, a:b].T if self.kernel_major else cols[a:b]
                np.matmul(patches, wb, out=rows[a:b])
            if then is not None:
                then(rows, n0, n1)

        self.pieces = parallel.split(self.n, cols.size)
        parallel.run_pieces(chunk, self.pieces)
        self.cols = cols if self.need_w else None  # only the kernel gradient reads the patches
        return rows

    def backward(self, g_rows, chunk_gradient):
        """(grad_x, grad_kernel[, grad_bias]) from the output gradient.

        `g_rows` is the output gradient as rows in the forward pass's pixel order, read when
        the kernel or bias needs a gradient. `chunk_gradient(n0, n1)` fills g_rows' rows of
        images n0:n1 if it must, and returns their output gradient as an image, read when the
        input needs a gradient (it may be the top-left `(n1 - n0, h', w', f)` corner of the
        output when the gradient is zero elsewhere)."""
        (kh, kw), (sh, sw), f, k = self.window, self.strides, self.f, self.k
        n, h, w, c = self.in_shape
        (top, bottom), (left, right) = self.pads_h, self.pads_w
        grad_x = grad_w = grad_b = None
        dxp = w2 = None
        if self.need_x:
            dxp = np.empty((n, h + top + bottom, w + left + right, c), self.dtype)
            w2 = self.kernel.data.reshape(k, f)
            if c != 1:  # one contiguous (f, c) matrix per kernel offset
                w2 = np.ascontiguousarray(w2.reshape(kh * kw, c, f).transpose(0, 2, 1))

        def chunk(n0, n1):
            g_image = chunk_gradient(n0, n1)
            # dL/d[kernel; bias] = cols^T @ g, this piece's pixels' share (the ones row of
            # cols gives dL/dbias = sum_m g), while its rows of g are fresh in cache
            gwb = self._kernel_gradient(g_rows, n0, n1) if self.need_w else None
            if dxp is not None:
                _col2im(dxp[n0:n1], g_image, w2, kh, kw, sh, sw)
            return gwb

        shares = parallel.run_pieces(chunk, self.pieces)
        if self.need_w:
            gwb = shares[0]
            for share in shares[1:]:  # in piece order, whatever ran where
                gwb += share
            grad_w = gwb[:k].reshape(self.kernel.data.shape)
            if self.need_b:
                grad_b = gwb[k]
        elif self.need_b:
            grad_b = column_sum(g_rows)  # dL/dbias = sum over pixels of g
        if dxp is not None:
            grad_x = dxp[:, top : top + h, left : left + w, :]
        self.cols = None
        if self.bias is None:
            return grad_x, grad_w
        return grad_x, grad_w, grad_b

    def _row_ranges(self, n0, n1):
        """The (start, stop) ranges of the GEMM rows that hold the pixels of images n0:n1."""
        if self.blocks is None:
            pixels = self.out_shape[1] * self.out_shape[2]
            return [(n0 * pixels, n1 * pixels)]
        return self.blocks.row_ranges(n0, n1, self.pooled_only)

    def _im2col(self, cols, n0, n1):
        """Write the patches of images n0:n1 (and their ones) into their rows of cols."""
        (kh, kw), (sh, sw), k = self.window, self.strides, self.k
        _, oh, ow, _ = self.out_shape
        xp = _pad(self.x.data[n0:n1], self.pads_h, self.pads_w, 0)
        s0, s1, s2, s3 = xp.strides
        nc, c = n1 - n0, xp.shape[3]
        view = _strided_view(xp, (nc, oh, ow, kh, kw, c), (s0, s1 * sh, s2 * sw, s1, s2, s3))
        patches = cols[:k].T if self.kernel_major else cols[:, :k]  # (M, K) either way
        if self.blocks is None:
            a, b = self._row_ranges(n0, n1)[0]
            _view(patches[a:b], (nc, oh, ow, kh, kw, c))[...] = view
        else:
            self.blocks.gather(view, out=_view(patches, (len(patches), kh, kw, c)),
                               pooled_only=self.pooled_only, batch=(n0, n1))
        if self.bias is not None:
            for a, b in self._row_ranges(n0, n1):
                if self.kernel_major:
                    cols[k, a:b] = 1
                else:
                    cols[a:b, k] = 1

    def _kernel_gradient(self, g_rows, n0, n1):
        """`cols^T @ g` over the pixels of images n0:n1, one GEMM per range of their rows,
        added in row order."""
        gwb = None
        for a, b in self._row_ranges(n0, n1):
            patches = self.cols[:, a:b] if self.kernel_major else self.cols[a:b].T
            if gwb is None:
                gwb = patches @ g_rows[a:b]
            else:
                gwb += patches @ g_rows[a:b]
        return gwb


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


def _view(array, shape):
    """array reshaped without a copy (writes through it must land in array)."""
    view = array.reshape(shape)
    if view.size and not np.may_share_memory(view, array):
        raise AssertionError(f"reshape of {array.shape} to {shape} would copy")
    return view


def _col2im(dxp, g_image, w2, kh, kw, sh, sw):
    """Write into dxp (padded input gradient of some images) the patch gradients g @ W^T of
    their output gradient `g_image` `(n, oh, ow, f)`, added back with one strided += per
    kernel offset. `w2` is the kernel as `(kh*kw, f)` when C == 1, else `(kh*kw, f, C)`.

    Each offset's patch gradients are one `(M, C)` block, so that each += runs along whole
    `ow * C` rows rather than C-long runs strided by K: one GEMM for all offsets when C == 1,
    else one GEMM per offset into a reused buffer (in a training step this beats one batched
    GEMM of all offsets, whose 9x larger result streams through memory). With stride 1 the
    first block covers a corner of the gradient: it is copied in, and only the rest is zeroed.
    """
    n, oh, ow, f = g_image.shape
    c = dxp.shape[3]
    g2 = g_image.reshape(-1, f)
    rows, columns = sh * (oh - 1) + 1, sw * (ow - 1) + 1
    copy_first = (sh, sw) == (1, 1)
    if copy_first:
        dxp[:, rows:] = 0
        dxp[:, :rows, columns:] = 0
    else:
        dxp[...] = 0
    if c == 1:
        blocks = (w2 @ g2.T).reshape(kh * kw, n, oh, ow, c)
    else:
        block = np.empty((n * oh * ow, c), g2.dtype)
    for offset in range(kh * kw):
        a, b = divmod(offset, kw)
        if c != 1:
            np.matmul(g2, w2[offset], out=block)
        target = dxp[:, a : a + rows : sh, b : b + columns : sw, :]
        source = blocks[offset] if c == 1 else block.reshape(n, oh, ow, c)
        if copy_first and offset == 0:
            np.copyto(target, source)
        else:
            target += source
