"""MNIST: 70,000 handwritten digits, 28x28 grayscale (LeCun, Cortes and Burges).

Checksums: the SHA-256 values TensorFlow Datasets publishes for these exact files
(``tensorflow_datasets/url_checksums/mnist.txt``; sizes 9,912,422 / 28,881 / 1,648,877 / 4,542
bytes, the same as Yann LeCun's originals that every mirror copies).
"""

from __future__ import annotations

import os

from . import _fetch
from ._idx import load_idx_dataset, load_npz

__all__ = ["CLASS_NAMES", "load_data"]

CLASS_NAMES = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9")  # label i is the digit i

SHA256 = {
    "train-images-idx3-ubyte.gz": (
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"
    ),
    "train-labels-idx1-ubyte.gz": (
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"
    ),
    "t10k-images-idx3-ubyte.gz": (
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"
    ),
    "t10k-labels-idx1-ubyte.gz": (
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"
    ),
}

SOURCE = _fetch.Source(
    name="mnist",
    title="MNIST",
    files=tuple(SHA256),
    sha256=SHA256,
    mirrors=(
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    env_var="STRIATE_MNIST_DIR",
)


def load_data(path=None, *, mirrors=None):
    """Load MNIST, from local files, the cache, or a download (see ``striate.datasets``).

    Args:
        path: optional. A directory holding the four IDX files (gzip-compressed or not), searched
            first, or Keras's ``mnist.npz`` file, read directly.
        mirrors: optional base URLs to download from, in order, instead of
            ``$STRIATE_DATASET_MIRRORS`` or the default mirrors.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: uint8 images of shape (60000, 28, 28) and
        (10000, 28, 28), uint8 labels 0-9 of shape (60000,) and (10000,), as Keras gives.

    Raises:
        DatasetUnavailableError: (an OSError) no local copy and every mirror failed; the message
            lists the URLs tried, the files needed and where to put them.
        CorruptDatasetError: (a ValueError) a local file is truncated or malformed.

    Example:
        >>> (x_train, y_train), (x_test, y_test) = load_data()  # doctest: +SKIP
        >>> x_train.shape, y_train.shape, x_train.dtype  # doctest: +SKIP
        ((60000, 28, 28), (60000,), dtype('uint8'))
    """
    if path is not None and os.path.isfile(path):
        return load_npz(path, SOURCE.title)
    files = _fetch.fetch(SOURCE, path=path, mirrors=mirrors)
    return load_idx_dataset(files, SOURCE.title)
