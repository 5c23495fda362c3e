"""The lazy image_dataset_from_directory and its Dataset: Keras's file order, Pillow's pixels,
batches identical with and without prefetching, no thread left behind, and bounded memory."""

import os
import subprocess
import sys
import threading
import warnings

import numpy as np
import pytest

PIL = pytest.importorskip("PIL")
from PIL import Image

from striate.datasets import image_dataset, pipeline
from striate.datasets.pipeline import Dataset
from striate.utils import image_dataset_from_directory


def _folder(root, counts=(5, 7, 4), size=(9, 11)):
    """root/<class>/ with distinct RGB images (also one nested folder and a non-image file)."""
    rng = np.random.default_rng(0)
    for c, count in enumerate(counts):
        name = "abc"[c]
        os.makedirs(root / name / "deep")
        for i in range(count):
            pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
            where = root / name / ("deep" if i == 2 else "")
            Image.fromarray(pixels).save(where / f"{i}.png")
        (root / name / "notes.txt").write_text("not an image")
    return root


def _prefetch_threads():
    return [t for t in threading.enumerate() if t.name == "striate-prefetch"]


def _decode_threads():
    return {t for t in threading.enumerate() if t.name.startswith("ThreadPoolExecutor")}


def _batches(dataset):
    return [tuple(np.copy(part) for part in batch) for batch in dataset]


def test_batches_hold_pillows_pixels_and_the_labels_of_their_folders(tmp_path):
    _folder(tmp_path)
    data = image_dataset_from_directory(
        tmp_path, batch_size=4, image_size=(6, 8), shuffle=False, verbose=False
    )
    assert data.class_names == ["a", "b", "c"] and len(data) == 4 == data.cardinality()
    assert data.batch_size == 4 and data.image_size == (6, 8)
    images = np.concatenate([x for x, _ in data])
    labels = np.concatenate([y for _, y in data])
    assert images.dtype == np.float32 and images.shape == (16, 6, 8, 3)
    assert labels.dtype == np.int32 and labels.tolist() == [0] * 5 + [1] * 7 + [2] * 4
    for image, label, path in zip(images, labels, data.file_paths):
        assert os.path.basename(os.path.dirname(path)).replace("deep", "") in ("", "abc"[label])
        expected = np.asarray(Image.open(path).convert("RGB").resize((8, 6), Image.BILINEAR))
        np.testing.assert_array_equal(image, expected.astype(np.float32))


def test_label_modes_color_modes_and_unbatched_samples(tmp_path):
    _folder(tmp_path, counts=(3, 2))
    kwargs = {"image_size": 5, "shuffle": False, "verbose": False}
    x, y = next(iter(image_dataset_from_directory(tmp_path, label_mode="categorical", **kwargs)))
    assert y.dtype == np.float32 and y.tolist() == [[1, 0]] * 3 + [[0, 1]] * 2
    x, y = next(iter(image_dataset_from_directory(tmp_path, label_mode="binary", **kwargs)))
    assert y.dtype == np.float32 and y.shape == (5, 1) and y[:, 0].tolist() == [0, 0, 0, 1, 1]
    x = next(iter(image_dataset_from_directory(tmp_path, label_mode=None, **kwargs)))
    assert isinstance(x, np.ndarray) and x.shape == (5, 5, 5, 3)
    gray = image_dataset_from_directory(tmp_path, color_mode="grayscale", **kwargs)
    assert next(iter(gray))[0].shape == (5, 5, 5, 1)
    samples = image_dataset_from_directory(tmp_path, batch_size=None, **kwargs)
    assert len(samples) == 5
    assert [(x.shape, int(y)) for x, y in samples] == [((5, 5, 3), 0)] * 3 + [((5, 5, 3), 1)] * 2
    unlabelled = image_dataset_from_directory(tmp_path, labels=None, **kwargs)
    assert unlabelled.class_names is None and len(unlabelled.file_paths) == 5
    listed = image_dataset_from_directory(tmp_path, labels=[1, 1, 0, 0, 1], **kwargs)
    assert listed.class_names == ["0", "1"]
    assert next(iter(listed))[1].tolist() == [1, 1, 0, 0, 1]


def test_pad_and_crop_to_aspect_ratio(tmp_path):
    (tmp_path / "a").mkdir()
    Image.new("RGB", (20, 10), (255, 255, 255)).save(tmp_path / "a" / "wide.png")
    kwargs = {"image_size": (10, 10), "verbose": False}
    (padded,), _ = next(
        iter(image_dataset_from_directory(tmp_path, pad_to_aspect_ratio=True, **kwargs))
    )
    assert padded[:2].max() == 0 and padded[-3:].max() == 0 and padded[3:7].min() == 255
    (cropped,), _ = next(
        iter(image_dataset_from_directory(tmp_path, crop_to_aspect_ratio=True, **kwargs))
    )
    assert cropped.min() == 255


