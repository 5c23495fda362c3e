"""Weight initializers with Keras's names, defaults and fan arithmetic.

Fans follow Keras: for a kernel of shape (kh, kw, in, out) the receptive field is kh*kw,
fan_in = kh*kw*in and fan_out = kh*kw*out; for (in, out), fan_in = in and fan_out = out.
"""

import abc

import numpy as np

from striate import backend
from striate._registry import lookup


def compute_fans(shape):
    """(fan_in, fan_out) of a weight shape, as Keras computes them.

    >>> compute_fans((2, 2, 1, 6))
    (4, 24)
    """
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return shape[-2] * receptive, shape[-1] * receptive


class Initializer(abc.ABC):
    @abc.abstractmethod
    def __call__(self, shape, dtype):
        """Return a new ndarray of `shape` and `dtype`."""

    def get_config(self):
        return {}

    def __repr__(self):
        return f"{type(self).__name__}({self.get_config()})"


class Zeros(Initializer):
    def __call__(self, shape, dtype):
        return np.zeros(shape, dtype=dtype)


class Ones(Initializer):
    def __call__(self, shape, dtype):
        return np.ones(shape, dtype=dtype)


class RandomUniform(Initializer):
    def __init__(self, minval=-0.05, maxval=0.05):
        self.minval, self.maxval = minval, maxval

    def __call__(self, shape, dtype):
        return backend.rng().uniform(self.minval, self.maxval, size=shape).astype(dtype)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval}


class RandomNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05):
        self.mean, self.stddev = mean, stddev

    def __call__(self, shape, dtype):
        return backend.rng().normal(self.mean, self.stddev, size=shape).astype(dtype)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev}


def _truncated_normal(shape, stddev):
    """Normal(0, stddev) redrawn outside two standard deviations (Keras's TruncatedNormal)."""
    values = backend.rng().standard_normal(size=shape)
    outside = np.abs(values) > 2
    while outside.any():
        values[outside] = backend.rng().standard_normal(size=int(outside.sum()))
        outside = np.abs(values) > 2
    return values * stddev


class VarianceScaling(Initializer):
    """Keras's VarianceScaling: scale / fan, drawn truncated-normal, normal or uniform."""

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal"):
        self.scale, self.mode, self.distribution = scale, mode, distribution

    def __call__(self, shape, dtype):
        fan_in, fan_out = compute_fans(shape)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, fan)
        if self.distribution == "uniform":
            limit = np.sqrt(3.0 * variance)
            values = backend.rng().uniform(-limit, limit, size=shape)
        elif self.distribution == "truncated_normal":
            # 0.87962566 = stddev of a unit normal truncated at +-2 (Keras's correction)
            values = _truncated_normal(shape, np.sqrt(variance) / 0.87962566103423978)
        else:
            values = backend.rng().normal(0.0, np.sqrt(variance), size=shape)
        return values.astype(dtype)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution}


class GlorotUniform(VarianceScaling):
    """U(-limit, limit) with limit = sqrt(6 / (fan_in + fan_out))."""

    def __init__(self):
        super().__init__(1.0, "fan_avg", "uniform")

    def get_config(self):
        return {}


class GlorotNormal(VarianceScaling):
    def __init__(self):
        super().__init__(1.0, "fan_avg", "truncated_normal")

    def get_config(self):
        return {}


class HeNormal(VarianceScaling):
    """Truncated normal with stddev sqrt(2 / fan_in)."""

    def __init__(self):
        super().__init__(2.0, "fan_in", "truncated_normal")

    def get_config(self):
        return {}


class HeUniform(VarianceScaling):
    def __init__(self):
        super().__init__(2.0, "fan_in", "uniform")

    def get_config(self):
        return {}


class LecunNormal(VarianceScaling):
    def __init__(self):
        super().__init__(1.0, "fan_in", "truncated_normal")

    def get_config(self):
        return {}


_BY_NAME = {
    "zeros": Zeros,
    "ones": Ones,
    "random_uniform": RandomUniform,
    "random_normal": RandomNormal,
    "glorot_uniform": GlorotUniform,
    "glorot_normal": GlorotNormal,
    "he_normal": HeNormal,
    "he_uniform": HeUniform,
    "lecun_normal": LecunNormal,
    "variance_scaling": VarianceScaling,
}
_CLASS_TO_NAME = {cls: name for name, cls in _BY_NAME.items()}


def get(identifier):
    """An Initializer from a name ('glorot_uniform'), a config dict, or an Initializer."""
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, dict):
        return lookup("initializer", identifier["class_name"], _BY_NAME)(**identifier["config"])
    return lookup("initializer", identifier, _BY_NAME)()


def serialize(initializer):
    """The JSON-safe form of an initializer: its name when it has no settings, else a dict."""
    config = initializer.get_config()
    name = _CLASS_TO_NAME.get(type(initializer))
    if name is None:
        raise TypeError(f"Cannot serialize custom initializer {initializer!r}")
    return name if not config else {"class_name": name, "config": config}
