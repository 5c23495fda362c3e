"""Metric objects with Keras 3's `update_state` / `result` / `reset_state`, the mean-based ones,
and the per-sample functions they average.

A metric keeps its running state in Python floats (float64) and NumPy arrays; `fit` and
`evaluate` update a fresh copy of each compiled metric batch by batch and log `result()`.
"""

import numpy as np

_sum = np.add.reduce


def _array(value):
    data = getattr(value, "data", value)
    return np.asarray(data)


def _rows(a):
    """`a` as (samples, everything else): works for an empty batch too."""
    return a.reshape(len(a), int(np.prod(a.shape[1:])))


def sparse_categorical_accuracy(y_true, y_pred):
    """1.0 where argmax(y_pred) equals the integer label, else 0.0 (one value per sample)."""
    return (np.argmax(y_pred, axis=-1) == y_true.reshape(len(y_true))).astype(np.float32)


def categorical_accuracy(y_true, y_pred):
    return (np.argmax(y_pred, axis=-1) == np.argmax(y_true, axis=-1)).astype(np.float32)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """Per sample, the share of `y_true == (y_pred > threshold)` (Keras 3)."""
    hits = (y_pred > threshold) == y_true.reshape(y_pred.shape)
    return _rows(hits).mean(axis=-1, dtype=np.float32)


def accuracy(y_true, y_pred):
    """Per sample, the share of entries where `y_true == y_pred` exactly (Keras's Accuracy)."""
    if y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
        y_true = y_true.reshape(y_true.shape[:-1])
    elif y_pred.ndim == y_true.ndim + 1 and y_pred.shape[-1] == 1:
        y_pred = y_pred.reshape(y_pred.shape[:-1])
    return _rows(y_true == y_pred).mean(axis=-1, dtype=np.float32)


def _in_top_k(labels, y_pred, k):
    """1.0 where the label's score is >= the k-th largest score (ties count, as Keras)."""
    if len(y_pred) == 0:
        return np.zeros(0, np.float32)
    k = min(k, y_pred.shape[-1])
    kth = np.partition(y_pred, -k, axis=-1)[:, -k]
    return (np.take_along_axis(y_pred, labels[:, None], -1)[:, 0] >= kth).astype(np.float32)


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    return _in_top_k(np.argmax(y_true, axis=-1), y_pred, k)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5):
    return _in_top_k(y_true.reshape(len(y_true)).astype(np.intp), y_pred, k)


def mean_absolute_error(y_true, y_pred):
    difference = np.abs(y_pred - y_true.reshape(y_pred.shape))
    return _rows(difference).mean(axis=-1)


def mean_squared_error(y_true, y_pred):
    difference = np.square(y_pred - y_true.reshape(y_pred.shape))
    return _rows(difference).mean(axis=-1)


class Metric:
    """Base: `update_state(...)` adds a batch, `result()` reads, `reset_state()` empties.
    Calling the metric updates it and returns the result (Keras)."""

    def __init__(self, name=None, dtype=None):
        self.name = name or type(self).__name__.lower()
        self.dtype = dtype

    def __call__(self, *args, **kwargs):
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self):
        return {"name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"{type(self).__name__}({self.get_config()})"


def _sample_weight(sample_weight, values):
    """Keras's reduce_to_samplewise_values for a weight per sample: (values, weights) (N,)."""
    weight = _array(sample_weight).astype(np.float64)
    if weight.ndim == 2 and weight.shape[-1] == 1:
        weight = weight.reshape(-1)
    if weight.ndim == 0:
        weight = np.full(len(values), float(weight))
    if weight.shape != (len(values),):
        raise ValueError(
            f"sample_weight must have one value per sample ({len(values)}). "
            f"Received: sample_weight.shape={weight.shape}"
        )
    return values * weight, weight


class Mean(Metric):
    """The (weighted) mean of the values given to `update_state(values, sample_weight)`."""

    def __init__(self, name="mean", dtype=None):
        super().__init__(name, dtype)
        self.reset_state()

    def reset_state(self):
        self.total = 0.0
        self.count = 0.0

    def update_state(self, values, sample_weight=None):
        self._add(_array(values), sample_weight)

    def _add(self, values, sample_weight=None):
        values = np.asarray(values)
        if values.ndim > 1:
            values = _rows(values).mean(axis=-1)
        if sample_weight is not None:
            values, weight = _sample_weight(sample_weight, values)
            self.total += float(_sum(values, axis=None))
            self.count += float(_sum(weight, axis=None))
            return
        self.total += float(_sum(values, axis=None))
        self.count += len(values) if values.ndim else 1

    def result(self):
        return self.total / self.count if self.count else 0.0


class MeanMetricWrapper(Mean):
    """The mean over samples of `function(y_true, y_pred, **options)` (one value per sample)."""

    def __init__(self, fn, name=None, dtype=None, **options):
        super().__init__(name or fn.__name__, dtype)
        self.fn = fn
        self.options = options

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _array(y_true), _array(y_pred)
        self._add(self.fn(y_true, y_pred, **self.options), sample_weight)

    def get_config(self):
        return {"name": self.name, **self.options}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class Accuracy(MeanMetricWrapper):
    def __init__(self, name="accuracy", dtype=None):
        super().__init__(accuracy, name, dtype)


class BinaryAccuracy(MeanMetricWrapper):
    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        super().__init__(binary_accuracy, name, dtype, threshold=threshold)


class CategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name, dtype)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name, dtype)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        super().__init__(top_k_categorical_accuracy, name, dtype, k=k)


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None):
        super().__init__(sparse_top_k_categorical_accuracy, name, dtype, k=k)


class MeanAbsoluteError(MeanMetricWrapper):
    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(mean_absolute_error, name, dtype)


class MeanSquaredError(MeanMetricWrapper):
    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(mean_squared_error, name, dtype)