def test_map_take_len_and_prefetch_on_or_off_give_identical_batches(tmp_path):
    _folder(tmp_path)

    def data(prefetch):
        return image_dataset_from_directory(
            tmp_path, batch_size=3, image_size=(4, 4), seed=7, verbose=False, prefetch=prefetch
        )

    on, off, one = data(2), data(0), data(1)
    epochs_on = [_batches(on) for _ in range(2)]
    epochs_off = [_batches(off) for _ in range(2)]
    epochs_one = [_batches(one) for _ in range(2)]
    for a, b, c in zip(epochs_on, epochs_off, epochs_one):
        for (xa, ya), (xb, yb), (xc, yc) in zip(a, b, c, strict=True):
            np.testing.assert_array_equal(xa, xb)
            np.testing.assert_array_equal(xa, xc)
            assert ya.tolist() == yb.tolist() == yc.tolist()
    assert len(on) == 6 == len(epochs_on[0])
    # a new order each epoch (reshuffled), over the same files
    first, second = (np.concatenate([y for _, y in e]) for e in epochs_on)
    assert first.tolist() != second.tolist() and sorted(first) == sorted(second)
    mapped = data(2).map(lambda x, y: (x / 255, y + 10)).take(4)
    assert len(mapped) == 4 and len(data(0).take(100)) == 6
    for (x, y), (x0, y0) in zip(_batches(mapped), epochs_on[0], strict=False):
        np.testing.assert_array_equal(x, x0 / 255)
        assert (y - 10).tolist() == y0.tolist()
    assert len(_batches(mapped)) == 4 and len(_batches(data(0).prefetch(3).take(-1))) == 6


def test_only_the_batches_asked_for_are_decoded(tmp_path, monkeypatch):
    _folder(tmp_path)
    calls = []
    read = image_dataset.read_image
    monkeypatch.setattr(image_dataset, "read_image", lambda *a: calls.append(a[0]) or read(*a))
    data = image_dataset_from_directory(tmp_path, batch_size=4, image_size=3, verbose=False)
    assert calls == []
    assert len(_batches(data.prefetch(0).take(1))) == 1 and len(calls) == 4


@pytest.mark.parametrize("how", ["break", "close", "raise"])
def test_the_prefetch_thread_ends_when_the_iteration_stops_early(tmp_path, how):
    _folder(tmp_path, counts=(20, 20))
    before, decoding = _prefetch_threads(), _decode_threads()
    data = image_dataset_from_directory(
        tmp_path, batch_size=2, image_size=4, verbose=False, prefetch=2
    )
    if how == "break":
        for _ in data:
            assert len(_prefetch_threads()) == len(before) + 1
            break
    elif how == "close":
        batches = iter(data)
        next(batches)
        batches.close()
    else:
        with pytest.raises(KeyError):
            for _ in data:
                raise KeyError("the consumer fails")
    assert _prefetch_threads() == before
    assert _decode_threads() <= decoding


def test_a_producer_error_reaches_the_consumer_and_the_thread_ends():
    def source():
        yield 1
        raise RuntimeError("broken source")

    data = Dataset(source, 2)
    with pytest.raises(RuntimeError, match="broken source"):
        list(data)
    assert not _prefetch_threads()


