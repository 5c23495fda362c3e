"""Keras-exact losses, each a scalar Tensor: the mean over the batch (and over any other axis).

Probabilities are handled as Keras 3 does on the torch backend: `p = y_pred / sum(y_pred)`, then
`p = clip(p, 1e-7, 1 - 1e-7)`, then `-log(p)`. The gradient through the clip is zero where the
value was clipped (torch.clip passes gradient only for min <= p <= max), so a sample whose
true-class probability is exactly 1.0, or under 1e-7, contributes no gradient.

`softmax_crossentropy` computes a softmax and a cross-entropy after it as one op (the execution
plan runs it when a model ending in softmax is trained with a cross-entropy: `striate.plan`).
"""

import numpy as np

from striate import backend
from striate.ops.activations import softmax_probabilities
from striate.tensor import Tensor, as_tensor

_sum = np.add.reduce  # the ufunc method: ~1 us where np.sum / .sum() cost several on small arrays


def _clip(a, lo, hi):
    return np.minimum(np.maximum(a, lo), hi)  # np.clip's Python wrapper costs ~5 us


def _array(value):
    return value.data if isinstance(value, Tensor) else np.asarray(value)


_BOUNDS = {}


def _bounds(dtype):
    """(eps, 1 - eps) as `dtype` scalars, cached (they are made every step otherwise)."""
    eps = backend.epsilon()
    key = (dtype, eps)
    if key not in _BOUNDS:
        _BOUNDS[key] = (dtype.type(eps), dtype.type(1.0 - eps))
    return _BOUNDS[key]


def _scalar(value, dtype):
    return np.asarray(value, dtype=dtype)


def _mismatch(name, y_true, pred_shape, expected):
    if y_true.ndim and len(pred_shape) and y_true.shape[0] != pred_shape[0]:
        what = f"y_true has {y_true.shape[0]} samples but y_pred has {pred_shape[0]}"
    else:
        what = f"y_true must have shape {expected}"
    return ValueError(
        f"{name}: {what}. Received: y_true.shape={y_true.shape}, y_pred.shape={pred_shape}"
    )


def _sparse_labels(name, y_true, pred_shape):
    """Validate integer labels for predictions `(..., C)`; return them flat (M,)."""
    y = _array(y_true)
    lead, classes = pred_shape[:-1], pred_shape[-1]
    if y.shape == pred_shape and classes > 1:
        raise ValueError(
            f"{name}: received one-hot labels of shape {y.shape}; use "
            f"loss='categorical_crossentropy' or pass integer class labels of shape {lead}."
        )
    if y.ndim == len(pred_shape) and y.ndim and y.shape[-1] == 1:
        y = y.reshape(y.shape[:-1])
    if y.shape != lead:
        raise _mismatch(name, y, pred_shape, lead)
    if y.dtype.kind == "b":
        y = y.astype(np.intp)
    elif y.dtype.kind == "f":
        as_int = y.astype(np.intp)
        wrong = as_int != y
        if wrong.any():
            position = np.flatnonzero(wrong)[0]
            raise ValueError(
                f"{name}: labels must be integer class indices; found {y.reshape(-1)[position]} "
                f"at index {_index(position, y.shape)}."
            )
        y = as_int
    elif y.dtype.kind not in "iu":
        raise TypeError(
            f"{name}: labels must be integer class indices. Received: y_true.dtype={y.dtype}"
        )
    if y.size and (
        np.maximum.reduce(y, axis=None) >= classes
        or (y.dtype.kind == "i" and np.minimum.reduce(y, axis=None) < 0)
    ):
        flat = y.reshape(-1)
        position = np.flatnonzero((flat < 0) | (flat >= classes))[0]
        raise ValueError(
            f"{name}: label {flat[position]} at index {_index(position, y.shape)} is out of "
            f"range for {classes} classes (expected 0..{classes - 1})."
        )
    return y.reshape(-1)


def _index(flat_position, shape):
    if len(shape) <= 1:
        return int(flat_position)
    return tuple(int(i) for i in np.unravel_index(flat_position, shape))


