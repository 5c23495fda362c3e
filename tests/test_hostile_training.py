"""Training inputs and hyperparameters that would give silently wrong (NaN) results: refused with
a clear error, or training stops before the bad update."""

import numpy as np
import pytest

from striate.layers import Dense
from striate.models import Sequential
from striate.optimizers import SGD, Adam, RMSprop


def _model(optimizer="sgd"):
    model = Sequential([Dense(2, input_shape=(3,))])
    model.compile(optimizer=optimizer, loss="mse")
    return model


def test_a_nan_learning_rate_is_refused():
    for optimizer in (SGD, Adam, RMSprop):
        with pytest.raises(ValueError, match="learning_rate"):
            optimizer(learning_rate=float("nan"))


def test_an_infinite_learning_rate_is_refused():
    for optimizer in (SGD, Adam, RMSprop):
        with pytest.raises(ValueError, match="learning_rate"):
            optimizer(learning_rate=float("inf"))


def test_a_learning_rate_set_after_construction_gets_the_same_check():
    """Callbacks and users set `optimizer.learning_rate` during training: an infinite or NaN
    rate is refused there too, so no update can turn the weights into NaN through it."""
    model = _model(SGD(learning_rate=0.1))
    for bad in (float("inf"), float("nan"), -1.0):
        with pytest.raises(ValueError, match=r"learning_rate must be finite and >= 0\.0"):
            model.optimizer.learning_rate = bad
    assert model.optimizer.learning_rate == 0.1


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_fit_and_evaluate_refuse_non_finite_inputs(bad):
    model = _model()
    x, y = np.ones((4, 3), np.float32), np.ones((4, 2), np.float32)
    x[2, 1] = bad
    with pytest.raises(ValueError, match=r"x .*(NaN|inf)"):
        model.fit(x, y, verbose=0)
    with pytest.raises(ValueError, match=r"x .*(NaN|inf)"):
        model.evaluate(x, y, verbose=0)
    y[1, 0], x[2, 1] = bad, 1.0
    with pytest.raises(ValueError, match=r"y .*(NaN|inf)"):
        model.fit(x, y, verbose=0)


def test_huge_but_finite_inputs_are_accepted():
    """The finiteness check sums the array first; a sum that overflows is looked at closer."""
    model = _model()
    x = np.full((4, 3), 3e38, np.float32)  # finite, but their sum overflows float32
    with np.errstate(over="ignore"):  # the outputs overflow, as they would in any framework
        assert model.predict(x, verbose=0).shape == (4, 2)
