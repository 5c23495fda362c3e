"""Activation functions by the names Keras accepts: gradient checks in float64, values and
gradients against keras.activations on the same inputs, names and their errors."""

import os

import numpy as np
import pytest
from gradcheck import check_gradients

from striate import activations
from striate.layers import Activation, Dense
from striate.ops import activations as act
from striate.ops import piecewise
from striate.tensor import Tensor

# The names issue 12 lists; each must resolve and match Keras.
KERAS_NAMES = [
    "gelu",
    "silu",
    "swish",
    "selu",
    "elu",
    "softplus",
    "softsign",
    "hard_sigmoid",
    "hard_silu",
    "hard_swish",
    "exponential",
    "leaky_relu",
    "relu6",
    "log_softmax",
    "mish",
    "linear",
    "tanh",
    "sigmoid",
    "relu",
    "softmax",
]
KINKS = (-3.0, 0.0, 3.0, 6.0)  # relu, relu6, hard_sigmoid, hard_silu change slope here


def away_from_kinks(shape, seed=0, scale=4.0, gap=0.05):
    """Random values at least `gap` from every kink, so central differences do not straddle one."""
    x = np.random.default_rng(seed).standard_normal(shape) * scale
    for kink in KINKS:
        near = np.abs(x - kink) < gap
        x[near] = kink + np.where(x[near] >= kink, gap, -gap)
    return x


NEW_OPS = {
    "softsign": act.softsign,
    "exponential": act.exponential,
    "mish": act.mish,
    "log_softmax": act.log_softmax,
    "log_softmax_axis1": lambda x: act.log_softmax(x, axis=1),
    "relu6": piecewise.relu6,
    "hard_sigmoid": piecewise.hard_sigmoid,
    "hard_silu": piecewise.hard_silu,
    "relu_capped": lambda x: piecewise.relu_general(x, max_value=2.5),
    "relu_sloped": lambda x: piecewise.relu_general(x, negative_slope=0.3, threshold=1.0),
    "relu_all": lambda x: piecewise.relu_general(x, 0.2, 4.5, 0.5),
}


@pytest.mark.parametrize("shape", [(5, 7), (2, 3, 4, 5)])
@pytest.mark.parametrize("name", list(NEW_OPS))
def test_new_activation_gradients(name, shape):
    x = away_from_kinks(shape, seed=len(name), scale=1.5 if name == "exponential" else 4.0)
    if "relu_" in name:  # keep clear of the threshold and the cap too
        x = np.where(np.abs(x - 0.5) < 0.05, 0.6, x)
        x = np.where(np.abs(x - 1.0) < 0.05, 1.1, x)
        x = np.where(np.abs(x - 2.5) < 0.05, 2.6, x)
        x = np.where(np.abs(x - 4.5) < 0.05, 4.6, x)
    check_gradients(NEW_OPS[name], [x])


@pytest.mark.parametrize("shared", [(), (1, 2), (3,)])
def test_prelu_gradients_for_input_and_alpha(shared):
    x = away_from_kinks((3, 4, 5, 2), seed=7)
    alpha_shape = tuple(1 if i + 1 in shared else n for i, n in enumerate(x.shape[1:]))
    alpha = np.random.default_rng(8).uniform(-0.5, 0.5, alpha_shape)
    check_gradients(piecewise.prelu, [x, alpha])


def test_prelu_rejects_an_alpha_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"prelu: alpha must have .*x.shape=\(2, 3\), alpha"):
        piecewise.prelu(Tensor(np.ones((2, 3))), Tensor(np.ones(4)))


def test_piecewise_forward_values():
    x = np.array([-4.0, -3.0, -1.0, 0.0, 1.5, 3.0, 6.0, 7.0])
    np.testing.assert_array_equal(piecewise.relu6(Tensor(x)).data, [0, 0, 0, 0, 1.5, 3, 6, 6])
    np.testing.assert_allclose(
        piecewise.hard_sigmoid(Tensor(x)).data, np.clip(x + 3, 0, 6) / 6, rtol=1e-15
    )
    np.testing.assert_allclose(
        piecewise.hard_silu(Tensor(x)).data, x * np.clip(x + 3, 0, 6) / 6, rtol=1e-15
    )
    general = piecewise.relu_general(Tensor(x), negative_slope=0.5, max_value=5.0, threshold=1.0)
    np.testing.assert_allclose(general.data, [-2.5, -2, -1, -0.5, 1.5, 3, 5, 5])
    assert piecewise.hard_swish is piecewise.hard_silu


