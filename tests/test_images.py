"""Image folders and digit photos: files the tests write with pillow, checked pixel by pixel."""

import os
import sys

import numpy as np
import pytest

PIL = pytest.importorskip("PIL")
from PIL import Image, ImageDraw

from striate.datasets import digit_photo
from striate.datasets.digit_photo import load_digit_photo, mnist_like
from striate.datasets.image_folder import load_image_folder
from striate.datasets.images import load_image

COLORS = {"cat": (200, 30, 30), "dog": (30, 200, 30), "bird": (30, 30, 200)}


def _folder(root, counts=None):
    """root/<class>/ with solid-color images of assorted sizes, modes and formats."""
    counts = counts or {"cat": 5, "dog": 4, "bird": 6}
    formats = [
        ("png", "RGB"),
        ("jpg", "RGB"),
        ("bmp", "RGB"),
        ("gif", "P"),
        ("PNG", "RGBA"),
        ("jpeg", "L"),
    ]
    for name, count in counts.items():
        os.makedirs(root / name / "nested")
        for i in range(count):
            ext, mode = formats[i % len(formats)]
            image = Image.new("RGB", (10 + 7 * i, 12 + 3 * i), COLORS[name])
            image = image.convert(mode) if mode != "P" else image.quantize(4)
            where = root / name / ("nested" if i == 1 else "")
            image.save(where / f"{i}.{ext}")
        (root / name / "notes.txt").write_text("not an image")
    os.makedirs(root / ".hidden")
    Image.new("RGB", (5, 5)).save(root / ".hidden" / "x.png")
    Image.new("RGB", (5, 5)).save(root / "top_level_file_is_ignored.png")
    return root


def _class_of(path):
    return os.path.relpath(path).split(os.sep)[-3 if os.sep + "nested" + os.sep in path else -2]


# -- folders ------------------------------------------------------------------------------------
@pytest.mark.parametrize("color_mode, channels", [("rgb", 3), ("grayscale", 1), ("rgba", 4)])
def test_folder_shapes_labels_and_pixels(tmp_path, color_mode, channels):
    _folder(tmp_path)
    data = load_image_folder(tmp_path, (6, 9), color_mode, shuffle=False, verbose=False)
    x, y = data
    assert data.class_names == ["bird", "cat", "dog"]  # alphabetical, hidden folder ignored
    assert x.shape == (15, 6, 9, channels) and x.dtype == np.uint8
    assert y.dtype == np.int32 and y.tolist() == [0] * 6 + [1] * 5 + [2] * 4
    for image, label, path in zip(x, y, data.file_paths):
        name = data.class_names[label]
        assert _class_of(path) == name
        expected = np.array(COLORS[name], dtype=np.float64)
        if channels == 1 or path.endswith(".jpeg"):  # the .jpeg files were saved grayscale
            expected = np.repeat(expected @ [0.299, 0.587, 0.114], 3)
        # solid colors survive resizing; JPEG and GIF palettes move them a little
        assert np.abs(image[..., :3].astype(np.float64) - expected[:3]).max() < 12, path
        if channels == 4:
            assert (image[..., 3] == 255).all()


def test_folder_order_without_shuffle_is_sorted_walk_order(tmp_path):
    _folder(tmp_path)
    data = load_image_folder(tmp_path, (4, 4), shuffle=False, verbose=False)
    cat = [os.path.relpath(p, tmp_path) for p in data.file_paths if _class_of(p) == "cat"]
    assert cat == ["cat/0.png", "cat/2.bmp", "cat/3.gif", "cat/4.PNG", "cat/nested/1.jpg"]


def test_split_sizes_disjoint_deterministic_and_keras_order(tmp_path):
    _folder(tmp_path)
    train, val = load_image_folder(
        tmp_path, (5, 5), validation_split=0.25, subset="both", seed=7, verbose=False
    )
    assert (len(train.x), len(val.x)) == (12, 3)  # int(0.25 * 15) = 3 held out
    assert not set(train.file_paths) & set(val.file_paths)
    everything = load_image_folder(tmp_path, (5, 5), shuffle=False, verbose=False)
    order = np.random.RandomState(7).permutation(15)  # what Keras's index_directory does
    assert train.file_paths + val.file_paths == [everything.file_paths[i] for i in order]
    np.testing.assert_array_equal(np.concatenate([train.y, val.y]), everything.y[order])
    np.testing.assert_array_equal(np.concatenate([train.x, val.x]), everything.x[order])
    again = load_image_folder(
        tmp_path, (5, 5), validation_split=0.25, subset="training", seed=7, verbose=False
    )
    assert again.file_paths == train.file_paths
    only_val = load_image_folder(
        tmp_path, (5, 5), validation_split=0.25, subset="validation", seed=7, verbose=False
    )
    np.testing.assert_array_equal(only_val.x, val.x)
    other = load_image_folder(
        tmp_path, (5, 5), validation_split=0.25, subset="validation", seed=8, verbose=False
    )
    assert other.file_paths != val.file_paths


