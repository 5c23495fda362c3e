"""Keras's train_on_batch / test_on_batch / predict_on_batch: one step each, the optimizer's
state carried from call to call, per-batch values; checked against Keras 3."""

import numpy as np
import pytest

import striate


def model(lib):
    return lib.Sequential(
        [
            lib.Input((4,)),
            lib.layers.Dense(5, activation="relu", name="hidden"),
            lib.layers.Dense(3, activation="softmax", name="out"),
        ]
    )


def data(n=8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 4)).astype("float32"), rng.integers(0, 3, n)


def test_train_on_batch_is_one_fit_step_and_leaves_history_alone():
    striate.utils.set_random_seed(0)
    stepped, fitted = model(striate), model(striate)
    fitted.set_weights(stepped.get_weights())
    for m in (stepped, fitted):
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = data(16)
    history = fitted.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    first = stepped.train_on_batch(x[:8], y[:8])
    second = stepped.train_on_batch(x[8:], y[8:], return_dict=True)
    assert isinstance(first, list) and len(first) == 2 and set(second) == {"loss", "accuracy"}
    for a, b in zip(stepped.get_weights(), fitted.get_weights()):
        np.testing.assert_array_equal(a, b)  # the Adam moments carried over between the calls
    assert np.mean([first[0], second["loss"]]) == pytest.approx(history.history["loss"][0])
    assert getattr(stepped, "history", None) is None
    logs = stepped.test_on_batch(x, y, return_dict=True)
    assert logs == pytest.approx(stepped.evaluate(x, y, verbose=0, return_dict=True))
    np.testing.assert_array_equal(stepped.predict_on_batch(x), stepped.predict(x, verbose=0))


def test_bad_batches_are_refused_as_fit_refuses_them():
    m = model(striate)
    m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="x and y must have the same number of samples"):
        m.train_on_batch(np.zeros((4, 4)), np.zeros(3))


@pytest.mark.slow  # parity with Keras 3
def test_the_same_numbers_as_keras():
    keras = pytest.importorskip("keras")
    striate.utils.set_random_seed(0)
    ours, theirs = model(striate), model(keras)
    theirs.set_weights(ours.get_weights())
    for m, lib in ((ours, striate), (theirs, keras)):
        m.compile(
            optimizer=lib.optimizers.Adam(0.01),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
    for step in range(5):
        x, y = data(8 - step, seed=step)  # batches of changing sizes
        np.testing.assert_allclose(
            ours.train_on_batch(x, y), theirs.train_on_batch(x, y), rtol=1e-5, atol=1e-6
        )
    x, y = data(6, seed=9)
    np.testing.assert_allclose(ours.test_on_batch(x, y), theirs.test_on_batch(x, y), rtol=1e-5)
    np.testing.assert_allclose(ours.predict_on_batch(x), theirs.predict_on_batch(x), rtol=1e-5)
