"""Layers: output shapes and parameter counts as Keras gives them, config round-trips, errors."""

import os

import numpy as np
import pytest

from striate import layers
from striate.layers import (
    Activation,
    AveragePooling2D,
    BatchNormalization,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAveragePooling2D,
    MaxPooling2D,
    Reshape,
    ZeroPadding2D,
)

# (layer factory, input shape, output shape Keras 3.15 gives, parameter count Keras gives)
CASES = [
    (lambda: Conv2D(6, 2), (None, 28, 28, 1), (None, 27, 27, 6), 30),
    (lambda: Conv2D(32, 3, activation="relu"), (None, 28, 28, 1), (None, 26, 26, 32), 320),
    (lambda: Conv2D(64, 3), (None, 13, 13, 32), (None, 11, 11, 64), 18496),
    (
        lambda: Conv2D(4, (3, 2), strides=(2, 3), padding="same"),
        (None, 7, 8, 3),
        (None, 4, 3, 4),
        76,
    ),
    (lambda: Conv2D(5, 4, strides=3, use_bias=False), (None, 6, 6, 2), (None, 1, 1, 5), 160),
    (lambda: MaxPooling2D(2), (None, 27, 27, 6), (None, 13, 13, 6), 0),
    (lambda: MaxPooling2D(3, strides=2, padding="same"), (None, 7, 7, 2), (None, 4, 4, 2), 0),
    (lambda: AveragePooling2D((2, 3)), (None, 6, 7, 1), (None, 3, 2, 1), 0),
    (lambda: GlobalAveragePooling2D(), (None, 5, 5, 7), (None, 7), 0),
    (lambda: Flatten(), (None, 13, 13, 6), (None, 1014), 0),
    (lambda: Dense(10), (None, 1014), (None, 10), 10150),
    (lambda: Dense(5), (None, 3, 3, 4), (None, 3, 3, 5), 25),
    (lambda: Activation("softmax"), (None, 10), (None, 10), 0),
    (lambda: Dropout(0.5), (None, 1600), (None, 1600), 0),
    (lambda: BatchNormalization(), (None, 6, 6, 8), (None, 6, 6, 8), 32),
    (lambda: ZeroPadding2D(((1, 2), (0, 3))), (None, 5, 5, 3), (None, 8, 8, 3), 0),
    (lambda: Reshape((7, -1)), (None, 28, 28), (None, 7, 112), 0),
]


@pytest.mark.parametrize("factory, input_shape, output_shape, params", CASES)
def test_shapes_and_params(factory, input_shape, output_shape, params):
    layer = factory()
    assert layer.build_for(input_shape) == output_shape
    assert layer.count_params() == params
    x = np.random.default_rng(0).standard_normal((2,) + input_shape[1:]).astype(np.float32)
    out = layer(x)
    assert out.data.shape == (2,) + output_shape[1:]
    assert out.data.dtype == np.float32


@pytest.mark.parametrize("factory, input_shape, output_shape, params", CASES)
def test_shapes_and_params_match_live_keras(factory, input_shape, output_shape, params):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    ours = factory()
    theirs = getattr(keras.layers, type(ours).__name__).from_config(
        {k: v for k, v in ours.get_config().items() if k not in ("dtype", "name")}
    )
    theirs.build(input_shape)
    assert tuple(theirs.compute_output_shape(input_shape)) == output_shape
    assert theirs.count_params() == params
    ours.build_for(input_shape)
    assert [tuple(w.shape) for w in theirs.weights] == [w.shape for w in ours.weights]


@pytest.mark.parametrize("factory, input_shape, output_shape, params", CASES)
def test_config_round_trip(factory, input_shape, output_shape, params):
    layer = factory()
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    assert clone.build_for(input_shape) == output_shape


def test_default_names_count_up():
    layers.base.reset_names()
    assert [Conv2D(1, 1).name, Conv2D(1, 1).name, MaxPooling2D().name] == [
        "conv2d",
        "conv2d_1",
        "max_pooling2d",
    ]
    assert GlobalAveragePooling2D().name == "global_average_pooling2d"
    assert BatchNormalization().name == "batch_normalization"


def test_aliases():
    assert layers.MaxPool2D is MaxPooling2D
    assert layers.AvgPool2D is AveragePooling2D


