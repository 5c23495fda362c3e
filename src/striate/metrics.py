"""Metrics as per-sample functions on ndarrays; `fit` averages them over samples.

'acc' and 'accuracy' resolve, as in Keras, to the accuracy that fits the loss: binary for
binary cross-entropy, categorical for categorical cross-entropy (one-hot labels), else sparse
categorical (integer labels).
"""

import numpy as np

from striate._registry import lookup


def sparse_categorical_accuracy(y_true, y_pred):
    """1.0 where argmax(y_pred) equals the integer label, else 0.0 (one value per sample)."""
    return (np.argmax(y_pred, axis=-1) == y_true.reshape(len(y_true))).astype(np.float32)


def categorical_accuracy(y_true, y_pred):
    return (np.argmax(y_pred, axis=-1) == np.argmax(y_true, axis=-1)).astype(np.float32)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    hits = (y_pred > threshold) == (y_true.reshape(y_pred.shape) > threshold)
    return hits.reshape(len(hits), -1).mean(axis=-1, dtype=np.float32)


def mean_absolute_error(y_true, y_pred):
    difference = np.abs(y_pred - y_true.reshape(y_pred.shape))
    return difference.reshape(len(difference), -1).mean(axis=-1)


def mean_squared_error(y_true, y_pred):
    difference = np.square(y_pred - y_true.reshape(y_pred.shape))
    return difference.reshape(len(difference), -1).mean(axis=-1)


_BY_NAME = {
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
    "categorical_accuracy": categorical_accuracy,
    "binary_accuracy": binary_accuracy,
    "mean_absolute_error": mean_absolute_error,
    "mae": mean_absolute_error,
    "mean_squared_error": mean_squared_error,
    "mse": mean_squared_error,
    "acc": None,
    "accuracy": None,
}


def get(identifier, loss_name=None):
    """(log name, per-sample function) for a metric name or a function.

    'acc'/'accuracy' keep the name the user wrote (History keys follow it) and pick the accuracy
    that matches the loss.

    >>> get("acc", "sparse_categorical_crossentropy")[0]
    'acc'
    """
    if callable(identifier):
        return identifier.__name__, identifier
    function = lookup("metric", identifier, _BY_NAME)
    name = identifier.lower()
    if function is not None:
        return name, function
    if loss_name == "binary_crossentropy":
        return name, binary_accuracy
    if loss_name == "categorical_crossentropy":
        return name, categorical_accuracy
    return name, sparse_categorical_accuracy
