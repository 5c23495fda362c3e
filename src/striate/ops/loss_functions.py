"""Keras 3's loss functions, one value per sample, each a Tensor op with its gradient; and the
reduction (`reduce_losses`) Keras applies after them (sample weights, masks, 'sum', ...).

A function takes `y_true` (ndarray or Tensor, no gradient) and `y_pred` `(..., C)` and returns a
Tensor of shape `y_pred.shape[:-1]`: the last axis is averaged (summed for the cross-entropies,
KL divergence and hinge), as Keras does. Probabilities are clipped to `[eps, 1 - eps]`
(`striate.backend.epsilon()`, 1e-7) with no gradient where the clip bites (torch.clip's rule);
with `from_logits=True` the cross-entropies are computed from the logits, exactly (log-sum-exp,
softplus), with no clip. The batch-mean fast paths `fit` uses are in `striate.ops.losses`.
"""

import numpy as np

from striate.ops.crossentropy import _bounds
from striate.ops.losses import _array, _categorical_targets, _dense_targets, _sparse_labels
from striate.tensor import Tensor, as_tensor

REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)


def _per_sample(name, y_pred, values, grad):
    """Tensor of `values` (`y_pred.shape[:-1]`); backward maps g to `g[..., None] * grad`."""
    dtype = y_pred.data.dtype

    def backward(g):
        return (np.asarray(g, dtype=dtype)[..., None] * grad,)

    return Tensor.from_op(np.asarray(values, dtype=dtype), (y_pred,), backward, name)


def _softmax_parts(z):
    shifted = z - z.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    s = e.sum(axis=-1, keepdims=True)
    return e / s, shifted - np.log(s)


def _categorical(t, q, from_logits):
    """(loss per row, d loss / d q) of targets `t` for probabilities or logits `q` `(M, C)`."""
    if from_logits:
        p, log_p = _softmax_parts(q)
        return -(t * log_p).sum(axis=-1), p * t.sum(axis=-1, keepdims=True) - t
    lo, hi = _bounds(q.dtype)
    total = q.sum(axis=-1, keepdims=True)
    p = q / total
    clipped = np.clip(p, lo, hi)
    d_p = np.where((p >= lo) & (p <= hi), -t / clipped, 0)
    d_q = (d_p - (d_p * p).sum(axis=-1, keepdims=True)) / total
    return -(t * np.log(clipped)).sum(axis=-1), d_q


def _check_axis(name, axis):
    if axis != -1:
        raise ValueError(f"{name}: only axis=-1 (channels-last) is supported. Received: {axis=}")


def sparse_crossentropy_and_mask(y_true, y_pred, from_logits=False, ignore_class=None):
    """`(per-sample loss Tensor, mask or None)`: the mask marks labels not `ignore_class`."""
    name = "sparse_categorical_crossentropy"
    y_pred = as_tensor(y_pred)
    pred = y_pred.data
    if pred.ndim < 1:
        raise ValueError(f"{name}: y_pred needs a class axis. Received: y_pred.shape=()")
    y, valid = _array(y_true), None
    if ignore_class is not None:
        if y.ndim == pred.ndim and y.ndim and y.shape[-1] == 1:
            y = y.reshape(y.shape[:-1])
        valid = y != ignore_class
        y = np.where(valid, y, 0)
    labels = _sparse_labels(name, y, pred.shape)
    classes = pred.shape[-1]
    onehot = np.zeros((labels.size, classes), pred.dtype)
    onehot[np.arange(labels.size), labels] = 1
    values, grad = _categorical(onehot, pred.reshape(-1, classes), from_logits)
    if valid is not None:
        keep = valid.reshape(-1)
        values, grad = np.where(keep, values, 0), grad * keep[:, None]
        valid = valid.reshape(pred.shape[:-1])
    values = values.reshape(pred.shape[:-1])
    return _per_sample(name, y_pred, values, grad.reshape(pred.shape)), valid


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None, axis=-1):
    """Per-sample `-log p[label]` (Keras 3): 0 where the label is `ignore_class`."""
    _check_axis("sparse_categorical_crossentropy", axis)
    return sparse_crossentropy_and_mask(y_true, y_pred, from_logits, ignore_class)[0]


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Per-sample `-sum(y log p)`, targets smoothed to `y (1 - ls) + ls / C` (Keras 3)."""
    _check_axis("categorical_crossentropy", axis)
    y_pred = as_tensor(y_pred)
    pred = y_pred.data
    t = _categorical_targets(y_true, pred)
    if label_smoothing:
        t = t * (1.0 - label_smoothing) + label_smoothing / pred.shape[-1]
    values, grad = _categorical(t, pred.reshape(t.shape), from_logits)
    name = "categorical_crossentropy"
    return _per_sample(name, y_pred, values.reshape(pred.shape[:-1]), grad.reshape(pred.shape))


def _binary_elements(t, q, from_logits):
    """(element losses, d / d q, probabilities) of the binary cross-entropy."""
    if from_logits:
        p = 1.0 / (1.0 + np.exp(-q))
        values = np.maximum(q, 0) - q * t + np.log1p(np.exp(-np.abs(q)))
        return values, p - t, p
    lo, hi = _bounds(q.dtype)
    c = np.clip(q, lo, hi)
    values = -(t * np.log(c) + (1 - t) * np.log(1 - c))
    grad = np.where((q >= lo) & (q <= hi), (1 - t) / (1 - c) - t / c, 0)
    return values, grad, q


def _binary_targets(name, y_true, pred, label_smoothing):
    if pred.ndim < 1:
        raise ValueError(f"{name}: y_pred needs at least one axis. Received: y_pred.shape=()")
    t = _dense_targets(name, y_true, pred.shape, pred.dtype)
    if label_smoothing:
        t = t * (1.0 - label_smoothing) + 0.5 * label_smoothing
    return t


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Per-sample mean over the last axis of `-(y log p + (1 - y) log(1 - p))`, targets
    smoothed to `y (1 - ls) + ls / 2` (Keras 3)."""
    name = "binary_crossentropy"
    _check_axis(name, axis)
    y_pred = as_tensor(y_pred)
    pred = y_pred.data
    t = _binary_targets(name, y_true, pred, label_smoothing)
    values, grad, _ = _binary_elements(t, pred, from_logits)
    return _per_sample(name, y_pred, values.mean(axis=-1), grad / pred.shape[-1])


