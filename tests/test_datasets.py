"""Dataset loaders on real data (Debian's Fashion-MNIST, scikit-learn's digits); the IDX reader."""

import gzip
import sys

import numpy as np
import pytest
from conftest import FASHION_DIR, require_real_data

from striate.datasets import CorruptDatasetError, digits, fashion_mnist, read_idx
from striate.datasets._idx import parse_idx


def idx_bytes(array):
    """The IDX encoding of an array (big-endian header and data)."""
    codes = {"u1": 0x08, "i1": 0x09, "i2": 0x0B, "i4": 0x0C, "f4": 0x0D, "f8": 0x0E}
    big = array.astype(array.dtype.newbyteorder(">"))
    header = bytes([0, 0, codes[array.dtype.str[1:]], array.ndim])
    header += b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + big.tobytes()


# --- real data -------------------------------------------------------------------------------


def test_fashion_mnist_real_data_from_debian(monkeypatch):
    require_real_data()
    monkeypatch.delenv("STRIATE_FASHION_MNIST_DIR", raising=False)
    assert FASHION_DIR in fashion_mnist.SOURCE.system_dirs
    # mirrors=[]: this must come from the local files, never from the network.
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data(mirrors=[])
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    for array in (x_train, y_train, x_test, y_test):
        assert array.dtype == np.uint8
    assert y_train.min() == 0 and y_train.max() == 9
    assert np.bincount(y_train, minlength=10).tolist() == [6000] * 10
    assert np.bincount(y_test, minlength=10).tolist() == [1000] * 10
    assert x_train.max() == 255 and x_train.min() == 0
    assert 60 < x_train.mean() < 90  # Fashion-MNIST's mean pixel is about 72.9
    assert x_train.flags.writeable


def test_digits_shapes_classes_and_scaling():
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_digits

    (x_train, y_train), (x_test, y_test) = digits.load_data()
    assert x_train.shape == (1437, 8, 8) and x_test.shape == (360, 8, 8)
    assert y_train.shape == (1437,) and y_test.shape == (360,)
    for array in (x_train, y_train, x_test, y_test):
        assert array.dtype == np.uint8
    assert len(x_train) + len(x_test) == 1797
    assert set(np.unique(y_train)) == set(range(10)) == set(np.unique(y_test))
    # Stratified: each class's test share is 360/1797 of it, give or take one.
    counts = np.bincount(np.concatenate([y_train, y_test]))
    assert np.all(np.abs(np.bincount(y_test) - counts * 360 / 1797) < 1)
    assert x_train.max() == 255 and x_train.min() == 0
    # The split is a partition of the real data, scaled by rint(v * 255 / 16).
    bunch = load_digits()
    expected = np.rint(bunch.images * 255 / 16).astype(np.uint8)

    def pairs(x, y):
        return sorted(a.tobytes() + bytes([b]) for a, b in zip(x, y, strict=True))

    got = pairs(np.concatenate([x_train, x_test]), np.concatenate([y_train, y_test]))
    assert got == pairs(expected, bunch.target)


def test_digits_split_is_deterministic_and_configurable():
    pytest.importorskip("sklearn")
    first, second = digits.load_data(), digits.load_data()
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    (x_train, _), (x_test, y_test) = digits.load_data(test_size=500, seed=3)
    assert len(x_test) == 500 and len(x_train) == 1297
    assert set(np.unique(y_test)) == set(range(10))
    with pytest.raises(ValueError, match=r"test_size must be an integer in 1\.\.1796"):
        digits.load_data(test_size=1797)


def test_digits_without_scikit_learn_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r"pip install 'striate\[digits\]'.*scikit-learn"):
        digits.load_data()


# --- the IDX reader --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["u1", "i1", "i2", "i4", "f4", "f8"])
def test_parse_idx_round_trips_every_type(dtype):
    array = (np.arange(24) - 5).reshape(2, 3, 4).astype(dtype)
    if dtype == "u1":
        array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    parsed = parse_idx(idx_bytes(array))
    np.testing.assert_array_equal(parsed, array)
    assert parsed.dtype == array.dtype and parsed.dtype.isnative
    assert parsed.flags.writeable


def test_read_idx_gzip_and_raw_by_content(tmp_path):
    array = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    raw, packed = tmp_path / "x-idx3-ubyte", tmp_path / "x-idx3-ubyte.gz"
    raw.write_bytes(idx_bytes(array))
    packed.write_bytes(gzip.compress(idx_bytes(array)))
    np.testing.assert_array_equal(read_idx(raw), array)
    np.testing.assert_array_equal(read_idx(packed), array)


def test_truncated_idx_payload_gives_clear_error(tmp_path):
    data = idx_bytes(np.zeros((3, 28, 28), np.uint8))
    path = tmp_path / "images-idx3-ubyte"
    path.write_bytes(data[:-100])
    with pytest.raises(CorruptDatasetError, match=r"truncated: its header says 3 x 28 x 28") as e:
        read_idx(path)
    assert str(path) in str(e.value) and "2252 follow" in str(e.value)


def test_truncated_gzip_gives_clear_error(tmp_path):
    packed = gzip.compress(idx_bytes(np.zeros((50, 28, 28), np.uint8)))
    path = tmp_path / "images-idx3-ubyte.gz"
    path.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(CorruptDatasetError, match="corrupt or truncated gzip data"):
        read_idx(path)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"\x00\x00", "shorter than the 4-byte magic number"),
        (b"PK\x03\x04rest", "not an IDX file: magic number 50 4b 03 04"),
        (bytes([0, 0, 8, 3]) + (60000).to_bytes(4, "big"), "truncated IDX header"),
        (idx_bytes(np.zeros(4, np.uint8)) + b"\x00", "has trailing bytes"),
    ],
)
def test_corrupt_idx_headers(data, message):
    with pytest.raises(CorruptDatasetError, match=message):
        parse_idx(data, source="f")
