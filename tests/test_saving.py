"""Model files: save/load equivalence, exact resume of fit, weights files, bad files, atomicity."""

import json
import os
import zipfile

import numpy as np
import pytest

import striate
from striate import model_archive
from striate.layers import BatchNormalization, Conv2D, Dense, Dropout, Flatten, MaxPool2D
from striate.layers.base import reset_names
from striate.models import Sequential, load_model
from striate.optimizers import SGD, Adam, RMSprop
from striate.saving import ModelFileError


def small_model(units=2, seeded_dropout=False):
    reset_names()
    return Sequential(
        [
            Conv2D(3, 3, input_shape=(6, 6, 1), activation="relu"),
            BatchNormalization(),
            Dropout(0.25),
            MaxPool2D(2),
            Flatten(),
            Dropout(0.2, seed=3 if seeded_dropout else None),
            Dense(units, activation="softmax"),
        ]
    )


def data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 6, 6, 1)).astype(np.float32), rng.integers(0, 2, size=n)


def trained(path, optimizer="adam", metrics=("acc",)):
    striate.utils.set_random_seed(1)
    model = small_model(seeded_dropout=True)
    model.compile(
        optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=list(metrics)
    )
    x, y = data()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    model.save(path)
    return model


# -- equivalence -------------------------------------------------------------------------------
def test_loaded_model_predicts_identically_with_same_config_and_compile(tmp_path):
    path = tmp_path / "digits.striate"
    model = trained(path)
    loaded = load_model(path)
    x, _ = data(seed=5)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert [layer.get_config() for layer in loaded.layers] == [
        layer.get_config() for layer in model.layers
    ]
    assert (loaded.name, loaded.input_shape) == (model.name, model.input_shape)
    assert loaded.compiled and type(loaded.optimizer) is Adam
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert loaded.loss.get_config() == model.loss.get_config()
    assert loaded._metric_identifiers == ["acc"] and loaded.metrics[0][0] == "acc"
    assert loaded.optimizer.iterations == model.optimizer.iterations == 5
    for mine, theirs in zip(model.optimizer.state_arrays(), loaded.optimizer.state_arrays()):
        np.testing.assert_array_equal(mine, theirs)
    history = loaded.fit(*data(), epochs=1, verbose=0)
    assert sorted(history.history) == ["acc", "loss"]


def test_file_is_a_plain_zip_of_json_and_npy(tmp_path):
    path = tmp_path / "m.striate"
    model = trained(path)
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        document = json.loads(archive.read("model.json"))
    assert names[0] == "model.json"
    assert sum(n.startswith("weights/") for n in names) == len(model.get_weights())
    assert document["format"] == "striate.model" and document["format_version"] == 1
    assert document["compile"]["metrics"] == ["acc"]
    assert document["model"]["config"]["layers"][0]["class_name"] == "Conv2D"
    with np.load(path, allow_pickle=False) as npz:  # numpy reads it as an .npz too
        np.testing.assert_array_equal(npz["weights/00000"], model.get_weights()[0])


