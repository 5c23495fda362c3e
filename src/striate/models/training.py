"""The training loop behind `Sequential.fit`, `evaluate` and `predict`, and their input checks.

One step: gather a batch, cast it to the model's float type, run the layers and the loss (by
the model's training plan, `striate.models.plan`), stop if the loss is not finite (before the
update, so the weights stay good), backpropagate, update.

A step does little besides its math: the batch is gathered and cast into two buffers reused
every step (a step's graph, which may hold views of its input, is released by its backward pass
before the next batch is read), the running loss and metric sums stay plain numbers, and the
per-step logs dict is only built when a callback or a live progress bar will read it.
"""

import copy
import math
import warnings

import numpy as np

from striate import backend, parallel
from striate.callbacks import CallbackList, History
from striate.layers.base import format_shape
from striate.models import penalties as penalties_module
from striate.models.progress import Progbar
from striate.tensor import Tensor, no_grad


def prepare_inputs(model, x, where):
    """Check `x` (numeric, non-empty, the model's per-sample shape); return it as an ndarray."""
    if x is None:
        raise ValueError(f"{where}: x is required. Received: x=None.")
    if model.input_shape is None:
        model.build((None,) + np.shape(x)[1:])
    return check_array(model.input_shape, x, model, where)


def check_array(expected_shape, x, model, where):
    """`x` as an ndarray, checked against one input's shape `expected_shape` (batch first)."""
    array = np.asarray(x)
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"{where}: x must be numeric (int, uint or float). "
            f"Received: x with dtype {array.dtype}."
        )
    if array.size == 0 or array.ndim == 0:
        raise ValueError(f"{where}: x is empty. Received: x of shape {array.shape}.")
    check_finite(array, "x", where)
    expected = expected_shape[1:]
    received = array.shape[1:]
    if len(expected) != len(received) or any(
        e is not None and e != r for e, r in zip(expected, received)
    ):
        hint = ""
        if received == tuple(expected[:-1]) and expected[-1] == 1:
            hint = " Add the channel axis with np.expand_dims(x, -1)."
        raise ValueError(
            f"{where}: {type(model).__name__} '{model.name}' expects input shape "
            f"{format_shape(expected_shape)}. Received: x of shape {array.shape}.{hint}"
        )
    return array


def _prepare_targets(model, x, y, where):
    if y is None:
        raise ValueError(f"{where}: y is required for training and evaluation. Received: y=None.")
    y = np.asarray(y)
    if y.dtype.kind not in "biuf":
        raise TypeError(f"{where}: y must be numeric. Received: y with dtype {y.dtype}.")
    if len(y) != len(x):
        raise ValueError(
            f"{where}: x and y must have the same number of samples. "
            f"Received: x with {len(x)} samples, y with {len(y)}."
        )
    sparse = getattr(model.loss, "registered_name", model.loss.name)
    if sparse != "sparse_categorical_crossentropy" and y.dtype.kind != "f":
        y = y.astype(model.float_type())
    # Let the loss validate every label once, up front, against uniform predictions.
    units = model.output_shape[1:]
    uniform = np.full((len(y),) + units, 1.0 / units[-1], dtype=model.float_type())
    with no_grad():
        model.loss(y, Tensor(uniform))
    check_finite(y, "y", where)
    return y


def check_finite(array, name, where):
    """A ValueError naming the array and its first NaN or infinite value, if it holds one (a
    NaN image would otherwise train or evaluate to NaN without a word)."""
    if array.dtype.kind != "f":
        return
    with np.errstate(over="ignore", invalid="ignore"):
        total = np.add.reduce(array, axis=None)
    if np.isfinite(total):
        return  # a NaN or an infinity anywhere would make the sum NaN or infinite
    if not np.isfinite(array).all():  # (a sum of finite values can overflow: look closer)
        index = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
        raise ValueError(
            f"{where}: {name} holds NaN or infinite values, the first at index {index}: "
            f"{array[index]}. Received: {name} of shape {array.shape}."
        )


def _check_compiled(model, where):
    if not model.compiled:
        raise ValueError(
            f"{where}: you must call compile() before using the model, e.g. "
            f"model.compile(loss='sparse_categorical_crossentropy', "
            f"optimizer='adam', metrics=['acc'])."
        )


def _resolve_verbose(verbose):
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 0, 1, 2 or 'auto'. Received: verbose={verbose!r}")
    return verbose


def _batch_size(batch_size):
    if batch_size is None:
        return 32
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, (int, np.integer))
        or batch_size <= 0
    ):
        raise ValueError(f"batch_size must be a positive int. Received: batch_size={batch_size!r}")
    return int(batch_size)


