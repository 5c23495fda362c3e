"""Keras's one-batch methods: `train_on_batch`, `test_on_batch`, `predict_on_batch`.

Each is `fit`, `evaluate` or `predict` on exactly the batch given (one step, in order, no
progress bar), so a batch is checked and trained exactly as in `fit`: the optimizer's state
carries over from call to call and to `fit`, as in Keras. The values returned are that
batch's (Keras 3 resets its metrics at each call): the loss alone, or `[loss, metrics...]`,
or a dict with `return_dict=True`.
"""

import numpy as np

from striate.models import training


def _samples(x):
    first = x
    while isinstance(first, (list, tuple, dict)):
        first = next(iter(first.values())) if isinstance(first, dict) else first[0]
    return max(1, len(np.asarray(first)))


def _values(logs, return_dict):
    if return_dict:
        return logs
    values = list(logs.values())
    return values[0] if len(values) == 1 else values


def train_on_batch(model, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
    """One training step on the batch (x, y); returns its loss and metrics."""
    previous = getattr(model, "history", None)
    history = training.fit(
        model,
        x,
        y,
        batch_size=_samples(x),
        epochs=1,
        verbose=0,
        callbacks=None,
        validation_split=0.0,
        validation_data=None,
        shuffle=False,
        initial_epoch=0,
        class_weight=class_weight,
        sample_weight=sample_weight,
        doctor=False,  # one step: nothing to sample, and no warning per call
    )
    model.history = previous  # (Keras's train_on_batch leaves model.history alone)
    logs = {name: values[-1] for name, values in history.history.items()}
    return _values(logs, return_dict)


def test_on_batch(model, x, y=None, sample_weight=None, return_dict=False):
    """The loss and metrics of the batch (x, y), without training."""
    logs = training.evaluate(model, x, y, _samples(x), 0, True, sample_weight=sample_weight)
    return _values(logs, return_dict)


def predict_on_batch(model, x):
    """The model's outputs for the batch x (one forward pass in inference mode)."""
    return training.predict(model, x, batch_size=_samples(x), verbose=0)
