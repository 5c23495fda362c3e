"""Keras 3 parity for the conv family and the shape layers: from the same weights and input,
the same outputs and the same gradients (input and every weight), float32, 1e-5."""

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
torch = pytest.importorskip("torch")

from striate import layers  # noqa: E402
from striate.tensor import Tensor  # noqa: E402

pytestmark = pytest.mark.slow  # parity with Keras

CASES = [
    ("Conv2D", (6, 3), {"dilation_rate": 2, "padding": "same"}),
    ("Conv2D", (6, (2, 3)), {"dilation_rate": (1, 2)}),
    ("Conv2D", (6, 3), {"groups": 2, "strides": 2, "padding": "same"}),
    ("Conv2D", (4, (3, 2)), {"groups": 4, "dilation_rate": (2, 1), "activation": "relu"}),
    ("Conv2D", (8, 2), {"groups": 2, "dilation_rate": 3, "padding": "same", "use_bias": False}),
    ("DepthwiseConv2D", (3,), {}),
    ("DepthwiseConv2D", (3,), {"depth_multiplier": 2, "strides": 2, "padding": "same"}),
    ("DepthwiseConv2D", ((2, 3),), {"dilation_rate": (2, 1), "padding": "same"}),
    ("DepthwiseConv2D", (3,), {"strides": 2, "dilation_rate": 2, "use_bias": False}),
    ("SeparableConv2D", (5, 3), {}),
    ("SeparableConv2D", (5, 3), {"depth_multiplier": 2, "padding": "same", "strides": 2}),
    ("SeparableConv2D", (3, (2, 3)), {"dilation_rate": 2, "activation": "tanh"}),
    ("Conv2DTranspose", (5, 3), {}),
    ("Conv2DTranspose", (5, 3), {"strides": 2, "padding": "same"}),
    ("Conv2DTranspose", (5, 3), {"strides": 2, "padding": "valid"}),
    ("Conv2DTranspose", (5, 4), {"strides": 3, "padding": "same", "output_padding": 1}),
    ("Conv2DTranspose", (5, 3), {"strides": (2, 3), "output_padding": (1, 2)}),
    ("Conv2DTranspose", (5, 3), {"strides": 2, "padding": "same", "output_padding": 0}),
    ("Conv2DTranspose", (5, 2), {"strides": 2, "padding": "same", "output_padding": 1}),
    ("Conv2DTranspose", (5, 3), {"dilation_rate": 2, "padding": "same"}),
    ("Conv2DTranspose", (5, (2, 3)), {"dilation_rate": (2, 1), "use_bias": False}),
    ("UpSampling2D", (), {}),
    ("UpSampling2D", ((2, 3),), {"interpolation": "bilinear"}),
    ("UpSampling2D", ((3, 1),), {"interpolation": "bilinear"}),
    ("Cropping2D", (((1, 2), (0, 3)),), {}),
    ("Cropping2D", (2,), {}),
    ("ZeroPadding2D", (((1, 0), (2, 3)),), {}),
    ("GlobalMaxPooling2D", (), {}),
    ("GlobalMaxPooling2D", (), {"keepdims": True}),
    ("GlobalAveragePooling2D", (), {"keepdims": True}),
    ("LayerNormalization", (), {}),
    ("LayerNormalization", (), {"axis": [1, 3], "epsilon": 1e-5}),
    ("LayerNormalization", (), {"axis": [2, 3], "center": False}),
    ("LayerNormalization", (), {"scale": False, "epsilon": 0.1}),
    ("Permute", ((3, 1, 2),), {}),
    ("SpatialDropout2D", (0.5,), {}),  # inference: the identity in both
]


def ours_with_gradients(layer, x, seed):
    tensor = Tensor(x.copy(), requires_grad=True)
    out = layer(tensor)
    out.backward(np.random.default_rng(seed).standard_normal(out.data.shape).astype(np.float32))
    return out.data, [tensor.grad] + [w.grad for w in layer.weights]


def keras_with_gradients(layer, x, seed):
    tensor = torch.tensor(x, requires_grad=True)
    out = layer(tensor)
    weights = torch.tensor(
        np.random.default_rng(seed).standard_normal(tuple(out.shape)).astype(np.float32)
    )
    (out * weights).sum().backward()
    grads = [tensor.grad] + [w.value.grad for w in layer.weights]
    return out.detach().cpu().numpy(), [g.detach().cpu().numpy() for g in grads]


@pytest.mark.parametrize("name, args, kwargs", CASES, ids=lambda v: str(v))
def test_outputs_and_gradients_match_keras(name, args, kwargs):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 9, 10, 4)).astype(np.float32)
    ours = getattr(layers, name)(*args, **kwargs)
    theirs = getattr(keras.layers, name)(*args, **kwargs)
    ours.build_for((None, *x.shape[1:]))
    # weights drawn here (not the initializers), so zero biases and unit gammas do not hide bugs
    weights = [rng.standard_normal(w.data.shape).astype(np.float32) for w in ours.weights]
    ours.set_weights(weights)
    theirs.build(x.shape)
    assert [tuple(w.shape) for w in theirs.weights] == [w.shape for w in weights]
    theirs.set_weights(weights)
    assert ours.compute_output_shape((None, *x.shape[1:])) == tuple(
        theirs.compute_output_shape((None, *x.shape[1:]))
    )
    out, grads = ours_with_gradients(ours, x, seed=1)
    expected, expected_grads = keras_with_gradients(theirs, x, seed=1)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    assert len(grads) == len(expected_grads)
    for grad, want in zip(grads, expected_grads):
        np.testing.assert_allclose(grad, want, rtol=1e-5, atol=1e-5 * max(1, np.abs(want).max()))


@pytest.mark.parametrize("name, args, kwargs", CASES, ids=lambda v: str(v))
def test_configs_build_the_same_keras_layer(name, args, kwargs):
    """Our config, given to Keras, builds a layer with the same config values."""
    config = getattr(layers, name)(*args, **kwargs).get_config()
    config = {k: v for k, v in config.items() if k not in ("dtype", "name", "trainable")}
    twin = getattr(keras.layers, name).from_config(config).get_config()
    for key, value in config.items():
        if key.endswith("_initializer"):  # our names ('zeros') for Keras's classes (Zeros)
            assert type(keras.initializers.get(value)).__name__ == twin[key]["class_name"], key
        else:
            assert value == as_lists(twin[key]), key


def as_lists(value):
    """Keras's tuples (nested too) as the lists our JSON configs hold."""
    if isinstance(value, (tuple, list)):
        return [as_lists(v) for v in value]
    return value


def test_spatial_dropout_in_training_drops_whole_channels_like_keras():
    x = np.ones((32, 4, 4, 16), np.float32)
    theirs = keras.layers.SpatialDropout2D(0.5, seed=0)(x, training=True)
    theirs = theirs.detach().cpu().numpy()
    ours = layers.SpatialDropout2D(0.5, seed=0)(x, training=True).data
    for y in (ours, theirs):
        assert np.all(y == y[:, :1, :1, :])
        assert set(np.unique(y).tolist()) == {0.0, 2.0}
        assert 0.4 < np.mean(y == 0) < 0.6