def test_verbose_counts_like_keras(tmp_path, capsys):
    _folder(tmp_path)
    load_image_folder(tmp_path, (3, 3), validation_split=0.2, subset="both", seed=1)
    assert capsys.readouterr().out.splitlines() == [
        "Found 15 files belonging to 3 classes.",
        "Using 12 files for training.",
        "Using 3 files for validation.",
    ]


def test_class_names_choose_and_order_classes(tmp_path):
    _folder(tmp_path)
    data = load_image_folder(
        tmp_path, (3, 3), class_names=["dog", "bird"], shuffle=False, verbose=False
    )
    assert data.class_names == ["dog", "bird"]
    assert data.y.tolist() == [0] * 4 + [1] * 6


def test_result_works_as_fit_data(tmp_path):
    from striate import zoo

    _folder(tmp_path)
    train, val = load_image_folder(
        tmp_path, (12, 12), "grayscale", 0.2, "both", seed=0, verbose=False
    )
    model = zoo.article((12, 12, 1), len(train.class_names))
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["acc"])
    history = model.fit(*train, epochs=1, validation_data=val, verbose=0)
    assert "val_acc" in history.history


def test_sixteen_bit_png_is_scaled_not_clipped(tmp_path):
    path = tmp_path / "deep.png"
    Image.fromarray(np.array([[0, 32896, 65535]], dtype=np.uint16)).save(path)
    assert load_image(path, color_mode="grayscale").ravel().tolist() == [0, 128, 255]


def test_exif_orientation_is_applied(tmp_path):
    path = tmp_path / "phone.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to view"
    Image.new("RGB", (40, 20), "white").save(path, exif=exif)
    assert load_image(path).shape == (40, 20, 3)


def test_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such directory: .*missing"):
        load_image_folder(tmp_path / "missing")
    (tmp_path / "file.png").write_bytes(b"")
    with pytest.raises(NotADirectoryError, match="file.png is a file"):
        load_image_folder(tmp_path / "file.png")
    with pytest.raises(
        ValueError, match="has no class subfolders. Put the images of each class in a subfolder"
    ):
        load_image_folder(tmp_path)
    os.makedirs(tmp_path / "a")
    (tmp_path / "a" / "readme.txt").write_text("x")
    with pytest.raises(ValueError, match=r"no images found .*\(a\)\. .*\.jpg"):
        load_image_folder(tmp_path)
    Image.new("RGB", (4, 4)).save(tmp_path / "a" / "1.png")
    with pytest.raises(ValueError, match="give a seed"):
        load_image_folder(tmp_path, validation_split=0.2, subset="training")
    with pytest.raises(ValueError, match="give both or neither"):
        load_image_folder(tmp_path, subset="training", seed=1)
    with pytest.raises(ValueError, match="subset must be one of"):
        load_image_folder(tmp_path, validation_split=0.5, subset="test", seed=1)
    with pytest.raises(ValueError, match="validation_split must be a fraction"):
        load_image_folder(tmp_path, validation_split=1.5, subset="both", seed=1)
    with pytest.raises(ValueError, match="leaves no validation images out of 1"):
        load_image_folder(tmp_path, validation_split=0.5, subset="both", seed=1, verbose=False)
    with pytest.raises(ValueError, match="color_mode must be one of"):
        load_image_folder(tmp_path, color_mode="cmyk")
    with pytest.raises(ValueError, match=r"image_size must be \(height, width\)"):
        load_image_folder(tmp_path, image_size=(0, 4))
    with pytest.raises(ValueError, match="class_names must be distinct subfolders"):
        load_image_folder(tmp_path, class_names=["a", "zebra"])
    (tmp_path / "a" / "2.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    with pytest.raises(ValueError, match=r"a[/\\]2\.jpg"):
        load_image_folder(tmp_path, verbose=False)


def test_load_image_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file: .*nope.png"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(IsADirectoryError):
        load_image(tmp_path)
    (tmp_path / "text.png").write_text("hello")
    with pytest.raises(ValueError, match="text.png is not an image"):
        load_image(tmp_path / "text.png")


def test_missing_pillow_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match=r"pip install 'striate\[images\]'"):
        load_image("anything.png")


