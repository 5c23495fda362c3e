"""Elementwise activations and softmax, each forward with its gradient rule beside it.

Constants are Python floats (NumPy treats them as weak scalars), so float32 stays float32.
Defaults follow Keras 3: `leaky_relu` slope 0.2, `elu` alpha 1.0, `gelu` exact (erf) form.
"""

import math

import numpy as np

from striate.tensor import Tensor


def _erf(a):
    """erf elementwise: SciPy's (vectorised) when installed, else math.erf (exact, slower).
    SciPy is imported on first use: at import time it would cost ~0.25 s."""
    try:
        from scipy.special import erf
    except ImportError:  # pragma: no cover - exercised only where SciPy is absent
        return np.asarray(np.frompyfunc(math.erf, 1, 1)(a), dtype=a.dtype)
    return erf(a)


SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def _unary(x, out, backward, op):
    return Tensor.from_op(out, (x,), backward, op)


def relu(x):
    """max(x, 0), with gradient 0 at x <= 0 (as PyTorch).

    Args:
        x: Tensor.

    Returns:
        Tensor of the same shape and dtype.

    >>> import numpy as np
    >>> relu(Tensor(np.array([-1.0, 0.0, 2.0], dtype=np.float32))).data
    array([0., 0., 2.], dtype=float32)
    """
    out = np.maximum(x.data, 0)

    def backward(g):
        return (g * (out > 0),)  # dL/dx = g * [x > 0]

    return _unary(x, out, backward, "relu")


def sigmoid(x):
    """1 / (1 + exp(-x)); saturates to 0 or 1 without overflow warnings.

    >>> import numpy as np
    >>> sigmoid(Tensor(np.array([0.0]))).data
    array([0.5])
    """
    out = sigmoid_probabilities(x.data)

    def backward(g):
        return (g * out * (1 - out),)  # dL/dx = g * s * (1 - s)

    return _unary(x, out, backward, "sigmoid")


def sigmoid_probabilities(logits):
    """The forward of `sigmoid` on an ndarray, returning a new array: also what the fused
    sigmoid + binary cross-entropy (`striate.ops.losses.sigmoid_crossentropy`) computes.

    >>> import numpy as np
    >>> sigmoid_probabilities(np.array([0.0, np.log(3.0)]))
    array([0.5 , 0.75])
    """
    with np.errstate(over="ignore"):
        out = np.exp(-logits)
    out += 1
    np.reciprocal(out, out=out)
    return out


def tanh(x):
    """Hyperbolic tangent.

    >>> import numpy as np
    >>> tanh(Tensor(np.array([0.0]))).data
    array([0.])
    """
    out = np.tanh(x.data)

    def backward(g):
        return (g * (1 - out * out),)  # dL/dx = g * (1 - tanh^2)

    return _unary(x, out, backward, "tanh")


def softmax(x, axis=-1):
    """exp(x - max) / sum(exp(x - max)) along `axis` (stable for any logits).

    Args:
        x: Tensor of logits.
        axis: the axis that sums to one (default last).

    Returns:
        Tensor of probabilities, same shape and dtype.

    >>> import numpy as np
    >>> softmax(Tensor(np.array([[0.0, 0.0]]))).data
    array([[0.5, 0.5]])
    """
    out = softmax_probabilities(x.data, axis)

    def backward(g):
        gy = g * out
        gy -= out * np.add.reduce(gy, axis=axis, keepdims=True)
        return (gy,)  # dL/dx = y * (g - sum(g * y))

    return _unary(x, out, backward, "softmax")


def softmax_probabilities(logits, axis=-1):
    """The forward of `softmax` on an ndarray, returning a new array: also what the fused
    softmax + cross-entropy (`striate.ops.losses.softmax_crossentropy`) computes, bit for bit.

    >>> import numpy as np
    >>> softmax_probabilities(np.array([0.0, np.log(3.0)]))
    array([0.25, 0.75])
    """
    out = logits - np.maximum.reduce(logits, axis=axis, keepdims=True)
    np.exp(out, out=out)
    out /= np.add.reduce(out, axis=axis, keepdims=True)
    return out


def linear(x):
    """The identity (Keras 'linear'): returns `x` itself, adding nothing to the tape.

    >>> import numpy as np
    >>> t = Tensor(np.zeros(2))
    >>> linear(t) is t
    True
    """
    return x


def leaky_relu(x, negative_slope=0.2):
    """x if x > 0 else negative_slope * x (Keras 3 default slope 0.2).

    >>> import numpy as np
    >>> leaky_relu(Tensor(np.array([-1.0, 2.0]))).data
    array([-0.2,  2. ])
    """
    slope = float(negative_slope)
    xd = x.data
    positive = xd > 0
    out = np.where(positive, xd, xd * slope)

    def backward(g):
        return (np.where(positive, g, g * slope),)  # dL/dx = g * (1 if x > 0 else slope)

    return _unary(x, out, backward, "leaky_relu")


def _elu_forward(xd, alpha, scale):
    negative = np.minimum(xd, 0)
    np.expm1(negative, out=negative)
    negative *= alpha * scale
    positive = xd > 0
    out = np.where(positive, xd * scale if scale != 1.0 else xd, negative)
    return out, positive


def elu(x, alpha=1.0):
    """x if x > 0 else alpha * (exp(x) - 1).

    >>> import numpy as np
    >>> elu(Tensor(np.array([0.0, 1.0]))).data
    array([0., 1.])
    """
    alpha = float(alpha)
    out, positive = _elu_forward(x.data, alpha, 1.0)

    def backward(g):
        return (np.where(positive, g, g * (out + alpha)),)  # x <= 0: d/dx = alpha*e^x = out+alpha

    return _unary(x, out, backward, "elu")


