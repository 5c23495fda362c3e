"""Dense (fully connected) op on the last axis: `x (..., in) @ kernel (in, units) + bias`."""

import numpy as np

from striate import parallel
from striate.engine.sums import column_sum
from striate.tensor import Tensor


def dense(x, kernel, bias=None):
    """Apply `x @ kernel + bias` on the last axis of `x`, like Keras Dense on any rank.

    Args:
        x: Tensor of shape `(..., in)`; a 4-D `(N, H, W, in)` input gives `(N, H, W, units)`.
        kernel: Tensor of shape `(in, units)`.
        bias: optional Tensor of shape `(units,)`.

    Returns:
        Tensor of shape `(..., units)` in the dtype of `x`.

    >>> import numpy as np
    >>> x = Tensor(np.ones((2, 3), dtype=np.float32))
    >>> k = Tensor(np.full((3, 4), 0.5, dtype=np.float32))
    >>> dense(x, k, Tensor(np.ones(4, dtype=np.float32))).data
    array([[2.5, 2.5, 2.5, 2.5],
           [2.5, 2.5, 2.5, 2.5]], dtype=float32)
    """
    xd, kd = x.data, kernel.data
    if kd.ndim != 2 or xd.ndim < 1 or xd.shape[-1] != kd.shape[0]:
        raise ValueError(
            f"dense: the last axis of the input ({xd.shape[-1] if xd.ndim else None}) must equal "
            f"the kernel's first axis, and the kernel must be 2-D (in, units). "
            f"Received: x.shape={xd.shape}, kernel.shape={kd.shape}"
        )
    units = kd.shape[1]
    if bias is not None and bias.data.shape != (units,):
        raise ValueError(
            f"dense: bias must have shape ({units},) to match kernel.shape={kd.shape}. "
            f"Received: bias.shape={bias.data.shape}"
        )
    x2d = xd.reshape(-1, kd.shape[0])
    out2d = np.empty((len(x2d), units), np.result_type(x2d, kd))
    # A big layer runs in pieces on every core (striate.parallel): each piece computes some
    # columns of a product in full, so no sum is split, and the pieces depend on the sizes only.
    macs = x2d.size * units
    unit_pieces = parallel.split(units, macs, parallel.MIN_PARALLEL_MACS)

    def forward_piece(a, b):
        np.matmul(x2d, kd[:, a:b], out=out2d[:, a:b])
        if bias is not None:
            out2d[:, a:b] += bias.data[a:b]

    parallel.run_pieces(forward_piece, unit_pieces)
    out = out2d.reshape(xd.shape[:-1] + (units,))

    need_x, need_k = x.requires_grad, kernel.requires_grad
    need_b = bias is not None and bias.requires_grad

    def backward(g):
        g2d = g.reshape(-1, units)
        dx2d = np.empty(x2d.shape, np.result_type(g2d, kd)) if need_x else None
        dk = np.empty(kd.shape, np.result_type(x2d, g2d)) if need_k else None

        def backward_piece(a, b):  # inputs a:b
            if need_x:
                np.matmul(g2d, kd[a:b].T, out=dx2d[:, a:b])  # dL/dx = g @ W^T
            if need_k:
                np.matmul(x2d[:, a:b].T, g2d, out=dk[a:b])  # dL/dW = x^T @ g

        parallel.run_pieces(
            backward_piece, parallel.split(kd.shape[0], macs, parallel.MIN_PARALLEL_MACS)
        )
        dx = None if dx2d is None else dx2d.reshape(xd.shape)
        if bias is None:
            return dx, dk
        db = column_sum(g2d) if need_b else None  # dL/db = sum of g over all leading axes
        return dx, dk, db

    parents = (x, kernel) if bias is None else (x, kernel, bias)
    return Tensor.from_op(out, parents, backward, "dense")
