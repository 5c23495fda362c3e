"""Learning-rate schedules: values against Keras 3 at 0, at boundaries and far away; as an
optimizer's learning rate (40 steps as Keras); config round trips, saving, and bad input."""

import os

import numpy as np
import pytest

from striate.optimizers import schedules

os.environ.setdefault("KERAS_BACKEND", "torch")

CASES = [
    ("ExponentialDecay", {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5}),
    (
        "ExponentialDecay",
        {"initial_learning_rate": 0.1, "decay_steps": 7, "decay_rate": 0.9, "staircase": True},
    ),
    ("PiecewiseConstantDecay", {"boundaries": [10, 20, 35], "values": [1.0, 0.5, 0.1, 0.01]}),
    ("PolynomialDecay", {"initial_learning_rate": 0.1, "decay_steps": 30}),
    (
        "PolynomialDecay",
        {"initial_learning_rate": 0.1, "decay_steps": 12, "power": 2.0, "cycle": True},
    ),
    ("InverseTimeDecay", {"initial_learning_rate": 0.1, "decay_steps": 5, "decay_rate": 0.5}),
    (
        "InverseTimeDecay",
        {"initial_learning_rate": 0.1, "decay_steps": 5, "decay_rate": 0.5, "staircase": True},
    ),
    ("CosineDecay", {"initial_learning_rate": 0.1, "decay_steps": 30, "alpha": 0.1}),
    (
        "CosineDecay",
        {
            "initial_learning_rate": 0.0,
            "decay_steps": 25,
            "warmup_target": 0.2,
            "warmup_steps": 10,
        },
    ),
    ("CosineDecayRestarts", {"initial_learning_rate": 0.1, "first_decay_steps": 10}),
    (
        "CosineDecayRestarts",
        {"initial_learning_rate": 0.1, "first_decay_steps": 8, "t_mul": 1.0, "m_mul": 0.5},
    ),
    (
        "CosineDecayRestarts",
        {"initial_learning_rate": 0.1, "first_decay_steps": 6, "t_mul": 1.5, "alpha": 0.05},
    ),
]
IDS = [f"{name}-{i}" for i, (name, _) in enumerate(CASES)]
STEPS = [0, 1, 5, 6, 7, 8, 9, 10, 11, 12, 19, 20, 21, 24, 25, 30, 34, 35, 36, 70, 1000, 123456]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=IDS)
def test_values_match_keras(name, kwargs):
    keras = pytest.importorskip("keras")
    ours = getattr(schedules, name)(**kwargs)
    theirs = getattr(keras.optimizers.schedules, name)(**kwargs)
    for step in STEPS:
        want = float(keras.ops.convert_to_numpy(theirs(step)))
        # Keras computes in float32: near 0, 1 + cos(...) loses digits to cancellation
        peak = max(kwargs.get("initial_learning_rate", 0.0), kwargs.get("warmup_target") or 0.0)
        tolerance = 1e-7 * peak
        np.testing.assert_allclose(ours(step), want, rtol=1e-6, atol=tolerance, err_msg=f"{step=}")
    assert ours.get_config() == theirs.get_config()


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=IDS)
def test_config_round_trip(name, kwargs):
    schedule = getattr(schedules, name)(**kwargs)
    again = schedules.get(schedules.serialize(schedule))
    assert again == schedule and [again(s) for s in STEPS] == [schedule(s) for s in STEPS]


@pytest.mark.slow
def test_an_optimizer_with_a_schedule_matches_keras():
    keras = pytest.importorskip("keras")
    from striate import optimizers
    from striate.tensor import Variable

    rng = np.random.default_rng(0)
    start = rng.standard_normal((4, 3))
    grads = [rng.standard_normal((4, 3)) for _ in range(40)]
    kwargs = {"boundaries": [5, 17], "values": [0.1, 0.03, 0.01]}
    ours = optimizers.SGD(schedules.PiecewiseConstantDecay(**kwargs), momentum=0.5)
    theirs = keras.optimizers.SGD(
        keras.optimizers.schedules.PiecewiseConstantDecay(**kwargs), momentum=0.5
    )
    w, kw = Variable(start.copy()), keras.Variable(start.copy(), dtype="float64")
    for g in grads:
        ours.apply_gradients([(g, w)])
        theirs.apply([keras.ops.convert_to_tensor(g)], [kw])
    np.testing.assert_allclose(w.data, keras.ops.convert_to_numpy(kw), rtol=1e-6)
    assert ours.learning_rate == 0.01


def test_the_learning_rate_is_the_schedule_at_iterations():
    from striate import optimizers
    from striate.tensor import Variable

    schedule = schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)
    optimizer = optimizers.SGD(learning_rate=schedule)
    w = Variable(np.zeros(1))
    for step in range(3):
        assert optimizer.learning_rate == 0.1 * 0.5**step
        optimizer.apply_gradients([(np.ones(1), w)])
    np.testing.assert_allclose(w.data, [-(0.1 + 0.05 + 0.025)])
    config = optimizers.serialize(optimizer)
    assert config["config"]["learning_rate"]["class_name"] == "ExponentialDecay"
    assert optimizers.get(config).get_config() == optimizer.get_config()
    with pytest.raises(TypeError, match="is a schedule.*Received: learning_rate=0.5"):
        optimizer.learning_rate = 0.5


def test_a_saved_model_resumes_on_the_schedule(tmp_path):
    from striate import optimizers
    from striate.layers import Dense
    from striate.models import Sequential
    from striate.saving import load_model

    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 3)).astype(np.float32)
    y = rng.integers(0, 2, 32)

    def model():
        m = Sequential([Dense(2, activation="softmax", input_shape=(3,))])
        m.set_weights([np.full((3, 2), 0.1, np.float32), np.zeros(2, np.float32)])
        schedule = schedules.CosineDecay(0.0, 6, warmup_target=0.1, warmup_steps=4)
        m.compile(optimizer=optimizers.Adam(schedule), loss="sparse_categorical_crossentropy")
        return m

    whole = model()
    whole.fit(x, y, epochs=4, batch_size=8, shuffle=False, verbose=0)
    half = model()
    half.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    half.save(tmp_path / "half.striate")
    resumed = load_model(tmp_path / "half.striate")
    assert isinstance(resumed.optimizer._learning_rate, schedules.CosineDecay)
    resumed.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    for a, b in zip(resumed.get_weights(), whole.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: schedules.PiecewiseConstantDecay([10, 10], [1.0, 0.5, 0.1]),
            r"strictly increasing; 10 is followed by 10",
        ),
        (
            lambda: schedules.PiecewiseConstantDecay([20, 10], [1.0, 0.5, 0.1]),
            r"strictly increasing; 20 is followed by 10",
        ),
        (
            lambda: schedules.PiecewiseConstantDecay([10, 20], [1.0, 0.5]),
            r"one element fewer than values",
        ),
        (lambda: schedules.ExponentialDecay(0.1, 0, 0.5), r"decay_steps must be > 0"),
        (lambda: schedules.CosineDecay(0.1, -5), r"decay_steps must be > 0"),
        (lambda: schedules.CosineDecayRestarts(0.1, 0), r"first_decay_steps must be > 0"),
        (lambda: schedules.CosineDecay(0.1, 5, warmup_steps=-1), r"warmup_steps must be >= 0"),
        (lambda: schedules.get({"class_name": "Cosine", "config": {}}), r"Did you mean"),
    ],
)
def test_bad_input_is_named(make, message):
    with pytest.raises(ValueError, match=message):
        make()
    with pytest.raises(TypeError, match="must be a finite number"):
        schedules.PolynomialDecay("0.1", 10)
