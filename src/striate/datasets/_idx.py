"""The IDX file format of MNIST and Fashion-MNIST: one reader, gzip or raw.

An IDX file is a 4-byte magic number ``00 00 <type> <ndim>``, then ``ndim`` big-endian uint32
dimension sizes, then the data in C order, big-endian.
"""

from __future__ import annotations

import gzip
import math
import os
import zipfile
import zlib

import numpy as np

__all__ = ["CorruptDatasetError", "load_idx_dataset", "load_npz", "parse_idx", "read_idx"]

# Type code (third byte of the magic number) -> big-endian NumPy dtype.
_TYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"
MAX_IDX_BYTES = 2**28  # data an IDX file may hold (inflated): MNIST's largest holds 47 MB


class CorruptDatasetError(ValueError):
    """A dataset file exists but its contents are not what its format promises."""


def parse_idx(data: bytes, source: str = "<bytes>") -> np.ndarray:
    """Decode the bytes of an (uncompressed) IDX file into an array.

    Args:
        data: the whole file, header included.
        source: a name for the data, used in error messages.

    Returns:
        A writable array in native byte order with the shape the header gives.

    Raises:
        CorruptDatasetError: bad magic number, short header, or a data size that does not match
            the dimensions.

    Example:
        >>> header = bytes([0, 0, 0x08, 2]) + (2).to_bytes(4, "big") + (3).to_bytes(4, "big")
        >>> parse_idx(header + bytes(range(6)))
        array([[0, 1, 2],
               [3, 4, 5]], dtype=uint8)
    """
    if len(data) < 4:
        raise CorruptDatasetError(
            f"{source}: not an IDX file: {len(data)} bytes is shorter than the 4-byte magic "
            f"number. The file is truncated or empty; delete it and download it again."
        )
    zero0, zero1, type_code, ndim = data[0], data[1], data[2], data[3]
    if zero0 != 0 or zero1 != 0 or type_code not in _TYPES:
        raise CorruptDatasetError(
            f"{source}: not an IDX file: magic number {data[:4].hex(' ')} should be "
            f"00 00 <type> <ndim> with type one of "
            f"{', '.join(f'{t:02x}' for t in _TYPES)}. Received: magic={data[:4].hex(' ')}."
        )
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise CorruptDatasetError(
            f"{source}: truncated IDX header: {ndim} dimensions need {header_size} header bytes "
            f"but the file holds {len(data)}."
        )
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = _TYPES[type_code]
    expected = _data_size(dims, dtype, source)
    actual = len(data) - header_size
    if actual != expected:
        shape = " x ".join(str(d) for d in dims) or "scalar"
        problem = "truncated" if actual < expected else "has trailing bytes"
        raise CorruptDatasetError(
            f"{source}: IDX file {problem}: its header says {shape} values of "
            f"{dtype.itemsize} byte(s) = {expected} data bytes, but {actual} follow the "
            f"{header_size}-byte header. Delete the file and download it again."
        )
    array = np.frombuffer(data, dtype=dtype, offset=header_size).reshape(dims)
    return array.astype(dtype.newbyteorder("="), copy=True)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file, gzip-compressed or raw (told apart by content, not by name).

    Args:
        path: the file, e.g. ``train-images-idx3-ubyte.gz`` or ``train-images-idx3-ubyte``.

    Returns:
        A writable array in native byte order, e.g. uint8 of shape (60000, 28, 28).

    Raises:
        CorruptDatasetError: a truncated or corrupt gzip stream or IDX payload; the message
            names the file.

    Example:
        >>> x = read_idx("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")
        ... # doctest: +SKIP
        >>> x.shape, x.dtype  # doctest: +SKIP
        ((10000, 28, 28), dtype('uint8'))
    """
    path = os.fspath(path)
    with open(path, "rb") as raw:
        compressed = raw.read(2) == _GZIP_MAGIC
    try:  # the header first: the data it announces is checked before any of it is read
        with (gzip.open if compressed else open)(path, "rb") as handle:
            data = handle.read(4)
            if len(data) == 4 and data[:2] == b"\0\0":
                data += handle.read(4 * data[3])
                if len(data) == 4 + 4 * data[3] and data[2] in _TYPES:
                    dims = [
                        int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(data[3])
                    ]
                    data += handle.read(_data_size(dims, _TYPES[data[2]], path) + 1)
    except (EOFError, OSError, zlib.error) as exc:
        raise CorruptDatasetError(
            f"{path}: corrupt or truncated gzip data ({exc}). Delete the file and download "
            f"it again."
        ) from exc
    return parse_idx(data, source=path)


def _data_size(dims, dtype, source):
    """The bytes of data the header's `dims` announce, refused over MAX_IDX_BYTES."""
    size = math.prod(dims) * dtype.itemsize
    if size > MAX_IDX_BYTES:
        shape = " x ".join(str(d) for d in dims)
        raise CorruptDatasetError(
            f"{source}: its IDX header says {shape} values of {dtype.itemsize} byte(s) = {size} "
            f"bytes, over the limit of {MAX_IDX_BYTES} (MAX_IDX_BYTES). The file is damaged or "
            f"not an MNIST-style dataset; delete it and download it again."
        )
    return size


