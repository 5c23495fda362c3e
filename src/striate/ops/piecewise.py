"""Piecewise-linear activations as Keras 3 defines them, each forward with its gradient rule:
the general `relu` of Keras's `ReLU` layer (threshold, cap, negative slope), `relu6`,
`hard_sigmoid` (`relu6(x + 3) / 6`), `hard_silu` (`x * hard_sigmoid(x)`) and the learned-slope
`prelu`.

At a kink the gradient takes the value of the side the comparison in the forward puts the
point on (as PyTorch does for `relu`). Constants are Python floats, so float32 stays float32.
"""

import numpy as np

from striate.tensor import Tensor


def _unary(x, out, backward, op):
    return Tensor.from_op(out, (x,), backward, op)


def relu_general(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """Keras's `activations.relu(x, negative_slope, max_value, threshold)`:
    `min(x, max_value)` where `x > threshold`, else `negative_slope * (x - threshold)`.

    Args:
        x: Tensor.
        negative_slope: slope below the threshold (>= 0).
        max_value: the cap of the linear part, or None for none.
        threshold: where the linear part starts.

    Returns:
        Tensor of the same shape and dtype.

    >>> import numpy as np
    >>> relu_general(Tensor(np.array([-2.0, 0.5, 2.0, 9.0])), 0.5, 6.0, 1.0).data
    array([-1.5 , -0.25,  2.  ,  6.  ])
    """
    slope, threshold = float(negative_slope), float(threshold)
    xd = x.data
    above = xd > threshold
    out = np.where(above, xd, (xd - threshold) * slope if slope else 0.0).astype(xd.dtype)
    capped = None
    if max_value is not None:
        capped = xd > float(max_value)
        np.minimum(out, float(max_value), out=out, where=above)

    def backward(g):
        # d/dx = 1 on threshold < x <= max_value, 0 above the cap, negative_slope below
        local = np.where(above, 1.0, slope).astype(xd.dtype)
        if capped is not None:
            local[capped & above] = 0.0
        return (g * local,)

    return _unary(x, out, backward, "relu")


def relu6(x):
    """min(max(x, 0), 6).

    >>> import numpy as np
    >>> relu6(Tensor(np.array([-1.0, 3.0, 7.0]))).data
    array([0., 3., 6.])
    """
    xd = x.data
    out = np.minimum(np.maximum(xd, 0.0), 6.0)

    def backward(g):
        return (g * ((xd > 0) & (xd < 6)),)  # dL/dx = g * [0 < x < 6]

    return _unary(x, out, backward, "relu6")


def hard_sigmoid(x):
    """relu6(x + 3) / 6: 0 below -3, 1 above 3, linear between (Keras 3's definition).

    >>> import numpy as np
    >>> hard_sigmoid(Tensor(np.array([-4.0, 0.0, 1.5, 4.0]))).data
    array([0.  , 0.5 , 0.75, 1.  ])
    """
    xd = x.data
    out = xd / 6.0 + 0.5
    np.clip(out, 0.0, 1.0, out=out)

    def backward(g):
        return (g * ((xd > -3) & (xd < 3)) / 6.0,)  # dL/dx = g / 6 on -3 < x < 3

    return _unary(x, out, backward, "hard_sigmoid")


def hard_silu(x):
    """x * hard_sigmoid(x) (also called hard_swish).

    >>> import numpy as np
    >>> hard_silu(Tensor(np.array([-4.0, 1.5, 4.0]))).data
    array([-0.   ,  1.125,  4.   ])
    """
    xd = x.data
    gate = xd / 6.0 + 0.5
    np.clip(gate, 0.0, 1.0, out=gate)
    out = xd * gate

    def backward(g):
        # d/dx = hard_sigmoid(x) + x / 6 on -3 < x < 3
        local = np.where((xd > -3) & (xd < 3), gate + xd / 6.0, gate)
        return (g * local,)

    return _unary(x, out, backward, "hard_silu")


hard_swish = hard_silu


def prelu(x, alpha):
    """x where x > 0, else alpha * x, with a learned `alpha` broadcast over the batch (and over
    any axis where alpha has size 1: Keras's `shared_axes`).

    Args:
        x: Tensor of shape (N, *rest).
        alpha: Tensor of shape `rest`, with 1 on the shared axes.

    Returns:
        Tensor of the shape and dtype of `x`.

    >>> import numpy as np
    >>> prelu(Tensor(np.array([[-2.0, 3.0]])), Tensor(np.array([0.5, 0.5]))).data
    array([[-1.,  3.]])
    """
    xd, ad = x.data, alpha.data
    if ad.ndim != xd.ndim - 1 or any(a not in (1, n) for a, n in zip(ad.shape, xd.shape[1:])):
        raise ValueError(
            f"prelu: alpha must have the input's shape without the batch axis, with 1 on "
            f"shared axes. Received: x.shape={xd.shape}, alpha.shape={ad.shape}"
        )
    positive = xd > 0
    out = np.where(positive, xd, xd * ad)

    def backward(g):
        gx = np.where(positive, g, g * ad) if x.requires_grad else None
        galpha = None
        if alpha.requires_grad:
            # dL/dalpha = sum over the batch and the shared axes of g * min(x, 0)
            full = np.where(positive, 0.0, g * xd)
            shared = tuple(i + 1 for i, a in enumerate(ad.shape) if a == 1 and xd.shape[i + 1] != 1)
            galpha = np.add.reduce(full, axis=(0,) + shared, keepdims=True)[0].astype(ad.dtype)
        return gx, galpha

    return Tensor.from_op(out, (x, alpha), backward, "prelu")
