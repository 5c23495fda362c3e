"""The training loop behind `Sequential.fit`, `evaluate` and `predict`, and their input checks.

One step: slice a batch, cast it to the model's float type, run the layers, compute the loss,
stop if it is not finite (before the update, so the weights stay good), backpropagate, update.
"""

import math
import warnings

import numpy as np

from striate import backend
from striate.callbacks import CallbackList, History
from striate.layers.base import format_shape
from striate.progress import Progbar
from striate.tensor import Tensor, no_grad


def prepare_inputs(model, x, where):
    """Check `x` (numeric, non-empty, the model's per-sample shape); return it as an ndarray."""
    if x is None:
        raise ValueError(f"{where}: x is required. Received: x=None.")
    array = np.asarray(x)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{where}: x must be numeric (int, uint or float). "
                        f"Received: x with dtype {array.dtype}.")
    if array.size == 0 or array.ndim == 0:
        raise ValueError(f"{where}: x is empty. Received: x of shape {array.shape}.")
    if model.input_shape is None:
        model.build((None,) + array.shape[1:])
    expected = model.input_shape[1:]
    received = array.shape[1:]
    if len(expected) != len(received) or any(
            e is not None and e != r for e, r in zip(expected, received)):
        hint = ""
        if received == tuple(expected[:-1]) and expected[-1] == 1:
            hint = " Add the channel axis with np.expand_dims(x, -1)."
        raise ValueError(
            f"{where}: Sequential '{model.name}' expects input shape "
            f"{format_shape(model.input_shape)}. Received: x of shape {array.shape}.{hint}")
    return array


def _prepare_targets(model, x, y, where):
    if y is None:
        raise ValueError(f"{where}: y is required for training and evaluation. Received: y=None.")
    y = np.asarray(y)
    if y.dtype.kind not in "biuf":
        raise TypeError(f"{where}: y must be numeric. Received: y with dtype {y.dtype}.")
    if len(y) != len(x):
        raise ValueError(f"{where}: x and y must have the same number of samples. "
                         f"Received: x with {len(x)} samples, y with {len(y)}.")
    if model.loss.name != "sparse_categorical_crossentropy" and y.dtype.kind != "f":
        y = y.astype(model.float_type())
    # Let the loss validate every label once, up front, against uniform predictions.
    units = model.output_shape[1:]
    uniform = np.full((len(y),) + units, 1.0 / units[-1], dtype=model.float_type())
    with no_grad():
        model.loss(y, Tensor(uniform))
    return y


def _check_compiled(model, where):
    if not model.compiled:
        raise ValueError(f"{where}: you must call compile() before using the model, e.g. "
                         f"model.compile(loss='sparse_categorical_crossentropy', "
                         f"optimizer='adam', metrics=['acc']).")


def _resolve_verbose(verbose):
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 0, 1, 2 or 'auto'. Received: verbose={verbose!r}")
    return verbose


def _batch_size(batch_size):
    if batch_size is None:
        return 32
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive int. Received: batch_size={batch_size!r}")
    return int(batch_size)


class _Averages:
    """Sample-weighted running means of the loss and the metrics."""

    def __init__(self, model):
        self.model = model
        self.count = 0
        self.sums = {"loss": 0.0, **{name: 0.0 for name, _ in model.metrics}}

    def add(self, loss_value, y_batch, predictions):
        n = len(y_batch)
        self.count += n
        self.sums["loss"] += loss_value * n
        for name, function in self.model.metrics:
            self.sums[name] += float(function(y_batch, predictions).sum())

    def logs(self, prefix=""):
        return {prefix + key: value / max(self.count, 1) for key, value in self.sums.items()}


def fit(model, x, y, batch_size, epochs, verbose, callbacks, validation_split, validation_data,
        shuffle, initial_epoch):
    _check_compiled(model, "fit")
    x = prepare_inputs(model, x, "fit")
    y = _prepare_targets(model, x, y, "fit")
    batch_size, verbose = _batch_size(batch_size), _resolve_verbose(verbose)
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"fit: epochs must be a non-negative int. Received: epochs={epochs!r}")
    if validation_data is None and validation_split:
        if not 0 < validation_split < 1:
            raise ValueError(f"fit: validation_split must be in (0, 1). "
                             f"Received: validation_split={validation_split!r}")
        cut = int(len(x) * (1 - validation_split))  # Keras takes the last samples, unshuffled
        if cut == 0 or cut == len(x):
            raise ValueError(f"fit: validation_split={validation_split} leaves an empty split "
                             f"of {len(x)} samples.")
        x, y, validation_data = x[:cut], y[:cut], (x[cut:], y[cut:])
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ValueError("fit: validation_data must be a tuple (x_val, y_val).")
        x_val = prepare_inputs(model, validation_data[0], "fit (validation_data)")
        y_val = _prepare_targets(model, x_val, validation_data[1], "fit (validation_data)")
    history = History()
    steps = math.ceil(len(x) / batch_size)
    params = {"epochs": epochs, "steps": steps, "verbose": verbose, "batch_size": batch_size}
    # History goes last, as in Keras, so it records what callbacks add (e.g. learning_rate)
    callback_list = CallbackList(list(callbacks or []) + [history], model, params)
    model.history, model.stop_training = history, False
    callback_list.call("on_train_begin", {})
    for epoch in range(initial_epoch, epochs):
        if verbose:
            print(f"Epoch {epoch + 1}/{epochs}", flush=True)
        callback_list.call("on_epoch_begin", epoch, {})
        logs = _train_epoch(model, x, y, batch_size, shuffle, verbose, callback_list, epoch,
                            epochs)
        if logs is None:
            break
        if validation_data is not None:
            logs.update(_run_evaluation(model, x_val, y_val, batch_size).logs("val_"))
        logs = {key: float(value) for key, value in logs.items()}
        if verbose:
            model._last_progbar.finish(logs)
        callback_list.call("on_epoch_end", epoch, logs)
        if model.stop_training:
            break
    callback_list.call("on_train_end", {})
    return history


