"""Small user-facing utilities."""

import random

import numpy as np

from striate import backend
from striate.datasets.images import image_dataset_from_directory  # noqa: F401 (as keras.utils)


def set_random_seed(seed):
    """Seed every generator striate uses (weights, dropout, shuffling) and Python's and NumPy's.

    Two runs with the same seed give identical weights and losses.

    Args:
        seed: a non-negative int.

    >>> set_random_seed(0)
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"set_random_seed: expected a non-negative int. Received: seed={seed!r}")
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    backend.set_seed(int(seed))
