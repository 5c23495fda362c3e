"""Optimizers against Keras's update rules, written out again here in float64 (Keras 3's formulas),
their hyperparameter checks and their config round trip. Only the public API is used:
constructors, `apply_gradients([(grad, variable), ...])`, `iterations` and get/from_config."""

import math

import numpy as np
import pytest

from striate import optimizers
from striate.optimizers import SGD, Adam, RMSprop
from striate.tensor import Variable

SHAPES = [(3, 4), (5,), (2, 1, 3)]
STEPS = 6


def sgd_rule(learning_rate=0.01, momentum=0.0, nesterov=False):
    def step(w, g, state, t):
        if momentum == 0:
            return w - learning_rate * g
        m = momentum * state.get("m", 0.0) - learning_rate * g
        state["m"] = m
        return w + momentum * m - learning_rate * g if nesterov else w + m

    return step


def adam_rule(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    def step(w, g, state, t):
        m = beta_1 * state.get("m", 0.0) + (1 - beta_1) * g
        v = beta_2 * state.get("v", 0.0) + (1 - beta_2) * g * g
        state["m"], state["v"] = m, v
        alpha = learning_rate * math.sqrt(1 - beta_2**t) / (1 - beta_1**t)
        return w - alpha * m / (np.sqrt(v) + epsilon)  # epsilon-hat: outside the sqrt

    return step


def rmsprop_rule(learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False):
    def step(w, g, state, t):
        v = rho * state.get("v", 0.0) + (1 - rho) * g * g
        state["v"] = v
        if centered:
            a = rho * state.get("a", 0.0) + (1 - rho) * g
            state["a"] = a
            increment = learning_rate * g / np.sqrt(v - a * a + epsilon)
        else:
            increment = learning_rate * g / np.sqrt(v + epsilon)
        if momentum == 0:
            return w - increment
        m = momentum * state.get("m", 0.0) + increment
        state["m"] = m
        return w - m

    return step


CASES = {
    "sgd": (SGD, sgd_rule, {}),
    "sgd-lr": (SGD, sgd_rule, {"learning_rate": 0.3}),
    "sgd-momentum": (SGD, sgd_rule, {"learning_rate": 0.05, "momentum": 0.9}),
    "sgd-nesterov": (SGD, sgd_rule, {"learning_rate": 0.05, "momentum": 0.8, "nesterov": True}),
    "adam": (Adam, adam_rule, {}),
    "adam-custom": (
        Adam,
        adam_rule,
        {"learning_rate": 0.01, "beta_1": 0.5, "beta_2": 0.75, "epsilon": 1e-3},
    ),
    "rmsprop": (RMSprop, rmsprop_rule, {}),
    "rmsprop-centered": (RMSprop, rmsprop_rule, {"learning_rate": 0.01, "centered": True}),
    "rmsprop-momentum": (RMSprop, rmsprop_rule, {"learning_rate": 0.01, "momentum": 0.7}),
    "rmsprop-centered-momentum": (
        RMSprop,
        rmsprop_rule,
        {"rho": 0.8, "momentum": 0.5, "epsilon": 1e-4, "centered": True},
    ),
}


def run_steps(optimizer, dtype, steps=STEPS, seed=0):
    """Weights after each of `steps` updates (striate's, then the reference's), same gradients."""
    rng = np.random.default_rng(seed)
    start = [rng.standard_normal(shape) for shape in SHAPES]
    grads = [[rng.standard_normal(shape) * 0.5 for shape in SHAPES] for _ in range(steps)]
    variables = [Variable(w.astype(dtype), name=f"w{i}") for i, w in enumerate(start)]
    ours = []
    for step_grads in grads:
        optimizer.apply_gradients([(g.astype(dtype), v) for g, v in zip(step_grads, variables)])
        ours.append([v.data.copy() for v in variables])
    return start, grads, ours


def reference_steps(rule, start, grads):
    weights = [w.copy() for w in start]
    states = [{} for _ in start]
    out = []
    for t, step_grads in enumerate(grads, start=1):
        weights = [rule(w, g, s, t) for w, g, s in zip(weights, step_grads, states)]
        out.append(weights)
    return out


@pytest.mark.parametrize("case", list(CASES))
def test_updates_follow_keras_rules_in_float64(case):
    cls, rule, kwargs = CASES[case]
    optimizer = cls(**kwargs)
    start, grads, ours = run_steps(optimizer, np.float64)
    expected = reference_steps(rule(**kwargs), start, grads)
    assert optimizer.iterations == STEPS
    for step, (got, want) in enumerate(zip(ours, expected), start=1):
        for g, w in zip(got, want):
            assert g.dtype == np.float64
            np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-14, err_msg=f"step {step}")


