"""Per-sample reshapes that keep the batch axis; views, never copies of contiguous data."""

import math

from striate.tensor import Tensor


def _resolve(op, per_sample, target_shape):
    """Fill in one -1 of `target_shape` so its size matches `per_sample`, or raise."""
    target = tuple(int(d) for d in target_shape)
    size = math.prod(per_sample)
    unknown = [i for i, d in enumerate(target) if d == -1]
    bad = [d for d in target if d < -1 or d == 0]
    known = math.prod(d for d in target if d != -1)
    if len(unknown) > 1 or bad:
        raise ValueError(
            f"{op}: target_shape may hold one -1 and otherwise positive sizes. "
            f"Received: target_shape={tuple(target_shape)}"
        )
    if unknown:
        if size % known:
            raise ValueError(
                f"{op}: cannot reshape per-sample shape {per_sample} ({size} values) to "
                f"{target}: {size} is not a multiple of {known}. "
                f"Received: target_shape={tuple(target_shape)}"
            )
        target = tuple(size // known if d == -1 else d for d in target)
    elif known != size:
        raise ValueError(
            f"{op}: cannot reshape per-sample shape {per_sample} ({size} values) to "
            f"{target} ({known} values). Received: target_shape={tuple(target_shape)}"
        )
    return target


def reshape(x, target_shape):
    """Reshape every sample to `target_shape` (batch axis kept; one -1 allowed).

    Args:
        x: Tensor `(N, ...)`.
        target_shape: per-sample shape, as Keras Reshape's `target_shape`.

    Returns:
        Tensor `(N, *target_shape)`, a view of `x` when `x` is contiguous.

    >>> import numpy as np
    >>> reshape(Tensor(np.zeros((2, 6))), (3, -1)).shape
    (2, 3, 2)
    """
    xd = x.data
    target = _resolve("reshape", xd.shape[1:], target_shape)
    out = xd.reshape(xd.shape[:1] + target)
    in_shape = xd.shape

    def backward(g):
        return (g.reshape(in_shape),)  # reshape back

    return Tensor.from_op(out, (x,), backward, "reshape")


def flatten(x):
    """Flatten every sample: `(N, d1, d2, ...)` -> `(N, d1 * d2 * ...)`; `(N,)` -> `(N, 1)`.

    Args:
        x: Tensor with a batch axis.

    Returns:
        Tensor `(N, prod(rest))`, a view of `x` when `x` is contiguous.

    >>> import numpy as np
    >>> flatten(Tensor(np.zeros((2, 13, 13, 6)))).shape
    (2, 1014)
    """
    xd = x.data
    if xd.ndim == 0:
        raise ValueError("flatten: the input needs a batch axis. Received: a 0-D input.")
    out = xd.reshape(xd.shape[0], math.prod(xd.shape[1:]))
    in_shape = xd.shape

    def backward(g):
        return (g.reshape(in_shape),)  # reshape back

    return Tensor.from_op(out, (x,), backward, "flatten")
