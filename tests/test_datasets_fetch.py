"""Finding and downloading datasets, against a local HTTP server on 127.0.0.1 (no real network).

The server serves small IDX and CIFAR files the tests generate; their SHA-256 replace the
published ones through ``dataclasses.replace(module.SOURCE, sha256=...)``.
"""

import collections
import dataclasses
import gzip
import hashlib
import http.server
import io
import socket
import sys
import tarfile
import threading

import numpy as np
import pytest
from test_datasets import idx_bytes

from striate.datasets import (
    CorruptDatasetError,
    DatasetUnavailableError,
    _fetch,
    cache_dir,
    cifar10,
    fashion_mnist,
    mnist,
)

MNIST_FILES = mnist.SOURCE.files


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """A fresh cache; no dataset env vars; default mirrors replaced by a refused port."""
    for var in (
        "STRIATE_MNIST_DIR",
        "STRIATE_FASHION_MNIST_DIR",
        "STRIATE_CIFAR10_DIR",
        "STRIATE_DATASET_MIRRORS",
        "XDG_CACHE_HOME",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("STRIATE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    for module in (mnist, fashion_mnist, cifar10):
        offline = dataclasses.replace(module.SOURCE, mirrors=(refused_url(),), system_dirs=())
        monkeypatch.setattr(module, "SOURCE", offline)


def refused_url():
    """A base URL on 127.0.0.1 where nothing listens: connection refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.hits[self.path] += 1
        body = self.server.routes.get(self.path)
        if body is None:
            self.send_error(404)
            return
        declared = len(body)
        if isinstance(body, tuple):  # ("short", body): promise more bytes than are sent
            body = body[1]
            declared = len(body) + 1000
        self.send_response(200)
        self.send_header("Content-Length", str(declared))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.routes, httpd.hits = {}, collections.Counter()
    httpd.url = lambda prefix: f"http://127.0.0.1:{httpd.server_address[1]}/{prefix}/"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def mnist_like(seed=0, n_train=12, n_test=5):
    """Small synthetic MNIST: arrays, {file name: gzip bytes}, {file name: SHA-256}."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    files = {name: gzip.compress(idx_bytes(a), mtime=0) for name, a in arrays.items()}
    sums = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    return arrays, files, sums


def serve(server, prefix, files):
    for name, data in files.items():
        server.routes[f"/{prefix}/{name}"] = data


def use_checksums(monkeypatch, module, sums):
    monkeypatch.setattr(module, "SOURCE", dataclasses.replace(module.SOURCE, sha256=sums))


def assert_mnist_equal(result, arrays):
    (x_train, y_train), (x_test, y_test) = result
    for got, name in zip((x_train, y_train, x_test, y_test), MNIST_FILES, strict=True):
        np.testing.assert_array_equal(got, arrays[name])
        assert got.dtype == np.uint8


def cache_listing(name):
    directory = cache_dir(name)
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


# --- download, cache, mirrors ----------------------------------------------------------------


def test_download_fills_cache_and_second_call_stays_off_the_network(server, monkeypatch):
    arrays, files, sums = mnist_like()
    serve(server, "good", files)
    use_checksums(monkeypatch, mnist, sums)
    assert_mnist_equal(mnist.load_data(mirrors=[server.url("good")]), arrays)
    assert sum(server.hits.values()) == 4
    assert cache_listing("mnist") == sorted(MNIST_FILES)  # no temporary files left
    assert_mnist_equal(mnist.load_data(mirrors=[server.url("good")]), arrays)
    assert sum(server.hits.values()) == 4


def test_refused_and_404_mirrors_are_skipped(server, monkeypatch, capsys):
    arrays, files, sums = mnist_like()
    serve(server, "good", files)
    use_checksums(monkeypatch, mnist, sums)
    mirrors = [refused_url(), server.url("missing"), server.url("good")]
    assert_mnist_equal(mnist.load_data(mirrors=mirrors), arrays)
    assert server.hits["/missing/train-images-idx3-ubyte.gz"] == 1
    assert server.hits["/good/train-images-idx3-ubyte.gz"] == 1
    err = capsys.readouterr().err
    assert err.count(": connection failed") == 1  # an unreachable mirror is tried once
    assert err.count("/train-images-idx3-ubyte.gz: HTTP 404") == 1
    assert err.count(": HTTP 404") == 4


def test_corrupt_mirror_fails_checksum_then_next_mirror_serves(server, monkeypatch):
    arrays, files, sums = mnist_like()
    serve(server, "good", files)
    serve(server, "bad", {name: data[:-8] + b"garbage!" for name, data in files.items()})
    use_checksums(monkeypatch, mnist, sums)
    assert_mnist_equal(mnist.load_data(mirrors=[server.url("bad"), server.url("good")]), arrays)
    assert server.hits["/bad/t10k-labels-idx1-ubyte.gz"] == 1
    assert cache_listing("mnist") == sorted(MNIST_FILES)
    for name in MNIST_FILES:
        assert (cache_dir("mnist") / name).read_bytes() == files[name]


def test_corrupt_and_partial_downloads_never_reach_the_cache(server, monkeypatch):
    _, files, sums = mnist_like()
    serve(server, "bad", dict.fromkeys(files, b"\x1f\x8b not really gzip"))
    serve(server, "short", {name: ("short", data) for name, data in files.items()})
    use_checksums(monkeypatch, mnist, sums)
    with pytest.raises(DatasetUnavailableError) as info:
        mnist.load_data(mirrors=[server.url("bad"), server.url("short")])
    message = str(info.value)
    assert "checksum mismatch" in message and "incomplete: received" in message
    assert cache_listing("mnist") == []


def test_all_mirrors_failing_lists_urls_files_and_places(server, monkeypatch, tmp_path):
    no_debian = str(tmp_path / "no-debian")
    source = dataclasses.replace(
        fashion_mnist.SOURCE, system_dirs=(no_debian,), mirrors=(refused_url(), server.url("x"))
    )
    monkeypatch.setattr(fashion_mnist, "SOURCE", source)
    with pytest.raises(DatasetUnavailableError) as info:
        fashion_mnist.load_data()
    error = info.value
    assert isinstance(error, OSError)
    message = str(error)
    for base in source.mirrors:
        assert base + "train-images-idx3-ubyte.gz" in message
    assert "connection failed" in message and "HTTP 404" in message
    assert len(error.attempts) == 2
    for name in source.files:
        assert name in message
    assert "$STRIATE_FASHION_MNIST_DIR (not set)" in message
    assert f"{no_debian} (Debian/Ubuntu: apt-get install dataset-fashion-mnist)" in message
    assert str(cache_dir("fashion-mnist")) in message
    assert "STRIATE_DATASET_MIRRORS" in message


def test_mirrors_from_environment_variable(server, monkeypatch):
    arrays, files, sums = mnist_like()
    serve(server, "good", files)
    use_checksums(monkeypatch, mnist, sums)
    monkeypatch.setenv("STRIATE_DATASET_MIRRORS", f"{refused_url()} , {server.url('good')}")
    assert_mnist_equal(mnist.load_data(), arrays)


def test_cached_file_with_wrong_checksum_is_downloaded_again(server, monkeypatch):
    arrays, files, sums = mnist_like()
    serve(server, "good", files)
    use_checksums(monkeypatch, mnist, sums)
    cache_dir("mnist").mkdir(parents=True)
    for name, data in files.items():
        (cache_dir("mnist") / name).write_bytes(data)
    (cache_dir("mnist") / "t10k-images-idx3-ubyte.gz").write_bytes(b"half a file")
    assert_mnist_equal(mnist.load_data(mirrors=[server.url("good")]), arrays)
    assert dict(server.hits) == {"/good/t10k-images-idx3-ubyte.gz": 1}


# --- local places ----------------------------------------------------------------------------


def test_env_dir_with_uncompressed_files_needs_no_network(tmp_path, monkeypatch):
    arrays, files, _ = mnist_like(seed=1)
    for name, data in files.items():
        (tmp_path / name.removesuffix(".gz")).write_bytes(gzip.decompress(data))
    monkeypatch.setenv("STRIATE_MNIST_DIR", str(tmp_path))
    assert_mnist_equal(mnist.load_data(mirrors=[]), arrays)
    assert cache_listing("mnist") == []


def test_path_directory_and_keras_npz(tmp_path):
    arrays, files, _ = mnist_like(seed=2)
    (tmp_path / "d").mkdir()
    for name, data in files.items():
        (tmp_path / "d" / name).write_bytes(data)
    assert_mnist_equal(mnist.load_data(path=tmp_path / "d", mirrors=[]), arrays)
    npz = tmp_path / "mnist.npz"
    keys = ("x_train", "y_train", "x_test", "y_test")
    np.savez(npz, **{k: arrays[name] for k, name in zip(keys, MNIST_FILES, strict=True)})
    assert_mnist_equal(mnist.load_data(path=npz), arrays)
    np.savez(npz, x_train=arrays[MNIST_FILES[0]])
    with pytest.raises(CorruptDatasetError, match="missing y_train, x_test, y_test"):
        mnist.load_data(path=npz)
    with pytest.raises(FileNotFoundError, match="path= must be an existing directory"):
        mnist.load_data(path=tmp_path / "nowhere")


def test_truncated_local_file_gives_clear_error(tmp_path, monkeypatch):
    _, files, _ = mnist_like(seed=3)
    for name, data in files.items():
        raw = gzip.decompress(data)
        data = raw[:-1] if name.startswith("t10k-images") else raw
        (tmp_path / name.removesuffix(".gz")).write_bytes(data)
    monkeypatch.setenv("STRIATE_MNIST_DIR", str(tmp_path))
    with pytest.raises(CorruptDatasetError, match="t10k-images-idx3-ubyte: IDX file truncated"):
        mnist.load_data(mirrors=[])


def test_cache_dir_resolution(monkeypatch, tmp_path):
    assert cache_dir("mnist") == tmp_path / "home" / "datasets" / "mnist"
    monkeypatch.delenv("STRIATE_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir("mnist") == tmp_path / "xdg" / "striate" / "datasets" / "mnist"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    expected = tmp_path / "user" / ".cache" / "striate" / "datasets" / "fashion-mnist"
    assert cache_dir("fashion-mnist") == expected


# --- progress output -------------------------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_on_a_terminal_is_one_redrawn_line_per_file(server, monkeypatch):
    _, files, sums = mnist_like()
    serve(server, "good", files)
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    _fetch.fetch(mnist.SOURCE, mirrors=[server.url("good")], checksums=sums)
    lines = terminal.getvalue().split("\n")
    assert len(lines) == 5 and lines[-1] == ""  # four lines, one per file
    assert all(line.startswith("\r") and "100%" in line and "done in" in line for line in lines[:4])


def test_progress_in_a_log_is_a_start_and_an_end_line(server, capsys):
    _, files, sums = mnist_like()
    serve(server, "good", files)
    _fetch.fetch(mnist.SOURCE, mirrors=[server.url("good")], checksums=sums)
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = err.strip().split("\n")
    assert len(lines) == 8
    assert lines[0].startswith(f"Downloading {server.url('good')}train-images-idx3-ubyte.gz (")
    assert lines[1].startswith("train-images-idx3-ubyte.gz: ") and "done in" in lines[1]


# --- CIFAR-10 --------------------------------------------------------------------------------


def cifar_batches(records=3):
    """Six tiny binary batches; image k of each batch has planes R=k, G=100+k, B=200+k."""
    batches = {}
    for b, name in enumerate((*cifar10.TRAIN_BATCHES, cifar10.TEST_BATCH)):
        rows = []
        for k in range(records):
            label = (b + k) % 10
            planes = [np.full(1024, v, np.uint8) for v in (k, 100 + k, 200 + k)]
            rows.append(np.concatenate([[label], *planes]).astype(np.uint8))
        batches[name] = np.stack(rows).tobytes()
    return batches


def cifar_archive(batches):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in batches.items():
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def check_cifar(result, records=3):
    (x_train, y_train), (x_test, y_test) = result
    assert x_train.shape == (5 * records, 32, 32, 3) and y_train.shape == (5 * records, 1)
    assert x_test.shape == (records, 32, 32, 3) and y_test.shape == (records, 1)
    assert x_train.dtype == y_train.dtype == np.uint8
    assert x_test[1, 5, 7].tolist() == [1, 101, 201]  # channels last
    assert y_train[:, 0].tolist()[:4] == [0, 1, 2, 1]


def test_cifar10_download_through_cache(server, monkeypatch):
    archive = cifar_archive(cifar_batches())
    server.routes["/c/cifar-10-binary.tar.gz"] = archive
    use_checksums(monkeypatch, cifar10, {cifar10.ARCHIVE: hashlib.sha256(archive).hexdigest()})
    check_cifar(cifar10.load_data(mirrors=[server.url("c")]))
    check_cifar(cifar10.load_data(mirrors=[server.url("c")]))
    assert sum(server.hits.values()) == 1


def test_cifar10_extracted_batches_and_corrupt_batch(tmp_path, monkeypatch):
    batches = cifar_batches()
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    for name, data in batches.items():
        (folder / name).write_bytes(data)
    monkeypatch.setenv("STRIATE_CIFAR10_DIR", str(tmp_path))
    check_cifar(cifar10.load_data(mirrors=[]))
    (folder / "test_batch.bin").write_bytes(batches["test_batch.bin"][:-10])
    with pytest.raises(CorruptDatasetError, match=r"test_batch\.bin: a CIFAR-10 batch is whole"):
        cifar10.load_data(mirrors=[])


def test_cifar10_truncated_archive(tmp_path):
    archive = cifar_archive(cifar_batches())
    path = tmp_path / "cifar-10-binary.tar.gz"
    path.write_bytes(archive[: len(archive) // 2])
    with pytest.raises(CorruptDatasetError, match="corrupt or truncated CIFAR-10 archive"):
        cifar10.load_data(path=path)
