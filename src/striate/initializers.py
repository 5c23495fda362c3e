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
    """A weight initializer: `initializer(shape, dtype)` gives a new ndarray.

    Random ones take Keras's `seed`: an int makes every call draw the same values (Keras 3's
    rule); None draws from striate's shared generator (`striate.utils.set_random_seed`)."""

    seed = None

    @abc.abstractmethod
    def __call__(self, shape, dtype=None):
        """Return a new ndarray of `shape` and `dtype`."""

    def rng(self):
        return backend.rng() if self.seed is None else np.random.default_rng(self.seed)

    def get_config(self):
        return {}

    def __repr__(self):
        return f"{type(self).__name__}({self.get_config()})"


def _dtype(dtype):
    return np.dtype(dtype or backend.floatx())


class Zeros(Initializer):
    def __call__(self, shape, dtype=None):
        return np.zeros(shape, dtype=_dtype(dtype))


class Ones(Initializer):
    def __call__(self, shape, dtype=None):
        return np.ones(shape, dtype=_dtype(dtype))


class Constant(Initializer):
    """Every value `value`."""

    def __init__(self, value=0.0):
        self.value = float(value)

    def __call__(self, shape, dtype=None):
        return np.full(shape, self.value, dtype=_dtype(dtype))

    def get_config(self):
        return {"value": self.value}


class RandomUniform(Initializer):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval, self.maxval, self.seed = minval, maxval, seed

    def __call__(self, shape, dtype=None):
        return self.rng().uniform(self.minval, self.maxval, size=shape).astype(_dtype(dtype))

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class RandomNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def __call__(self, shape, dtype=None):
        return self.rng().normal(self.mean, self.stddev, size=shape).astype(_dtype(dtype))

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


def _truncated_normal(shape, stddev, rng=None):
    """Normal(0, stddev) redrawn outside two standard deviations (Keras's TruncatedNormal)."""
    rng = rng or backend.rng()
    values = rng.standard_normal(size=shape)
    outside = np.abs(values) > 2
    while outside.any():
        values[outside] = rng.standard_normal(size=int(outside.sum()))
        outside = np.abs(values) > 2
    return values * stddev


class TruncatedNormal(Initializer):
    """Normal(mean, stddev) redrawn beyond two standard deviations of the mean."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def __call__(self, shape, dtype=None):
        values = self.mean + _truncated_normal(shape, self.stddev, self.rng())
        return values.astype(_dtype(dtype))

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class Orthogonal(Initializer):
    """A (semi-)orthogonal matrix times `gain`, from the QR decomposition of a normal draw
    (rows = product of all but the last dimension), as Keras."""

    def __init__(self, gain=1.0, seed=None):
        self.gain, self.seed = gain, seed

    def __call__(self, shape, dtype=None):
        if len(shape) < 2:
            raise ValueError(f"Orthogonal: needs a shape of rank 2 or more. Received: {shape}")
        rows, cols = int(np.prod(shape[:-1])), shape[-1]
        flat = self.rng().normal(0.0, 1.0, size=(max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(flat)
        q = q * np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return (self.gain * q.reshape(shape)).astype(_dtype(dtype))

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed}


class Identity(Initializer):
    """`gain` times the identity matrix (2-D shapes only)."""

    def __init__(self, gain=1.0):
        self.gain = gain

    def __call__(self, shape, dtype=None):
        if len(shape) != 2:
            raise ValueError(f"Identity: needs a 2-D shape. Received: {shape}")
        return (self.gain * np.eye(*shape)).astype(_dtype(dtype))

    def get_config(self):
        return {"gain": self.gain}


class VarianceScaling(Initializer):
    """Keras's VarianceScaling: scale / fan, drawn truncated-normal, normal or uniform."""

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        self.scale, self.mode, self.distribution, self.seed = scale, mode, distribution, seed

    def __call__(self, shape, dtype=None):
        fan_in, fan_out = compute_fans(shape)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, fan)
        rng = self.rng()
        if self.distribution == "uniform":
            limit = np.sqrt(3.0 * variance)
            values = rng.uniform(-limit, limit, size=shape)
        elif self.distribution == "truncated_normal":
            # 0.87962566 = stddev of a unit normal truncated at +-2 (Keras's correction)
            values = _truncated_normal(shape, np.sqrt(variance) / 0.87962566103423978, rng)
        else:
            values = rng.normal(0.0, np.sqrt(variance), size=shape)
        return values.astype(_dtype(dtype))

    def get_config(self):
        config = {"scale": self.scale, "mode": self.mode, "distribution": self.distribution}
        return config if self.seed is None else {**config, "seed": self.seed}


class GlorotUniform(VarianceScaling):
    """U(-limit, limit) with limit = sqrt(6 / (fan_in + fan_out))."""

    def __init__(self, seed=None):
        super().__init__(1.0, "fan_avg", "uniform", seed)

    def get_config(self):
        return {} if self.seed is None else {"seed": self.seed}


class GlorotNormal(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(1.0, "fan_avg", "truncated_normal", seed)

    def get_config(self):
        return {} if self.seed is None else {"seed": self.seed}


class HeNormal(VarianceScaling):
    """Truncated normal with stddev sqrt(2 / fan_in)."""

    def __init__(self, seed=None):
        super().__init__(2.0, "fan_in", "truncated_normal", seed)

    def get_config(self):
        return {} if self.seed is None else {"seed": self.seed}


class HeUniform(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(2.0, "fan_in", "uniform", seed)

    def get_config(self):
        return {} if self.seed is None else {"seed": self.seed}


class LecunNormal(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(1.0, "fan_in", "truncated_normal", seed)

    def get_config(self):
        return {} if self.seed is None else {"seed": self.seed}


class LecunUniform(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(1.0, "fan_in", "uniform", seed)

    def get_config(self):
        return {} if self.seed is None else {"seed": self.seed}


class _Function(Initializer):
    """A user's function `f(shape, dtype=None)` used as an initializer (not saved in files)."""

    def __init__(self, function):
        self.function = function

    def __call__(self, shape, dtype=None):
        return np.asarray(self.function(shape, dtype=_dtype(dtype)), dtype=_dtype(dtype))


_BY_NAME = {
    "constant": Constant,
    "truncated_normal": TruncatedNormal,
    "orthogonal": Orthogonal,
    "identity": Identity,
    "lecun_uniform": LecunUniform,
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
    if callable(identifier) and not isinstance(identifier, (str, type)):
        return _Function(identifier)
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


# Keras's aliases (keras.initializers.he_normal is HeNormal, ...)
zeros, ones, constant = Zeros, Ones, Constant
random_uniform, random_normal, truncated_normal = RandomUniform, RandomNormal, TruncatedNormal
glorot_uniform, glorot_normal, he_normal, he_uniform = (
    GlorotUniform,
    GlorotNormal,
    HeNormal,
    HeUniform,
)
lecun_normal, lecun_uniform, variance_scaling = LecunNormal, LecunUniform, VarianceScaling
orthogonal, identity = Orthogonal, Identity
OrthogonalInitializer, IdentityInitializer = Orthogonal, Identity
