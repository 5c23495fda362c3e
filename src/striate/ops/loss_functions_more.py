"""More of Keras 3's per-sample losses, each value beside its hand-written gradient with respect
to `y_pred` (`_per_sample` makes the Tensor): hinge, squared hinge, log-cosh, Poisson, mean
squared logarithmic error, mean absolute percentage error, cosine similarity. Means are over
the last axis, as Keras's."""

import numpy as np

from striate import backend
from striate.ops.loss_functions import _difference, _per_sample
from striate.ops.losses import _dense_targets
from striate.tensor import as_tensor


def _pred_and_targets(name, y_true, y_pred):
    y_pred = as_tensor(y_pred)
    pred = y_pred.data
    return y_pred, pred, _dense_targets(name, y_true, pred.shape, pred.dtype)


def _hinge_targets(t):
    """Keras's rule: labels all in {0, 1} become {-1, 1}; others are used as they are."""
    return 2 * t - 1 if np.all((t == 0) | (t == 1)) else t


# mean(max(1 - y p, 0)): d/dp = -y [1 - y p > 0] / n
def hinge(y_true, y_pred):
    y_pred, pred, t = _pred_and_targets("hinge", y_true, y_pred)
    t = _hinge_targets(t)
    margin = 1 - t * pred
    grad = -t * (margin > 0) / pred.shape[-1]
    return _per_sample("hinge", y_pred, np.maximum(margin, 0).mean(axis=-1), grad)


# mean(max(1 - y p, 0)^2): d/dp = -2 y max(1 - y p, 0) / n
def squared_hinge(y_true, y_pred):
    y_pred, pred, t = _pred_and_targets("squared_hinge", y_true, y_pred)
    t = _hinge_targets(t)
    margin = np.maximum(1 - t * pred, 0)
    grad = -2 * t * margin / pred.shape[-1]
    return _per_sample("squared_hinge", y_pred, (margin * margin).mean(axis=-1), grad)


# mean(x + softplus(-2x) - log 2), x = p - y: d/dp = tanh(x) / n
def log_cosh(y_true, y_pred):
    y_pred, e = _difference("log_cosh", y_true, y_pred)
    values = e + np.logaddexp(0, -2 * e) - np.log(2.0)
    return _per_sample("log_cosh", y_pred, values.mean(axis=-1), np.tanh(e) / e.shape[-1])


# mean(p - y log(p + eps)): d/dp = (1 - y / (p + eps)) / n
def poisson(y_true, y_pred):
    y_pred, pred, t = _pred_and_targets("poisson", y_true, y_pred)
    eps = backend.epsilon()
    values = (pred - t * np.log(pred + eps)).mean(axis=-1)
    return _per_sample("poisson", y_pred, values, (1 - t / (pred + eps)) / pred.shape[-1])


# mean((log(max(p, eps) + 1) - log(max(y, eps) + 1))^2): d/dp = 2 d / (p + 1) [p > eps] / n
def mean_squared_logarithmic_error(y_true, y_pred):
    name = "mean_squared_logarithmic_error"
    y_pred, pred, t = _pred_and_targets(name, y_true, y_pred)
    eps = backend.epsilon()
    clipped = np.maximum(pred, eps)
    d = np.log(clipped + 1) - np.log(np.maximum(t, eps) + 1)
    grad = 2 * d / (clipped + 1) * (pred > eps) / pred.shape[-1]
    return _per_sample(name, y_pred, (d * d).mean(axis=-1), grad)


# 100 mean(|y - p| / max(|y|, eps)): d/dp = 100 sign(p - y) / max(|y|, eps) / n
def mean_absolute_percentage_error(y_true, y_pred):
    name = "mean_absolute_percentage_error"
    y_pred, pred, t = _pred_and_targets(name, y_true, y_pred)
    scale = np.maximum(np.abs(t), backend.epsilon())
    values = 100 * (np.abs(t - pred) / scale).mean(axis=-1)
    grad = 100 * np.sign(pred - t) / scale / pred.shape[-1]
    return _per_sample(name, y_pred, values, grad)


# -sum(y_hat u), u = p / |p|, y_hat = y / |y| (norms at least sqrt(1e-12)):
# d/dp = -(y_hat - (y_hat . u) u) / |p|
def cosine_similarity(y_true, y_pred, axis=-1):
    name = "cosine_similarity"
    if axis != -1:
        raise ValueError(f"{name}: only axis=-1 is supported. Received: {axis=}")
    y_pred, pred, t = _pred_and_targets(name, y_true, y_pred)
    norm_p = np.sqrt(np.maximum((pred * pred).sum(axis=-1, keepdims=True), 1e-12))
    norm_t = np.sqrt(np.maximum((t * t).sum(axis=-1, keepdims=True), 1e-12))
    u, y_hat = pred / norm_p, t / norm_t
    dot = (y_hat * u).sum(axis=-1, keepdims=True)
    return _per_sample(name, y_pred, -dot[..., 0], -(y_hat - dot * u) / norm_p)