@pytest.mark.parametrize(
    "make",
    [
        lambda: "adam",
        lambda: SGD(0.05, momentum=0.9, nesterov=True),
        lambda: RMSprop(centered=True, momentum=0.5),
    ],
    ids=["adam", "sgd", "rmsprop"],
)
def test_fit_resumes_exactly_after_save_and_load(tmp_path, make):
    x, y = data(64)
    x_val, y_val = data(16, seed=9)

    def fresh():
        striate.utils.set_random_seed(42)
        model = small_model(seeded_dropout=True)
        model.compile(optimizer=make(), loss="sparse_categorical_crossentropy", metrics=["acc"])
        return model

    def fit(model, epochs, initial_epoch=0):
        return model.fit(
            x,
            y,
            batch_size=10,
            epochs=epochs,
            initial_epoch=initial_epoch,
            shuffle=True,
            verbose=0,
            validation_data=(x_val, y_val),
        ).history

    straight = fresh()
    expected = fit(straight, 2)
    path = tmp_path / "resume.striate"
    model = fresh()
    first = fit(model, 1)
    model.save(path)
    striate.utils.set_random_seed(123)  # disturb the shared generator
    np.random.default_rng().normal(size=10)
    loaded = load_model(path)
    second = fit(loaded, 2, initial_epoch=1)
    for key in expected:
        assert first[key] + second[key] == expected[key], key
    for a, b in zip(loaded.get_weights(), straight.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_uncompiled_model_and_compile_false(tmp_path):
    path = tmp_path / "plain.striate"
    model = small_model()
    model.save(path)
    loaded = load_model(path)
    assert not loaded.compiled
    with pytest.raises(ValueError, match="compile"):
        loaded.fit(*data(), verbose=0)
    trained(path)
    assert not load_model(path, compile=False).compiled
    for optimizer in ("sgd", "adam"):  # compiled but no step taken yet: no slots to store
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
        model.save(path)
        loaded = load_model(path)
        assert loaded.optimizer.iterations == 0 and loaded.optimizer.slots is None
        loaded.fit(*data(), epochs=1, verbose=0)
        assert loaded.optimizer.iterations == 2


def test_custom_metric_saves_uncompiled_with_a_warning(tmp_path):
    def my_metric(y_true, y_pred):
        return np.zeros(len(y_true))

    path = tmp_path / "custom.striate"
    with pytest.warns(UserWarning, match="not a registered name.*compile"):
        trained(path, metrics=[my_metric])
    assert not load_model(path).compiled


def test_unbuilt_model_and_overwrite_false(tmp_path):
    with pytest.raises(ValueError, match="not built.*input_shape"):
        Sequential([Dense(2)]).save(tmp_path / "x.striate")
    path = tmp_path / "m.striate"
    model = small_model()
    model.save(path)
    with pytest.raises(ModelFileError, match="already exists.*overwrite=True"):
        model.save(path, overwrite=False)
    with pytest.raises(ModelFileError, match="does not exist.*makedirs"):
        model.save(tmp_path / "no" / "such" / "m.striate")


def test_optimizer_state_round_trip():
    opt = RMSprop(centered=True, momentum=0.5)
    w = striate.tensor.Variable(np.ones(3, np.float32), name="w")
    w.grad = np.full(3, 0.5, np.float32)
    opt.apply([w])
    other = RMSprop(centered=True, momentum=0.5)
    other.set_state(opt.state_arrays())
    assert other.iterations == 1
    for a, b in zip(opt.state_arrays(), other.state_arrays()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="slot"):
        other.set_state(opt.state_arrays()[:-1])


# -- weights files ---------------------------------------------------------------------------
def test_save_weights_and_load_weights(tmp_path):
    path = tmp_path / "w.striate"
    source = trained(tmp_path / "m.striate")
    source.save_weights(path)
    target = Sequential(
        [
            Conv2D(3, 3, input_shape=(6, 6, 1), activation="relu"),
            BatchNormalization(),
            MaxPool2D(2),
            Flatten(),
            Dense(2, activation="softmax"),
        ]
    )  # other names, no Dropout: fine
    target.load_weights(path)
    for a, b in zip(target.get_weights(), source.get_weights()):
        np.testing.assert_array_equal(a, b)
    target.load_weights(tmp_path / "m.striate")  # a full model file holds weights too
    with pytest.raises(ModelFileError, match="format 'striate.weights'.*load_weights"):
        load_model(path)


def test_load_weights_mismatch_names_layers_and_shapes(tmp_path):
    path = tmp_path / "w.striate"
    small_model(units=2).save_weights(path)
    with pytest.raises(
        ModelFileError,
        match=r"'dense' \(Dense\) with shapes \[\(12, 2\), "
        r"\(2,\)\].*'dense' \(Dense\) with shapes "
        r"\[\(12, 3\), \(3,\)\]",
    ):
        small_model(units=3).load_weights(path)
    fewer = Sequential([Conv2D(3, 3, input_shape=(6, 6, 1)), Flatten(), Dense(2)])
    with pytest.raises(ModelFileError, match="weights for 3 layers.*2 layers with weights"):
        fewer.load_weights(path)
    with pytest.raises(ValueError, match="not built"):
        Sequential([Dense(2)]).load_weights(path)


# -- bad files -------------------------------------------------------------------------------
def rewrite(source, target, edit=None, replace=None, drop=()):
    """Copy a model file, editing model.json and replacing or dropping members."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for name in old.namelist():
            if name in drop:
                continue
            content = old.read(name)
            if name == "model.json" and edit is not None:
                document = json.loads(content)
                edit(document)
                content = json.dumps(document)
            new.writestr(name, (replace or {}).get(name, content))
    return target


def npy_bytes(array, allow_pickle=False):
    import io

    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


@pytest.fixture()
def good(tmp_path):
    return trained(tmp_path / "good.striate") and tmp_path / "good.striate"


def test_missing_random_hdf5_and_empty_files(tmp_path):
    with pytest.raises(ModelFileError, match=r"nothere.striate'.*does not exist"):
        load_model(tmp_path / "nothere.striate")
    random_file = tmp_path / "random.bin"
    random_file.write_bytes(np.random.default_rng(0).bytes(500))
    with pytest.raises(ModelFileError, match="not a striate model file.*not a zip"):
        load_model(random_file)
    h5 = tmp_path / "model.h5"
    h5.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    with pytest.raises(ModelFileError, match="HDF5.*Keras"):
        load_model(h5)
    (tmp_path / "empty.striate").write_bytes(b"")
    with pytest.raises(ModelFileError, match="not a zip"):
        load_model(tmp_path / "empty.striate")
    with pytest.raises(ModelFileError, match="folder"):
        load_model(tmp_path)


def test_truncated_and_corrupted_files(good, tmp_path):
    content = good.read_bytes()
    cut = tmp_path / "cut.striate"
    cut.write_bytes(content[: len(content) // 2])
    with pytest.raises(ModelFileError, match="truncated or corrupted.*Save the model again"):
        load_model(cut)
    with zipfile.ZipFile(good) as archive:  # flip the last data byte of the first weights
        info = archive.getinfo("weights/00000.npy")
    local_header = 30 + len(info.filename) + len(info.extra)
    end = info.header_offset + local_header + info.compress_size - 1
    flipped = bytearray(content)
    flipped[end] ^= 0xFF
    bad = tmp_path / "flipped.striate"
    bad.write_bytes(bytes(flipped))
    with pytest.raises(ModelFileError, match="truncated or corrupted.*CRC"):
        load_model(bad)


def test_member_with_a_compression_zipfile_cannot_read(good, tmp_path):
    """Method 99 (AES encryption), set in the weights member's local and central headers."""
    content = bytearray(good.read_bytes())
    with zipfile.ZipFile(good) as archive:
        offset = archive.getinfo("weights/00000.npy").header_offset
    content[offset + 8 : offset + 10] = (99).to_bytes(2, "little")
    central = content.index(b"PK\x01\x02")
    while True:
        name_length = int.from_bytes(content[central + 28 : central + 30], "little")
        if content[central + 46 : central + 46 + name_length] == b"weights/00000.npy":
            content[central + 10 : central + 12] = (99).to_bytes(2, "little")
            break
        central = content.index(b"PK\x01\x02", central + 4)
    bad = tmp_path / "aes.striate"
    bad.write_bytes(bytes(content))
    with pytest.raises(ModelFileError, match="weights/00000.npy is compressed with zip method 99"):
        load_model(bad)


def test_zip_that_is_not_a_striate_file(tmp_path):
    keras_like = tmp_path / "model.keras"
    with zipfile.ZipFile(keras_like, "w") as archive:
        archive.writestr("config.json", "{}")
        archive.writestr("metadata.json", "{}")
    with pytest.raises(ModelFileError, match="without model.json.*Keras .keras"):
        load_model(keras_like)


def test_newer_format_version(good, tmp_path):
    newer = rewrite(
        good,
        tmp_path / "newer.striate",
        edit=lambda d: d.update(format_version=99, striate_version="9.0"),
    )
    with pytest.raises(ModelFileError, match="format version 99, newer.*up to 1.*Upgrade"):
        load_model(newer)


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            lambda d: d["model"]["config"]["layers"][0].update(class_name="Lambda"),
            "Unknown layer class 'Lambda'",
        ),
        (lambda d: d["model"]["config"].update(layers="conv2d"), "'layers' should be a list"),
        (lambda d: d.update(format_version="1"), "format_version '1' is not a positive int"),
        (
            lambda d: d["model"]["config"]["layers"][0]["config"].update(filters="six"),
            "layer 0 \\(Conv2D\\) has a bad config.*filters",
        ),
        (
            lambda d: d["model"]["config"]["layers"][0]["config"].update(dtype="object"),
            "dtype 'object'",
        ),
        (
            lambda d: d["model"]["config"]["layers"][0]["config"].update(evil=1),
            "unexpected keyword argument",
        ),
        (
            lambda d: d["model"]["config"].update(input_shape=[None, -6, 6, 1]),
            "input_shape .* positive ints",
        ),
        (lambda d: d["model"].update(class_name="Functional"), "'Functional' config has no"),
        (
            lambda d: d["compile"]["optimizer"].update(class_name="os.system"),
            "compile settings cannot be restored.*Unknown optimizer",
        ),
        (lambda d: d["compile"].update(metrics=[{"a": 1}]), "'metrics': \\[str\\]"),
        (lambda d: d["optimizer_state"].update(count=4), "optimizer state has 4 arrays"),
        (lambda d: d["rng"].update(backend={"bit_generator": "MT19937"}), "not a PCG64 state"),
        (lambda d: d["weights"].pop(), "weights for 2 layers"),
        (lambda d: d.update(format="pickle"), "format 'pickle'"),
    ],
)
def test_crafted_documents(good, tmp_path, edit, message):
    crafted = rewrite(good, tmp_path / "crafted.striate", edit=edit)
    with pytest.raises(ModelFileError, match=message):
        load_model(crafted)


