"""A convolution followed by 2x2 max pooling, as one op that never builds the full-size image.

`conv2d_max_pool2d(x, kernel, bias)` equals `max_pool2d(conv2d(x, kernel, bias,
pixel_order="blocks"), 2)`, bit for bit, values and gradients. The convolution's GEMM writes
its output rows in 2x2-block order (`striate.ops.blocks`), so the pooling windows' four cells
are four contiguous arrays: the max and its gradient routing (`striate.ops.pool.tournament` and
`route`) run on whole arrays, with no gather before and no scatter after, and the kernel
gradient's GEMM reads the routed gradient in the same block order. Only when the input needs a
gradient is the pooled gradient scattered back into an image, for col2im.

Sequential runs this op for Conv2D -> (ReLU) -> MaxPooling2D(2) (see `striate.plan`), and marks
that Conv2D to use block order when it runs alone, so both ways give the same numbers.

>>> import numpy as np
>>> from striate.ops.conv import conv2d
>>> from striate.ops.pool import max_pool2d
>>> x = np.random.default_rng(0).standard_normal((2, 7, 7, 1))
>>> kernel = np.ones((2, 2, 1, 3))
>>> fused = conv2d_max_pool2d(x, kernel).data
>>> bool((fused == max_pool2d(conv2d(x, kernel, pixel_order="blocks"), 2).data).all())
True
"""

import numpy as np

from striate.ops.conv_gemm import ConvGemm
from striate.ops.pool import route, tournament
from striate.tensor import Tensor


def conv2d_max_pool2d(x, kernel, bias=None, strides=(1, 1), padding="valid", relu=False):
    """`max_pool2d(conv2d(x, kernel, bias, strides, padding), pool_size=2)`, fused; with
    `relu`, followed by `relu` as well (which equals ReLU before the pooling: `striate.plan`).

    Args:
        x, kernel, bias, strides, padding: as for `striate.ops.conv.conv2d`.
        relu: apply `striate.ops.activations.relu` to the pooled output, with the same
            numbers (gradient `g * (out > 0)`), while each chunk of it is still in cache.

    Returns:
        Tensor `(batch, out_height // 2, out_width // 2, filters)`, where out_height and
        out_width are the convolution's; the gradient of each output goes to the first maximum
        of its window in row-major order, as `max_pool2d` sends it.
    """
    conv = ConvGemm(x, kernel, bias, strides, padding, "blocks", "conv2d_max_pool2d")
    blocks = conv.blocks
    if blocks.ph < 1 or blocks.pw < 1:
        raise ValueError(
            f"conv2d_max_pool2d: a 2x2 pool window does not fit the convolution's "
            f"{blocks.oh}x{blocks.ow} output. Received: input shape {conv.in_shape}, kernel "
            f"shape {conv.kernel.data.shape}."
        )
    recording = conv.need_x or conv.need_w or conv.need_b
    out = np.empty((conv.n, blocks.ph, blocks.pw, conv.f), conv.dtype)
    masks = [np.empty(out.shape, bool) for _ in range(3)] if recording else None

    def pool(rows, n0, n1):  # right after the GEMM, while these rows are still in cache
        tournament(*blocks.parts(rows)[:, n0:n1], recording, overwrite=True, out=out[n0:n1],
                   masks=None if masks is None else [mask[n0:n1] for mask in masks])
        if relu:
            np.maximum(out[n0:n1], 0, out=out[n0:n1])

    conv.forward(pooled_only=True, then=pool)
    if not recording:
        return Tensor.from_op(out, conv.parents, None, "conv2d_max_pool2d")

    def backward(g):
        g = g.astype(conv.dtype, copy=False)
        # Only the pooled pixels have a gradient: the kernel gradient skips the sum over the
        # rest, which conv2d in block order adds separately (zeros here), and col2im reads the
        # pooled corner of the image only; so the two agree exactly.
        g_rows = np.empty((blocks.size, conv.f), conv.dtype)
        blocks.rest(g_rows)[...] = 0  # pixels no window covers: no gradient

        def chunk_gradient(n0, n1):
            g_chunk = g[n0:n1] * (out[n0:n1] > 0) if relu else g[n0:n1]  # as relu's backward
            route(g_chunk, [mask[n0:n1] for mask in masks], blocks.parts(g_rows)[:, n0:n1])
            if conv.need_x:
                return blocks.scatter(g_rows, pooled_only=True, batch=(n0, n1))
            return None

        return conv.backward(g_rows, chunk_gradient)

    return Tensor.from_op(out, conv.parents, backward, "conv2d_max_pool2d")
