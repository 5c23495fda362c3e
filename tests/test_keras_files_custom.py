"""A `.keras` file with the user's own layer class: read when the class is registered in
striate under Keras's registered name ("Custom>Scale"), refused (nothing imported) otherwise."""

import os
import sys

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
pytest.importorskip("h5py")

import striate
from striate.model_archive import ModelFileError

pytestmark = pytest.mark.slow  # Keras writes the file


def keras_scale():
    class Scale(keras.layers.Layer):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1],), initializer="random_normal")

        def call(self, x):
            return x * self.w * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    return keras.saving.register_keras_serializable(package="Custom")(Scale)


class Scale(striate.layers.Layer):
    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1],), initializer="random_normal")

    def call(self, x):
        return x * self.w * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


def keras_file(tmp_path):
    inputs = keras.Input((4,))
    x = keras_scale()(factor=3.0, name="scale")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(x))
    path = tmp_path / "custom.keras"
    model.save(path)
    return path, model


def test_a_registered_class_is_read_from_a_keras_file(tmp_path):
    path, theirs = keras_file(tmp_path)
    striate.saving.register_serializable(package="Custom")(Scale)
    ours = striate.models.load_model(path)
    assert isinstance(ours.get_layer("scale"), Scale) and ours.get_layer("scale").factor == 3.0
    x = np.random.default_rng(0).random((5, 4)).astype("float32")
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5)


def test_an_unregistered_class_is_refused_and_nothing_is_imported(tmp_path):
    path, _ = keras_file(tmp_path)
    from striate.saving import registry

    registry._REGISTERED.pop("Custom>Scale", None)
    before = set(sys.modules)
    with pytest.raises(ModelFileError, match=r"names (a custom object|module)"):
        striate.models.load_model(path)
    assert set(sys.modules) == before
