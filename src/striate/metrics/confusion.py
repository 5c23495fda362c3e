"""Precision, Recall and AUC: counts of true/false positives/negatives at thresholds, as Keras 3.

A prediction is positive at threshold `t` when `y_pred > t`; a label is positive when it is
nonzero. AUC's thresholds are Keras's: `num_thresholds` evenly spaced in [0, 1] with the ends
moved to `-eps` and `1 + eps`, predictions clipped to [0, 1] and bucketed as Keras does
(`ceil(p (n - 1)) - 1`), and the area summed by Keras's rules (trapezoids, 'minoring',
'majoring'; for PR with interpolation, Davis & Goadrich's, as Keras).
"""

import numpy as np

from striate import backend
from striate.metrics.base import Metric, _array

NEG_INF = -1e10


def _divide_no_nan(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.divide(a, b, out=np.zeros(np.broadcast(a, b).shape), where=b != 0)


def _weights(sample_weight, y_true):
    if sample_weight is None:
        return np.ones(y_true.shape)
    weight = _array(sample_weight).astype(np.float64)
    while weight.ndim < y_true.ndim:
        weight = weight[..., None]
    return np.broadcast_to(weight, y_true.shape)


def _check_thresholds(owner, thresholds):
    values = np.atleast_1d(np.asarray(thresholds, np.float64))
    if values.ndim != 1 or not np.all((values >= 0) & (values <= 1)):
        raise ValueError(
            f"{owner}: thresholds must be in [0, 1]. Received: thresholds={thresholds!r}"
        )
    return values


class _PrecisionRecall(Metric):
    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(name, dtype)
        owner = type(self).__name__
        default = 0.5 if top_k is None else NEG_INF
        self.init_thresholds = thresholds
        self.thresholds = (
            np.array([default]) if thresholds is None else _check_thresholds(owner, thresholds)
        )
        self.single = len(self.thresholds) == 1  # Keras returns a number for one threshold
        self.top_k, self.class_id = top_k, class_id
        self.reset_state()

    def reset_state(self):
        self.true_positives = np.zeros(len(self.thresholds))
        self.false_positives = np.zeros(len(self.thresholds))
        self.false_negatives = np.zeros(len(self.thresholds))

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = _array(y_true).astype(np.float64)
        y_pred = _array(y_pred).astype(np.float64)
        if y_true.shape != y_pred.shape and y_true.size == y_pred.size:
            y_true = y_true.reshape(y_pred.shape)
        weight = _weights(sample_weight, y_true)
        if self.top_k is not None:
            kth = -np.sort(-y_pred, axis=-1)[..., self.top_k - 1 : self.top_k]
            if y_pred.shape[-1] and y_pred.size:
                y_pred = np.where(y_pred >= kth, y_pred, NEG_INF)
        if self.class_id is not None:
            y_true, y_pred = y_true[..., self.class_id], y_pred[..., self.class_id]
            weight = weight[..., self.class_id]
        positive = (y_true != 0).reshape(-1)
        weight = weight.reshape(-1)
        predicted = y_pred.reshape(1, -1) > self.thresholds[:, None]
        self.true_positives += (predicted & positive) @ weight
        self.false_positives += (predicted & ~positive) @ weight
        self.false_negatives += (~predicted & positive) @ weight

    def _value(self, result):
        return float(result[0]) if self.single else result

    def get_config(self):
        return {
            "name": self.name,
            "thresholds": self.init_thresholds,
            "top_k": self.top_k,
            "class_id": self.class_id,
        }


class Precision(_PrecisionRecall):
    """`tp / (tp + fp)` at each threshold (one number for one threshold; 0 with no positives)."""

    def __init__(self, thresholds=None, top_k=None, class_id=None, name="precision", dtype=None):
        super().__init__(thresholds, top_k, class_id, name, dtype)

    def result(self):
        tp = self.true_positives
        return self._value(_divide_no_nan(tp, tp + self.false_positives))


class Recall(_PrecisionRecall):
    """`tp / (tp + fn)` at each threshold (one number for one threshold; 0 with no positives)."""

    def __init__(self, thresholds=None, top_k=None, class_id=None, name="recall", dtype=None):
        super().__init__(thresholds, top_k, class_id, name, dtype)

    def result(self):
        tp = self.true_positives
        return self._value(_divide_no_nan(tp, tp + self.false_negatives))


class AUC(Metric):
    """Area under the ROC (default) or PR curve, from counts at `num_thresholds` thresholds
    (multi_label=False: every entry is one prediction)."""

    def __init__(
        self,
        num_thresholds=200,
        curve="ROC",
        summation_method="interpolation",
        name="auc",
        dtype=None,
        thresholds=None,
        from_logits=False,
    ):
        super().__init__(name, dtype)
        if curve not in ("ROC", "PR") or summation_method not in (
            "interpolation",
            "minoring",
            "majoring",
        ):
            raise ValueError(
                f"AUC: curve must be 'ROC' or 'PR' and summation_method 'interpolation', "
                f"'minoring' or 'majoring'. Received: {curve=}, {summation_method=}"
            )
        eps = backend.epsilon()
        if thresholds is not None:
            inner = sorted(_check_thresholds("AUC", thresholds).tolist())
            self.evenly = False
        else:
            if isinstance(num_thresholds, bool) or int(num_thresholds) != num_thresholds:
                raise ValueError(f"AUC: num_thresholds must be an int. Received: {num_thresholds=}")
            if num_thresholds <= 1:
                raise ValueError(f"AUC: num_thresholds must be > 1. Received: {num_thresholds=}")
            inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self.evenly = True
        self.thresholds = np.array([0.0 - eps] + inner + [1.0 + eps])
        self.num_thresholds = len(self.thresholds)
        self.init_thresholds = thresholds
        self.curve, self.summation_method = curve, summation_method
        self.from_logits = bool(from_logits)
        self.reset_state()

    def reset_state(self):
        n = self.num_thresholds
        self.true_positives, self.false_positives = np.zeros(n), np.zeros(n)
        self.true_negatives, self.false_negatives = np.zeros(n), np.zeros(n)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = _array(y_pred)
        y_true = _array(y_true).astype(np.float64)
        if self.from_logits:
            y_pred = 1 / (1 + np.exp(-y_pred))
        if y_true.shape != y_pred.shape and y_true.size == y_pred.size:
            y_true = y_true.reshape(y_pred.shape)
        weight = _weights(sample_weight, y_true).reshape(-1)
        y_pred = np.clip(y_pred, 0, 1).reshape(-1)
        positive = (y_true != 0).reshape(-1).astype(np.float64)
        true_w, false_w = positive * weight, (1 - positive) * weight
        n = self.num_thresholds
        if self.evenly:  # Keras's buckets: the count at threshold i sums buckets >= i
            buckets = np.maximum(np.ceil(y_pred * y_pred.dtype.type(n - 1)) - 1, 0)
            buckets = buckets.astype(np.intp)
            tp = np.bincount(buckets, true_w, n)[::-1].cumsum()[::-1]
            fp = np.bincount(buckets, false_w, n)[::-1].cumsum()[::-1]
        else:
            predicted = (y_pred[None, :] > self.thresholds[:, None]).astype(np.float64)
            tp, fp = predicted @ true_w, predicted @ false_w
        self.true_positives += tp
        self.false_positives += fp
        self.false_negatives += true_w.sum() - tp
        self.true_negatives += false_w.sum() - fp

    def _interpolate_pr_auc(self):
        tp, fp, fn = self.true_positives, self.false_positives, self.false_negatives
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = _divide_no_nan(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        both = (p[:-1] > 0) & (p[1:] > 0)
        ratio = np.where(both, _divide_no_nan(p[:-1], np.maximum(p[1:], 0)), 1.0)
        increment = _divide_no_nan(
            slope * (dtp + intercept * np.log(ratio)), np.maximum(tp[1:] + fn[1:], 0)
        )
        return float(increment.sum())

    def result(self):
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._interpolate_pr_auc()
        tp, fp = self.true_positives, self.false_positives
        recall = _divide_no_nan(tp, tp + self.false_negatives)
        if self.curve == "ROC":
            x, y = _divide_no_nan(fp, fp + self.true_negatives), recall
        else:
            x, y = recall, _divide_no_nan(tp, tp + fp)
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = np.minimum(y[:-1], y[1:])
        else:
            heights = np.maximum(y[:-1], y[1:])
        return float(((x[:-1] - x[1:]) * heights).sum())

    def get_config(self):
        return {
            "num_thresholds": self.num_thresholds,
            "curve": self.curve,
            "summation_method": self.summation_method,
            "name": self.name,
            "thresholds": self.init_thresholds,
            "from_logits": self.from_logits,
        }