def test_crafted_arrays(good, tmp_path):
    cases = [
        (
            {"weights/00000.npy": npy_bytes(np.array([{"a": 1}], dtype=object), True)},
            "dtype object.*never objects",
        ),
        ({"weights/00001.npy": npy_bytes(np.zeros(7, np.float32))}, r"shape \(7,\).*\(3,\)"),
        ({"weights/00001.npy": npy_bytes(np.zeros(3, np.float32))[:-4]}, "holds 8 bytes"),
        ({"weights/00001.npy": b"not an npy file"}, "not a valid .npy"),
        ({"optimizer/00000.npy": npy_bytes(np.array(-3))}, "iterations -3 is negative"),
        ({"model.json": b"{not json"}, "not valid JSON"),
        ({"model.json": b"[1, 2]"}, "not a JSON object"),
    ]
    for index, (replace, message) in enumerate(cases):
        crafted = rewrite(good, tmp_path / f"crafted{index}.striate", replace=replace)
        with pytest.raises(ModelFileError, match=message):
            load_model(crafted)
    missing = rewrite(good, tmp_path / "missing.striate", drop=("weights/00003.npy",))
    with pytest.raises(ModelFileError, match="weights/00003.npy is missing"):
        load_model(missing)


# -- atomic save -----------------------------------------------------------------------------
def test_failed_save_leaves_previous_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "m.striate"
    model = trained(path)
    before = path.read_bytes()
    calls = []
    original = model_archive._write_array

    def failing(archive, name, array):
        calls.append(name)
        if len(calls) == 3:
            raise OSError("disk full (simulated)")
        original(archive, name, array)

    monkeypatch.setattr(model_archive, "_write_array", failing)
    model.fit(*data(), epochs=1, verbose=0)
    with pytest.raises(OSError, match="simulated"):
        model.save(path)
    assert path.read_bytes() == before
    calls.clear()
    with pytest.raises(OSError, match="simulated"):
        model.save(tmp_path / "new.striate")
    assert sorted(os.listdir(tmp_path)) == ["m.striate"]
    monkeypatch.undo()
    load_model(path)  # still readable
