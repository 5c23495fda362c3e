"""Small user-facing utilities."""

import random

import numpy as np

from striate import backend

# Keras's data and image utilities, as keras.utils has them
from striate.datasets.get_file import get_file  # noqa: F401
from striate.datasets.image_dataset import image_dataset_from_directory  # noqa: F401
from striate.datasets.image_utils import array_to_img, img_to_array, load_img, save_img  # noqa: F401
from striate.datasets.splitting import split_dataset  # noqa: F401
from striate.models.data_adapters import PyDataset  # noqa: F401
from striate.models.plot import model_to_dot, plot_model  # noqa: F401


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


def to_categorical(x, num_classes=None):
    """One-hot rows for integer class labels, as `keras.utils.to_categorical` gives them.

    A trailing axis of size 1 is dropped first (CIFAR's `(n, 1)` labels give `(n, classes)`);
    the class axis is last; the result is float64 (Keras's dtype for NumPy input), whatever the
    labels' dtype. Labels are cast to int64 as Keras casts them.

    Args:
        x: labels, array-like of ints in `0..num_classes - 1`.
        num_classes: the number of classes; None (or 0) means `max(x) + 1`.

    Returns:
        ndarray of float64, shape `x.shape + (num_classes,)` (after the squeeze).

    >>> to_categorical([0, 2], num_classes=3)
    array([[1., 0., 0.],
           [0., 0., 1.]])
    """
    labels = np.array(getattr(x, "data", x), dtype="int64")
    shape = labels.shape
    if len(shape) > 1 and shape[-1] == 1:
        shape = shape[:-1]
    labels = labels.reshape(-1)
    if not num_classes:
        if labels.size == 0:
            raise ValueError(
                "to_categorical: cannot infer num_classes from no labels; pass num_classes. "
                f"Received: x with shape {np.shape(labels)}"
            )
        num_classes = int(labels.max()) + 1
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
        raise TypeError(f"to_categorical: num_classes must be an int. Received: {num_classes!r}")
    wrong = (labels < 0) | (labels >= num_classes)
    if wrong.any():
        raise ValueError(
            f"to_categorical: labels must be in 0..{num_classes - 1} (num_classes="
            f"{num_classes}). Received: label {labels[wrong][0]} at index "
            f"{int(np.flatnonzero(wrong)[0])}"
        )
    categorical = np.zeros((labels.size, int(num_classes)))
    categorical[np.arange(labels.size), labels] = 1
    return categorical.reshape(shape + (int(num_classes),))


def normalize(x, axis=-1, order=2):
    """`x` divided by its `order`-norm along `axis` (zero norms count as 1), as
    `keras.utils.normalize` does for NumPy input.

    Args:
        x: array-like.
        axis: the axis the norm is taken along.
        order: the norm's order (`np.linalg.norm`'s `ord`): 2 for L2, 1 for L1...

    Returns:
        ndarray of the shape of `x` (float); a 1-D `x` gives shape `(1, n)`, as in Keras.
        Where Keras would divide along the last axis for `axis=0`, this divides along axis 0.

    >>> normalize(np.array([[3.0, 4.0], [0.0, 0.0]]))
    array([[0.6, 0.8],
           [0. , 0. ]])
    """
    x = np.asarray(getattr(x, "data", x))
    norm = np.atleast_1d(np.linalg.norm(x, order, axis))
    norm[norm == 0] = 1
    return x / np.expand_dims(norm, -1 if axis is None else axis)


# Keras 2's name for PyDataset, which Keras 3 keeps as an alias.
Sequence = PyDataset


def pack_x_y_sample_weight(x, y=None, sample_weight=None):
    """`(x,)`, `(x, y)` or `(x, y, sample_weight)`: a batch as a data source yields it (Keras's;
    a lone tuple `x` is wrapped so it is not read as `(x, y)`)."""
    if y is None:
        return x if not isinstance(x, (list, tuple)) else (x,)
    if sample_weight is None:
        return (x, y)
    return (x, y, sample_weight)


def unpack_x_y_sample_weight(data):
    """`(x, y, sample_weight)` of a batch, None for what it lacks (Keras's)."""
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return (data, None, None)
    if len(data) in (1, 2, 3):
        return data + (None,) * (3 - len(data))
    raise ValueError(
        f"unpack_x_y_sample_weight: a batch is (x,), (x, y) or (x, y, sample_weight). "
        f"Received: a tuple of {len(data)} items."
    )
