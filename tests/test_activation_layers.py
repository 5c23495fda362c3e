"""Activation layers (Softmax, ReLU, LeakyReLU, ELU, PReLU): shapes, parameters, names and
configs as Keras 3 gives them, outputs and gradients against Keras, the execution plan's fusions,
model files, and error texts."""

import os
import warnings

import numpy as np
import pytest

from striate import backend, layers
from striate.layers import (
    ELU,
    Activation,
    Conv2D,
    Dense,
    Flatten,
    Input,
    LeakyReLU,
    MaxPool2D,
    PReLU,
    ReLU,
    Softmax,
)
from striate.models import Sequential, load_model
from striate.models.plan import describe
from striate.tensor import Tensor

# (layer factory, input shape, parameter count Keras 3.15 gives); all keep the input shape.
CASES = [
    (lambda: Softmax(), (None, 10), 0),
    (lambda: Softmax(axis=1), (None, 4, 5, 3), 0),
    (lambda: Softmax(axis=[1, 2]), (None, 4, 5, 3), 0),
    (lambda: ReLU(), (None, 6, 6, 2), 0),
    (lambda: ReLU(max_value=6.0), (None, 7), 0),
    (lambda: ReLU(max_value=4.0, negative_slope=0.1, threshold=0.5), (None, 7), 0),
    (lambda: LeakyReLU(), (None, 7), 0),
    (lambda: LeakyReLU(negative_slope=0.1), (None, 3, 3, 2), 0),
    (lambda: ELU(), (None, 7), 0),
    (lambda: ELU(alpha=0.5), (None, 3, 3, 2), 0),
    (lambda: PReLU(), (None, 5, 5, 3), 75),
    (lambda: PReLU(shared_axes=[1, 2]), (None, 5, 5, 3), 3),
    (lambda: PReLU(shared_axes=3, alpha_initializer="ones"), (None, 5, 4, 3), 20),
    (lambda: PReLU(), (None, 8), 8),
]
IDS = [f"case{i}" for i in range(len(CASES))]


@pytest.mark.parametrize("factory, input_shape, params", CASES, ids=IDS)
def test_shapes_params_and_config_round_trip(factory, input_shape, params):
    layer = factory()
    assert layer.build_for(input_shape) == input_shape
    assert layer.count_params() == params
    x = np.random.default_rng(0).standard_normal((2,) + input_shape[1:]).astype(np.float32)
    out = layer(x)
    assert out.data.shape == x.shape and out.data.dtype == np.float32
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    assert layers.get(type(layer).__name__) is type(layer)  # model files find it by name
    clone.build_for(input_shape)
    clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(clone(x).data, out.data)


def test_default_names_and_weights_are_keras_s():
    backend.clear_session()
    made = [Softmax(), ReLU(), LeakyReLU(), ELU(), PReLU(), ReLU()]
    assert [layer.name for layer in made] == [
        "softmax",
        "re_lu",
        "leaky_re_lu",
        "elu",
        "p_re_lu",
        "re_lu_1",
    ]
    made[4].build_for((None, 5, 5, 3))
    assert [(w.name, w.data.shape) for w in made[4].weights] == [("p_re_lu/alpha", (5, 5, 3))]
    np.testing.assert_array_equal(made[4].alpha.data, 0)  # Keras's 'Zeros' default


def test_keras_defaults():
    assert ReLU().get_config() | {"name": None} == {
        "name": None,
        "trainable": True,
        "dtype": "float32",
        "max_value": None,
        "negative_slope": 0.0,
        "threshold": 0.0,
    }
    assert LeakyReLU().negative_slope == 0.3  # the layer's default (the function's is 0.2)
    assert ELU().alpha == 1.0 and Softmax().axis == -1
    config = PReLU().get_config()
    assert config["alpha_initializer"] == "zeros" and config["shared_axes"] is None
    assert config["alpha_regularizer"] is None and config["alpha_constraint"] is None


