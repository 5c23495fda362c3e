"""Where `fit`, `evaluate` and `predict` get their batches: the data checked and wrapped
(`source`: arrays on the fast path of `data_adapters.ArrayAdapter`, anything else as an
`Epochs` of checked batches), validation data and its schedule (`validation_freq`), and
inference's passes (`inference_batches`: a batch split in chunks that fit in cache).
"""

import math

import numpy as np

from striate.models import batches as adapt
from striate.models import data_adapters


def count(value, name, where, allow_none=True):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(
            f"{where}: {name} must be a positive int or None. Received: {name}={value!r}"
        )
    return int(value)


def source(model, x, y, sample_weight, batch_size, steps, where, need_y=True, cw=None):
    """The data as `(Epochs, LazyBatches)` for batches, or `(xs, ys, weights)` arrays."""
    if data_adapters.is_lazy(x):
        adapter = data_adapters.lazy_adapter(x)
        if y is not None or sample_weight is not None:
            raise ValueError(
                f"{where}: with data given as a {adapter.kind}, y and sample_weight come in "
                f"its batches (x, y, sample_weight), as in Keras. Received: y and/or "
                f"sample_weight as arguments too."
            )
        checker = adapt.LazyBatches(model, adapter, where, need_y, cw)
        if model.input_shape is None and not adapt.multi_input(model):
            checker.standardize(adapter.peek(), 0)  # builds the model from its first batch
        return data_adapters.Epochs(adapter, steps), checker
    return adapt.prepare_arrays(model, x, y, sample_weight, where, need_y)


def class_sample_weights(model, y, weight, cw, where):
    """The sample weights `class_weight` gives the labels `y` (Keras refuses both at once)."""
    if weight is not None:
        raise ValueError(
            f"{where}: class_weight and sample_weight cannot be used together (as in "
            f"Keras). Received: both."
        )
    labels = y[0] if isinstance(y, list) else y
    return adapt.weights_for_classes(labels, cw, model.float_type())


def split(value, cut):
    if value is None:
        return None, None
    if isinstance(value, list):
        return [v if v is None else v[:cut] for v in value], [
            v if v is None else v[cut:] for v in value
        ]
    return value[:cut], value[cut:]


def check_validation_freq(freq):
    if isinstance(freq, bool) or not (
        (isinstance(freq, (int, np.integer)) and freq >= 1)
        or (isinstance(freq, (list, tuple)) and all(isinstance(e, (int, np.integer)) for e in freq))
    ):
        raise ValueError(
            f"fit: validation_freq must be a positive int or a list of epochs (1-based). "
            f"Received: validation_freq={freq!r}"
        )


def should_validate(epoch, freq):
    """Keras's `_should_eval`: every `freq` epochs, or at the epochs (1-based) listed."""
    if isinstance(freq, (list, tuple)):
        return epoch + 1 in freq
    return (epoch + 1) % freq == 0


def validation(model, data, batch_size, steps):
    where = "fit (validation_data)"
    if data_adapters.is_lazy(data):
        return source(model, data, None, None, batch_size, steps, where) + (None,)
    if not isinstance(data, (tuple, list)) or len(data) not in (2, 3):
        raise ValueError(
            "fit: validation_data must be a tuple (x_val, y_val) or (x_val, y_val, "
            "sample_weight_val), or a generator or dataset of batches."
        )
    weight = data[2] if len(data) == 3 else None
    return source(model, data[0], data[1], weight, batch_size, steps, where) + (steps,)


def batches(model, x, batch_size, steps=None):
    """(step, start, inputs) for each forward pass of inference, in order: `step` is the
    number of the batch it belongs to (1-based, for progress). The inputs' buffer is reused,
    so use it before the next one is read (inference keeps no graph that could hold it).
    `x`: an array, or a list of arrays (one per input)."""
    from striate.models import training

    chunk = training._inference_chunk(model, batch_size)
    xs = x if isinstance(x, list) else [x]
    readers = [data_adapters.BatchReader(a, chunk, model.float_type()) for a in xs]
    n = len(xs[0])
    for start in range(0, n, batch_size):
        if steps is not None and start // batch_size >= steps:
            return
        stop = min(start + batch_size, n)
        for begin in range(start, stop, chunk):
            parts = [reader.read(start=begin, stop=min(begin + chunk, stop)) for reader in readers]
            yield (start // batch_size + 1, begin, parts if isinstance(x, list) else parts[0])


def inference_batches(model, data, batch_size):
    """(step, x, y, sample_weight) for each forward pass over `data` (from `_source`)."""
    if isinstance(data[0], data_adapters.Epochs):
        epochs, checker = data[0], data[1]
        for step, batch in epochs.epoch():
            yield (step + 1,) + checker.standardize(batch, step)
        return
    x, y, weight, steps = data
    for step, start, x_batch in batches(model, x, batch_size, steps):
        count = len(x_batch[0]) if isinstance(x_batch, list) else len(x_batch)
        rows = slice(start, start + count)
        if isinstance(y, list):
            y_batch = [v if v is None else v[rows] for v in y]
        else:
            y_batch = None if y is None else y[rows]
        yield step, x_batch, y_batch, data_adapters.take(weight, rows)


def total_steps(data, batch_size):
    if isinstance(data[0], data_adapters.Epochs):
        return data[0].steps
    x, steps = data[0], data[3]
    total = math.ceil(len(x[0] if isinstance(x, list) else x) / batch_size)
    return total if steps is None else min(total, steps)
