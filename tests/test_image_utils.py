"""Keras's image utilities in striate.utils: load_img, img_to_array, array_to_img, save_img,
split_dataset and get_file (against a local HTTP server on 127.0.0.1, no real network)."""

import hashlib
import io
import os
import random
import tarfile
import zipfile

import numpy as np
import pytest
from test_datasets_fetch import server  # noqa: F401 (the fixture)

PIL = pytest.importorskip("PIL")
from PIL import Image

from striate import utils
from striate.datasets import from_arrays

KERAS_IMAGE_FUNCTIONS = ("load_img", "img_to_array", "array_to_img", "save_img")


@pytest.fixture
def pictures(tmp_path):
    rng = np.random.default_rng(1)
    paths = {}
    for mode, shape in [("RGB", (13, 17, 3)), ("RGBA", (9, 6, 4)), ("L", (11, 8)), ("P", None)]:
        if mode == "P":
            image = Image.fromarray(rng.integers(0, 256, (7, 5, 3), dtype=np.uint8)).quantize(8)
        else:
            image = Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode)
        paths[mode] = tmp_path / f"{mode}.png"
        image.save(paths[mode])
    return paths


def test_load_img_and_img_to_array_give_pillows_pixels(pictures):
    image = utils.load_img(pictures["RGB"])
    assert isinstance(image, Image.Image) and image.mode == "RGB" and image.size == (17, 13)
    x = utils.img_to_array(image)
    assert x.dtype == np.float32 and x.shape == (13, 17, 3)
    np.testing.assert_array_equal(x, np.asarray(Image.open(pictures["RGB"]), np.float32))
    small = utils.img_to_array(utils.load_img(pictures["RGB"], target_size=(5, 4)))
    expected = np.asarray(Image.open(pictures["RGB"]).resize((4, 5), Image.NEAREST))
    np.testing.assert_array_equal(small, expected)
    gray = utils.img_to_array(utils.load_img(pictures["RGBA"], color_mode="grayscale"))
    assert gray.shape == (9, 6, 1)
    assert utils.img_to_array(image, data_format="channels_first").shape == (3, 13, 17)
    assert utils.img_to_array(image, dtype="uint8").dtype == np.uint8
    with open(pictures["L"], "rb") as handle:
        assert utils.load_img(io.BytesIO(handle.read())).mode == "RGB"
    square = utils.load_img(pictures["RGB"], target_size=(4, 4), keep_aspect_ratio=True)
    assert square.size == (4, 4)


def test_array_to_img_and_save_img_scale_as_keras(tmp_path):
    x = np.linspace(-1, 3, 2 * 3 * 3, dtype=np.float32).reshape(2, 3, 3)
    image = utils.array_to_img(x)
    assert image.mode == "RGB"
    assert np.asarray(image).min() == 0 and np.asarray(image).max() == 255
    assert np.asarray(utils.array_to_img(x * 0 + 7, scale=False))[0, 0, 0] == 7
    assert utils.array_to_img(np.zeros((2, 2, 1))).mode == "L"
    assert utils.array_to_img(np.full((2, 2, 1), 1000.0), scale=False).mode == "I"
    assert utils.array_to_img(np.zeros((2, 2, 4))).mode == "RGBA"
    pixels = np.random.default_rng(0).integers(0, 256, (4, 5, 3)).astype(np.float32)
    utils.save_img(tmp_path / "x.png", pixels, scale=False)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "x.png")), pixels)
    with pytest.warns(UserWarning, match="JPEG format does not support RGBA"):
        utils.save_img(str(tmp_path / "x.jpg"), np.zeros((4, 4, 4)))
    with pytest.raises(ValueError, match=r"array_to_img: .*rank 3. Received: shape \(4, 4\)"):
        utils.array_to_img(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="expected 1, 3 or 4 channels. Received: 2"):
        utils.array_to_img(np.zeros((4, 4, 2)))
    with pytest.raises(ValueError, match="color_mode must be"):
        utils.load_img(tmp_path / "x.png", color_mode="cmyk")
    with pytest.raises(ValueError, match="interpolation must be one of"):
        utils.load_img(tmp_path / "x.png", target_size=(2, 2), interpolation="cubic")


