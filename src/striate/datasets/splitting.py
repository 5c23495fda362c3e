"""Keras 3's ``split_dataset``: a left and a right part of arrays or of a striate Dataset.

Sizes and shuffle follow Keras's rules exactly (``_rescale_dataset_split_sizes``: a float is a
fraction rounded with ``round``, an int a count, None the complement; shuffling with Python's
``random`` seeded by ``seed``, the left part first, the right part last). Arrays give arrays
(what ``fit`` takes) where Keras gives tf.data datasets; a dataset from
``image_dataset_from_directory`` is split by files, lazily; another Dataset is read into
arrays first (as Keras reads a tf.data dataset into a list).
"""

from __future__ import annotations

import random

import numpy as np

from striate.datasets.pipeline import Dataset, from_arrays

__all__ = ["split_dataset"]


def split_dataset(dataset, left_size=None, right_size=None, shuffle=False, seed=None):
    """Split `dataset` into ``(left, right)``, as ``keras.utils.split_dataset``.

    Args:
        dataset: an array, a list/tuple of arrays of the same length, or a striate Dataset.
        left_size: a fraction in (0, 1), a number of samples, or None (the rest).
        right_size: the same for the right part.
        shuffle: shuffle the samples before splitting.
        seed: the shuffle's seed (None: drawn from Python's ``random``, as Keras does).

    Returns:
        Two arrays (or tuples/lists of arrays) for array input; two Datasets for a Dataset
        (batched as it was).

    Example:
        >>> left, right = split_dataset(np.arange(10), left_size=0.8)
        >>> left.tolist(), right.tolist()
        ([0, 1, 2, 3, 4, 5, 6, 7], [8, 9])
    """
    if right_size is None and left_size is None:
        raise ValueError(
            "split_dataset: give left_size or right_size (or both). "
            "Received: left_size=None and right_size=None"
        )
    files = getattr(dataset, "_subset", None)
    if isinstance(dataset, Dataset) and files is not None:
        total = len(dataset.file_paths)
    elif isinstance(dataset, Dataset):
        size = getattr(dataset, "batch_size", 0)
        if size == 0:  # not known: the first batch's
            first = next(iter(dataset))
            size = len(first[0] if isinstance(first, tuple) else first)
        left, right = split_dataset(
            _read(dataset, size is not None), left_size, right_size, shuffle, seed
        )
        return from_arrays(left, size), from_arrays(right, size)
    elif isinstance(dataset, np.ndarray):
        total = len(dataset)
    elif isinstance(dataset, (list, tuple)) and dataset:
        parts = [np.asarray(part) for part in dataset]
        if any(len(part) != len(parts[0]) for part in parts):
            raise ValueError(
                f"split_dataset: the arrays must have the same length. "
                f"Received: lengths {[len(part) for part in parts]}"
            )
        total = len(parts[0])
    else:
        raise TypeError(
            f"split_dataset: dataset must be an array, a list/tuple of arrays or a striate "
            f"Dataset. Received: {type(dataset).__name__}"
        )
    order = list(range(total))
    if shuffle:
        if seed is None:
            seed = random.randint(0, int(1e6))
        random.Random(seed).shuffle(order)
    left_size, right_size = _sizes(left_size, right_size, total)
    left, right = np.array(order[:left_size]), np.array(order[-right_size:])
    if files is not None:
        return files(left), files(right)
    if isinstance(dataset, np.ndarray):
        return dataset[left], dataset[right]
    kind = type(dataset)
    return kind(part[left] for part in parts), kind(part[right] for part in parts)


def _read(dataset, batched):
    """A Dataset's samples as arrays (a tuple of them for tuple batches)."""
    join = np.concatenate if batched else np.stack
    batches = list(dataset)
    if batches and isinstance(batches[0], tuple):
        return tuple(join([b[i] for b in batches]) for i in range(len(batches[0])))
    return join(batches)


def _sizes(left_size, right_size, total):
    """Keras's ``_rescale_dataset_split_sizes``: (left, right) sample counts."""
    for name, size in (("left_size", left_size), ("right_size", right_size)):
        if size is not None and (isinstance(size, bool) or not isinstance(size, (int, float))):
            raise TypeError(
                f"split_dataset: {name} must be an int, a float or None. Received: {name}={size!r}"
            )
        if (isinstance(size, int) and not 0 < size < total) or (
            isinstance(size, float) and not 0 < size < 1
        ):
            raise ValueError(
                f"split_dataset: {name} must be a positive int smaller than {total} or a float "
                f"in (0, 1). Received: {name}={size!r}"
            )
    if (
        isinstance(left_size, float)
        and isinstance(right_size, float)
        and left_size + right_size > 1
    ):
        raise ValueError(
            f"split_dataset: left_size + right_size must be at most 1. "
            f"Received: {left_size} + {right_size}"
        )
    left = round(left_size * total) if isinstance(left_size, float) else left_size
    right = round(right_size * total) if isinstance(right_size, float) else right_size
    left = total - right if left is None else left
    right = total - left if right is None else right
    if left + right > total:
        raise ValueError(
            f"split_dataset: left_size + right_size must be at most the {total} samples. "
            f"Received: {left} + {right}"
        )
    if not left or not right:
        raise ValueError(
            f"split_dataset: with {total} samples, left_size={left_size} and "
            f"right_size={right_size} leave the {'left' if not left else 'right'} part empty."
        )
    return int(left), int(right)