def binary_focal_crossentropy(
    y_true,
    y_pred,
    apply_class_balancing=False,
    alpha=0.25,
    gamma=2.0,
    from_logits=False,
    label_smoothing=0.0,
    axis=-1,
):
    """Per-sample mean of `w (1 - p_t)^gamma bce` with `p_t = y p + (1 - y)(1 - p)` and
    `w = y alpha + (1 - y)(1 - alpha)` when balancing (Keras 3). From logits, the bce is the
    exact softplus form (Keras clips `sigmoid(z)`: the two agree unless the clip bites)."""
    name = "binary_focal_crossentropy"
    _check_axis(name, axis)
    y_pred = as_tensor(y_pred)
    pred = y_pred.data
    t = _binary_targets(name, y_true, pred, label_smoothing)
    bce, d_bce, p = _binary_elements(t, pred, from_logits)
    p_t = t * p + (1 - t) * (1 - p)
    focal = np.power(1.0 - p_t, gamma)
    d_focal = -gamma * np.power(1.0 - p_t, gamma - 1.0) * (2 * t - 1)  # d focal / d p
    if from_logits:
        d_focal = d_focal * p * (1 - p)  # d p / d z
    values, grad = focal * bce, d_focal * bce + focal * d_bce
    if apply_class_balancing:
        weight = t * alpha + (1 - t) * (1 - alpha)
        values, grad = weight * values, weight * grad
    return _per_sample(name, y_pred, values.mean(axis=-1), grad / pred.shape[-1])


def _difference(name, y_true, y_pred):
    y_pred = as_tensor(y_pred)
    pred = y_pred.data
    if pred.ndim < 1:
        raise ValueError(f"{name}: y_pred needs at least one axis. Received: y_pred.shape=()")
    return y_pred, pred - _dense_targets(name, y_true, pred.shape, pred.dtype)


def mean_squared_error(y_true, y_pred):
    """Per-sample mean over the last axis of `(y_pred - y_true)^2`."""
    y_pred, e = _difference("mean_squared_error", y_true, y_pred)
    size = e.shape[-1]
    return _per_sample("mean_squared_error", y_pred, (e * e).mean(axis=-1), e * (2.0 / size))


def mean_absolute_error(y_true, y_pred):
    """Per-sample mean over the last axis of `|y_pred - y_true|`."""
    y_pred, e = _difference("mean_absolute_error", y_true, y_pred)
    size = e.shape[-1]
    return _per_sample("mean_absolute_error", y_pred, np.abs(e).mean(axis=-1), np.sign(e) / size)


