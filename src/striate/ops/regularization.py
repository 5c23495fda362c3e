"""Inverted dropout."""

import math

import numpy as np

from striate import backend
from striate.tensor import Tensor


def keep_mask(shape, rate, rng):
    """Boolean mask, True with probability 1 - rate: 32 random bits per unit >= rate * 2**32."""
    size = math.prod(shape)
    bits = rng.bit_generator.random_raw((size + 1) // 2).view(np.uint32)[:size]
    return (bits >= min(round(rate * 2**32), 2**32 - 1)).reshape(shape)


def dropout(x, rate, rng=None):
    """Zero each unit with probability `rate`, scaling the kept ones by 1 / (1 - rate).

    Each unit draws 32 random bits `u` (two per 64-bit word of `rng.bit_generator.random_raw`,
    faster than `rng.random`: benchmarks/README.md) and is kept when `u >= round(rate * 2**32)`, so
    P(keep) = 1 - rate to within 2**-32 and the expected output equals `x`. The mask and the
    scale are stored together as one array `keep / (1 - rate)`, which is also the gradient's
    local factor. `rate == 0` returns `x` itself; `rate == 1` gives zeros.

    Args:
        x: Tensor (float32 or float64).
        rate: fraction of units to drop, in [0, 1].
        rng: a `numpy.random.Generator`; default the shared `striate.backend.rng()`.

    Returns:
        Tensor of the same shape and dtype.

    >>> import numpy as np
    >>> x = Tensor(np.ones((2, 4), dtype=np.float32))
    >>> y = dropout(x, 0.5, np.random.default_rng(0)).data
    >>> sorted(set(y.ravel().tolist())) in ([0.0, 2.0], [0.0], [2.0])
    True
    """
    rate = float(rate)
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"dropout: rate must be in [0, 1]. Received: rate={rate}")
    if rate == 0.0:
        return x
    xd = x.data
    if rng is None:
        rng = backend.rng()
    if rate == 1.0:
        factor = np.zeros(xd.shape, dtype=xd.dtype)
    else:
        factor = keep_mask(xd.shape, rate, rng)
        factor = np.multiply(factor, 1.0 / (1.0 - rate), dtype=xd.dtype)
    out = xd * factor

    def backward(g):
        return (g * factor,)  # dL/dx = g * keep / (1 - rate)

    return Tensor.from_op(out, (x,), backward, "dropout")


def spatial_dropout2d(x, rate, rng=None):
    """Dropout of whole channels (Keras's SpatialDropout2D): one keep draw per (sample,
    channel), `keep_mask((batch, 1, 1, channels))`, shared by every pixel of that channel.

    `out = x * keep / (1 - rate)`, so `dL/dx = g * keep / (1 - rate)`.

    Args:
        x: Tensor `(batch, height, width, channels)`. rate: in [0, 1). rng: a Generator.

    Returns:
        Tensor of the same shape and dtype.

    >>> y = spatial_dropout2d(Tensor(np.ones((1, 2, 2, 8))), 0.5, np.random.default_rng(0)).data
    >>> bool(np.all(y == y[:, :1, :1, :]))
    True
    """
    xd = x.data
    if xd.ndim != 4:
        raise ValueError(
            f"spatial_dropout2d: expected input with 4 dims (batch, height, width, channels). "
            f"Received: input shape {xd.shape}."
        )
    if rate == 0.0:
        return x
    if rng is None:
        rng = backend.rng()
    keep = keep_mask((xd.shape[0], 1, 1, xd.shape[3]), rate, rng)
    factor = np.multiply(keep, 1.0 / (1.0 - rate), dtype=xd.dtype)

    def backward(g):
        return (g * factor,)  # dL/dx = g * keep / (1 - rate)

    return Tensor.from_op(xd * factor, (x,), backward, "spatial_dropout2d")


def weight_penalty(x, l1=0.0, l2=0.0):
    """`l1 * sum(|x|) + l2 * sum(x^2)`: the L1/L2 weight penalty, a scalar Tensor.

    >>> import numpy as np
    >>> float(weight_penalty(Tensor(np.array([3.0, -4.0])), l1=0.5, l2=0.1).data)
    6.0
    """
    xd = x.data
    out = np.zeros((), xd.dtype)
    if l1:
        out += float(l1) * np.abs(xd).sum()
    if l2:
        out += float(l2) * np.square(xd).sum()

    def backward(g):
        return (g * (float(l1) * np.sign(xd) + (2.0 * float(l2)) * xd),)  # d/dx

    return Tensor.from_op(out, (x,), backward, "weight_penalty")
