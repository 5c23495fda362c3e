"""Layer normalisation (Keras's LayerNormalization): each sample normalised over `axes`."""

import numpy as np

from striate.tensor import Tensor, as_tensor


def layer_norm(x, gamma=None, beta=None, axes=(-1,), epsilon=1e-3):
    """`y = (x - mean) / sqrt(var + epsilon) * gamma + beta`, mean and biased variance taken
    over `axes` of each sample; gamma and beta have the shape of those axes.

    Backward, with `xhat = (x - mean) * inv`, `inv = 1 / sqrt(var + epsilon)` and
    `d = g * gamma` (means over `axes`):
    `dL/dx = inv * (d - mean(d) - xhat * mean(d * xhat))`, `dL/dgamma = sum of g * xhat` and
    `dL/dbeta = sum of g` over the other axes.

    Args:
        x: Tensor, float. gamma, beta: optional Tensors shaped like `x`'s `axes`.
        axes: the axes to normalise over (never 0, the batch). epsilon: added to the variance.

    Returns:
        Tensor shaped like x.

    >>> layer_norm(np.array([[1.0, 3.0]]), epsilon=0.0).data
    array([[-1.,  1.]])
    """
    x = as_tensor(x)
    xd = x.data
    axes = tuple(sorted(a % xd.ndim for a in axes))
    if not axes or 0 in axes or len(set(axes)) != len(axes):
        raise ValueError(
            f"layer_norm: axes must be distinct axes of each sample (not the batch axis 0). "
            f"Received: axes={axes}, input shape {xd.shape}."
        )
    shape = tuple(xd.shape[a] if a in axes else 1 for a in range(xd.ndim))
    others = tuple(a for a in range(xd.ndim) if a not in axes)
    params = [p for p in (gamma, beta) if p is not None]
    for p in params:
        if p.data.shape != tuple(xd.shape[a] for a in axes):
            raise ValueError(
                f"layer_norm: gamma and beta must have the shape of the normalised axes, "
                f"{tuple(xd.shape[a] for a in axes)}. Received: {p.data.shape}."
            )
    mean = xd.mean(axis=axes, keepdims=True)
    centered = xd - mean
    inv = 1.0 / np.sqrt((centered * centered).mean(axis=axes, keepdims=True) + epsilon)
    xhat = centered * inv
    out = xhat if gamma is None else xhat * gamma.data.reshape(shape)
    if beta is not None:
        out = out + beta.data.reshape(shape)
    out = out.astype(xd.dtype, copy=False)

    def backward(g):
        g = g.astype(xd.dtype, copy=False)
        d = g if gamma is None else g * gamma.data.reshape(shape)
        mean_d = d.mean(axis=axes, keepdims=True)
        mean_dx = (d * xhat).mean(axis=axes, keepdims=True)
        grads = [inv * (d - mean_d - xhat * mean_dx)]
        if gamma is not None:
            grads.append((g * xhat).sum(axis=others).reshape(gamma.data.shape))
        if beta is not None:
            grads.append(g.sum(axis=others).reshape(beta.data.shape))
        return tuple(grads)

    return Tensor.from_op(out, (x, *params), backward, "layer_norm")
