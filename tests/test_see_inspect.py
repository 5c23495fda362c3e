"""striate.see as data: inspect (outputs, pre-activations, gradients), receptive fields, summary."""

import numpy as np
import pytest

from striate import backend
from striate.layers import (
    Activation,
    AveragePooling2D,
    BatchNormalization,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    MaxPool2D,
    ZeroPadding2D,
)
from striate.layers.base import reset_names
from striate.models import Sequential
from striate.ops import conv as conv_ops
from striate.see import (
    detailed_summary,
    inspect_model,
    layer_fields,
    output_size_formula,
    receptive_field,
)
from striate.see.walk import conv_walkthrough
from striate.tensor import Tensor, no_grad


@pytest.fixture
def float64():
    previous = backend.floatx()
    backend.set_floatx("float64")
    yield
    backend.set_floatx(previous)


def mixed_model(end="activation", shape=(9, 9, 2)):
    """Conv with relu, 'same' stride-2 conv, pooling, BN, dropout, and a chosen ending."""
    reset_names()
    layers = [
        Conv2D(3, 3, activation="relu", input_shape=shape),
        Conv2D(4, 2, strides=2, padding="same", activation="tanh"),
        MaxPool2D(2, strides=1),
        BatchNormalization(),
        Flatten(),
        Dropout(0.5),
        Dense(6, activation="relu"),
    ]
    if end == "activation":
        layers += [Dense(5), Activation("softmax")]
    elif end == "dense_softmax":
        layers += [Dense(5, activation="softmax")]
    else:
        layers += [Dense(5)]
    model = Sequential(layers)
    rng = np.random.default_rng(1)
    model.set_weights([rng.normal(0, 0.6, w.shape) for w in model.get_weights()])
    bn = model.layers[3]
    bn.moving_mean.data[...] = rng.normal(0, 0.1, bn.moving_mean.data.shape)
    bn.moving_variance.data[...] = rng.uniform(0.5, 1.5, bn.moving_variance.data.shape)
    return model


def sample(shape=(9, 9, 2), seed=0):
    return np.random.default_rng(seed).uniform(0, 1, shape)


def test_outputs_equal_running_the_layers_directly():
    model = mixed_model()
    x = sample()
    result = model.inspect(x)
    out = Tensor(x[None].astype(np.float32))
    with no_grad():
        for layer, record in zip(model.layers, result.layers):
            out = layer.call(out)
            assert record.output.shape == out.data.shape[1:] == record.shape
            np.testing.assert_array_equal(record.output, out.data[0])
            assert record.name == layer.name and record.type == type(layer).__name__
    np.testing.assert_allclose(result.output, model.predict(x[None], verbose=0)[0], rtol=1e-6)
    assert result.predicted == int(np.argmax(model.predict(x[None], verbose=0)))
    assert result.layers[0].activation == "relu" and result.layers[1].activation == "tanh"
    assert result.layers[2].pre_activation is None and result.layers[2].activation is None