def _dense_targets(name, y_true, pred_shape, dtype):
    """Targets with the shape of `y_pred` (a trailing axis of 1 may be added or dropped)."""
    y = _array(y_true)
    if y.shape != pred_shape:
        if y.shape + (1,) == pred_shape or y.shape == pred_shape + (1,):
            y = y.reshape(pred_shape)
        else:
            raise _mismatch(name, y, pred_shape, pred_shape)
    return y.astype(dtype, copy=False)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False):
    """Mean of `-log(clip(p[label]))` with `p = y_pred / sum(y_pred)` (Keras 3, torch backend).

    Args:
        y_true: integer class labels `(N,)` or `(N, 1)` (ndarray or Tensor).
        y_pred: Tensor `(N, C)` of probabilities, or of logits if `from_logits`.
        from_logits: treat `y_pred` as logits (a log-softmax, no clip).

    Returns:
        Scalar Tensor in the dtype of `y_pred`.

    >>> import numpy as np
    >>> p = Tensor(np.array([[0.0, 1.0], [0.5, 0.5]], dtype=np.float32))
    >>> round(float(sparse_categorical_crossentropy(np.array([0, 1]), p).data), 3)
    8.406
    """
    name = "sparse_categorical_crossentropy"
    y_pred = as_tensor(y_pred)
    pred = y_pred.data
    if pred.ndim < 1:
        raise ValueError(f"{name}: y_pred needs a class axis. Received: y_pred.shape=()")
    labels = _sparse_labels(name, y_true, pred.shape)
    if not from_logits:
        return _sparse_clipped(labels, y_pred, pred, through_softmax=False)
    p2 = pred.reshape(-1, pred.shape[-1])
    count = p2.shape[0]
    rows = np.arange(count)
    shifted = p2 - np.maximum.reduce(p2, axis=1, keepdims=True)
    exp = np.exp(shifted)
    total = _sum(exp, axis=1)
    value = _sum(np.log(total)) - _sum(shifted[rows, labels])

    def backward(g):
        d = exp / total[:, None]
        d[rows, labels] -= 1
        d *= float(g) / count
        return (d.reshape(pred.shape),)  # dL/dz = (softmax(z) - onehot) / N

    return Tensor.from_op(_scalar(value / count, pred.dtype), (y_pred,), backward, name)


def _sparse_clipped(labels, parent, pred, through_softmax):
    """Keras 3's clipped sparse cross-entropy of probabilities `pred`; the gradient goes to
    `parent`: `pred` itself, or the logits `pred` is the softmax of (`through_softmax`)."""
    classes = pred.shape[-1]
    p2 = pred.reshape(-1, classes)
    count = p2.shape[0]
    rows = np.arange(count)
    dtype = pred.dtype
    lo, hi = _bounds(dtype)
    total = _sum(p2, axis=1)
    p_true = p2[rows, labels]
    p_true /= total
    clipped = _clip(p_true, lo, hi)
    value = -_sum(np.log(clipped))
    name = "sparse_categorical_crossentropy"
    if through_softmax:

        def fused_backward(g):
            # mask: torch.clip passes gradient only where lo <= p <= hi, i.e. where clip kept p
            coef = np.multiply(clipped == p_true, float(g) / count, dtype=dtype)
            d = p2 * (coef / total)[:, None]
            d[rows, labels] -= coef
            return (d.reshape(pred.shape),)  # dL/dz = mask * (p - onehot) / N

        return Tensor.from_op(_scalar(value / count, dtype), (parent,), fused_backward, name)

    def backward(g):
        coef = np.multiply(clipped == p_true, float(g) / count, dtype=dtype)
        coef /= total
        d = np.empty_like(p2)
        d[:] = coef[:, None]
        d[rows, labels] -= coef / clipped
        return (d.reshape(pred.shape),)  # dL/dy_j = mask / (N S) * (1 - [j == label] / p_label)

    return Tensor.from_op(_scalar(value / count, dtype), (parent,), backward, name)


