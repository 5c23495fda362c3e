"""More of Keras 3's metrics: the losses as metrics (cross-entropies, KL divergence, hinge),
RootMeanSquaredError, Sum, the confusion counts (TruePositives...), F1Score and MeanIoU.

The loss metrics are the mean over samples of the loss function of `striate.ops.loss_functions`
(the same formulas the losses train with, Keras's clipping included)."""

import numpy as np

from striate.metrics.base import Mean, MeanMetricWrapper, Metric, _array
from striate.metrics.confusion import _check_thresholds, _divide_no_nan, _weights
from striate.ops import loss_functions


def _loss_values(function):
    def values(y_true, y_pred, **options):
        return function(y_true, np.asarray(y_pred, np.float64), **options).data

    values.__name__ = function.__name__
    return values


class SparseCategoricalCrossentropy(MeanMetricWrapper):
    def __init__(self, name="sparse_categorical_crossentropy", dtype=None, from_logits=False):
        fn = _loss_values(loss_functions.sparse_categorical_crossentropy)
        super().__init__(fn, name, dtype, from_logits=from_logits)


class CategoricalCrossentropy(MeanMetricWrapper):
    def __init__(
        self, name="categorical_crossentropy", dtype=None, from_logits=False, label_smoothing=0
    ):
        fn = _loss_values(loss_functions.categorical_crossentropy)
        options = {"from_logits": from_logits, "label_smoothing": label_smoothing}
        super().__init__(fn, name, dtype, **options)


class BinaryCrossentropy(MeanMetricWrapper):
    def __init__(
        self, name="binary_crossentropy", dtype=None, from_logits=False, label_smoothing=0
    ):
        fn = _loss_values(loss_functions.binary_crossentropy)
        options = {"from_logits": from_logits, "label_smoothing": label_smoothing}
        super().__init__(fn, name, dtype, **options)


class KLDivergence(MeanMetricWrapper):
    def __init__(self, name="kl_divergence", dtype=None):
        super().__init__(_loss_values(loss_functions.kl_divergence), name, dtype)


class CategoricalHinge(MeanMetricWrapper):
    def __init__(self, name="categorical_hinge", dtype=None):
        super().__init__(_loss_values(loss_functions.categorical_hinge), name, dtype)


class RootMeanSquaredError(Mean):
    """sqrt of the (weighted) mean of the squared errors, over every value."""

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name, dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        error = np.square(_array(y_pred) - _array(y_true).reshape(np.shape(y_pred)))
        if sample_weight is not None:
            weight = np.broadcast_to(
                _array(sample_weight).reshape((-1,) + (1,) * (error.ndim - 1)), error.shape
            )
            self.total += float((error * weight).sum())
            self.count += float(weight.sum())
            return
        self.total += float(error.sum())
        self.count += error.size

    def result(self):
        return float(np.sqrt(super().result()))


class Sum(Metric):
    """The (weighted) sum of the values given."""

    def __init__(self, name="sum", dtype=None):
        super().__init__(name, dtype)
        self.reset_state()

    def reset_state(self):
        self.total = 0.0

    def update_state(self, values, sample_weight=None):
        values = _array(values).astype(np.float64)
        if sample_weight is not None:
            values = values * np.broadcast_to(_array(sample_weight), values.shape)
        self.total += float(values.sum())

    def result(self):
        return self.total


class _Count(Metric):
    """The (weighted) count of one cell of the confusion matrix at `thresholds`."""

    predicted, actual = True, True

    def __init__(self, thresholds=None, name=None, dtype=None):
        super().__init__(name, dtype)
        self.init_thresholds = thresholds
        self.thresholds = _check_thresholds(self, 0.5 if thresholds is None else thresholds)
        self.single = np.ndim(thresholds) == 0
        self.reset_state()

    def reset_state(self):
        self.counts = np.zeros(len(self.thresholds))

    def update_state(self, y_true, y_pred, sample_weight=None):
        truth = _array(y_true).reshape(-1).astype(bool) == self.actual
        pred = _array(y_pred).reshape(-1)
        weight = _weights(sample_weight, _array(y_pred)).reshape(-1)
        for i, threshold in enumerate(self.thresholds):
            hit = truth & ((pred > threshold) == self.predicted)
            self.counts[i] += float((weight * hit).sum())

    def result(self):
        return float(self.counts[0]) if self.single else self.counts.tolist()

    def get_config(self):
        return {"thresholds": self.init_thresholds, "name": self.name}


class TruePositives(_Count):
    def __init__(self, thresholds=None, name="true_positives", dtype=None):
        super().__init__(thresholds, name, dtype)


