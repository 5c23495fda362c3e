"""The 1,797 real 8x8 handwritten digits scikit-learn ships (UCI optdigits test set).

Needs scikit-learn (``pip install 'striate[digits]'``); no download, the data is in the package.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CLASS_NAMES", "load_data"]

CLASS_NAMES = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9")  # label i is the digit i


def load_data(test_size: int = 360, seed: int = 0):
    """Load scikit-learn's digits as 8x8 uint8 images, split into train and test.

    Pixel values 0..16 are scaled like an image to 0..255: ``np.rint(v * 255 / 16)``, so 0 stays
    0, 8 becomes 128 and 16 becomes 255. The split is stratified and deterministic: each class
    gives its share of ``test_size`` (largest remainders settle the rounding), chosen by a
    ``numpy.random.RandomState(seed)`` permutation, whose stream NumPy keeps fixed across
    versions. Both splits come in that permuted (class-mixed) order.

    Args:
        test_size: how many of the 1,797 images go to the test split (1..1796).
        seed: seed of the permutation.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: uint8 images (N, 8, 8) and uint8 labels 0-9
        (N,); 1,437 train and 360 test by default.

    Raises:
        ImportError: scikit-learn is not installed.
        ValueError: test_size out of range.

    Example:
        >>> (x_train, y_train), (x_test, y_test) = load_data()
        >>> x_train.shape, x_test.shape, x_train.dtype, int(x_train.max())
        ((1437, 8, 8), (360, 8, 8), dtype('uint8'), 255)
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise ImportError(
            "striate.datasets.digits needs scikit-learn, which bundles the digits data. "
            "Install it with: pip install 'striate[digits]'  (or: pip install scikit-learn)"
        ) from exc
    bunch = load_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)
    labels = bunch.target.astype(np.uint8)
    total = len(labels)
    if not isinstance(test_size, (int, np.integer)) or not 0 < test_size < total:
        raise ValueError(
            f"digits.load_data: test_size must be an integer in 1..{total - 1}. "
            f"Received: test_size={test_size!r}."
        )
    order = np.random.RandomState(seed).permutation(total)
    classes, counts = np.unique(labels, return_counts=True)
    share = counts * test_size / total
    per_class = np.floor(share).astype(int)
    remainder_order = np.argsort(-(share - per_class), kind="stable")
    per_class[remainder_order[: test_size - per_class.sum()]] += 1
    is_test = np.zeros(total, dtype=bool)
    for cls, n_test in zip(classes, per_class, strict=True):
        members = order[labels[order] == cls]
        is_test[members[:n_test]] = True
    test_idx = order[is_test[order]]
    train_idx = order[~is_test[order]]
    return (images[train_idx], labels[train_idx]), (images[test_idx], labels[test_idx])