# -- digit photos -------------------------------------------------------------------------------
def _seven(size=(400, 300), ink="black", paper="white", width=14, mode="RGB"):
    """A large, off-center 7 drawn on paper."""
    image = Image.new(mode, size, paper)
    ImageDraw.Draw(image).line([(210, 40), (330, 40), (250, 260)], fill=ink, width=width)
    return image


def _check_mnist_like(digit):
    assert digit.shape == (28, 28) and digit.dtype == np.uint8
    assert digit.max() == 255
    assert np.median(digit) == 0 and (digit == 0).mean() > 0.6  # white on a black background
    assert digit[:4, :4].max() == digit[:4, -4:].max() == digit[-4:, :4].max() == 0
    rows, cols = np.nonzero(digit)
    height, width = np.ptp(rows) + 1, np.ptp(cols) + 1
    assert max(height, width) == 20 and min(height, width) <= 20  # fits 20x20, touches it
    weights = digit.astype(np.float64)
    center = (
        weights.sum(1) @ np.arange(28) / weights.sum(),
        weights.sum(0) @ np.arange(28) / weights.sum(),
    )
    assert abs(center[0] - 14) <= 0.5 and abs(center[1] - 14) <= 0.5, center
    return height, width


def _similar(a, b):
    return np.corrcoef(a.ravel().astype(float), b.ravel().astype(float))[0, 1]


def test_mnist_like_on_a_drawn_seven():
    digit = mnist_like(_seven())
    height, width = _check_mnist_like(digit)
    assert height == 20 and 8 <= width <= 13  # the 7 is taller than wide: aspect ratio kept
    assert digit[7:10].sum() > digit[20:23].sum()  # the 7's bar is on top, not flipped


def test_polarity_alpha_and_arrays_give_the_same_digit():
    reference = mnist_like(_seven())
    assert _similar(mnist_like(_seven(ink="white", paper="black")), reference) > 0.99
    transparent = _seven(ink=(0, 0, 0, 255), paper=(0, 0, 0, 0), mode="RGBA")
    assert _similar(mnist_like(transparent), reference) > 0.99
    assert _similar(mnist_like(np.asarray(_seven().convert("L"))), reference) > 0.99
    assert _similar(mnist_like(np.asarray(_seven().convert("L")) / 255.0), reference) > 0.99


def test_noise_uneven_light_and_specks_do_not_move_the_digit():
    rng = np.random.default_rng(0)
    paper = np.asarray(_seven(size=(900, 700), width=20).convert("L"), dtype=np.float64)
    photo = paper * 0.47 + 70  # gray ink 70 on gray paper 190, lit from the right, grainy
    photo += rng.normal(0, 10, photo.shape) + np.linspace(-45, 45, photo.shape[1])
    photo[640:648, 30:38] = 0  # a speck of dust in a corner
    digit = mnist_like(np.clip(photo, 0, 255).astype(np.uint8))
    _check_mnist_like(digit)
    assert _similar(digit, mnist_like(_seven(size=(900, 700), width=20))) > 0.95


def test_thin_strokes_are_thickened_like_mnist():
    thin, thick = mnist_like(_seven(width=2)), mnist_like(_seven(width=16))
    _check_mnist_like(thin)
    assert (thin > 128).sum() > 0.6 * (thick > 128).sum()


def test_an_mnist_like_image_stays_mnist_like():
    digit = mnist_like(_seven())
    assert _similar(mnist_like(digit), digit) > 0.9


def test_blank_image_has_no_digit():
    with pytest.raises(ValueError, match="no digit found"):
        mnist_like(np.full((50, 50), 200, np.uint8))
    with pytest.raises(ValueError, match=r"expected an image array"):
        mnist_like(np.zeros((4, 4, 2)))


def test_load_digit_photo(tmp_path):
    _seven().save(tmp_path / "seven.jpg", quality=80)
    assert _similar(load_digit_photo(tmp_path / "seven.jpg"), mnist_like(_seven())) > 0.97
    with pytest.raises(FileNotFoundError):
        load_digit_photo(tmp_path / "eight.jpg")


def test_mnist_like_helpers():
    assert digit_photo._otsu(np.array([0.0] * 90 + [255.0] * 10)) == 127.5  # middle of the tie
    assert 90 < digit_photo._otsu(np.r_[np.full(500, 40.0), np.full(50, 200.0)]) < 200
