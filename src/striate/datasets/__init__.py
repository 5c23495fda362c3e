"""Datasets with Keras's ``load_data()`` API: mnist, fashion_mnist, cifar10, digits.

Each ``load_data()`` looks for its files in this order: the ``path=`` argument, a directory
named by an environment variable (``STRIATE_MNIST_DIR``, ``STRIATE_FASHION_MNIST_DIR``,
``STRIATE_CIFAR10_DIR``), system directories (Debian's ``/usr/share/datasets/fashion-mnist``),
the cache (``$STRIATE_HOME/datasets``, else ``$XDG_CACHE_HOME/striate/datasets``, else
``~/.cache/striate/datasets``), then mirrors (``mirrors=``, else ``$STRIATE_DATASET_MIRRORS``,
comma-separated base URLs, else the defaults), with every download checked against its
published SHA-256. When all of that fails, :class:`DatasetUnavailableError` says what was tried
and where to put the files. ``digits`` needs scikit-learn and no download.
"""

from . import cifar10, digit_photo, digits, fashion_mnist, images, mnist
from ._fetch import DatasetUnavailableError, cache_dir
from ._idx import CorruptDatasetError, read_idx
from .digit_photo import load_digit_photo, mnist_like
from .image_dataset import image_dataset_from_directory
from .image_folder import load_image_folder
from .images import load_image
from .pipeline import Dataset, from_arrays

__all__ = [
    "CorruptDatasetError",
    "Dataset",
    "DatasetUnavailableError",
    "cache_dir",
    "cifar10",
    "digit_photo",
    "digits",
    "fashion_mnist",
    "from_arrays",
    "image_dataset_from_directory",
    "images",
    "load_digit_photo",
    "load_image",
    "load_image_folder",
    "mnist",
    "mnist_like",
    "read_idx",
]