def load_idx_dataset(files, title: str):
    """Read MNIST-layout files ``{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]`` into splits.

    Args:
        files: ``{download name: path}``, as returned by ``_fetch.fetch``.
        title: the dataset's name, for error messages.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: uint8 images (N, H, W) and uint8 labels (N,).
    """
    splits = []
    for prefix in ("train", "t10k"):
        images_path = files[f"{prefix}-images-idx3-ubyte.gz"]
        labels_path = files[f"{prefix}-labels-idx1-ubyte.gz"]
        images = read_idx(images_path)
        labels = read_idx(labels_path)
        _check_split(title, images, labels, f"{images_path} and {labels_path}")
        splits.append((images, labels))
    return tuple(splits)


def load_npz(path, title: str):
    """Read Keras's ``mnist.npz`` layout (x_train, y_train, x_test, y_test), never unpickling.

    Args:
        path: the ``.npz`` file.
        title: the dataset's name, for error messages.

    Returns:
        ``(x_train, y_train), (x_test, y_test)`` as stored (uint8 for Keras's file).
    """
    keys = ("x_train", "y_train", "x_test", "y_test")
    try:
        _check_npz_sizes(path)
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in keys if k not in archive.files]
            if missing:
                raise CorruptDatasetError(
                    f"{path}: a {title} .npz needs arrays {', '.join(keys)}; missing "
                    f"{', '.join(missing)}. Received: arrays {', '.join(archive.files)}."
                )
            arrays = {k: archive[k] for k in keys}
    except (OSError, ValueError, EOFError, MemoryError, zipfile.BadZipFile) as exc:
        if isinstance(exc, CorruptDatasetError):
            raise
        raise CorruptDatasetError(f"{path}: not a readable .npz file ({exc}).") from exc
    _check_split(title, arrays["x_train"], arrays["y_train"], path)
    _check_split(title, arrays["x_test"], arrays["y_test"], path)
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def _check_npz_sizes(path):
    """Each member's declared size and its .npy header's, checked before numpy allocates."""
    with zipfile.ZipFile(path) as members:
        for info in members.infolist():
            size = info.file_size
            if info.filename.endswith(".npy") and size <= MAX_IDX_BYTES:
                with members.open(info) as member:
                    try:
                        version = np.lib.format.read_magic(member)
                        reader = (
                            np.lib.format.read_array_header_1_0
                            if version == (1, 0)
                            else np.lib.format.read_array_header_2_0
                        )
                        shape, _, dtype = reader(member)
                    except Exception as exc:  # ValueError, SyntaxError, TokenError...
                        raise CorruptDatasetError(
                            f"{path}: {info.filename} is not a valid .npy array ({exc})."
                        ) from None
                    size = math.prod(shape) * dtype.itemsize
                    if size > info.file_size - member.tell():
                        raise CorruptDatasetError(
                            f"{path}: {info.filename} says it holds {size} bytes of data but has "
                            f"{info.file_size - member.tell()}. Delete the file and download it "
                            f"again."
                        )
            if size > MAX_IDX_BYTES:
                raise CorruptDatasetError(
                    f"{path}: {info.filename} says it holds {size} bytes, over the limit of "
                    f"{MAX_IDX_BYTES} (MAX_IDX_BYTES). Delete the file and download it again."
                )


def _check_split(title, images, labels, source) -> None:
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise CorruptDatasetError(
            f"{source}: {title} needs images (N, height, width) and labels (N,) with the same N. "
            f"Received: images shape {images.shape}, labels shape {labels.shape}."
        )
