"""A convolution followed by 2x2 max pooling, as one op that never builds the full-size image.

`conv2d_max_pool2d(x, kernel, bias)` equals `max_pool2d(conv2d(x, kernel, bias,
pixel_order="blocks"), 2)`, values and gradients, within float rounding (its GEMMs cover only the
pixels the pooling reads, so they have other heights: docs/NUMERICS.md). The convolution's GEMM
writes its output rows in 2x2-block order (`striate.engine.blocks`), so the pooling windows' four
cells are four contiguous arrays: the max and its gradient routing
(`striate.engine.pooling.tournament` and `route`) run on whole arrays, with no gather before and no
scatter after, and the kernel gradient's GEMM reads the routed gradient in the same block order.
Only when the input needs a gradient is the pooled gradient scattered back into an image, for
col2im. Each piece of the batch goes from its patches through the GEMM to the pooling (and ReLU) in
one task, while its rows are still in cache.

Sequential runs this op for Conv2D -> (ReLU) -> MaxPooling2D(2) (see `striate.models.plan`); that
Conv2D run alone with `pixel_order='blocks'` sums its kernel gradient in the same order.

>>> import numpy as np
>>> from striate.ops.conv import conv2d
>>> from striate.ops.pool import max_pool2d
>>> x = np.random.default_rng(0).standard_normal((2, 7, 7, 1))
>>> kernel = np.ones((2, 2, 1, 3))
>>> fused = conv2d_max_pool2d(x, kernel).data
>>> bool(np.allclose(fused, max_pool2d(conv2d(x, kernel, pixel_order="blocks"), 2).data))
True
"""

import numpy as np

from striate import parallel
from striate.engine import conv_gemm, pooling
from striate.ops.conv import conv_geometry, kernel_and_bias_gradients, needs_gradient
from striate.ops.geometry import pad, unpad
from striate.tensor import Tensor, as_tensor


def conv2d_max_pool2d(x, kernel, bias=None, strides=(1, 1), padding="valid", relu=False):
    """`max_pool2d(conv2d(x, kernel, bias, strides, padding), pool_size=2)`, fused; with
    `relu`, followed by `relu` as well (which equals ReLU before the pooling:
    `striate.models.plan`).

    Args:
        x, kernel, bias, strides, padding: as for `striate.ops.conv.conv2d`.
        relu: apply `striate.ops.activations.relu` to the pooled output, with the same
            numbers (gradient `g * (out > 0)`), while each chunk of it is still in cache.

    Returns:
        Tensor `(batch, out_height // 2, out_width // 2, filters)`, where out_height and
        out_width are the convolution's; the gradient of each output goes to the first maximum
        of its window in row-major order, as `max_pool2d` sends it.
    """
    x, kernel = as_tensor(x), as_tensor(kernel)
    bias = None if bias is None else as_tensor(bias)
    bd = None if bias is None else bias.data
    geo = conv_geometry(
        x.data, kernel.data, bd, strides, padding, "blocks", "conv2d_max_pool2d", pooled=True
    )
    need_x, need_w, need_b = needs_gradient(x, kernel, bias)
    recording = need_x or need_w or need_b
    blocks, dtype, f = geo.blocks, x.data.dtype, geo.filters
    # rows = patches(x_pad) @ [W; b] for the pixels that 2x2 windows cover, in block order:
    # rows [t * parts_size, (t + 1) * parts_size) hold cell t of every window.
    out = np.empty((geo.n, blocks.ph, blocks.pw, f), dtype)
    masks = [np.empty(out.shape, bool) for _ in range(3)] if recording else None
    wb = conv_gemm.kernel_with_bias(kernel.data, bd)
    patches = conv_gemm.patch_matrix(geo, dtype, ones=bias is not None)
    rows = np.empty((geo.rows, f), dtype)

    def forward_piece(n0, n1):  # images n0:n1
        x_pad = pad(x.data[n0:n1], geo.pads_h, geo.pads_w, 0)
        conv_gemm.conv_rows(x_pad, wb, patches, rows, geo, n0, n1)
        # out = max over each window's 4 cells (the masks say which won), then relu(out)
        piece_masks = None if masks is None else [mask[n0:n1] for mask in masks]
        pooling.tournament(
            *blocks.parts(rows)[:, n0:n1],
            recording,
            overwrite=True,
            out=out[n0:n1],
            masks=piece_masks,
        )
        if relu:
            np.maximum(out[n0:n1], 0, out=out[n0:n1])

    pieces = parallel.split(geo.n, patches.size)
    parallel.run_pieces(forward_piece, pieces)
    parents = (x, kernel) if bias is None else (x, kernel, bias)
    if not recording:
        return Tensor.from_op(out, parents, None, "conv2d_max_pool2d")
    if not need_w:
        patches = None  # only the kernel gradient reads them again

    def backward(g):
        # relu's backward, then the pooling's (g to the cell the tournament chose, 0 to the
        # other three), then conv2d's: dL/dx = col2im(g @ W^T), dL/d[W; b] = patches^T @ g.
        # Only the pooled pixels have a gradient: the kernel gradient skips the sum over the
        # rest, which conv2d in block order adds separately (zeros here), and col2im reads the
        # pooled corner of the image only; so the two agree exactly.
        g = g.astype(dtype, copy=False)
        g_rows = np.empty((blocks.size, f), dtype)  # the conv's output gradient, block order
        blocks.rest(g_rows)[...] = 0  # pixels no window covers: no gradient
        dx_pad = conv_gemm.padded_input_gradient(geo, dtype) if need_x else None
        w_offsets = conv_gemm.kernel_per_offset(kernel.data) if need_x else None

        def backward_piece(n0, n1):
            g_pooled = g[n0:n1] * (out[n0:n1] > 0) if relu else g[n0:n1]  # relu's backward
            pooling.route(
                g_pooled, [mask[n0:n1] for mask in masks], blocks.parts(g_rows)[:, n0:n1]
            )  # the pooling's, into conv rows
            share = conv_gemm.kernel_gradient(patches, g_rows, geo, n0, n1) if need_w else None
            if need_x:  # the pooled pixels' gradient as an image, for col2im
                g_image = blocks.scatter(g_rows, pooled_only=True, batch=(n0, n1))
                conv_gemm.col2im(dx_pad[n0:n1], g_image, w_offsets, geo)
            return share

        shares = parallel.run_pieces(backward_piece, pieces)
        grad_x = None if dx_pad is None else unpad(dx_pad, geo.pads_h, geo.pads_w)
        return (grad_x, *kernel_and_bias_gradients(shares, g_rows, geo, bias, need_b))

    return Tensor.from_op(out, parents, backward, "conv2d_max_pool2d")
