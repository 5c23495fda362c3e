"""Activation functions by name, as `Activation('relu')` and `activation='relu'` accept them,
and as functions (`striate.activations.gelu(x)`), as in `keras.activations`."""

from striate._registry import lookup
from striate.ops import activations as ops
from striate.ops import piecewise
from striate.ops.activations import (  # noqa: F401 (the keras.activations functions)
    elu,
    exponential,
    gelu,
    leaky_relu,
    linear,
    log_softmax,
    mish,
    selu,
    sigmoid,
    silu,
    softmax,
    softplus,
    softsign,
    swish,
    tanh,
)
from striate.ops.piecewise import hard_sigmoid, hard_silu, hard_swish, relu6  # noqa: F401

# An alias after its name: `serialize` gives the first name of an op, Keras's ('silu').
_BY_NAME = {
    **{
        name: getattr(ops, name)
        for name in (
            "relu",
            "sigmoid",
            "tanh",
            "softmax",
            "linear",
            "leaky_relu",
            "elu",
            "selu",
            "softplus",
            "silu",
            "swish",
            "gelu",
            "softsign",
            "exponential",
            "mish",
            "log_softmax",
        )
    },
    **{
        name: getattr(piecewise, name)
        for name in ("relu6", "hard_sigmoid", "hard_silu", "hard_swish")
    },
}


def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """Keras's `activations.relu`: plain `max(x, 0)` by default; with a negative slope, a cap
    or a threshold, `striate.ops.piecewise.relu_general`.

    >>> import numpy as np
    >>> from striate.tensor import Tensor
    >>> relu(Tensor(np.array([-1.0, 2.0])), max_value=1.0).data
    array([0., 1.])
    """
    if negative_slope == 0 and max_value is None and threshold == 0:
        return ops.relu(x)
    return piecewise.relu_general(x, negative_slope, max_value, threshold)


def get(identifier):
    """The op for an activation name (None means 'linear'), or a callable unchanged.

    >>> get("relu").__name__
    'relu'
    """
    if identifier is None:
        return _BY_NAME["linear"]
    if identifier is relu:
        return ops.relu  # the op the execution plan recognises (and `serialize` names)
    if callable(identifier):
        return identifier
    return lookup("activation", identifier, _BY_NAME)


def serialize(function):
    """The name of an activation op (the inverse of `get`)."""
    for name, op in _BY_NAME.items():
        if op is function:
            return name
    raise TypeError(f"Cannot serialize custom activation {function!r}: pass it by name instead.")
