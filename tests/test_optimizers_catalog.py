"""Keras 3's optimizers: 40 steps on the same gradients as Keras 3 (torch backend), with and
without clipping, weight decay and the moving average; configs, names and bad input."""

import os

import numpy as np
import pytest

from striate import optimizers
from striate.tensor import Variable

os.environ.setdefault("KERAS_BACKEND", "torch")

SHAPES = [(3, 4), (4,), (2, 3, 3, 2), (1,)]
STEPS = 40
NAMES = [
    "SGD",
    "Adam",
    "RMSprop",
    "AdamW",
    "Adadelta",
    "Adagrad",
    "Adamax",
    "Nadam",
    "Lion",
    "Ftrl",
    "Adafactor",
    "Lamb",
]
SETTINGS = {
    "SGD": {"learning_rate": 0.05, "momentum": 0.9, "nesterov": True},
    "Adam": {"learning_rate": 0.01},
    "RMSprop": {"learning_rate": 0.01, "momentum": 0.5, "centered": True},
    "AdamW": {"learning_rate": 0.01, "amsgrad": True},
    "Adadelta": {"learning_rate": 1.0},
    "Adagrad": {"learning_rate": 0.05},
    "Adamax": {"learning_rate": 0.01},
    "Nadam": {"learning_rate": 0.01},
    "Lion": {"learning_rate": 0.003},
    "Ftrl": {
        "learning_rate": 0.05,
        "l1_regularization_strength": 0.01,
        "l2_regularization_strength": 0.02,
        "l2_shrinkage_regularization_strength": 0.01,
        "beta": 0.1,
    },
    "Adafactor": {"learning_rate": 0.05},
    "Lamb": {"learning_rate": 0.01},
}
EXTRAS = {
    "plain": {},
    "clipnorm": {"clipnorm": 1.0},
    "clipvalue": {"clipvalue": 0.5},
    "global_clipnorm": {"global_clipnorm": 2.0},
    "weight_decay": {"weight_decay": 0.05},
    "ema": {"use_ema": True, "ema_momentum": 0.9, "ema_overwrite_frequency": 7},
}


def _start_and_gradients(dtype, seed=0):
    rng = np.random.default_rng(seed)
    start = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    grads = [[(rng.standard_normal(s) * 1.5).astype(dtype) for s in SHAPES] for _ in range(STEPS)]
    for step in range(0, STEPS, 5):  # some zero gradients too (a weight that stops learning)
        grads[step][1][...] = 0
    return start, grads


def _striate_run(name, kwargs, dtype):
    start, grads = _start_and_gradients(dtype)
    variables = [Variable(a.copy()) for a in start]
    optimizer = getattr(optimizers, name)(**kwargs)
    for step_grads in grads:
        optimizer.apply_gradients(list(zip(step_grads, variables)))
    return [v.data for v in variables]


def _keras_run(keras, name, kwargs, dtype):
    start, grads = _start_and_gradients(dtype)
    variables = [keras.Variable(a.copy(), dtype=np.dtype(dtype).name) for a in start]
    optimizer = getattr(keras.optimizers, name)(**kwargs)
    for step_grads in grads:
        optimizer.apply([keras.ops.convert_to_tensor(g) for g in step_grads], variables)
    return [keras.ops.convert_to_numpy(v) for v in variables]


@pytest.mark.slow
@pytest.mark.parametrize("extra", list(EXTRAS))
@pytest.mark.parametrize("name", NAMES)
def test_forty_steps_match_keras(name, extra):
    keras = pytest.importorskip("keras")
    kwargs = {**SETTINGS[name], **EXTRAS[extra]}
    for dtype, rtol in ((np.float32, 1e-5), (np.float64, 1e-6)):
        ours = _striate_run(name, kwargs, dtype)
        theirs = _keras_run(keras, name, kwargs, dtype)
        for a, b in zip(ours, theirs):
            assert a.dtype == dtype
            np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * np.abs(b).max())


