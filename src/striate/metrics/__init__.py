"""Metrics as objects (`update_state` / `result` / `reset_state`) with Keras 3's names, and the
per-sample functions behind the mean-based ones.

`compile(metrics=[...])` takes names, Metric objects or functions of `(y_true, y_pred)` that
return one value per sample. History keys follow the name: a metric object's `name`
('sparse_categorical_accuracy', 'auc', ...), or the string the user wrote. 'acc' and
'accuracy' resolve, as in Keras, to the accuracy that fits the loss: binary for binary
cross-entropy, categorical for categorical cross-entropy (one-hot labels), else sparse
categorical (integer labels).
"""

from striate._registry import lookup
from striate.metrics.base import (
    Accuracy,
    BinaryAccuracy,
    CategoricalAccuracy,
    Mean,
    MeanAbsoluteError,
    MeanMetricWrapper,
    MeanSquaredError,
    Metric,
    SparseCategoricalAccuracy,
    SparseTopKCategoricalAccuracy,
    TopKCategoricalAccuracy,
    binary_accuracy,
    categorical_accuracy,
    mean_absolute_error,
    mean_squared_error,
    sparse_categorical_accuracy,
    sparse_top_k_categorical_accuracy,
    top_k_categorical_accuracy,
)
from striate.metrics.confusion import AUC, Precision, Recall
from striate.metrics.more import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    CategoricalHinge,
    F1Score,
    FalseNegatives,
    FalsePositives,
    KLDivergence,
    MeanIoU,
    RootMeanSquaredError,
    SparseCategoricalCrossentropy,
    Sum,
    TrueNegatives,
    TruePositives,
)

_MORE = (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    CategoricalHinge,
    F1Score,
    FalseNegatives,
    FalsePositives,
    KLDivergence,
    RootMeanSquaredError,
    SparseCategoricalCrossentropy,
    Sum,
    TrueNegatives,
    TruePositives,
)

__all__ = [
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "CategoricalHinge",
    "F1Score",
    "FalseNegatives",
    "FalsePositives",
    "KLDivergence",
    "MeanIoU",
    "RootMeanSquaredError",
    "SparseCategoricalCrossentropy",
    "Sum",
    "TrueNegatives",
    "TruePositives",
    "AUC",
    "Accuracy",
    "BinaryAccuracy",
    "CategoricalAccuracy",
    "Mean",
    "MeanAbsoluteError",
    "MeanMetricWrapper",
    "MeanSquaredError",
    "Metric",
    "Precision",
    "Recall",
    "SparseCategoricalAccuracy",
    "SparseTopKCategoricalAccuracy",
    "TopKCategoricalAccuracy",
    "binary_accuracy",
    "categorical_accuracy",
    "get",
    "serialize",
    "mean_absolute_error",
    "mean_squared_error",
    "sparse_categorical_accuracy",
    "sparse_top_k_categorical_accuracy",
    "top_k_categorical_accuracy",
]

# Names a function stands behind (saving finds a compiled function's name here).
_BY_NAME = {
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
    "categorical_accuracy": categorical_accuracy,
    "binary_accuracy": binary_accuracy,
    "top_k_categorical_accuracy": top_k_categorical_accuracy,
    "sparse_top_k_categorical_accuracy": sparse_top_k_categorical_accuracy,
    "mean_absolute_error": mean_absolute_error,
    "mae": mean_absolute_error,
    "mean_squared_error": mean_squared_error,
    "mse": mean_squared_error,
    "acc": None,
    "accuracy": None,
}
# Metric classes by their Keras name (and class name, lower case).
_CLASSES = (
    Accuracy,
    BinaryAccuracy,
    CategoricalAccuracy,
    SparseCategoricalAccuracy,
    TopKCategoricalAccuracy,
    SparseTopKCategoricalAccuracy,
    MeanAbsoluteError,
    MeanSquaredError,
    Mean,
    Precision,
    Recall,
    AUC,
    *_MORE,
)
_CLASS_BY_NAME = {cls().name: cls for cls in _CLASSES}
_CLASS_BY_NAME.update({"mean_io_u": MeanIoU, "meaniou": MeanIoU})
_CLASS_BY_NAME.update({cls.__name__.lower(): cls for cls in _CLASSES})
_CLASS_BY_NAME.update({"mae": MeanAbsoluteError, "mse": MeanSquaredError})
_ACCURACY_FOR_LOSS = {
    "binary_crossentropy": BinaryAccuracy,
    "binary_focal_crossentropy": BinaryAccuracy,
    "categorical_crossentropy": CategoricalAccuracy,
}


def get(identifier, loss_name=None):
    """(log name, Metric) for a metric name, a Metric object or a per-sample function.

    'acc'/'accuracy' keep the name the user wrote (History keys follow it) and pick the accuracy
    that matches the loss (`loss_name`: the loss's registered name).

    >>> name, metric = get("acc", "sparse_categorical_crossentropy")
    >>> name, type(metric).__name__
    ('acc', 'SparseCategoricalAccuracy')
    """
    if isinstance(identifier, Metric):
        if not getattr(identifier, "single", True):
            raise ValueError(
                f"compile: {identifier!r} gives several values (one per threshold or class), "
                f"and fit logs one number per metric; compile one metric per threshold, e.g. "
                f"Precision(thresholds=0.3, name='precision_at_0.3'), or an averaged one, "
                f"e.g. F1Score(average='macro')."
            )
        return identifier.name, identifier
    if isinstance(identifier, dict):  # `serialize`'s form, by registered class name only
        cls = lookup("metric", identifier.get("class_name"), _CLASS_BY_NAME)
        return get(cls.from_config(dict(identifier.get("config") or {})), loss_name)
    if callable(identifier):
        return identifier.__name__, MeanMetricWrapper(identifier)
    names = dict.fromkeys(_BY_NAME) | dict.fromkeys(_CLASS_BY_NAME)
    lookup("metric", identifier, names)
    name = identifier.lower()
    if name in ("acc", "accuracy"):
        cls = _ACCURACY_FOR_LOSS.get(loss_name, SparseCategoricalAccuracy)
        return name, cls(name=name)
    return name, _CLASS_BY_NAME[name](name=name)


def saving_identifier(identifier):
    """What `compile` keeps for saving: a Metric object with its class's default settings is
    kept as its name (a file names metrics by name), anything else as given."""
    if isinstance(identifier, Metric):
        cls = _CLASS_BY_NAME.get(identifier.name)
        if type(identifier) is cls and cls().get_config() == identifier.get_config():
            return identifier.name
    return identifier


def serialize(metric):
    """`{'class_name', 'config'}` of a Metric object of a registered class (`get` reads it)."""
    return {"class_name": type(metric).__name__, "config": metric.get_config()}
