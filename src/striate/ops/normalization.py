"""Batch normalisation over every axis but the feature axis (Keras BatchNormalization)."""

import numpy as np

from striate.engine.sums import column_sum
from striate.tensor import Tensor


def _reduce(a, axes, last):
    """Sum over `axes`; for the last feature axis, one ones-vector product over rows."""
    if last:
        return column_sum(a.reshape(-1, a.shape[-1]))
    return np.add.reduce(a, axis=axes)


def batch_norm(
    x,
    gamma,
    beta,
    moving_mean,
    moving_variance,
    momentum=0.99,
    epsilon=1e-3,
    training=False,
    axis=-1,
):
    """Normalise `x` per feature: `(x - mean) / sqrt(var + epsilon) * gamma + beta`.

    Training uses the batch mean and the biased batch variance over every axis but `axis`,
    and updates the moving statistics in place as Keras 3 does (with the same biased variance):
    `moving = moving * momentum + batch * (1 - momentum)`. Inference uses the moving statistics.

    Args:
        x: Tensor, features on `axis` (channels-last: `axis=-1`).
        gamma: Tensor `(C,)` scale, or None (Keras `scale=False`).
        beta: Tensor `(C,)` offset, or None (Keras `center=False`).
        moving_mean, moving_variance: ndarrays `(C,)`, updated in place when training.
        momentum: moving-average momentum (Keras default 0.99).
        epsilon: added to the variance (Keras default 1e-3).
        training: batch statistics (True) or moving statistics (False).
        axis: the feature axis.

    Returns:
        Tensor of the shape and dtype of `x`.

    >>> import numpy as np
    >>> x = Tensor(np.array([[1.0], [3.0]]))
    >>> mm, mv = np.zeros(1), np.full(1, 2.0)
    >>> batch_norm(x, None, None, mm, mv, epsilon=0.0, training=True).data
    array([[-1.],
           [ 1.]])
    >>> mm, mv
    (array([0.02]), array([1.99]))
    """
    xd = x.data
    ndim = xd.ndim
    ax = axis % ndim if -ndim <= axis < ndim else None
    if ax is None:
        raise ValueError(f"batch_norm: axis {axis} is out of range for a {ndim}-D input.")
    channels = xd.shape[ax]
    for name, value in (("gamma", gamma), ("beta", beta)):
        if value is not None and value.data.shape != (channels,):
            raise ValueError(
                f"batch_norm: {name} must have shape ({channels},) for input shape {xd.shape} "
                f"and axis={axis}. Received: {name}.shape={value.data.shape}"
            )
    last = ax == ndim - 1
    axes = tuple(i for i in range(ndim) if i != ax)
    bshape = (channels,) if last else tuple(channels if i == ax else 1 for i in range(ndim))
    count = xd.size // channels
    dtype = xd.dtype.type

    if training:
        mean = _reduce(xd, axes, last)
        mean /= count
        xhat = xd - mean.reshape(bshape)
        var = _reduce(xhat * xhat, axes, last)
        var /= count  # biased: this is what both normalises and feeds the moving variance
        moving_mean *= momentum
        moving_mean += mean * (1.0 - momentum)
        moving_variance *= momentum
        moving_variance += var * (1.0 - momentum)
    else:
        xhat = xd - moving_mean.astype(xd.dtype, copy=False).reshape(bshape)
        var = moving_variance.astype(xd.dtype, copy=False)
    inv = var + dtype(epsilon)
    np.sqrt(inv, out=inv)
    np.reciprocal(inv, out=inv)
    xhat *= inv.reshape(bshape)
    if gamma is not None:
        out = xhat * gamma.data.reshape(bshape)
    else:
        out = xhat.copy()
    if beta is not None:
        out += beta.data.reshape(bshape)

    need_x = x.requires_grad
    need_gamma = gamma is not None and gamma.requires_grad
    need_beta = beta is not None and beta.requires_grad
    scale = inv if gamma is None else inv * gamma.data  # d out / d x in inference

    def backward(g):
        dbeta = _reduce(g, axes, last) if (need_beta or (need_x and training)) else None
        dgamma = _reduce(g * xhat, axes, last) if (need_gamma or (need_x and training)) else None
        dx = None
        if need_x and training:
            # dx = gamma * inv * (g - mean(g) - xhat * mean(g * xhat)), means over the batch axes
            dx = xhat * (dgamma / count).reshape(bshape)
            dx += (dbeta / count).reshape(bshape)
            np.subtract(g, dx, out=dx)
            dx *= scale.reshape(bshape)
        elif need_x:
            dx = g * scale.reshape(bshape)  # dx = g * gamma / sqrt(moving_var + eps)
        grads = [dx]
        if gamma is not None:
            grads.append(dgamma if need_gamma else None)  # dgamma = sum(g * xhat)
        if beta is not None:
            grads.append(dbeta if need_beta else None)  # dbeta = sum(g)
        return tuple(grads)

    parents = tuple(p for p in (x, gamma, beta) if p is not None)
    return Tensor.from_op(out, parents, backward, "batch_norm")