@pytest.mark.slow
def test_image_functions_match_keras(pictures, tmp_path):
    pytest.importorskip("keras")
    import keras

    for mode, path in pictures.items():
        for kwargs in [
            {},
            {"color_mode": "grayscale"},
            {"color_mode": "rgba", "target_size": (5, 7), "interpolation": "bilinear"},
            {"target_size": (6, 3), "keep_aspect_ratio": True, "interpolation": "bicubic"},
            {"target_size": (4, 9), "keep_aspect_ratio": True},
        ]:
            ours = utils.img_to_array(utils.load_img(path, **kwargs))
            theirs = keras.utils.img_to_array(keras.utils.load_img(path, **kwargs))
            assert ours.dtype == theirs.dtype, (mode, kwargs)
            np.testing.assert_array_equal(ours, theirs)
    rng = np.random.default_rng(3)
    for shape in [(4, 5, 3), (4, 5, 1), (3, 2, 4)]:
        x = rng.normal(size=shape) * 40
        for scale in (True, False):
            ours = np.asarray(utils.array_to_img(np.abs(x), scale=scale))
            theirs = np.asarray(keras.utils.array_to_img(np.abs(x), scale=scale))
            np.testing.assert_array_equal(ours, theirs)
        utils.save_img(tmp_path / "ours.png", x)
        keras.utils.save_img(tmp_path / "theirs.png", x)
        np.testing.assert_array_equal(
            np.asarray(Image.open(tmp_path / "ours.png")),
            np.asarray(Image.open(tmp_path / "theirs.png")),
        )