def _train_epoch(model, x, y, batch_size, shuffle, verbose, callback_list, epoch, epochs):
    n = len(x)
    steps = math.ceil(n / batch_size)
    order = backend.rng().permutation(n) if shuffle else None
    float_type = model.float_type()
    variables = model.trainable_weights
    optimizer = model.optimizer
    averages = _Averages(model)
    progbar = model._last_progbar = Progbar(steps, verbose)
    for step in range(steps):
        start, stop = step * batch_size, min((step + 1) * batch_size, n)
        if order is None:
            x_batch, y_batch = x[start:stop], y[start:stop]
        else:
            indices = order[start:stop]
            x_batch, y_batch = x[indices], y[indices]
        callback_list.call("on_train_batch_begin", step, {})
        outputs = model.call(Tensor(x_batch.astype(float_type, copy=False)), training=True)
        loss = model.loss(y_batch, outputs)
        loss_value = float(loss.data)
        if not math.isfinite(loss_value):
            _stop_on_bad_loss(model, loss_value, epoch, epochs, step, steps)
            return None
        loss.backward()
        optimizer.apply(variables)
        for variable in variables:
            variable.grad = None
        averages.add(loss_value, y_batch, outputs.data)
        logs = averages.logs()
        callback_list.call("on_train_batch_end", step, logs)
        progbar.update(step + 1, logs)
        if model.stop_training:
            break
    return averages.logs()


def _stop_on_bad_loss(model, loss_value, epoch, epochs, step, steps):
    model.stop_training = True
    model.stop_reason = (
        f"Epoch {epoch + 1}/{epochs}, batch {step + 1}/{steps}: the loss became {loss_value}. "
        f"Training stopped before this batch's update, so the weights are those after batch "
        f"{step}. Try a lower learning rate or scaled inputs (e.g. x / 255).")
    print(flush=True)  # end the progress line before the warning
    warnings.warn(model.stop_reason, RuntimeWarning, stacklevel=4)


def _batches(x, batch_size, float_type):
    for start in range(0, len(x), batch_size):
        yield start, x[start:start + batch_size].astype(float_type, copy=False)


def _run_evaluation(model, x, y, batch_size, progbar=None):
    averages = _Averages(model)
    with no_grad():
        for step, (start, x_batch) in enumerate(_batches(x, batch_size, model.float_type())):
            outputs = model.call(Tensor(x_batch), training=False)
            y_batch = y[start:start + batch_size]
            averages.add(float(model.loss(y_batch, outputs).data), y_batch, outputs.data)
            if progbar is not None:
                progbar.update(step + 1, averages.logs())
    return averages


def evaluate(model, x, y, batch_size, verbose, return_dict):
    _check_compiled(model, "evaluate")
    x = prepare_inputs(model, x, "evaluate")
    y = _prepare_targets(model, x, y, "evaluate")
    batch_size, verbose = _batch_size(batch_size), _resolve_verbose(verbose)
    progbar = Progbar(math.ceil(len(x) / batch_size), verbose)
    logs = _run_evaluation(model, x, y, batch_size, progbar).logs()
    progbar.finish(logs)
    if return_dict:
        return logs
    values = [logs["loss"]] + [logs[name] for name, _ in model.metrics]
    return values[0] if len(values) == 1 else values


def predict(model, x, batch_size, verbose):
    x = prepare_inputs(model, x, "predict")
    batch_size, verbose = _batch_size(batch_size), _resolve_verbose(verbose)
    progbar = Progbar(math.ceil(len(x) / batch_size), verbose)
    outputs = None
    with no_grad():
        for step, (start, x_batch) in enumerate(_batches(x, batch_size, model.float_type())):
            batch_out = model.call(Tensor(x_batch), training=False).data
            if outputs is None:
                outputs = np.empty((len(x),) + batch_out.shape[1:], dtype=batch_out.dtype)
            outputs[start:start + len(batch_out)] = batch_out
            progbar.update(step + 1, {})
    progbar.finish({})
    return outputs