def test_pre_activation_is_the_conv_before_its_activation():
    model = mixed_model()
    x = sample()
    record = model.inspect(x).layers[0]
    kernel, bias = model.layers[0].get_weights()
    for f in range(3):  # the slow reference: a sum of products per position
        walk = conv_walkthrough(x, kernel[..., f], float(bias[f]))
        np.testing.assert_allclose(record.pre_activation[..., f], walk.output, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(record.output, np.maximum(record.pre_activation, 0))
    second = model.inspect(x).layers[1]
    np.testing.assert_allclose(second.output, np.tanh(second.pre_activation), rtol=1e-6)


def test_accepts_one_input_in_several_shapes_and_unbuilt_models():
    reset_names()
    model = Sequential([Conv2D(2, 3), Flatten(), Dense(3)])  # no input shape: built by inspect
    x = sample((6, 6, 1))
    a = model.inspect(x)
    b = model.inspect(x[None])
    assert model.built
    np.testing.assert_array_equal(a.output, b.output)
    np.testing.assert_array_equal(model.inspect(x[..., 0]).output, a.output)
    with pytest.raises(ValueError, match="ONE input"):
        model.inspect(np.zeros((2, 6, 6, 1)))
    with pytest.raises(ValueError, match="expects input shape"):
        model.inspect(np.zeros((7, 6, 1)))


@pytest.mark.parametrize("end", ["activation", "dense_softmax", "linear"])
def test_gradients_match_finite_differences(float64, end):
    model = mixed_model(end)
    x = sample()
    result = inspect_model(model, x, class_index=2)
    assert result.class_index == 2 and result.ends_in_softmax == (end != "linear")

    def score(inputs):
        return logits_from(model, end, 0, inputs)[2]

    assert result.score == pytest.approx(score(x), rel=1e-9)
    eps = 1e-6
    for pixel in [(0, 0, 0), (4, 5, 1), (8, 3, 0)]:
        up, down = x.copy(), x.copy()
        up[pixel] += eps
        down[pixel] -= eps
        numeric = (score(up) - score(down)) / (2 * eps)
        assert result.input_gradient[pixel] == pytest.approx(numeric, rel=1e-5, abs=1e-8)
    assert np.abs(result.input_gradient).max() > 0
    # The gradient with respect to a hidden layer's output, perturbing that output.
    hidden = result.layers[2]
    index = (1, 1, 3)

    def score_from(layer_output):
        return logits_from(model, end, 3, layer_output)[2]

    up, down = hidden.output.copy(), hidden.output.copy()
    up[index] += eps
    down[index] -= eps
    numeric = (score_from(up) - score_from(down)) / (2 * eps)
    assert hidden.gradient[index] == pytest.approx(numeric, rel=1e-5, abs=1e-8)
    if end != "linear":
        assert result.layers[-1].gradient is None  # the score is read before the softmax


def logits_from(model, end, start, array):
    """Run layers[start:] on one array; the class scores before any final softmax."""
    layers = model.layers[start:]
    if end != "linear":
        layers = layers[:-1]
    with no_grad():
        out = Tensor(array[None])
        for layer in layers:
            out = layer.call(out)
        if end == "dense_softmax":
            last = model.layers[-1]
            return out.data[0] @ last.kernel.data + last.bias.data
    return out.data[0]


def test_gradients_leave_the_weights_alone():
    model = mixed_model()
    marker = np.full(model.layers[0].kernel.data.shape, 7.0)
    model.layers[0].kernel.grad = marker
    flags = [w.requires_grad for w in model.weights]
    model.inspect(sample(), class_index="predicted")
    assert model.layers[0].kernel.grad is marker
    assert all(w.grad is None for w in model.weights[1:])
    assert [w.requires_grad for w in model.weights] == flags


def test_class_index_predicted_and_errors():
    model = mixed_model()
    x = sample()
    result = model.inspect(x, class_index="predicted")
    assert result.class_index == result.predicted
    assert all(r.gradient is not None for r in result.layers[:-1])
    assert result.input_gradient.shape == x.shape
    with pytest.raises(ValueError, match="class_index must be an int in 0..4"):
        model.inspect(x, class_index=5)
    with pytest.raises(ValueError, match="'predicted'"):
        model.inspect(x, class_index="best")


# -- receptive fields ---------------------------------------------------------------------------
def positive_model():
    """Positive weights and average pooling: no gradient cancels, so d unit / d input is
    nonzero exactly on the pixels the unit can see."""
    reset_names()
    model = Sequential(
        [
            ZeroPadding2D(((1, 0), (2, 1)), input_shape=(15, 13, 1)),
            Conv2D(2, (3, 2), strides=(2, 1), padding="same", activation="relu"),
            AveragePooling2D(2, strides=1),
            Conv2D(2, 3, strides=2, activation="relu"),
            AveragePooling2D((2, 3), padding="same"),
            Flatten(),
            Dense(3),
        ]
    )
    rng = np.random.default_rng(0)
    model.set_weights([rng.uniform(0.1, 1.0, w.shape) for w in model.get_weights()])
    return model


def measured_field(model, layer_index, position):
    x = np.random.default_rng(1).uniform(0.1, 1, (1,) + model.input_shape[1:])
    x = Tensor(x.astype(np.float32), requires_grad=True)
    out = x
    for layer in model.layers[: layer_index + 1]:
        out = layer.call(out)
    seed = np.zeros_like(out.data)
    seed[(0,) + tuple(position) + (0,)] = 1
    out.backward(seed)
    rows, cols = np.nonzero(x.grad[0, ..., 0])
    if rows.size == 0:  # the unit sees only padding
        return 0, 0, 0, 0, x.grad[0, ..., 0]
    return rows.min(), cols.min(), rows.max() + 1, cols.max() + 1, x.grad[0, ..., 0]


@pytest.mark.parametrize("layer_index", [0, 1, 2, 3, 4])
def test_receptive_field_matches_the_gradient(layer_index):
    model = positive_model()
    model.build()
    height, width = model.layers[layer_index].output_shape[1:3]
    for position in [(r, c) for r in range(height) for c in range(width)]:
        field = receptive_field(model, layer_index, position)
        top, left, bottom, right, grad = measured_field(model, layer_index, position)
        assert tuple(field) == (top, left, bottom, right), (layer_index, position)
        assert np.all(grad[field.slices] != 0)  # every pixel inside moves the unit


def test_receptive_field_of_dense_is_the_whole_input_and_errors():
    model = positive_model()
    assert tuple(receptive_field(model, 6)) == (0, 0, 15, 13)
    assert tuple(receptive_field(model, "flatten")) == (0, 0, 15, 13)
    with pytest.raises(ValueError, match="outside"):
        receptive_field(model, 1, (99, 0))
    with pytest.raises(ValueError, match="no layer named"):
        receptive_field(model, "nope", (0, 0))


def test_article_fields_formulas_and_summary():
    reset_names()
    model = Sequential(
        [
            Conv2D(6, 2, input_shape=(28, 28, 1)),
            Activation("relu"),
            MaxPool2D(2),
            Flatten(),
            Dense(10),
            Activation("softmax"),
        ]
    )
    fields = layer_fields(model)
    assert [(f.size, f.jump) for f in fields[:3]] == [
        ((2, 2), (1, 1)),
        ((2, 2), (1, 1)),
        ((3, 3), (2, 2)),
    ]
    assert fields[3].whole and fields[3].size == (28, 28) and fields[3].jump is None
    assert output_size_formula(model.layers[0]) == "floor((28 - 2) / 1) + 1 = 27"
    assert output_size_formula(model.layers[2]) == "floor((27 - 2) / 2) + 1 = 13"
    assert output_size_formula(model.layers[3]) == "13 * 13 * 6 = 1014"
    text = detailed_summary(model)
    for expected in [
        "floor((28 - 2) / 1) + 1 = 27",
        "17,496",
        "10,140",
        "27,636",
        "3x3",
        "28x28 (all)",
        "10,180",
    ]:
        assert expected in text


def test_same_padding_formula_agrees_with_the_op():
    reset_names()
    layer = Conv2D(1, 4, strides=3, padding="same")
    layer.build_for((None, 10, 7, 1))
    out = conv_ops.conv2d(
        np.zeros((1, 10, 7, 1), np.float32),
        np.zeros((4, 4, 1, 1), np.float32),
        strides=3,
        padding="same",
    )
    formula = output_size_formula(layer)
    # ceil(10 / 3) = 4 rows, ceil(7 / 3) = 3 cols; Keras pads (4 - 1) * 3 + 4 - 10 = 3 rows
    assert formula == "rows floor((10 + 3 - 4) / 3) + 1 = 4; cols floor((7 + 3 - 4) / 3) + 1 = 3"
    assert out.shape[1:3] == (4, 3)