def test_saturating_activations_stay_finite():
    big = np.array([-1000.0, 1000.0], dtype=np.float32)
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        np.testing.assert_array_equal(act.mish(Tensor(big)).data, [-0.0, 1000.0])
        np.testing.assert_array_equal(act.log_softmax(Tensor(big)).data, [-2000.0, 0.0])
        np.testing.assert_array_equal(act.softsign(Tensor(big)).data.round(2), [-1.0, 1.0])


@pytest.mark.parametrize("name", KERAS_NAMES)
def test_every_keras_name_resolves_and_round_trips(name):
    op = activations.get(name)
    assert activations.get(activations.serialize(op)) is op
    assert Activation(name).activation is op
    layer = Dense(2, activation=name.upper())  # names are case-insensitive
    assert layer.activation is op
    x = Tensor(away_from_kinks((2, 3), seed=1))
    assert op(x).data.shape == (2, 3)


def test_aliases_and_keras_serialized_names():
    assert activations.get("swish") is activations.get("silu")
    assert activations.serialize(activations.get("swish")) == "silu"  # as Keras 3 saves it
    assert activations.get("hard_swish") is activations.get("hard_silu")
    assert activations.serialize(activations.get("hard_swish")) == "hard_silu"
    # keras.activations.relu passed as a function is the op the plan recognises
    assert activations.get(activations.relu) is act.relu
    assert Dense(2, activation=activations.relu).get_config()["activation"] == "relu"


def test_activations_module_functions():
    x = Tensor(np.array([-2.0, 1.0, 9.0]))
    np.testing.assert_array_equal(activations.relu(x).data, [0, 1, 9])
    np.testing.assert_array_equal(activations.relu(x, max_value=6.0).data, [0, 1, 6])
    np.testing.assert_array_equal(activations.relu(x, negative_slope=0.5).data, [-1, 1, 9])
    assert activations.gelu is act.gelu and activations.hard_sigmoid is piecewise.hard_sigmoid


def test_unknown_activation_name_suggests_the_closest():
    with pytest.raises(ValueError, match=r"Unknown activation 'hard_sigmod'.*'hard_sigmoid'"):
        activations.get("hard_sigmod")


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    pytest.importorskip("torch")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("these comparisons use KERAS_BACKEND=torch")
    return keras


def keras_value_and_grad(keras, function, x, weights):
    """Keras's output and d sum(output * weights) / dx, through torch's autograd."""
    import torch

    tx = torch.tensor(x, requires_grad=True)
    out = function(tx)
    (out * torch.tensor(weights)).sum().backward()
    return out.detach().numpy(), tx.grad.numpy()


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-9), (np.float32, 3e-5)])
@pytest.mark.parametrize("name", KERAS_NAMES)
def test_values_and_gradients_match_keras(keras, name, dtype, rtol):
    x = away_from_kinks((4, 3, 6), seed=3).astype(dtype)
    weights = np.random.default_rng(4).standard_normal(x.shape).astype(dtype)
    theirs, their_grad = keras_value_and_grad(keras, keras.activations.get(name), x, weights)
    tensor = Tensor(x.copy(), requires_grad=True)
    ours = activations.get(name)(tensor)
    if ours is tensor:  # linear: the identity, nothing on the tape
        np.testing.assert_array_equal(ours.data, theirs)
        return
    ours.backward(weights)
    assert ours.data.dtype == dtype and tensor.grad.dtype == dtype
    np.testing.assert_allclose(ours.data, theirs, rtol=rtol, atol=rtol)
    # torch's hardsigmoid gradient multiplies by 1/6 rounded to float32 (rel 3e-8)
    grad_rtol = max(rtol, 1e-7) if name.startswith("hard_") else rtol
    np.testing.assert_allclose(tensor.grad, their_grad, rtol=grad_rtol, atol=grad_rtol)


@pytest.mark.parametrize(
    "settings",
    [
        {"max_value": 6.0},
        {"negative_slope": 0.1},
        {"threshold": 0.5},
        {"negative_slope": 0.2, "max_value": 3.0, "threshold": 1.0},
    ],
)
def test_relu_settings_match_keras(keras, settings):
    x = away_from_kinks((5, 7), seed=6)
    x = np.where(np.abs(x - 0.5) < 0.05, 0.6, np.where(np.abs(x - 1.0) < 0.05, 1.1, x))
    weights = np.random.default_rng(2).standard_normal(x.shape)
    theirs, their_grad = keras_value_and_grad(
        keras, lambda t: keras.activations.relu(t, **settings), x, weights
    )
    tensor = Tensor(x.copy(), requires_grad=True)
    ours = activations.relu(tensor, **settings)
    ours.backward(weights)
    np.testing.assert_allclose(ours.data, theirs, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(tensor.grad, their_grad, rtol=1e-12, atol=1e-12)