def test_glorot_limit_for_article_conv():
    layer = Conv2D(6, 2)
    layer.build_for((None, 28, 28, 1))
    kernel = layer.kernel.data
    limit = np.sqrt(6 / (4 + 24))  # 0.4629
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.5 * limit
    assert np.all(layer.bias.data == 0)


@pytest.mark.parametrize(
    "make, message",
    [
        (
            lambda: Conv2D(0, 3),
            r"Conv2D 'conv2d\w*': filters must be a positive int\. Received: "
            r"filters=0",
        ),
        (
            lambda: Conv2D(3, (2, 0)),
            r"kernel_size must be a positive int or a tuple of 2 positive ints\. Received: ",
        ),
        (
            lambda: Conv2D(3, 3, padding="full"),
            r"padding must be 'valid' or 'same' \(case-insensitive\)\. Received: "
            r"padding='full'",
        ),
        (lambda: Dense(-1), r"Dense 'dense\w*': units must be a positive int\. Received: units=-1"),
        (lambda: Dropout(1.0), r"rate must be a number in \[0, 1\)\. Received: rate=1\.0"),
        (lambda: Dense(3, bogus=1), r"Dense: unexpected keyword argument\(s\) bogus"),
        (lambda: Reshape((2, -1, -1)), "at most one -1"),
    ],
)
def test_error_texts(make, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make()


def test_conv_rejects_wrong_channels_after_build():
    layer = Conv2D(2, 3)
    layer(np.zeros((1, 5, 5, 3), dtype=np.float32))
    with pytest.raises(
        ValueError,
        match=r"expected input shape \(None, 5, 5, 3\)\. Received: "
        r"input shape \(None, 5, 5, 1\)",
    ):
        layer(np.zeros((1, 5, 5, 1), dtype=np.float32))


def test_reshape_size_mismatch():
    with pytest.raises(ValueError, match=r"cannot reshape 784 values per sample"):
        Reshape((10, 10)).build_for((None, 28, 28))


def test_dropout_inference_is_identity_and_training_scales():
    x = np.ones((1000, 10), dtype=np.float32)
    layer = Dropout(0.25, seed=3)
    assert layer(x).data is x
    out = layer(x, training=True).data
    kept = out != 0
    np.testing.assert_allclose(out[kept], 1 / 0.75, rtol=1e-6)
    assert abs(kept.mean() - 0.75) < 0.02


def test_layer_index_by_name_index_and_negative_index():
    from striate.layers.lookup import layer_index

    found = [Conv2D(2, 3, name="conv"), Flatten(name="flat"), Dense(3, name="out")]
    assert layer_index(found, "flat") == 1
    assert layer_index(found, 0) == 0 and layer_index(found, np.int64(2)) == 2
    assert layer_index(found, -1) == 2 and layer_index(found, -3) == 0


@pytest.mark.parametrize(
    "key, message",
    [
        ("nope", r"^get_layer: no layer named 'nope'\. Layers: 'conv', 'flat', 'out'\.$"),
        (
            3,
            (
                r"^get_layer: layer index must be an int in -3\.\.2 or a layer name "
                r"\('conv', 'flat', 'out'\)\. Received: 3$"
            ),
        ),
        (-4, r"in -3\.\.2 .* Received: -4$"),
        (True, r"Received: True$"),
        (1.0, r"Received: 1\.0$"),
    ],
)
def test_layer_index_errors_name_the_valid_layers(key, message):
    from striate.layers.lookup import layer_index

    found = [Conv2D(2, 3, name="conv"), Flatten(name="flat"), Dense(3, name="out")]
    with pytest.raises(ValueError, match=message):
        layer_index(found, key, "get_layer")
    with pytest.raises(ValueError, match=r"^there are no layers to index\. Received: 0$"):
        layer_index([], 0)


def test_geometry_formula_matches_the_output_length():
    from striate.ops.geometry import conv_output_length, output_length_formula

    for n in range(1, 10):
        for k in range(1, 5):
            for s in range(1, 4):
                for padding in ("valid", "same"):
                    formula = output_length_formula(n, k, s, padding)
                    assert formula.endswith(f"= {conv_output_length(n, k, s, padding)}")
                    arithmetic, value = formula.split(" = ")  # floor((n [+ pad] - k) / s) + 1
                    assert eval(arithmetic.replace("floor", "").replace("/", "//")) == int(value)
