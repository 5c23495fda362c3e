"""Activation functions by name, as `Activation('relu')` and `activation='relu'` accept them."""

from striate._registry import lookup
from striate.ops import activations as ops

_NAMES = (
    "relu",
    "sigmoid",
    "tanh",
    "softmax",
    "linear",
    "leaky_relu",
    "elu",
    "selu",
    "softplus",
    "swish",
    "silu",
    "gelu",
)
_BY_NAME = {name: getattr(ops, name) for name in _NAMES if hasattr(ops, name)}


def get(identifier):
    """The op for an activation name (None means 'linear'), or a callable unchanged.

    >>> get("relu").__name__
    'relu'
    """
    if identifier is None:
        return _BY_NAME["linear"]
    if callable(identifier):
        return identifier
    return lookup("activation", identifier, _BY_NAME)


def serialize(function):
    """The name of an activation op (the inverse of `get`)."""
    for name, op in _BY_NAME.items():
        if op is function:
            return name
    raise TypeError(f"Cannot serialize custom activation {function!r}: pass it by name instead.")