@pytest.mark.parametrize("name", NAMES)
def test_packed_and_one_by_one_updates_agree(name):
    """Mixed dtypes turn packing off: each variable is then updated on its own."""
    kwargs = {**SETTINGS[name], "clipnorm": 1.0, "weight_decay": 0.01, "use_ema": True}
    packed = _striate_run(name, kwargs, np.float64)
    start, grads = _start_and_gradients(np.float64)
    variables = [Variable(a.copy()) for a in start] + [Variable(np.zeros(2, np.float32))]
    optimizer = getattr(optimizers, name)(**kwargs)
    for step_grads in grads:
        optimizer.apply_gradients(list(zip(step_grads + [np.ones(2, np.float32)], variables)))
    for a, b in zip(packed, variables):
        np.testing.assert_allclose(b.data, a, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", NAMES)
def test_config_round_trip_and_get_by_name(name):
    kwargs = {**SETTINGS[name], "global_clipnorm": 3.0, "use_ema": True, "name": "mine"}
    original = getattr(optimizers, name)(**kwargs)
    rebuilt = optimizers.get(optimizers.serialize(original))
    assert type(rebuilt) is type(original) and rebuilt.get_config() == original.get_config()
    assert type(optimizers.get(name.lower())) is type(original)
    assert rebuilt.slot_names[-1] == "ema"


def test_keras_defaults_of_the_new_optimizers():
    assert optimizers.AdamW().get_config()["weight_decay"] == 0.004
    assert optimizers.Lion().get_config()["beta_2"] == 0.99
    assert optimizers.Adagrad().initial_accumulator_value == 0.1
    assert optimizers.Adadelta().rho == 0.95
    assert optimizers.Ftrl().learning_rate_power == -0.5
    assert optimizers.Adafactor().get_config()["epsilon_2"] == 1e-3


def test_bad_options_are_named():
    with pytest.raises(ValueError, match="only one of clipnorm, clipvalue and global_clipnorm"):
        optimizers.Adam(clipnorm=1.0, clipvalue=0.5)
    with pytest.raises(ValueError, match="clipnorm.*Received: clipnorm=-1"):
        optimizers.SGD(clipnorm=-1)
    with pytest.raises(ValueError, match="weight_decay.*Received: weight_decay=-0.1"):
        optimizers.Nadam(weight_decay=-0.1)
    with pytest.raises(ValueError, match="ema_overwrite_frequency"):
        optimizers.Lion(use_ema=True, ema_overwrite_frequency=0)
    with pytest.raises(ValueError, match="learning_rate_power must be a number <= 0"):
        optimizers.Ftrl(learning_rate_power=0.5)
    with pytest.raises(TypeError, match="unexpected keyword argument 'clip_norm'"):
        optimizers.Adam(clip_norm=1.0)


def test_state_resumes_exactly():
    start, grads = _start_and_gradients(np.float64)
    for name in NAMES:
        kwargs = {**SETTINGS[name], "use_ema": True}
        whole = _striate_run(name, kwargs, np.float64)
        variables = [Variable(a.copy()) for a in start]
        first = getattr(optimizers, name)(**kwargs)
        for step_grads in grads[:17]:
            first.apply_gradients(list(zip(step_grads, variables)))
        second = optimizers.get(optimizers.serialize(first))
        second.set_state(first.state_arrays())
        for step_grads in grads[17:]:
            second.apply_gradients(list(zip(step_grads, variables)))
        for a, b in zip(whole, variables):
            np.testing.assert_array_equal(b.data, a, err_msg=name)


def test_fit_ends_with_the_moving_average_of_the_weights():
    from striate.layers import Dense
    from striate.models import Sequential

    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 3)).astype(np.float32)
    y = rng.integers(0, 2, 16)
    model = Sequential([Dense(2, activation="softmax", input_shape=(3,))])
    optimizer = optimizers.Adam(0.1, use_ema=True, ema_momentum=0.5)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    for weight, average in zip(model.trainable_weights, optimizer.slots["ema"]):
        np.testing.assert_array_equal(weight.data, average)
    assert optimizer.iterations == 8


@pytest.mark.slow
def test_exclude_from_weight_decay_matches_keras():
    keras = pytest.importorskip("keras")
    start, grads = _start_and_gradients(np.float32)
    names = ["dense/kernel", "dense/bias", "conv/kernel", "conv/bias"]
    ours = [Variable(a.copy(), name=n) for a, n in zip(start, names)]
    theirs = [keras.Variable(a.copy(), name=n.split("/")[1]) for a, n in zip(start, names)]
    optimizer = optimizers.AdamW(0.01, weight_decay=0.1)
    optimizer.exclude_from_weight_decay(var_list=[ours[2]], var_names=["bias"])
    reference = keras.optimizers.AdamW(0.01, weight_decay=0.1)
    reference.exclude_from_weight_decay(var_list=[theirs[2]], var_names=["bias"])
    for step_grads in grads:
        optimizer.apply_gradients(list(zip(step_grads, ours)))
        reference.apply([keras.ops.convert_to_tensor(g) for g in step_grads], theirs)
    for a, b in zip(ours, theirs):
        b = keras.ops.convert_to_numpy(b)
        np.testing.assert_allclose(a.data, b, rtol=1e-5, atol=1e-5 * np.abs(b).max())
    with pytest.raises(ValueError, match="before the optimizer is built"):
        optimizer.exclude_from_weight_decay(var_names=["kernel"])