def test_a_corrupt_png_is_named_and_fails_or_is_skipped(tmp_path):
    _folder(tmp_path, counts=(3, 3))
    bad = tmp_path / "b" / "1.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    kwargs = {"batch_size": 4, "image_size": 4, "shuffle": False, "verbose": False}
    data = image_dataset_from_directory(tmp_path, **kwargs)  # listing reads no file
    with pytest.raises(ValueError, match=rf"{bad}.*on_unreadable='skip'"):
        list(data)
    assert not _prefetch_threads()
    skipping = image_dataset_from_directory(tmp_path, on_unreadable="skip", **kwargs)
    with pytest.warns(UserWarning, match=rf"{bad}.*skipped"):
        labels = np.concatenate([y for _, y in skipping])
    assert labels.tolist() == [0, 0, 0, 1, 1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once per file, not every epoch
        assert len(np.concatenate([y for _, y in skipping])) == 5


def test_bad_arguments_are_named(tmp_path):
    _folder(tmp_path)
    cases = [
        ({"label_mode": "sparse"}, "label_mode must be one of"),
        ({"label_mode": "binary"}, "needs exactly 2 classes"),
        ({"labels": [0, 1]}, r"one label per image file.*16 files.*Received: 2 labels"),
        ({"labels": "folders"}, "labels must be 'inferred', None or a list"),
        ({"labels": [0] * 16, "class_names": ["a"]}, "class_names goes with labels='inferred'"),
        ({"crop_to_aspect_ratio": True, "pad_to_aspect_ratio": True}, "exclude each other"),
        ({"batch_size": 0}, "batch_size must be a positive int or None"),
        ({"data_format": "channels_first"}, "data_format must be one of"),
        ({"validation_split": 0.2, "subset": "both"}, "give a seed"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            image_dataset_from_directory(tmp_path, verbose=False, **kwargs)
    with pytest.raises(
        ValueError, match="Dataset.prefetch: buffer_size must be a non-negative int"
    ):
        image_dataset_from_directory(tmp_path, verbose=False).prefetch(-3)
    with pytest.raises(TypeError, match="fn must be callable"):
        image_dataset_from_directory(tmp_path, verbose=False).map(3)


def test_the_split_keeps_validation_in_order_and_subsets_apart(tmp_path, capsys):
    _folder(tmp_path)
    train, val = image_dataset_from_directory(
        tmp_path, image_size=3, seed=5, validation_split=0.25, subset="both", batch_size=2
    )
    out = capsys.readouterr().out
    assert (
        "Found 16 files belonging to 3 classes." in out and "Using 4 files for validation." in out
    )
    assert (
        len(train.file_paths) == 12
        and len(val) == 2
        and not set(train.file_paths) & set(val.file_paths)
    )
    first, second = ([y.tolist() for _, y in val] for _ in range(2))
    assert first == second  # validation is not reshuffled


@pytest.mark.slow
def test_file_order_labels_and_split_match_keras(tmp_path):
    """Keras 3 needs tensorflow or grain for its dataset; without them, its own index logic
    (dataset_utils.index_directory, get_training_or_validation_split) is the reference."""
    pytest.importorskip("keras")
    from keras.src.utils import dataset_utils

    _folder(tmp_path, counts=(6, 9, 5))
    os.symlink(tmp_path / "a", tmp_path / "b" / "linked")
    formats = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
    files = len(dataset_utils.index_directory(str(tmp_path), None, formats, verbose=False)[0])
    for kwargs in [
        {"shuffle": False},
        {"shuffle": True, "seed": 1},
        {"shuffle": True, "seed": 1234, "follow_links": True},
        {"shuffle": True, "seed": 3, "class_names": ["c", "a"]},
        {"shuffle": True, "seed": 4, "labels": None},
        {"shuffle": True, "seed": 5, "labels": [i % 3 for i in range(files)]},
    ]:
        labels = kwargs.pop("labels", "inferred")
        paths, keras_labels, names = dataset_utils.index_directory(
            str(tmp_path),
            labels[:] if isinstance(labels, list) else labels,
            formats,
            verbose=False,
            **kwargs,
        )
        for split, subset in [(None, None), (0.3, "training"), (0.3, "validation")]:
            ours = image_dataset_from_directory(
                str(tmp_path),
                labels=labels,
                validation_split=split,
                subset=subset,
                image_size=2,
                verbose=False,
                **kwargs,
            )
            expected, expected_labels = dataset_utils.get_training_or_validation_split(
                paths, keras_labels, split, subset
            )
            assert ours.file_paths == expected and ours.class_names == names
            if labels is not None:  # each pass reshuffles: the same labels, in a new order
                got = np.concatenate([y for _, y in ours]).tolist()
                want = [int(label) for label in expected_labels]
                assert got == want if not kwargs["shuffle"] else sorted(got) == sorted(want)


@pytest.mark.slow
def test_a_folder_of_20000_pngs_goes_through_in_bounded_memory(tmp_path):
    """One epoch of a small convnet trained from 20,000 64x64 RGB PNGs (983 MB as float32),
    through `fit(dataset)`, in a subprocess whose peak RSS grows by under a quarter of that."""
    rng = np.random.default_rng(0)
    tiles = [Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)) for _ in range(50)]
    for c in range(10):
        folder = tmp_path / f"class{c}"
        folder.mkdir()
        for i in range(2000):
            tiles[(c * 7 + i) % 50].save(folder / f"{i}.png", compress_level=1)
    decoded = 20000 * 64 * 64 * 3 * 4
    script = f"""
import resource, sys, numpy as np
import striate
from striate import layers
from striate.utils import image_dataset_from_directory
data = image_dataset_from_directory({str(tmp_path)!r}, image_size=(64, 64), batch_size=64,
                                    seed=0, verbose=False)
model = striate.Sequential([striate.Input((64, 64, 3)), layers.Rescaling(1 / 255),
                            layers.Conv2D(8, 3, strides=4, activation="relu"),
                            layers.GlobalAveragePooling2D(), layers.Dense(10)])
model.compile(optimizer="adam",
              loss=striate.losses.SparseCategoricalCrossentropy(from_logits=True))
class Count(striate.callbacks.Callback):
    steps = 0
    def on_train_batch_end(self, batch, logs=None):
        Count.steps += 1
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
history = model.fit(data, epochs=1, verbose=0, callbacks=[Count()])
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
assert np.isfinite(history.history["loss"][0])
print(Count.steps * 64, len(data), before, after)
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    seen, batches, before, after = map(int, result.stdout.split())
    assert batches == 313 and 20000 <= seen < 20064  # every batch trained
    print(
        f"peak RSS {before / 2**20:.0f} -> {after / 2**20:.0f} MiB (decoded: {decoded / 2**20:.0f})"
    )
    assert after - before < decoded / 4, f"peak RSS grew by {(after - before) / 2**20:.0f} MiB"


def test_a_dataset_over_a_plain_callable():
    data = Dataset(lambda: iter(range(5)), 5, prefetch=1, class_names=["x"])
    assert list(data) == list(range(5)) == list(data) and data.class_names == ["x"]
    assert list(data.map(lambda b: b * 2).take(2)) == [0, 2] and "batches=5" in repr(data)
    assert pipeline.DEFAULT_PREFETCH == 2