class _BatchReader:
    """Reads batches of `x` as the model's float type into two buffers reused every step."""

    def __init__(self, x, batch_size, float_type):
        self.x = x
        self.float_type = float_type
        shape = (min(batch_size, len(x)),) + x.shape[1:]
        self.raw = None if x.dtype == float_type else np.empty(shape, x.dtype)
        self.floats = np.empty(shape, float_type)

    def read(self, indices=None, start=0, stop=0):
        """Rows `indices` (a 1-D int array), or the slice start:stop, as float_type."""
        x = self.x
        if indices is None:
            rows = x[start:stop]
            if self.raw is None:
                return rows  # already the float type: a view, no copy
            count = len(rows)
        else:
            count = len(indices)
        floats = self.floats[:count]
        if self.raw is None:
            np.take(x, indices, axis=0, out=floats)
            return floats
        if indices is not None:
            rows = np.take(x, indices, axis=0, out=self.raw[:count])
        np.copyto(floats, rows, casting="unsafe")
        return floats


class _Averages:
    """Sample-weighted running means of the loss and the metrics."""

    def __init__(self, model):
        self.count = 0
        self.loss = 0.0
        # A fresh copy of each compiled metric, updated batch by batch.
        self.metrics = [(name, copy.deepcopy(metric)) for name, metric in model.metrics]
        for _, metric in self.metrics:
            metric.reset_state()

    def add(self, loss_value, y_batch, predictions):
        n = len(y_batch)
        self.count += n
        self.loss += loss_value * n
        for _, metric in self.metrics:
            metric.update_state(y_batch, predictions)

    def logs(self, prefix=""):
        logs = {prefix + "loss": self.loss / max(self.count, 1)}
        logs.update({prefix + name: metric.result() for name, metric in self.metrics})
        return logs


def fit(
    model,
    x,
    y,
    batch_size,
    epochs,
    verbose,
    callbacks,
    validation_split,
    validation_data,
    shuffle,
    initial_epoch,
):
    _check_compiled(model, "fit")
    x = prepare_inputs(model, x, "fit")
    y = _prepare_targets(model, x, y, "fit")
    batch_size, verbose = _batch_size(batch_size), _resolve_verbose(verbose)
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"fit: epochs must be a non-negative int. Received: epochs={epochs!r}")
    if validation_data is None and validation_split:
        if not 0 < validation_split < 1:
            raise ValueError(
                f"fit: validation_split must be in (0, 1). "
                f"Received: validation_split={validation_split!r}"
            )
        cut = int(len(x) * (1 - validation_split))  # Keras takes the last samples, unshuffled
        if cut == 0 or cut == len(x):
            raise ValueError(
                f"fit: validation_split={validation_split} leaves an empty split "
                f"of {len(x)} samples."
            )
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
    model.history, model.stop_training, model.stop_reason = history, False, None
    # the weights trainable at the first fit after compile; packs them: see Optimizer.build
    model.optimizer.build(model.trained_weights("fit"))
    backend.keep_freed_memory()
    with parallel.parallel_region():  # every core on the big ops (striate.parallel)
        callback_list.call("on_train_begin", {})
        for epoch in range(initial_epoch, epochs):
            if verbose:
                print(f"Epoch {epoch + 1}/{epochs}", flush=True)
            callback_list.call("on_epoch_begin", epoch, {})
            progbar = Progbar(steps, verbose)
            logs = _train_epoch(
                model, x, y, batch_size, shuffle, progbar, callback_list, epoch, epochs
            )
            if logs is None:
                break
            if validation_data is not None:
                logs.update(_run_evaluation(model, x_val, y_val, batch_size).logs("val_"))
            logs = {key: float(value) for key, value in logs.items()}
            if verbose:
                progbar.finish(logs)
            callback_list.call("on_epoch_end", epoch, logs)
            if model.stop_training:
                break
    if epochs > initial_epoch:  # with use_ema, the weights become their average (Keras)
        model.optimizer.finalize_variable_values(model.trainable_weights)
    callback_list.call("on_train_end", {})
    return history