@pytest.mark.parametrize("case", ["sgd-nesterov", "adam", "rmsprop-centered-momentum"])
def test_float32_weights_stay_float32_and_follow_the_rules(case):
    cls, rule, kwargs = CASES[case]
    start, grads, ours = run_steps(cls(**kwargs), np.float32)
    expected = reference_steps(rule(**kwargs), start, grads)
    for got, want in zip(ours[-1], expected[-1]):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_one_weight_at_a_time_is_the_same_as_all_at_once():
    rng = np.random.default_rng(3)
    start = [rng.standard_normal(shape) for shape in SHAPES]
    grads = [[rng.standard_normal(shape) for shape in SHAPES] for _ in range(4)]
    together = [Variable(w.copy()) for w in start]
    apart = [Variable(w.copy()) for w in start]
    opt_together = Adam(learning_rate=0.01)
    opt_apart = [Adam(learning_rate=0.01) for _ in start]
    for step_grads in grads:
        opt_together.apply_gradients(list(zip(step_grads, together)))
        for optimizer, g, v in zip(opt_apart, step_grads, apart):
            optimizer.apply_gradients([(g, v)])
    for a, b in zip(together, apart):
        np.testing.assert_array_equal(a.data, b.data)


def test_adam_first_step_moves_each_weight_by_about_the_learning_rate():
    # With m and v starting at zero, the bias correction makes step one -lr * sign(g).
    w = Variable(np.zeros(4))
    Adam(learning_rate=0.1).apply_gradients([(np.array([3.0, -2.0, 0.5, -0.05]), w)])
    np.testing.assert_allclose(w.data, [-0.1, 0.1, -0.1, 0.1], rtol=1e-3)


BAD_RATES = [
    pytest.param(-0.1, id="negative"),
    pytest.param(float("nan"), id="nan"),
    pytest.param(float("inf"), id="inf"),
    pytest.param(-float("inf"), id="-inf"),
]


@pytest.mark.parametrize("cls", [SGD, Adam, RMSprop])
@pytest.mark.parametrize("value", BAD_RATES)
def test_learning_rate_must_be_a_finite_non_negative_number(cls, value):
    with pytest.raises(ValueError, match=r"learning_rate.*Received: learning_rate="):
        cls(learning_rate=value)


@pytest.mark.parametrize("cls", [SGD, Adam, RMSprop])
@pytest.mark.parametrize("value", ["0.1", None, True, [0.1]])
def test_learning_rate_must_be_a_number(cls, value):
    with pytest.raises(TypeError, match=r"learning_rate must be a number\. Received: "):
        cls(learning_rate=value)


@pytest.mark.parametrize(
    ("cls", "name", "value"),
    [
        (SGD, "momentum", -0.5),
        (SGD, "momentum", 1.5),
        (SGD, "momentum", float("nan")),
        (Adam, "beta_1", -0.1),
        (Adam, "beta_1", 1.0),
        (Adam, "beta_1", float("nan")),
        (Adam, "beta_2", 1.0),
        (Adam, "beta_2", 2.0),
        (Adam, "epsilon", -1e-7),
        (Adam, "epsilon", float("nan")),
        (RMSprop, "rho", 1.0),
        (RMSprop, "rho", -0.2),
        (RMSprop, "momentum", 1.01),
        (RMSprop, "epsilon", -1.0),
    ],
)
def test_hyperparameters_out_of_range_are_refused(cls, name, value):
    with pytest.raises(ValueError, match=rf"{cls.__name__}.*{name}.*Received: {name}="):
        cls(**{name: value})


@pytest.mark.parametrize(
    ("cls", "kwargs"),
    [
        (SGD, {"momentum": 0.0}),
        (SGD, {"momentum": 1.0}),
        (Adam, {"beta_1": 0.0, "beta_2": 0.0, "epsilon": 0.0}),
        (RMSprop, {"rho": 0.0, "momentum": 1.0, "epsilon": 0.0}),
    ],
)
def test_boundary_hyperparameters_are_accepted(cls, kwargs):
    config = cls(**kwargs).get_config()
    for key, value in kwargs.items():
        assert config[key] == value


def test_keras_defaults():
    assert SGD().get_config() == {
        "name": "sgd",
        "learning_rate": 0.01,
        "momentum": 0.0,
        "nesterov": False,
    }
    assert Adam().get_config() == {
        "name": "adam",
        "learning_rate": 0.001,
        "beta_1": 0.9,
        "beta_2": 0.999,
        "epsilon": 1e-7,
    }
    assert RMSprop().get_config() == {
        "name": "rmsprop",
        "learning_rate": 0.001,
        "rho": 0.9,
        "momentum": 0.0,
        "epsilon": 1e-7,
        "centered": False,
    }


@pytest.mark.parametrize("case", list(CASES))
def test_config_round_trip_gives_the_same_optimizer(case):
    cls, _, kwargs = CASES[case]
    original = cls(**kwargs, name="mine")
    config = original.get_config()
    assert config["name"] == "mine"
    copy = cls.from_config(config)
    assert type(copy) is cls
    assert copy.get_config() == config
    assert repr(copy) == repr(original)
    # and the copy takes the same steps
    _, _, first = run_steps(original, np.float64, steps=3)
    _, _, second = run_steps(copy, np.float64, steps=3)
    for a, b in zip(first[-1], second[-1]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("case", ["sgd-nesterov", "adam-custom", "rmsprop-centered"])
def test_get_accepts_names_configs_and_instances(case):
    cls, _, kwargs = CASES[case]
    original = cls(**kwargs)
    assert type(optimizers.get(cls.__name__.upper())) is cls
    assert optimizers.get(original) is original
    rebuilt = optimizers.get({"class_name": cls.__name__, "config": original.get_config()})
    assert type(rebuilt) is cls
    assert rebuilt.get_config() == original.get_config()
