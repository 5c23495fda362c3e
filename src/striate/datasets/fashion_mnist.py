"""Fashion-MNIST: 70,000 Zalando article images, 28x28 grayscale, 10 classes (MIT license).

Labels: 0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress, 4 Coat, 5 Sandal, 6 Shirt, 7 Sneaker,
8 Bag, 9 Ankle boot.

Checksums: the SHA-256 values Keras (``keras/src/datasets/fashion_mnist.py``) and TensorFlow
Datasets (``url_checksums/fashion_mnist.txt``) both publish for these files. Debian's package
``dataset-fashion-mnist`` recompresses the same data, so its .gz bytes differ; local directories
are read as they are, without a checksum.
"""

from __future__ import annotations

import os

from . import _fetch
from ._idx import load_idx_dataset, load_npz

__all__ = ["CLASS_NAMES", "load_data"]

CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

SHA256 = {
    "train-images-idx3-ubyte.gz": (
        "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"
    ),
    "train-labels-idx1-ubyte.gz": (
        "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"
    ),
    "t10k-images-idx3-ubyte.gz": (
        "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"
    ),
    "t10k-labels-idx1-ubyte.gz": (
        "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"
    ),
}

SOURCE = _fetch.Source(
    name="fashion-mnist",
    title="Fashion-MNIST",
    files=tuple(SHA256),
    sha256=SHA256,
    mirrors=(
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    ),
    env_var="STRIATE_FASHION_MNIST_DIR",
    system_dirs=("/usr/share/datasets/fashion-mnist",),
    install_hint="Debian/Ubuntu: apt-get install dataset-fashion-mnist",
)


def load_data(path=None, *, mirrors=None):
    """Load Fashion-MNIST, from local files, the cache, or a download (see ``striate.datasets``).

    Local places come first: ``path``, ``$STRIATE_FASHION_MNIST_DIR``, then Debian's
    ``/usr/share/datasets/fashion-mnist``.

    Args:
        path: optional. A directory holding the four IDX files (gzip-compressed or not), searched
            first, or an ``.npz`` file with arrays x_train, y_train, x_test, y_test.
        mirrors: optional base URLs to download from, in order, instead of
            ``$STRIATE_DATASET_MIRRORS`` or the default mirrors.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: uint8 images of shape (60000, 28, 28) and
        (10000, 28, 28), uint8 labels 0-9 (see ``CLASS_NAMES``) of shape (60000,) and (10000,).

    Raises:
        DatasetUnavailableError: (an OSError) no local copy and every mirror failed; the message
            lists the URLs tried, the files needed and where to put them.
        CorruptDatasetError: (a ValueError) a local file is truncated or malformed.

    Example:
        >>> (x_train, y_train), (x_test, y_test) = load_data()  # doctest: +SKIP
        >>> x_train.shape, CLASS_NAMES[y_train[0]]  # doctest: +SKIP
        ((60000, 28, 28), 'Ankle boot')
    """
    if path is not None and os.path.isfile(path):
        return load_npz(path, SOURCE.title)
    files = _fetch.fetch(SOURCE, path=path, mirrors=mirrors)
    return load_idx_dataset(files, SOURCE.title)