def test_leaky_relu_takes_keras_2_alpha_with_a_warning():
    with pytest.warns(UserWarning, match="Argument `alpha` is deprecated"):
        layer = LeakyReLU(alpha=0.1)
    assert layer.negative_slope == 0.1


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda: ReLU(max_value=-1), ValueError, r"ReLU 're_lu\w*': max_value must be a number"),
        (lambda: ReLU(negative_slope=None), ValueError, r"negative_slope=None"),
        (lambda: ReLU(threshold=-0.5), ValueError, r"threshold must be .*threshold=-0.5"),
        (lambda: LeakyReLU(negative_slope=-0.1), ValueError, r"LeakyReLU .*negative_slope=-0.1"),
        (lambda: ELU(alpha="1"), TypeError, r"ELU 'elu\w*': alpha must be a number"),
        (lambda: Softmax(axis="last"), TypeError, r"Softmax .*axis must be an int.*'last'"),
        (lambda: Softmax(axis=[]), TypeError, r"axis must be an int or a list of ints"),
        (
            lambda: PReLU(alpha_regularizer="l2"),
            ValueError,
            r"PReLU 'p_re_lu\w*': alpha_regularizer is not supported: striate does not apply "
            r"weight regularizers or constraints in training yet. Received: "
            r"alpha_regularizer='l2'",
        ),
        (lambda: PReLU(alpha_constraint="non_neg"), ValueError, r"alpha_constraint='non_neg'"),
        (lambda: PReLU(shared_axes=0), ValueError, r"shared_axes must be None or positive ints"),
        (lambda: PReLU(alpha_initializer="zeroes"), ValueError, r"Did you mean 'zeros'"),
    ],
)
def test_error_texts(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_build_errors_name_the_layer_and_the_shape():
    with pytest.raises(ValueError, match=r"Softmax 's': axis 3 is out of range .*\(None, 4, 2\)"):
        Softmax(axis=3, name="s").build_for((None, 4, 2))
    with pytest.raises(ValueError, match=r"the batch axis cannot be normalised.*axis=0"):
        Softmax(axis=0, name="s").build_for((None, 4))
    with pytest.raises(ValueError, match=r"PReLU 'p': shared_axes \[3\] must be axes of"):
        PReLU(shared_axes=3, name="p").build_for((None, 4, 4))
    with pytest.raises(ValueError, match=r"dimensions that are not shared must be known"):
        PReLU(name="p").build_for((None, None, 3))
    PReLU(shared_axes=1, name="p").build_for((None, None, 3))  # a shared unknown is fine


def one_step_plan(last, loss="sparse_categorical_crossentropy"):
    backend.clear_session()
    model = Sequential([Input(shape=(6,)), Dense(4, name="d"), last])
    model.compile(loss=loss, optimizer="sgd")
    return model


@pytest.mark.slow  # over 1 s (the quick tier stays under a minute)
@pytest.mark.parametrize("loss", ["sparse_categorical_crossentropy", "categorical_crossentropy"])
def test_softmax_layer_is_fused_with_the_loss_as_activation_softmax_is(loss):
    ours = one_step_plan(Softmax(name="s"), loss)
    reference = one_step_plan(Activation("softmax", name="s"), loss)
    fused = ["d", f"s (softmax) + {loss}"]
    assert describe(ours._execution_plan(ours.loss)) == fused
    assert describe(reference._execution_plan(reference.loss)) == fused
    assert describe(ours._execution_plan()) == ["d", "s"]
    reference.set_weights(ours.get_weights())
    rng = np.random.default_rng(3)
    x = rng.standard_normal((8, 6)).astype(np.float32)
    labels = rng.integers(0, 4, 8)
    y = labels if loss.startswith("sparse") else np.eye(4, dtype=np.float32)[labels]
    results = []
    for model in (ours, reference):
        value, outputs = model.call_with_loss(Tensor(x), y, training=True)
        value.backward()
        results.append((value.data, outputs, [w.grad for w in model.trainable_weights]))
    assert results[0][0] == results[1][0]
    np.testing.assert_array_equal(results[0][1], results[1][1])
    for got, want in zip(results[0][2], results[1][2]):
        np.testing.assert_array_equal(got, want)


def test_softmax_on_another_axis_is_not_fused():
    model = one_step_plan(Softmax(axis=1, name="s"))
    assert describe(model._execution_plan(model.loss)) == [
        "d",
        "s",
        "sparse_categorical_crossentropy",
    ]


def test_plain_relu_layer_gets_the_relu_rewrites():
    backend.clear_session()
    conv, relu, pool = Conv2D(2, 3, name="c"), ReLU(name="r"), MaxPool2D(2, name="p")
    model = Sequential([Input(shape=(8, 8, 1)), conv, relu, pool, Flatten(name="f")])
    assert describe(model._execution_plan()) == ["c + r + p, relu", "f"]
    capped = Sequential([Input(shape=(8, 8, 1)), Conv2D(2, 3, name="c2"), ReLU(6.0, name="r6")])
    assert describe(capped._execution_plan()) == ["c2", "r6"]


def test_model_file_round_trips_every_activation_layer(tmp_path):
    backend.clear_session()
    model = Sequential(
        [
            Input(shape=(6, 6, 2)),
            Conv2D(3, 3),
            PReLU(shared_axes=[1, 2], alpha_initializer="ones"),
            ReLU(max_value=6.0, negative_slope=0.1),
            LeakyReLU(0.2),
            ELU(alpha=0.7),
            Flatten(),
            Dense(3),
            Softmax(),
        ]
    )
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((16, 6, 6, 2)).astype(np.float32)
    y = rng.integers(0, 3, 16)
    before = model.layers[1].alpha.data.copy()
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert not np.array_equal(model.layers[1].alpha.data, before)  # alpha learns
    path = tmp_path / "activations.striate"
    model.save(path)
    loaded = load_model(path)
    assert [type(layer).__name__ for layer in loaded.layers] == [
        type(layer).__name__ for layer in model.layers
    ]
    assert [layer.get_config() for layer in loaded.layers] == [
        layer.get_config() for layer in model.layers
    ]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    pytest.importorskip("torch")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("these comparisons use KERAS_BACKEND=torch")
    return keras


def to_numpy(value):
    return getattr(value, "value", value).detach().cpu().numpy()


@pytest.mark.parametrize("factory, input_shape, params", CASES, ids=IDS)
def test_outputs_gradients_and_configs_match_keras(keras, factory, input_shape, params):
    import torch

    ours = factory()
    config = {k: v for k, v in ours.get_config().items() if k not in ("dtype", "name")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = getattr(keras.layers, type(ours).__name__).from_config(config)
    theirs.build(input_shape)
    ours.build_for(input_shape)
    assert theirs.count_params() == params
    assert [tuple(w.shape) for w in theirs.weights] == [w.data.shape for w in ours.weights]
    assert [w.path for w in theirs.weights] == [
        w.name.replace(ours.name, theirs.name) for w in ours.weights
    ]
    rng = np.random.default_rng(4)
    weights = [rng.uniform(-0.5, 0.5, w.data.shape).astype(np.float32) for w in ours.weights]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    x = (rng.standard_normal((3,) + input_shape[1:]) * 3).astype(np.float32)
    seed = rng.standard_normal(x.shape).astype(np.float32)
    tx = torch.tensor(x, requires_grad=True)
    out = theirs(tx)
    (out * torch.tensor(seed)).sum().backward()
    leaf = Tensor(x.copy(), requires_grad=True)
    mine = ours(leaf)
    mine.backward(seed)
    np.testing.assert_allclose(mine.data, to_numpy(out), rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(leaf.grad, tx.grad.numpy(), rtol=2e-5, atol=2e-6)
    for weight, their in zip(ours.weights, theirs.weights):
        np.testing.assert_allclose(weight.grad, to_numpy(their.value.grad), rtol=2e-5, atol=2e-5)


def test_receptive_fields_through_activation_layers():
    from striate.see.field import receptive_field

    backend.clear_session()
    pixelwise = [ReLU(), LeakyReLU(), ELU(), PReLU(shared_axes=[1, 2]), Softmax()]
    model = Sequential([Input(shape=(9, 9, 2)), Conv2D(2, 3), *pixelwise, Conv2D(1, 3)])
    assert tuple(receptive_field(model, -1, (0, 0))) == (0, 0, 5, 5)
    across = Sequential([Input(shape=(9, 9, 2)), Conv2D(2, 3), Softmax(axis=[1, 2])])
    assert tuple(receptive_field(across, -1, (0, 0))) == (0, 0, 9, 9)