class FalsePositives(_Count):
    predicted, actual = True, False

    def __init__(self, thresholds=None, name="false_positives", dtype=None):
        super().__init__(thresholds, name, dtype)


class TrueNegatives(_Count):
    predicted, actual = False, False

    def __init__(self, thresholds=None, name="true_negatives", dtype=None):
        super().__init__(thresholds, name, dtype)


class FalseNegatives(_Count):
    predicted, actual = False, True

    def __init__(self, thresholds=None, name="false_negatives", dtype=None):
        super().__init__(thresholds, name, dtype)


class F1Score(Metric):
    """Keras's F1Score on (samples, classes) targets: per class 2 P R / (P + R), with
    `average` None (per class), 'micro', 'macro' or 'weighted'; predictions are one-hot of the
    argmax when `threshold` is None, else `y_pred > threshold`."""

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(name, dtype)
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError(
                f"F1Score: average must be None, 'micro', 'macro' or 'weighted'. "
                f"Received: average={average!r}"
            )
        self.average, self.threshold = average, threshold
        self.single = average is not None
        self.reset_state()

    def reset_state(self):
        self.tp = self.fp = self.fn = self.support = None

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _array(y_true).astype(np.float64), _array(y_pred)
        if self.threshold is None:
            pred = (y_pred == y_pred.max(axis=-1, keepdims=True)).astype(np.float64)
        else:
            pred = (y_pred > self.threshold).astype(np.float64)
        weight = 1.0
        if sample_weight is not None:
            weight = _array(sample_weight).reshape(-1, 1).astype(np.float64)
        parts = (
            (pred * y_true * weight).sum(0),
            (pred * (1 - y_true) * weight).sum(0),
            ((1 - pred) * y_true * weight).sum(0),
            (y_true * weight).sum(0),
        )
        if self.tp is None:
            self.tp, self.fp, self.fn, self.support = parts
        else:
            for total, part in zip((self.tp, self.fp, self.fn, self.support), parts):
                total += part

    def result(self):
        if self.tp is None:
            return 0.0 if self.single else []
        tp, fp, fn = self.tp, self.fp, self.fn
        if self.average == "micro":
            tp, fp, fn = tp.sum(), fp.sum(), fn.sum()
        precision = _divide_no_nan(tp, tp + fp)
        recall = _divide_no_nan(tp, tp + fn)
        f1 = _divide_no_nan(2 * precision * recall, precision + recall + 1e-7)
        if self.average == "weighted":
            return float(_divide_no_nan((f1 * self.support).sum(), self.support.sum()))
        if self.average == "macro":
            return float(np.mean(f1))
        return float(f1) if self.average == "micro" else np.asarray(f1).tolist()

    def get_config(self):
        return {"average": self.average, "threshold": self.threshold, "name": self.name}


class MeanIoU(Metric):
    """Mean over classes of intersection / union, from a confusion matrix of integer labels
    and predictions (`y_pred` the class index, or scores whose argmax is taken when it has
    one more axis than `y_true`), as Keras's MeanIoU."""

    def __init__(self, num_classes, name="mean_io_u", dtype=None, ignore_class=None):
        super().__init__(name, dtype)
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"MeanIoU: num_classes must be an int >= 2. Received: {num_classes!r}")
        self.num_classes, self.ignore_class = num_classes, ignore_class
        self.reset_state()

    def reset_state(self):
        self.matrix = np.zeros((self.num_classes, self.num_classes))

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _array(y_true), _array(y_pred)
        if y_pred.ndim == y_true.ndim + 1:
            y_pred = y_pred.argmax(axis=-1)
        truth, pred = y_true.reshape(-1).astype(int), y_pred.reshape(-1).astype(int)
        weight = np.ones(len(truth))
        if sample_weight is not None:  # one per sample, or one per label
            weight = _array(sample_weight).astype(np.float64)
            if weight.ndim == 1 and y_true.ndim > 1 and len(weight) == len(y_true):
                weight = weight.reshape((-1,) + (1,) * (y_true.ndim - 1))
            weight = np.broadcast_to(weight, y_true.shape).reshape(-1)
        if self.ignore_class is not None:
            keep = truth != self.ignore_class
            truth, pred, weight = truth[keep], pred[keep], weight[keep]
        np.add.at(self.matrix, (truth, pred), weight)

    def result(self):
        true_positives = np.diag(self.matrix)
        union = self.matrix.sum(0) + self.matrix.sum(1) - true_positives
        present = union > 0
        if not present.any():
            return 0.0
        return float((true_positives[present] / union[present]).mean())

    def get_config(self):
        return {
            "num_classes": self.num_classes,
            "name": self.name,
            "ignore_class": self.ignore_class,
        }