def categorical_crossentropy(y_true, y_pred, from_logits=False):
    """Mean of `-sum(y * log(clip(p)))` with `p = y_pred / sum(y_pred)` (Keras 3, torch backend).

    Args:
        y_true: one-hot or soft targets `(N, C)` (ndarray or Tensor).
        y_pred: Tensor `(N, C)` of probabilities, or of logits if `from_logits`.
        from_logits: treat `y_pred` as logits (a log-softmax, no clip).

    Returns:
        Scalar Tensor in the dtype of `y_pred`.

    >>> import numpy as np
    >>> p = Tensor(np.array([[0.25, 0.75]]))
    >>> round(float(categorical_crossentropy(np.array([[0.0, 1.0]]), p).data), 4)
    0.2877
    """
    y_pred = as_tensor(y_pred)
    pred = y_pred.data
    t2 = _categorical_targets(y_true, pred)
    if not from_logits:
        return _categorical_clipped(t2, y_pred, pred, through_softmax=False)
    p2 = pred.reshape(-1, pred.shape[-1])
    count = p2.shape[0]
    shifted = p2 - np.maximum.reduce(p2, axis=1, keepdims=True)
    exp = np.exp(shifted)
    total = _sum(exp, axis=1, keepdims=True)
    log_p = shifted - np.log(total)
    value = -_sum(t2 * log_p, axis=None)

    def backward(g):
        d = exp / total
        d *= _sum(t2, axis=1, keepdims=True)
        d -= t2
        d *= float(g) / count
        return (d.reshape(pred.shape),)  # dL/dz = (softmax(z) * sum(y) - y) / N

    name = "categorical_crossentropy"
    return Tensor.from_op(_scalar(value / count, pred.dtype), (y_pred,), backward, name)


def _categorical_targets(y_true, pred):
    """Validate targets for predictions `(..., C)`; return them as `(M, C)` in pred's dtype."""
    name = "categorical_crossentropy"
    if pred.ndim < 1:
        raise ValueError(f"{name}: y_pred needs a class axis. Received: y_pred.shape=()")
    raw = _array(y_true)
    classes = pred.shape[-1]
    if classes > 1 and raw.shape in (pred.shape[:-1], pred.shape[:-1] + (1,)):
        raise ValueError(
            f"{name}: received integer class labels of shape {raw.shape} for predictions of "
            f"shape {pred.shape}; use loss='sparse_categorical_crossentropy' or one-hot encode "
            f"the labels to shape {pred.shape}."
        )
    if raw.shape != pred.shape:
        raise _mismatch(name, raw, pred.shape, pred.shape)
    return raw.astype(pred.dtype, copy=False).reshape(-1, classes)


def _categorical_clipped(t2, parent, pred, through_softmax):
    """Keras 3's clipped categorical cross-entropy of probabilities `pred` for targets `t2`
    (N, C); the gradient goes to `parent`, as in `_sparse_clipped`."""
    dtype = pred.dtype
    p2 = pred.reshape(-1, pred.shape[-1])
    count = p2.shape[0]
    lo, hi = _bounds(dtype)
    total = _sum(p2, axis=1, keepdims=True)
    p = p2 / total
    clipped = _clip(p, lo, hi)
    value = -_sum(t2 * np.log(clipped), axis=None)

    def backward(g):
        # y * mask: the clip passes gradient only for lo <= p <= hi
        tm = np.multiply(t2, clipped == p)
        c = _sum(tm, axis=1, keepdims=True)
        scale = float(g) / count
        if through_softmax:
            d = p * c
            d -= tm
            d *= scale
            return (d.reshape(pred.shape),)  # dL/dz = (p * sum(y mask) - y mask) / N
        d = tm / clipped
        np.subtract(c, d, out=d)
        d *= scale
        d /= total
        return (d.reshape(pred.shape),)  # dL/dy = (sum(y mask) - y mask / p) / (N S)

    name = "categorical_crossentropy"
    return Tensor.from_op(_scalar(value / count, dtype), (parent,), backward, name)


