"""A convolution as GEMMs: the patch matrix (im2col), the forward GEMM with the bias folded in,
the kernel-gradient GEMM and col2im. `striate.ops.conv` and `striate.ops.conv_pool` call these
on one piece of the batch (images n0:n1) at a time.

The patch matrix is handed around as an `(M, K [+ 1])` array, one row per output pixel and one
column per (kernel position, input channel), whatever its layout in memory. With few input
channels (the first layer of an image model) its buffer is kernel-position-major,
`(K [+ 1], M)`, so that each of its kh*kw blocks is a long copy of a shifted image; with many
channels it is pixel-major, `(M, K [+ 1])`, so that each copied run is a whole `kw*C` stretch of
a row. The layout is chosen once, where the buffer is made (`patch_matrix`); the other
functions read it through the strides.

When there is a bias, the patch matrix carries one extra column of ones and the kernel one extra
row holding the bias: the forward GEMM then adds the bias, and the kernel-gradient GEMM yields
the bias gradient as its last row (a ones-vector product, faster than `sum(axis=0)` on tall
arrays), so neither costs a pass of its own.

The output pixels are the GEMM's rows in row-major order, or, with `pixel_order='blocks'`,
grouped by 2x2 pooling window (`striate.engine.blocks`); with `pooled`, only the pixels that
2x2 windows cover.

>>> x = np.arange(9.0).reshape(1, 3, 3, 1)
>>> geo = ConvGeometry(x.shape, (2, 2, 1, 1), (1, 1), (0, 0), (0, 0), (2, 2), None)
>>> patches = patch_matrix(geo, x.dtype, ones=True)
>>> rows = np.empty((geo.rows, 1))
>>> conv_rows(x, kernel_with_bias(np.ones((2, 2, 1, 1)), np.array([0.5])), patches, rows,
...           geo, 0, 1)
>>> rows[:, 0].tolist()
[8.5, 12.5, 20.5, 24.5]
"""

import numpy as np
from numpy.lib.stride_tricks import as_strided

# Below this many input channels the patch matrix is kernel-position-major (see above); the
# measurements behind the threshold are in benchmarks/README.md.
KERNEL_MAJOR_CHANNELS = 5


class ConvGeometry:
    """The sizes of one conv call: input `(n, h, w, c)`, kernel `(kh, kw, c, f)`, strides,
    Keras's padding `(top, bottom)`, `(left, right)`, output size `(oh, ow)`, and its pixel
    order: `blocks` (a `PixelBlocks`, or None for row-major) and `pooled` (only the pixels that
    2x2 windows cover). `rows` is the number of GEMM rows, `k` the patch length kh*kw*c."""

    __slots__ = (
        "blocks",
        "filters",
        "in_shape",
        "k",
        "kernel_shape",
        "n",
        "out_shape",
        "pads_h",
        "pads_w",
        "pixels",
        "pooled",
        "rows",
        "strides",
        "window",
    )

    def __init__(
        self, in_shape, kernel_shape, strides, pads_h, pads_w, out_hw, blocks, pooled=False
    ):
        n, _, _, c = in_shape
        kh, kw, _, f = kernel_shape
        self.in_shape, self.kernel_shape, self.n, self.filters = in_shape, kernel_shape, n, f
        self.window, self.strides, self.pads_h, self.pads_w = (kh, kw), strides, pads_h, pads_w
        self.out_shape = (n, *out_hw, f)
        self.pixels = out_hw[0] * out_hw[1]
        self.blocks, self.pooled = blocks, pooled
        self.rows = 4 * blocks.parts_size if pooled else n * self.pixels
        self.k = kh * kw * c

    def __repr__(self):
        order = "rows" if self.blocks is None else "pooled blocks" if self.pooled else "blocks"
        return (
            f"ConvGeometry(input={self.in_shape}, kernel={self.kernel_shape}, "
            f"strides={self.strides}, pads={self.pads_h, self.pads_w}, "
            f"output={self.out_shape}, order={order!r})"
        )


def patch_matrix(geo, dtype, ones):
    """An empty `(rows, k [+ 1 with ones])` patch matrix in the layout that suits the channel
    count (kernel-position-major below `KERNEL_MAJOR_CHANNELS`, see the module doc)."""
    width = geo.k + bool(ones)
    if geo.in_shape[3] < KERNEL_MAJOR_CHANNELS:
        return np.empty((width, geo.rows), dtype).T
    return np.empty((geo.rows, width), dtype)


def kernel_with_bias(kernel, bias):
    """The kernel as a `(k, f)` matrix, with the bias as an extra last row when there is one."""
    kh, kw, c, f = kernel.shape
    k = kh * kw * c
    if bias is None:
        return kernel.reshape(k, f)
    wb = np.empty((k + 1, f), kernel.dtype)
    wb[:k] = kernel.reshape(k, f)
    wb[k] = bias
    return wb


def row_ranges(geo, n0, n1):
    """The (start, stop) ranges of the GEMM rows that hold the pixels of images n0:n1."""
    if geo.blocks is None:
        return [(n0 * geo.pixels, n1 * geo.pixels)]
    return geo.blocks.row_ranges(n0, n1, geo.pooled)