def selu(x):
    """scale * elu(x, alpha) with the self-normalising constants (alpha 1.6733, scale 1.0507).

    >>> import numpy as np
    >>> selu(Tensor(np.array([0.0]))).data
    array([0.])
    """
    out, positive = _elu_forward(x.data, SELU_ALPHA, SELU_SCALE)
    scale_alpha = SELU_SCALE * SELU_ALPHA

    def backward(g):
        # x > 0: scale; x <= 0: scale * alpha * e^x = out + scale * alpha
        return (np.where(positive, g * SELU_SCALE, g * (out + scale_alpha)),)

    return _unary(x, out, backward, "selu")


def softplus(x):
    """log(1 + exp(x)), computed as max(x, 0) + log1p(exp(-|x|)) to avoid overflow.

    >>> import numpy as np
    >>> round(float(softplus(Tensor(np.array([0.0]))).data[0]), 6)
    0.693147
    """
    xd = x.data
    out = np.abs(xd)
    np.negative(out, out=out)
    np.exp(out, out=out)
    np.log1p(out, out=out)
    out += np.maximum(xd, 0)

    def backward(g):
        return (g * -np.expm1(-out),)  # d/dx = sigmoid(x) = 1 - exp(-softplus(x))

    return _unary(x, out, backward, "softplus")


def swish(x):
    """x * sigmoid(x) (also called silu).

    >>> import numpy as np
    >>> swish(Tensor(np.array([0.0]))).data
    array([0.])
    """
    with np.errstate(over="ignore"):
        s = np.exp(-x.data)
    s += 1
    np.reciprocal(s, out=s)
    out = x.data * s

    def backward(g):
        # d/dx = s + x s (1 - s) = out + s (1 - out)
        local = 1 - out
        local *= s
        local += out
        local *= g
        return (local,)

    return _unary(x, out, backward, "swish")


silu = swish


def gelu(x, approximate=False):
    """x * Phi(x) with Phi the standard normal CDF (Keras default: the exact erf form).

    Args:
        x: Tensor.
        approximate: use the tanh approximation
            0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) instead of erf.

    Returns:
        Tensor of the same shape and dtype.

    >>> import numpy as np
    >>> gelu(Tensor(np.array([0.0, 1.0]))).data.round(6)
    array([0.      , 0.841345])
    """
    xd = x.data
    if approximate:
        inner = xd * xd
        inner *= 0.044715
        inner += 1
        inner *= xd
        inner *= _SQRT_2_OVER_PI
        t = np.tanh(inner)
        out = t + 1
        out *= xd
        out *= 0.5

        def backward(g):
            # d/dx = 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)
            du = xd * xd
            du *= 3 * 0.044715
            du += 1
            du *= (1 - t * t) * xd * (0.5 * _SQRT_2_OVER_PI)
            du += 0.5 * (1 + t)
            du *= g
            return (du,)

        return _unary(x, out, backward, "gelu")

    cdf = _erf(xd * _SQRT_HALF)
    cdf += 1
    cdf *= 0.5
    out = xd * cdf

    def backward(g):
        # d/dx = Phi(x) + x * phi(x), phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
        local = xd * xd
        local *= -0.5
        np.exp(local, out=local)
        local *= xd
        local *= _INV_SQRT_2PI
        local += cdf
        local *= g
        return (local,)

    return _unary(x, out, backward, "gelu")


def softsign(x):
    """x / (1 + |x|).

    >>> import numpy as np
    >>> softsign(Tensor(np.array([-1.0, 3.0]))).data
    array([-0.5 ,  0.75])
    """
    denominator = np.abs(x.data)
    denominator += 1
    out = x.data / denominator

    def backward(g):
        return (g / (denominator * denominator),)  # dL/dx = g / (1 + |x|)^2

    return _unary(x, out, backward, "softsign")


def exponential(x):
    """exp(x) (Keras 'exponential').

    >>> import numpy as np
    >>> exponential(Tensor(np.array([0.0]))).data
    array([1.])
    """
    out = np.exp(x.data)

    def backward(g):
        return (g * out,)  # dL/dx = g * exp(x)

    return _unary(x, out, backward, "exponential")


def mish(x):
    """x * tanh(softplus(x)).

    >>> import numpy as np
    >>> mish(Tensor(np.array([0.0, 1.0]))).data.round(6)
    array([0.      , 0.865098])
    """
    xd = x.data
    t = np.tanh(softplus(Tensor(xd)).data)
    out = xd * t

    def backward(g):
        # d/dx = tanh(sp) + x * (1 - tanh(sp)^2) * sigmoid(x)
        local = sigmoid(Tensor(xd)).data
        local *= 1 - t * t
        local *= xd
        local += t
        local *= g
        return (local,)

    return _unary(x, out, backward, "mish")


def log_softmax(x, axis=-1):
    """x - max - log(sum(exp(x - max))) along `axis`: the log of `softmax`, without its
    underflow.

    >>> import numpy as np
    >>> np.exp(log_softmax(Tensor(np.array([[0.0, np.log(3.0)]]))).data)
    array([[0.25, 0.75]])
    """
    out = x.data - np.maximum.reduce(x.data, axis=axis, keepdims=True)
    out -= np.log(np.add.reduce(np.exp(out), axis=axis, keepdims=True))

    def backward(g):
        # dL/dx = g - softmax(x) * sum(g)
        return (g - np.exp(out) * np.add.reduce(g, axis=axis, keepdims=True),)

    return _unary(x, out, backward, "log_softmax")
