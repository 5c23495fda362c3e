"""Keras 3's own files both ways, checked against Keras itself (torch backend): `.keras` model
files, Keras 3 `.weights.h5` weights files, and legacy `.h5` (Keras 3's legacy writer, which
keeps Keras 2's layout: `model_config`, `model_weights` with `layer_names`/`weight_names`)."""

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
from optional import require  # noqa: E402

require("h5py", "'striate[keras]'")

import keras_models  # noqa: E402 (tests/ is on the path)

import striate  # noqa: E402
from striate.models import load_model  # noqa: E402
from striate.saving.keras_config import keras_class_key  # noqa: E402

pytestmark = pytest.mark.slow  # parity with Keras
NAMES = list(keras_models.MODELS)


def keras_predict(model, x):
    return np.asarray(model.predict(x, verbose=0, batch_size=64))


def shape(layer):
    if isinstance(layer, keras.layers.Layer):
        return tuple(layer.output.shape)
    return tuple(layer.output_shape)


def summary_rows(model):
    """(name, class, output shape, parameters) of each layer, as the summary table lists them."""
    return [
        (layer.name, type(layer).__name__, shape(layer), layer.count_params())
        for layer in model.layers
        if type(layer).__name__ != "InputLayer"
    ]


@pytest.mark.parametrize("name", NAMES)
def test_striate_reads_what_keras_wrote(tmp_path, name):
    model = keras_models.trained(keras, name)
    x = keras_models.images(model, 256)
    expected = keras_predict(model, x)
    model.save(tmp_path / "k.keras")
    # Keras 3's legacy writer (Keras 2's layout) fails on the every-layer model itself
    # ("cannot pickle 'module' object" deep-copying a layer), so that one has no .h5.
    legacy = name != "every_layer"
    if legacy:
        model.save(tmp_path / "k.h5")
    model.save_weights(tmp_path / "k.weights.h5")
    for path in ("k.keras", "k.h5") if legacy else ("k.keras",):
        mine = load_model(tmp_path / path)
        np.testing.assert_allclose(mine.predict(x, verbose=0), expected, atol=1e-5)
        assert summary_rows(mine) == summary_rows(model)  # the same summary table
    mine.set_weights([np.zeros_like(w) for w in mine.get_weights()])
    mine.load_weights(tmp_path / "k.weights.h5")
    np.testing.assert_allclose(mine.predict(x, verbose=0), expected, atol=1e-5)
    if not legacy:
        return
    mine.set_weights([np.zeros_like(w) for w in mine.get_weights()])
    mine.load_weights(tmp_path / "k.h5")
    np.testing.assert_allclose(mine.predict(x, verbose=0), expected, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_keras_reads_what_striate_wrote(tmp_path, name):
    original = keras_models.trained(keras, name, seed=3)
    original.save(tmp_path / "k.keras")
    mine = load_model(tmp_path / "k.keras")
    x = keras_models.images(original, 256, seed=2)
    expected = mine.predict(x, verbose=0)
    mine.save(tmp_path / "s.keras")
    theirs = keras.models.load_model(tmp_path / "s.keras", compile=False)
    np.testing.assert_allclose(keras_predict(theirs, x), expected, atol=1e-5)
    mine.save_weights(tmp_path / "s.weights.h5")
    fresh = keras_models.MODELS[name](keras)
    fresh.load_weights(tmp_path / "s.weights.h5")
    np.testing.assert_allclose(keras_predict(fresh, x), expected, atol=1e-5)


def test_a_striate_trained_model_travels_to_keras(tmp_path):
    from striate.layers import BatchNormalization, Conv2D, Dense, Flatten, Input, MaxPool2D

    model = striate.Sequential(
        [Input((8, 8, 1)), Conv2D(4, 3), BatchNormalization(), MaxPool2D(), Flatten(), Dense(3)]
    )
    model.compile("adam", "mse")
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (32, 8, 8, 1)).astype("float32")
    model.fit(x, rng.uniform(0, 1, (32, 3)), epochs=2, verbose=0)
    model.save(tmp_path / "m.keras")
    theirs = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(keras_predict(theirs, x), model.predict(x, verbose=0), atol=1e-5)


def test_groups_are_named_as_keras_names_them():
    from keras.src.utils import naming

    import striate.layers as layers

    for name in layers._CLASSES.values():
        assert keras_class_key(name.__name__) == naming.to_snake_case(name.__name__)


def test_an_adapted_normalization_travels_both_ways(tmp_path):
    layers = keras.layers
    x = np.random.default_rng(0).uniform(0, 3, (20, 5, 5, 3)).astype("float32")
    norm = layers.Normalization()
    norm.adapt(x)  # its mean, variance and (int) count are weights
    model = keras.Sequential([keras.Input((5, 5, 3)), norm, layers.Flatten(), layers.Dense(2)])
    model.save(tmp_path / "n.keras")
    mine = load_model(tmp_path / "n.keras")
    np.testing.assert_allclose(mine.predict(x, verbose=0), keras_predict(model, x), atol=1e-5)
    mine.save(tmp_path / "s.keras")
    theirs = keras.models.load_model(tmp_path / "s.keras")
    np.testing.assert_allclose(keras_predict(theirs, x), keras_predict(model, x), atol=1e-5)


@pytest.mark.parametrize("optimizer", ["adam", "rmsprop"])
def test_training_resumes_across_programs(tmp_path, optimizer):
    """compile_config and optimizer/vars (iterations, learning rate, each variable's slots) both
    ways: one more step after the load matches an unbroken run (the parity bar, rel 2e-3)."""
    layers = keras.layers
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            layers.Conv2D(3, 3, use_bias=False),  # (a bias before BN has no gradient to match)
            layers.BatchNormalization(),
            layers.Flatten(),
            layers.Dense(4, activation="softmax"),
        ]
    )
    model.compile(optimizer, "categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (16, 8, 8, 1)).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, 4, 16), 4)
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False)
    model.save(tmp_path / "k.keras")
    mine = load_model(tmp_path / "k.keras")
    assert mine.compiled and mine.optimizer.iterations == 2
    for step in range(2):
        model.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
        mine.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
        for theirs, ours in zip(model.get_weights(), mine.get_weights()):
            scale = np.abs(theirs).max() + 1e-12
            assert np.abs(theirs - ours).max() / scale < 2e-3
        if step == 0:  # then striate's file back into Keras, which resumes from it
            mine.save(tmp_path / "s.keras")
            model = keras.models.load_model(tmp_path / "s.keras")
            assert int(model.optimizer.iterations) == 3
