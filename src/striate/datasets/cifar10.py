"""CIFAR-10: 60,000 32x32 color images in 10 classes (Krizhevsky, 2009), binary version.

The binary version (``cifar-10-binary.tar.gz``) is parsed with NumPy: each record is one label
byte then 3,072 pixel bytes (1,024 red, 1,024 green, 1,024 blue, rows in order). Nothing is
unpickled. Checksum: the SHA-256 TensorFlow Datasets publishes for this file
(``url_checksums/cifar10.txt``, 170,052,171 bytes).
"""

from __future__ import annotations

import os
import tarfile
import zlib
from pathlib import Path

import numpy as np

from . import _fetch
from ._idx import CorruptDatasetError

__all__ = ["CLASS_NAMES", "load_data"]

CLASS_NAMES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
ARCHIVE = "cifar-10-binary.tar.gz"
TRAIN_BATCHES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_BATCH = "test_batch.bin"
_BATCH_DIR = "cifar-10-batches-bin"
_RECORD = 1 + 32 * 32 * 3
_MAX_BATCH_BYTES = 2 * 10000 * _RECORD  # a batch member bigger than this is not CIFAR-10

SOURCE = _fetch.Source(
    name="cifar10",
    title="CIFAR-10",
    files=(ARCHIVE,),
    sha256={ARCHIVE: "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"},
    mirrors=("https://www.cs.toronto.edu/~kriz/",),
    env_var="STRIATE_CIFAR10_DIR",
    files_note="or, extracted, data_batch_1.bin ... data_batch_5.bin and test_batch.bin, "
    "directly or in cifar-10-batches-bin/",
)


def load_data(path=None, *, mirrors=None):
    """Load CIFAR-10, from local files, the cache, or a download (see ``striate.datasets``).

    Local places come first (``path``, then ``$STRIATE_CIFAR10_DIR``); each may hold
    ``cifar-10-binary.tar.gz`` or the extracted ``data_batch_1.bin`` ... ``test_batch.bin``
    (directly or in ``cifar-10-batches-bin/``).

    Args:
        path: optional. A directory as above, searched first, or the ``.tar.gz`` archive itself.
        mirrors: optional base URLs to download from, in order, instead of
            ``$STRIATE_DATASET_MIRRORS`` or the default mirror.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: uint8 images (50000, 32, 32, 3) and
        (10000, 32, 32, 3) in channels-last order, uint8 labels 0-9 (see ``CLASS_NAMES``) of
        shape (50000, 1) and (10000, 1), as Keras gives.

    Raises:
        DatasetUnavailableError: (an OSError) no local copy and every mirror failed.
        CorruptDatasetError: (a ValueError) a truncated or malformed archive or batch file.

    Example:
        >>> (x_train, y_train), (x_test, y_test) = load_data()  # doctest: +SKIP
        >>> x_train.shape, y_train.shape  # doctest: +SKIP
        ((50000, 32, 32, 3), (50000, 1))
    """
    if path is not None and os.path.isfile(path):
        return _from_archive(path)
    for directory in _fetch.local_dirs(SOURCE, path):
        for batch_dir in (directory, directory / _BATCH_DIR):
            batches = [batch_dir / name for name in (*TRAIN_BATCHES, TEST_BATCH)]
            if all(p.is_file() for p in batches):
                return _split({p.name: (p.read_bytes(), str(p)) for p in batches})
    files = _fetch.fetch(SOURCE, path=path, mirrors=mirrors)
    return _from_archive(files[ARCHIVE])


def _from_archive(path):
    """Read the six batches out of the (gzipped or plain) tar archive without extracting it."""
    wanted = {*TRAIN_BATCHES, TEST_BATCH}
    batches = {}
    try:
        with tarfile.open(path, mode="r:*") as archive:
            for member in archive:
                name = Path(member.name).name
                if member.isfile() and name in wanted:
                    if member.size > _MAX_BATCH_BYTES:
                        raise CorruptDatasetError(
                            f"{path}: {member.name} says it holds {member.size} bytes; a "
                            f"CIFAR-10 batch holds {10000 * _RECORD}. Delete the archive and "
                            f"download it again."
                        )
                    batches[name] = (archive.extractfile(member).read(), f"{path}:{member.name}")
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise CorruptDatasetError(
            f"{path}: corrupt or truncated CIFAR-10 archive ({exc}). Delete it and download it "
            f"again."
        ) from exc
    missing = sorted(wanted - set(batches))
    if missing:
        raise CorruptDatasetError(
            f"{path}: the CIFAR-10 archive lacks {', '.join(missing)}; is it the binary version "
            f"({ARCHIVE}), not the Python or MATLAB one?"
        )
    return _split(batches)


def _split(batches):
    train = [_parse_batch(*batches[name]) for name in TRAIN_BATCHES]
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    x_test, y_test = _parse_batch(*batches[TEST_BATCH])
    return (x_train, y_train), (x_test, y_test)


def _parse_batch(data: bytes, source: str):
    """One binary batch -> images (N, 32, 32, 3) uint8 and labels (N, 1) uint8."""
    if len(data) == 0 or len(data) % _RECORD:
        raise CorruptDatasetError(
            f"{source}: a CIFAR-10 batch is whole records of {_RECORD} bytes (1 label + 3072 "
            f"pixels); {len(data)} bytes is {len(data) // _RECORD} records and "
            f"{len(data) % _RECORD} bytes over. The file is truncated or not a CIFAR-10 batch."
        )
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, _RECORD)
    labels = records[:, :1].copy()
    if labels.max() > 9:
        raise CorruptDatasetError(
            f"{source}: CIFAR-10 labels are 0-9. Received: a label of {int(labels.max())}."
        )
    images = records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels
