"""Global numeric settings: the float type, the fuzz factor and the random generator.

Everything that makes random numbers (initializers, dropout, shuffling) draws from `rng()`,
so `striate.utils.set_random_seed(n)` makes two runs identical.
"""

import numpy as np

_FLOATX = "float32"
_EPSILON = 1e-7
_RNG = np.random.default_rng()


def floatx():
    """The default float type name, 'float32' unless changed.

    >>> floatx()
    'float32'
    """
    return _FLOATX


def set_floatx(value):
    """Set the default float type: 'float32' (default) or 'float64' (for gradient checks)."""
    global _FLOATX
    if value not in ("float32", "float64"):
        raise ValueError(
            f"set_floatx: expected 'float32' or 'float64'. Received: value={value!r}"
        )
    _FLOATX = value


def epsilon():
    """The fuzz factor Keras uses in losses and optimizers (1e-7)."""
    return _EPSILON


def rng():
    """The shared NumPy random generator."""
    return _RNG


def set_seed(seed):
    """Reseed the shared generator (see `striate.utils.set_random_seed`)."""
    global _RNG
    _RNG = np.random.default_rng(seed)