def conv_rows(x_pad, wb, patches, rows, geo, n0, n1):
    """`rows = patches @ wb` for the pixels of images n0:n1: writes their patches (`im2col`) into
    `patches`, then one GEMM per range of their rows into `rows`. `x_pad` holds images n0:n1,
    padded."""
    im2col(x_pad, patches, geo, n0, n1)
    for a, b in row_ranges(geo, n0, n1):
        np.matmul(patches[a:b], wb, out=rows[a:b])


def im2col(x_pad, patches, geo, n0, n1):
    """Write the patches of images n0:n1 (`x_pad`, padded) and their ones, if `patches` has a
    column for them, into their rows of `patches`."""
    (kh, kw), (sh, sw), k = geo.window, geo.strides, geo.k
    _, oh, ow, _ = geo.out_shape
    s0, s1, s2, s3 = x_pad.strides
    count, c = n1 - n0, x_pad.shape[3]
    view = _strided_view(x_pad, (count, oh, ow, kh, kw, c), (s0, s1 * sh, s2 * sw, s1, s2, s3))
    cols = patches[:, :k]
    if geo.blocks is None:
        a, b = row_ranges(geo, n0, n1)[0]
        _view(cols[a:b], (count, oh, ow, kh, kw, c))[...] = view
    else:
        geo.blocks.gather(
            view, out=_view(cols, (len(cols), kh, kw, c)), pooled_only=geo.pooled, batch=(n0, n1)
        )
    if patches.shape[1] > k:
        for a, b in row_ranges(geo, n0, n1):
            patches[a:b, k] = 1


def kernel_gradient(patches, g_rows, geo, n0, n1):
    """`patches^T @ g_rows` over the pixels of images n0:n1 (their share of the gradient of
    `[kernel; bias]`), one GEMM per range of their rows, added in row order."""
    share = None
    for a, b in row_ranges(geo, n0, n1):
        if share is None:
            share = np.matmul(patches[a:b].T, g_rows[a:b])
        else:
            share += np.matmul(patches[a:b].T, g_rows[a:b])
    return share


def add_in_order(shares):
    """The sum of the pieces' shares, added in piece order (whatever thread computed which), so
    that the result is the same on any number of threads. Adds into the first share."""
    total = shares[0]
    for share in shares[1:]:
        total += share
    return total


def kernel_per_offset(kernel):
    """The kernel as col2im reads it: `(kh*kw, f)` when it has one input channel, else one
    contiguous `(f, c)` matrix per kernel offset, `(kh*kw, f, c)`."""
    kh, kw, c, f = kernel.shape
    if c == 1:
        return kernel.reshape(kh * kw, f)
    return np.ascontiguousarray(kernel.reshape(kh * kw, c, f).transpose(0, 2, 1))


def padded_input_gradient(geo, dtype):
    """An empty array for the gradient of the padded input, `(n, top + h + bottom, ...)`."""
    n, h, w, c = geo.in_shape
    return np.empty((n, h + sum(geo.pads_h), w + sum(geo.pads_w), c), dtype)


def col2im(dx_pad, g_image, w_offsets, geo):
    """Write into `dx_pad` (gradient of the padded input of some images) the patch gradients
    `g @ W^T` of their output gradient `g_image` `(n, oh, ow, f)`, each added back where its
    patch came from. `w_offsets` is `kernel_per_offset(kernel)`.

    Each kernel offset's patch gradients are one `(M, C)` block, so that each `+=` runs along
    whole `ow * C` rows rather than C-long runs strided by K: one GEMM for all offsets when
    C == 1, else one GEMM per offset into a reused buffer (rather than one batched GEMM of all
    offsets, whose kh*kw times larger result streams through memory). With stride 1 the first
    block covers a corner of the gradient: it is copied in, and only the rest is zeroed.
    """
    (kh, kw), (sh, sw) = geo.window, geo.strides
    n, oh, ow, f = g_image.shape
    c = dx_pad.shape[3]
    g2 = g_image.reshape(-1, f)
    rows, columns = sh * (oh - 1) + 1, sw * (ow - 1) + 1
    copy_first = (sh, sw) == (1, 1)
    if copy_first:
        dx_pad[:, rows:] = 0
        dx_pad[:, :rows, columns:] = 0
    else:
        dx_pad[...] = 0
    if c == 1:
        blocks = np.matmul(w_offsets, g2.T).reshape(kh * kw, n, oh, ow, c)
    else:
        block = np.empty((n * oh * ow, c), g2.dtype)
    for offset in range(kh * kw):
        a, b = divmod(offset, kw)
        if c != 1:
            np.matmul(g2, w_offsets[offset], out=block)
        target = dx_pad[:, a : a + rows : sh, b : b + columns : sw, :]
        source = blocks[offset] if c == 1 else block.reshape(n, oh, ow, c)
        if copy_first and offset == 0:
            np.copyto(target, source)
        else:
            target += source


def _strided_view(array, shape, strides):
    """A read-only view of array's memory; the ndarray constructor is cheaper than as_strided
    (which goes through __array_interface__), and checks the view stays inside the buffer."""
    if array.flags.c_contiguous:
        view = np.ndarray(shape, array.dtype, buffer=array, strides=strides)
        view.flags.writeable = False
        return view
    return as_strided(array, shape, strides, writeable=False)


def _view(array, shape):
    """array reshaped without a copy (writes through it must land in array)."""
    view = array.reshape(shape)
    if view.size and not np.may_share_memory(view, array):
        raise AssertionError(f"reshape of {array.shape} to {shape} would copy")
    return view
