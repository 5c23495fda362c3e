"""Weight penalties with Keras's names and configs: `L1`, `L2`, `L1L2` (`l1`, `l2`, `l1_l2`).

Each is called on a weight and gives its penalty (`l1 * sum(|w|) + l2 * sum(w^2)`), a scalar
Tensor with a hand-written gradient (`striate.ops.regularization.weight_penalty`). Layers take
them as `kernel_regularizer=`, `bias_regularizer=` and `activity_regularizer=` (a name, a config
or an object), and `fit` adds their penalties to the loss (`striate.models.penalties`).
"""

import math
import numbers

from striate._registry import lookup
from striate.ops.regularization import weight_penalty
from striate.tensor import as_tensor


def _factor(name, value):
    """`value` as a float >= 0 (Keras's check), else ValueError naming the argument."""
    number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not number or math.isinf(value) or math.isnan(value) or value < 0:
        raise ValueError(f"{name}: expected a non-negative float. Received: {name}={value!r}")
    return float(value)


class Regularizer:
    """Base class: `regularizer(weight)` is the penalty; `get_config` round-trips."""

    def __call__(self, x):
        return weight_penalty(as_tensor(x), getattr(self, "l1", 0.0), getattr(self, "l2", 0.0))

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        settings = ", ".join(f"{k}={v}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({settings})"


class L1L2(Regularizer):
    """`l1 * sum(|x|) + l2 * sum(x^2)` (Keras: both default 0).

    >>> round(float(L1L2(l1=0.1, l2=0.01)([1.0, -2.0]).data), 6)
    0.35
    """

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _factor("l1", 0.0 if l1 is None else l1)
        self.l2 = _factor("l2", 0.0 if l2 is None else l2)

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(Regularizer):
    """`l1 * sum(|x|)` (Keras default 0.01)."""

    def __init__(self, l1=0.01):
        self.l1 = _factor("l1", 0.01 if l1 is None else l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(Regularizer):
    """`l2 * sum(x^2)` (Keras default 0.01)."""

    def __init__(self, l2=0.01):
        self.l2 = _factor("l2", 0.01 if l2 is None else l2)

    def get_config(self):
        return {"l2": self.l2}


# Keras's lowercase names are the classes themselves (so `l1_l2()` has l1 = l2 = 0).
l1, l2, l1_l2 = L1, L2, L1L2
_BY_NAME = {"l1": L1, "l2": L2, "l1_l2": L1L2, "l1l2": L1L2}


def get(identifier):
    """A Regularizer from None (None), a name ('l2'), a config dict or a Regularizer.

    >>> get("l2").get_config()
    {'l2': 0.01}
    """
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if callable(identifier) and not isinstance(identifier, type):
        return identifier  # a function of a weight giving a scalar Tensor (Keras allows it)
    if isinstance(identifier, dict):
        return lookup("regularizer", identifier["class_name"], _BY_NAME).from_config(
            identifier.get("config", {})
        )
    return lookup("regularizer", identifier, _BY_NAME)()


def serialize(regularizer):
    """The JSON-safe form of a regularizer: `{'class_name': 'L2', 'config': {'l2': 0.01}}`."""
    if regularizer is None:
        return None
    if type(regularizer) not in (L1, L2, L1L2):
        raise TypeError(f"Cannot serialize custom regularizer {regularizer!r}")
    return {"class_name": type(regularizer).__name__, "config": regularizer.get_config()}