def _train_epoch(model, x, y, batch_size, shuffle, progbar, callback_list, epoch, epochs):
    n = len(x)
    steps = math.ceil(n / batch_size)
    order = backend.rng().permutation(n) if shuffle else None
    reader = _BatchReader(x, batch_size, model.float_type())
    variables = model.trained_weights("fit")
    optimizer = model.optimizer
    averages = _Averages(model)
    batch_hooks = callback_list.has_batch_hooks()
    live_logs = batch_hooks or progbar.dynamic
    penalties = penalties_module.of(model, variables)  # None without regularizers/constraints
    for step in range(steps):
        start, stop = step * batch_size, min((step + 1) * batch_size, n)
        if order is None:
            x_batch, y_batch = reader.read(start=start, stop=stop), y[start:stop]
        else:
            indices = order[start:stop]
            x_batch, y_batch = reader.read(indices), y[indices]
        if batch_hooks:
            callback_list.call("on_train_batch_begin", step, {})
        loss, outputs = penalties_module.call_with_loss(penalties, model, x_batch, y_batch, True)
        loss_value = float(loss.data)
        if not math.isfinite(loss_value):
            _stop_on_bad_loss(model, loss_value, epoch, epochs, step, steps)
            return None
        loss.backward()
        optimizer.apply(variables)
        if penalties is not None:
            penalties.constrain()  # after the optimizer's step, as Keras's optimizer does
        for variable in variables:
            variable.grad = None
        averages.add(loss_value, y_batch, outputs)
        if live_logs:
            logs = averages.logs()
            if batch_hooks:
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
        f"{step}. Try a lower learning rate or scaled inputs (e.g. x / 255)."
    )
    print(flush=True)  # end the progress line before the warning
    warnings.warn(model.stop_reason, RuntimeWarning, stacklevel=4)


# Inference splits a batch so that no pass holds more than this in one layer's activations (or
# one convolution's patch matrix): passes that fit in cache run faster per sample
# (benchmarks/README.md).
_INFERENCE_BYTES = 16 << 20


def _inference_chunk(model, batch_size):
    """Samples per forward pass in predict/evaluate: batch_size, split into equal chunks when
    a pass would exceed _INFERENCE_BYTES (outputs do not depend on it beyond rounding)."""
    per_sample = 1
    for layer in model.layers:
        if not all(isinstance(d, int) or d is None for d in layer.output_shape or ()):
            continue  # several outputs (a nested model): counted by its own layers' shapes
        size = math.prod(d or 1 for d in layer.output_shape[1:])
        window = getattr(layer, "kernel_size", None)
        if window is not None and len(layer.input_shape) == 4:  # a convolution's patches
            size = max(
                size, size // layer.output_shape[-1] * math.prod(window) * layer.input_shape[-1]
            )
        per_sample = max(per_sample, size)
    rows = max(1, _INFERENCE_BYTES // (per_sample * model.float_type().itemsize))
    chunks = math.ceil(batch_size / rows)
    return math.ceil(batch_size / chunks)


def _batches(model, x, batch_size):
    """(step, start, inputs) for each forward pass of inference, in order: `step` is the
    number of the batch it belongs to (1-based, for progress). The inputs' buffer is reused,
    so use it before the next one is read (inference keeps no graph that could hold it)."""
    chunk = _inference_chunk(model, batch_size)
    reader = _BatchReader(x, chunk, model.float_type())
    for start in range(0, len(x), batch_size):
        stop = min(start + batch_size, len(x))
        for begin in range(start, stop, chunk):
            yield (
                start // batch_size + 1,
                begin,
                reader.read(start=begin, stop=min(begin + chunk, stop)),
            )


def _run_evaluation(model, x, y, batch_size, progbar=None):
    averages = _Averages(model)
    penalties = penalties_module.of(model)
    with no_grad():
        for step, start, x_batch in _batches(model, x, batch_size):
            y_batch = y[start : start + len(x_batch)]
            loss, outputs = penalties_module.call_with_loss(
                penalties, model, x_batch, y_batch, False
            )
            averages.add(float(loss.data), y_batch, outputs)
            if progbar is not None and progbar.dynamic:
                progbar.update(step, averages.logs())
    return averages


def evaluate(model, x, y, batch_size, verbose, return_dict):
    _check_compiled(model, "evaluate")
    x = prepare_inputs(model, x, "evaluate")
    y = _prepare_targets(model, x, y, "evaluate")
    batch_size, verbose = _batch_size(batch_size), _resolve_verbose(verbose)
    backend.keep_freed_memory()
    progbar = Progbar(math.ceil(len(x) / batch_size), verbose)
    with parallel.parallel_region():
        logs = _run_evaluation(model, x, y, batch_size, progbar).logs()
    progbar.finish(logs)
    if return_dict:
        return logs
    values = [logs["loss"]] + [logs[name] for name, _ in model.metrics]
    return values[0] if len(values) == 1 else values


def predict(model, x, batch_size, verbose):
    x = prepare_inputs(model, x, "predict")
    batch_size, verbose = _batch_size(batch_size), _resolve_verbose(verbose)
    backend.keep_freed_memory()
    progbar = Progbar(math.ceil(len(x) / batch_size), verbose)
    outputs = None
    with no_grad(), parallel.parallel_region():
        for step, start, x_batch in _batches(model, x, batch_size):
            batch_out = model.call(Tensor(x_batch), training=False).data
            if outputs is None:
                outputs = np.empty((len(x),) + batch_out.shape[1:], dtype=batch_out.dtype)
            outputs[start : start + len(batch_out)] = batch_out
            progbar.update(step, {})
    progbar.finish({})
    return outputs