# -- split_dataset ------------------------------------------------------------------------------
def test_split_dataset_of_arrays_as_keras_sizes_and_shuffle():
    x, y = np.arange(20).reshape(10, 2), np.arange(10)
    left, right = utils.split_dataset(x, left_size=0.8)
    assert left.tolist() == x[:8].tolist() and right.tolist() == x[8:].tolist()
    (lx, ly), (rx, ry) = utils.split_dataset((x, y), right_size=3, shuffle=True, seed=5)
    order = list(range(10))
    random.seed(5)  # Keras's own shuffle: random.seed(seed); random.shuffle(samples)
    random.shuffle(order)
    assert ly.tolist() == order[:7] and ry.tolist() == order[-3:]
    assert (lx[:, 0] // 2).tolist() == ly.tolist()
    left, right = utils.split_dataset([x, y], left_size=2, right_size=0.5)
    assert isinstance(left, list) and len(left[1]) == 2 and len(right[1]) == 5
    for kwargs, message in [
        ({}, "give left_size or right_size"),
        ({"left_size": 0}, "left_size must be a positive int smaller than 10"),
        ({"left_size": 1.5}, "or a float in"),
        ({"left_size": 0.7, "right_size": 0.5}, "must be at most 1"),
        ({"left_size": 8, "right_size": 5}, "must be at most the 10 samples"),
        ({"left_size": 0.01}, "leave the left part empty"),
    ]:
        with pytest.raises(ValueError, match=message):
            utils.split_dataset(x, **kwargs)
    with pytest.raises(TypeError, match="left_size must be an int, a float or None"):
        utils.split_dataset(x, left_size="half")
    with pytest.raises(TypeError, match="must be an array"):
        utils.split_dataset({"x": x}, left_size=0.5)


@pytest.mark.slow
def test_split_dataset_sizes_match_keras():
    pytest.importorskip("keras")
    from keras.src.utils.dataset_utils import _rescale_dataset_split_sizes

    from striate.datasets.splitting import _sizes

    for total in (3, 10, 17, 101):
        for left, right in [(0.5, None), (None, 0.33), (0.2, 0.7), (1, None), (None, 2), (2, 0.5)]:
            try:
                expected = _rescale_dataset_split_sizes(left, right, total)
            except (ValueError, TypeError) as error:
                with pytest.raises(type(error)):
                    _sizes(left, right, total)
                continue
            assert _sizes(left, right, total) == expected


def test_split_dataset_of_datasets(tmp_path):
    for c in "ab":
        (tmp_path / c).mkdir()
        for i in range(5):
            Image.new("L", (3, 3), 20 * i).save(tmp_path / c / f"{i}.png")
    data = utils.image_dataset_from_directory(
        tmp_path, batch_size=3, image_size=2, color_mode="grayscale", seed=2, verbose=False
    )
    left, right = utils.split_dataset(data, left_size=0.6)
    assert left.file_paths == data.file_paths[:6] and right.file_paths == data.file_paths[6:]
    assert len(left) == 2 and sum(len(y) for _, y in right) == 4
    mapped_left, mapped_right = utils.split_dataset(data.map(lambda x, y: (x, y + 5)), right_size=2)
    assert len(mapped_left) == 3 and sum(len(y) for _, y in mapped_left) == 8
    assert all((y >= 5).all() for _, y in mapped_right)
    samples = utils.image_dataset_from_directory(
        tmp_path, batch_size=None, image_size=2, color_mode="grayscale", seed=2, verbose=False
    ).map(lambda x, y: (x, y))
    left, right = utils.split_dataset(samples, left_size=4)
    assert len(left) == 4 and [x.shape for x, _ in right] == [(2, 2, 1)] * 6
    arrays = from_arrays((np.arange(7), np.arange(7) * 2), batch_size=2)
    small, big = utils.split_dataset(arrays, left_size=3)
    assert [y.tolist() for _, y in small] == [[0, 2], [4]] and len(big) == 2


# -- get_file -----------------------------------------------------------------------------------
def _archive(kind, members):
    buffer = io.BytesIO()
    if kind == "tar":
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            for name, data in members.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    else:
        with zipfile.ZipFile(buffer, "w") as zipped:
            for name, data in members.items():
                zipped.writestr(name, data)
    return buffer.getvalue()


def test_get_file_downloads_once_checks_hashes_and_extracts(server, tmp_path):  # noqa: F811
    body = b"weights" * 100
    server.routes["/files/model.bin"] = body
    url = server.url("files") + "model.bin"
    sha, md5 = hashlib.sha256(body).hexdigest(), hashlib.md5(body).hexdigest()
    path = utils.get_file(origin=url, file_hash=sha, cache_dir=tmp_path)
    assert path == str(tmp_path / "datasets" / "model.bin")
    assert open(path, "rb").read() == body and server.hits["/files/model.bin"] == 1
    assert utils.get_file("model.bin", url, md5_hash=md5, cache_dir=tmp_path) == path
    assert server.hits["/files/model.bin"] == 1  # the cached file, checked, is reused
    utils.get_file("model.bin", url, cache_dir=tmp_path, force_download=True)
    assert server.hits["/files/model.bin"] == 2
    with pytest.raises(ValueError, match=r"get_file: .*corrupted.*checksum mismatch"):
        utils.get_file("other.bin", url, file_hash="0" * 64, cache_dir=tmp_path)
    assert not os.path.exists(tmp_path / "datasets" / "other.bin")
    assert [p for p in os.listdir(tmp_path / "datasets") if p.endswith(".part")] == []
    with pytest.raises(OSError, match=r"could not download .*missing.bin: HTTP 404"):
        utils.get_file(origin=server.url("files") + "missing.bin", cache_dir=tmp_path)
    server.routes["/files/data.tar.gz"] = _archive("tar", {"a/x.txt": b"x", "y.txt": b"y"})
    server.routes["/files/pack.zip"] = _archive("zip", {"z.txt": b"z"})
    folder = utils.get_file(
        "data.tar.gz", server.url("files") + "data.tar.gz", extract=True, cache_dir=tmp_path
    )
    assert folder == str(tmp_path / "datasets" / "data_extracted")
    assert open(os.path.join(folder, "a", "x.txt")).read() == "x"
    folder = utils.get_file(
        origin=server.url("files") + "pack.zip", extract=True, cache_subdir="z", cache_dir=tmp_path
    )
    assert folder == str(tmp_path / "z" / "pack.zip")
    assert open(os.path.join(folder, "z.txt")).read() == "z"


def test_get_file_refuses_bad_arguments_and_archives_reaching_outside(server, tmp_path):  # noqa: F811
    with pytest.raises(ValueError, match="give origin"):
        utils.get_file("x")
    with pytest.raises(ValueError, match="fname is a file name, not a path"):
        utils.get_file("a/b.txt", "http://127.0.0.1:1/b.txt", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="hash_algorithm must be"):
        utils.get_file("b", "http://127.0.0.1:1/b", hash_algorithm="sha1", cache_dir=tmp_path)
    server.routes["/files/evil.zip"] = _archive("zip", {"../../escape.txt": b"!"})
    with pytest.raises(ValueError, match="outside the folder"):
        utils.get_file(
            "evil.zip", server.url("files") + "evil.zip", extract=True, cache_dir=tmp_path
        )
    assert not (tmp_path / "escape.txt").exists()
    server.routes["/files/evil.tar"] = _archive("tar", {"../escape.txt": b"!"})
    with pytest.raises(tarfile.OutsideDestinationError):
        utils.get_file("evil.tar", server.url("files") + "evil.tar", untar=True, cache_dir=tmp_path)
    assert not (tmp_path / "datasets" / "escape.txt").exists()