def huber(y_true, y_pred, delta=1.0):
    """Per-sample mean of `e^2 / 2` where `|e| <= delta`, else `delta |e| - delta^2 / 2`."""
    y_pred, e = _difference("huber", y_true, y_pred)
    small = np.abs(e) <= delta
    values = np.where(small, 0.5 * e * e, delta * np.abs(e) - 0.5 * delta * delta)
    grad = np.where(small, e, delta * np.sign(e)) / e.shape[-1]
    return _per_sample("huber", y_pred, values.mean(axis=-1), grad)


def kl_divergence(y_true, y_pred):
    """Per-sample `sum(y log(y / p))`, both clipped to `[eps, 1]` (Keras 3)."""
    name = "kl_divergence"
    y_pred = as_tensor(y_pred)
    pred = y_pred.data
    lo = _bounds(pred.dtype)[0]
    t = np.clip(_dense_targets(name, y_true, pred.shape, pred.dtype), lo, 1)
    p = np.clip(pred, lo, 1)
    grad = np.where((pred >= lo) & (pred <= 1), -t / p, 0)
    return _per_sample(name, y_pred, (t * np.log(t / p)).sum(axis=-1), grad)


def categorical_hinge(y_true, y_pred):
    """Per-sample `max(max((1 - y) p) - sum(y p) + 1, 0)` (Keras 3)."""
    name = "categorical_hinge"
    y_pred = as_tensor(y_pred)
    pred = y_pred.data
    t = _dense_targets(name, y_true, pred.shape, pred.dtype)
    negatives = (1 - t) * pred
    top = negatives.argmax(axis=-1)[..., None]
    margin = np.take_along_axis(negatives, top, -1)[..., 0] - (t * pred).sum(axis=-1) + 1
    grad = -t
    np.put_along_axis(grad, top, np.take_along_axis(grad + 1 - t, top, -1), -1)
    grad = grad * (margin > 0)[..., None]
    return _per_sample(name, y_pred, np.maximum(margin, 0), grad)


def check_reduction(owner, reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(
            f"{owner}: reduction must be one of {list(REDUCTIONS)}. Received: {reduction=}"
        )
    return reduction


def _match_rank(weight, shape):
    """Keras's squeeze_or_expand_to_same_rank for a sample weight against values `shape`."""
    weight = np.asarray(weight)
    if weight.ndim == len(shape) + 1 and weight.shape[-1] == 1:
        weight = weight.reshape(weight.shape[:-1])
    while weight.ndim and weight.ndim < len(shape):
        weight = weight[..., None]
    return weight


def reduce_losses(values, sample_weight=None, mask=None, reduction="sum_over_batch_size"):
    """Keras 3's `reduce_weighted_values`: weight `values` (a Tensor) by `sample_weight` and by
    `mask` (for a mean, the valid entries weigh `total / valid`), then reduce: None/'none' (the
    weighted values), 'sum', 'sum_over_batch_size'/'mean' (sum / number of values, 0 when
    there are none), 'mean_with_sample_weight' (sum / sum of the sample weights)."""
    check_reduction("reduce_losses", reduction)
    v = values.data
    dtype = v.dtype
    weight = None if sample_weight is None else _match_rank(_array(sample_weight), v.shape)
    if mask is not None:
        mask = np.asarray(mask, bool)
        if reduction in ("mean", "sum_over_batch_size"):
            valid = mask.sum()
            mask = np.where(mask, mask.size / valid if valid else 0.0, 0.0)
        weight = mask if weight is None else _match_rank(weight, mask.shape) * mask
    weight = None if weight is None else np.broadcast_to(weight.astype(dtype), v.shape)
    weighted = v if weight is None else v * weight
    if reduction in (None, "none") or v.shape in ((), (0,)):
        scale, out = (1.0 if weight is None else weight), weighted

        def backward(g):
            return (np.asarray(g, dtype) * scale,)

        return Tensor.from_op(np.asarray(out, dtype), (values,), backward, "reduce_losses")
    total = weighted.sum()
    if reduction == "sum":
        divisor = 1.0
    elif reduction == "mean_with_sample_weight" and sample_weight is not None:
        divisor = float(np.sum(_array(sample_weight)))
    else:
        divisor = float(v.size)
    factor = 1.0 / divisor if divisor else 0.0

    def backward_reduced(g):
        scale = np.ones(v.shape, dtype) if weight is None else weight
        return (scale * dtype.type(float(g) * factor),)

    value = np.asarray(total * factor, dtype)
    return Tensor.from_op(value, (values,), backward_reduced, "reduce_losses")
