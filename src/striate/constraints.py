"""Weight constraints with Keras 3's names, numbers and configs: `MaxNorm`, `MinMaxNorm`,
`NonNeg`, `UnitNorm` (`max_norm`, `min_max_norm`, `non_neg`, `unit_norm`).

A constraint maps a weight's values to their projection (`constraint(w)`, an ndarray of the same
shape and dtype); `fit` applies it to each constrained weight right after every optimizer step,
as Keras's optimizer does. It is not differentiated: it acts on the values between steps.

>>> import numpy as np
>>> MaxNorm(max_value=2, axis=0)(np.array([[3.0], [4.0]])).ravel().round(6).tolist()
[1.2, 1.6]
"""

import numbers

import numpy as np

from striate import backend
from striate._registry import lookup


def _number(owner, name, value, low=0.0):
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not value >= low:
        raise ValueError(f"{owner}: {name} must be a number >= {low}. Received: {name}={value!r}")
    return value


def _axis(owner, axis):
    if isinstance(axis, (list, tuple)) and all(isinstance(a, int) for a in axis):
        return list(axis) if isinstance(axis, list) else tuple(axis)
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise ValueError(f"{owner}: axis must be an int or a list of ints. Received: {axis!r}")
    return axis


def _norms(w, axis):
    """sqrt(sum(w^2)) over `axis`, kept for broadcasting (Keras's order of operations)."""
    axis = tuple(axis) if isinstance(axis, list) else axis
    return np.sqrt(np.sum(np.square(w), axis=axis, keepdims=True))


class Constraint:
    """Base class: `constraint(w)` gives the constrained values; `get_config` round-trips."""

    def __call__(self, w):
        return w

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        settings = ", ".join(f"{k}={v}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({settings})"


class MaxNorm(Constraint):
    """Scales each slice along `axis` (a Dense kernel's columns with axis=0; a Conv2D kernel's
    filters with axis=[0, 1, 2]) down to a norm of at most `max_value`."""

    def __init__(self, max_value=2, axis=0):
        self.max_value = _number("MaxNorm", "max_value", max_value)
        self.axis = _axis("MaxNorm", axis)

    def __call__(self, w):
        norms = _norms(w, self.axis)
        desired = np.clip(norms, 0, self.max_value)
        return w * (desired / (w.dtype.type(backend.epsilon()) + norms))

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class MinMaxNorm(Constraint):
    """Moves each slice's norm into [min_value, max_value], by the fraction `rate` of the way."""

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value = _number("MinMaxNorm", "min_value", min_value)
        self.max_value = _number("MinMaxNorm", "max_value", max_value)
        self.rate = _number("MinMaxNorm", "rate", rate)
        self.axis = _axis("MinMaxNorm", axis)

    def __call__(self, w):
        norms = _norms(w, self.axis)
        kind = w.dtype.type
        desired = (
            kind(self.rate) * np.clip(norms, self.min_value, self.max_value)
            + kind(1 - self.rate) * norms
        )
        return w * (desired / (kind(backend.epsilon()) + norms))

    def get_config(self):
        return {
            "min_value": self.min_value,
            "max_value": self.max_value,
            "rate": self.rate,
            "axis": self.axis,
        }


class NonNeg(Constraint):
    """Negative values become 0."""

    def __call__(self, w):
        return np.maximum(w, w.dtype.type(0))


class UnitNorm(Constraint):
    """Each slice along `axis` divided by its norm."""

    def __init__(self, axis=0):
        self.axis = _axis("UnitNorm", axis)

    def __call__(self, w):
        return w / (w.dtype.type(backend.epsilon()) + _norms(w, self.axis))

    def get_config(self):
        return {"axis": self.axis}


max_norm, min_max_norm, non_neg, unit_norm = MaxNorm, MinMaxNorm, NonNeg, UnitNorm
_BY_NAME = {
    "max_norm": MaxNorm,
    "maxnorm": MaxNorm,
    "min_max_norm": MinMaxNorm,
    "minmaxnorm": MinMaxNorm,
    "non_neg": NonNeg,
    "nonneg": NonNeg,
    "unit_norm": UnitNorm,
    "unitnorm": UnitNorm,
}


def get(identifier):
    """A Constraint from None (None), a name ('max_norm'), a config dict or a Constraint.

    >>> get("unit_norm").get_config()
    {'axis': 0}
    """
    if identifier is None or isinstance(identifier, Constraint):
        return identifier
    if isinstance(identifier, dict):
        return lookup("constraint", identifier.get("class_name"), _BY_NAME).from_config(
            dict(identifier.get("config") or {})
        )
    if callable(identifier) and not isinstance(identifier, type):
        return identifier
    return lookup("constraint", identifier, _BY_NAME)()


def serialize(constraint):
    """The JSON-safe form: `{'class_name': 'MaxNorm', 'config': {'max_value': 2, 'axis': 0}}`."""
    if constraint is None:
        return None
    if type(constraint) not in (MaxNorm, MinMaxNorm, NonNeg, UnitNorm):
        raise TypeError(
            f"Cannot serialize the custom constraint {constraint!r}: give a striate constraint "
            f"(max_norm, min_max_norm, non_neg, unit_norm). Received: {type(constraint).__name__}"
        )
    return {"class_name": type(constraint).__name__, "config": constraint.get_config()}