def softmax_crossentropy(y_true, logits, sparse=True):
    """The cross-entropy of `softmax(logits)` as one op: `(loss, probabilities)`.

    The one place that decides how a cross-entropy after a softmax is computed (the execution
    plan runs it: `striate.plan`). The rule is Keras 3's: the value is the clipped loss above
    of `p = softmax(logits)` (exactly `striate.ops.activations.softmax`'s), and the gradient
    goes straight to the logits, the exact chain rule through normalisation, clip and softmax:
    sparse `mask * (p - onehot) / N`; categorical `(p * sum(y * mask) - y * mask) / N`, where
    `mask` marks the probabilities the clip left unchanged (`clip(p) == p`).

    Args:
        y_true: labels (sparse) or targets (categorical), as the two losses above take them.
        logits: Tensor `(..., C)`, the softmax's input (the softmax runs over the last axis).
        sparse: True for `sparse_categorical_crossentropy`, False for `categorical_...`.

    Returns:
        (scalar loss Tensor whose parent is `logits`, the probabilities as an ndarray).

    >>> import numpy as np
    >>> loss, p = softmax_crossentropy(np.array([1]), Tensor(np.array([[0.0, np.log(3.0)]])))
    >>> round(float(loss.data), 4), p.round(2).tolist()
    (0.2877, [[0.25, 0.75]])
    """
    logits = as_tensor(logits)
    probabilities = softmax_probabilities(logits.data)
    if sparse:
        labels = _sparse_labels("sparse_categorical_crossentropy", y_true, probabilities.shape)
        return _sparse_clipped(labels, logits, probabilities, True), probabilities
    t2 = _categorical_targets(y_true, probabilities)
    return _categorical_clipped(t2, logits, probabilities, True), probabilities


def binary_crossentropy(y_true, y_pred, from_logits=False):
    """Mean of `-(y log p + (1 - y) log(1 - p))`, `p = clip(y_pred, 1e-7, 1 - 1e-7)`.

    Args:
        y_true: targets in [0, 1], the shape of `y_pred` (a trailing axis of 1 may differ).
        y_pred: Tensor of probabilities, or of logits if `from_logits`.
        from_logits: apply the sigmoid inside, stably, with no clip.

    Returns:
        Scalar Tensor in the dtype of `y_pred` (the mean over the last axis, then the batch).

    >>> import numpy as np
    >>> p = Tensor(np.array([[0.5], [0.5]]))
    >>> round(float(binary_crossentropy(np.array([0, 1]), p).data), 4)
    0.6931
    """
    name = "binary_crossentropy"
    y_pred = as_tensor(y_pred)
    pred = y_pred.data
    dtype = pred.dtype
    t = _dense_targets(name, y_true, pred.shape, dtype)
    size = pred.size

    if from_logits:
        # max(z, 0) - z y + log(1 + exp(-|z|))
        e = np.exp(-np.abs(pred))
        elementwise = np.log1p(e)
        elementwise += np.maximum(pred, 0)
        elementwise -= pred * t
        value = _sum(elementwise, axis=None)

        def backward(g):
            s = np.where(pred >= 0, 1, e) / (1 + e)  # sigmoid(z) from exp(-|z|)
            s -= t
            s *= float(g) / size
            return (s.astype(dtype, copy=False),)  # dL/dz = (sigmoid(z) - y) / size

        return Tensor.from_op(_scalar(value / size, dtype), (y_pred,), backward, name)

    lo, hi = _bounds(dtype)
    o = _clip(pred, lo, hi)
    elementwise = t * np.log(o)
    elementwise += (1 - t) * np.log1p(-o)
    value = -_sum(elementwise, axis=None)

    def backward(g):
        d = o - t
        d /= o * (1 - o)
        d *= np.multiply(o == pred, float(g) / size, dtype=dtype)  # zero where clipped
        return (d,)  # dL/dp = mask * (p - y) / (p (1 - p)) / size

    return Tensor.from_op(_scalar(value / size, dtype), (y_pred,), backward, name)


def mean_squared_error(y_true, y_pred):
    """Mean of `(y_pred - y_true)^2` over the last axis, then the batch.

    Args:
        y_true: targets, the shape of `y_pred` (a trailing axis of 1 may differ).
        y_pred: Tensor.

    Returns:
        Scalar Tensor in the dtype of `y_pred`.

    >>> import numpy as np
    >>> float(mean_squared_error(np.array([[1.0, 2.0]]), Tensor(np.array([[1.0, 4.0]]))).data)
    2.0
    """
    name = "mean_squared_error"
    y_pred = as_tensor(y_pred)
    pred = y_pred.data
    diff = pred - _dense_targets(name, y_true, pred.shape, pred.dtype)
    size = pred.size
    value = np.vdot(diff, diff) if diff.flags.c_contiguous else _sum(diff * diff, axis=None)

    def backward(g):
        return (diff * (2.0 * float(g) / size),)  # dL/dp = 2 (p - y) / size

    return Tensor.from_op(_scalar(value / size, pred.dtype), (y_pred,), backward, name)
