"""A subclassed ResNet-34 (a custom Layer holding its sub-layers in lists, inside a subclassed
Model) against Keras 3: same parameter count at 224x224x3, same layers and output shapes, and
the same weights give the same predictions on small inputs."""

import os

import numpy as np
import pytest
from resnet34 import resnet34

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

import striate

pytestmark = pytest.mark.slow  # parity with Keras


def both(shape, classes=10):
    striate.backend.clear_session()
    keras.backend.clear_session()
    striate.utils.set_random_seed(0)
    ours, theirs = resnet34(striate, classes), resnet34(keras, classes)
    ours.build((None,) + shape)
    theirs(np.zeros((1,) + shape, np.float32))  # Keras 3 builds a subclassed model by a call
    return ours, theirs


@pytest.mark.parametrize("classes, total", [(10, 21_306_826), (1000, 21_814_696)])
def test_resnet34_parameter_count_and_shapes_match_keras(classes, total):
    ours, theirs = both((224, 224, 3), classes)
    assert ours.count_params() == theirs.count_params() == total
    assert [type(layer).__name__ for layer in ours.layers] == [
        type(layer).__name__ for layer in theirs.layers
    ]
    for mine, twin in zip(ours.layers, theirs.layers):
        assert mine.count_params() == twin.count_params()
    assert ours.layers[-1].output_shape == (None, classes)
    assert ours.layers[4].output_shape == (None, 56, 56, 64)  # the first residual unit
    assert ours.layers[-3].output_shape == (None, 7, 7, 512)  # the last one


def test_resnet34_same_weights_same_predictions():
    ours, theirs = both((32, 32, 3))
    assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in theirs.weights]
    theirs.set_weights(ours.get_weights())
    x = np.random.default_rng(0).random((3, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(
        ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-6
    )
