"""Keras-exact losses, each a scalar Tensor: the mean over the batch (and over any other axis).

Probabilities are handled as Keras 3 does on the torch backend: `p = y_pred / sum(y_pred)`, then
`p = clip(p, 1e-7, 1 - 1e-7)`, then `-log(p)`. The gradient through the clip is zero where the
value was clipped (torch.clip passes gradient only for min <= p <= max), so a sample whose
true-class probability is exactly 1.0, or under 1e-7, contributes no gradient.

`softmax_crossentropy` (`sigmoid_crossentropy`) computes a softmax (sigmoid) and a
cross-entropy after it as one op (the execution plan runs it when a model ending in that
activation is trained or evaluated with that loss: `striate.models.plan`), by the rule
`striate.backend.crossentropy_rule()` names: from the logits (default) or Keras 3's clip. The
two rules are written once, in `striate.ops.crossentropy`; this module checks the targets.
"""

import numpy as np

from striate import backend
from striate.ops import crossentropy as rules
from striate.ops.activations import sigmoid_probabilities, softmax_probabilities
from striate.tensor import Tensor, as_tensor

_sum = np.add.reduce  # the ufunc method: cheaper per call than np.sum (benchmarks/README.md)


def _array(value):
    return value.data if isinstance(value, Tensor) else np.asarray(value)


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

    Called on probabilities, this is always the clipped formula, whatever
    `striate.backend.crossentropy_rule()` says: there are no logits to compute from. A model
    that ends in a softmax is trained and evaluated through `softmax_crossentropy` instead,
    which follows the rule.

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
    if from_logits:
        return rules.sparse_from_logits(labels, y_pred, pred)[0]
    return rules.sparse_clipped(labels, y_pred, pred, through_softmax=False)


def categorical_crossentropy(y_true, y_pred, from_logits=False):
    """Mean of `-sum(y * log(clip(p)))` with `p = y_pred / sum(y_pred)` (Keras 3, torch backend).

    On probabilities always the clipped formula, as `sparse_categorical_crossentropy`.

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
    if from_logits:
        return rules.categorical_from_logits(t2, y_pred, pred)[0]
    return rules.categorical_clipped(t2, y_pred, pred, through_softmax=False)


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


def softmax_crossentropy(y_true, logits, sparse=True):
    """The cross-entropy of `softmax(logits)` as one op: `(loss, probabilities)`.

    The one place that decides how a cross-entropy after a softmax is computed (the execution
    plan runs it when a model ending in a softmax is trained or evaluated:
    `striate.models.plan`), by
    `striate.backend.crossentropy_rule()`:

    - 'logits' (default; tf.keras 2's and PyTorch's rule): from the logits, exact
      (log-sum-exp), no clip; the gradient is `(p - onehot) / N` (categorical:
      `(p * sum(y) - y) / N`) for every sample, however saturated its softmax.
    - 'keras3': the clipped loss above of `p = softmax(logits)`, and the gradient straight to
      the logits, the exact chain rule through normalisation, clip and softmax: sparse
      `mask * (p - onehot) / N`; categorical `(p * sum(y * mask) - y * mask) / N`, where
      `mask` marks the probabilities the clip left unchanged (`clip(p) == p`).

    The probabilities are `striate.ops.activations.softmax`'s, bit for bit, under both rules.

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
    z = logits.data
    exact = backend.crossentropy_rule() == "logits"
    if sparse:
        labels = _sparse_labels("sparse_categorical_crossentropy", y_true, z.shape)
        if exact:
            return rules.sparse_from_logits(labels, logits, z)
        probabilities = softmax_probabilities(z)
        return rules.sparse_clipped(labels, logits, probabilities, True), probabilities
    t2 = _categorical_targets(y_true, z)
    if exact:
        return rules.categorical_from_logits(t2, logits, z)
    probabilities = softmax_probabilities(z)
    return rules.categorical_clipped(t2, logits, probabilities, True), probabilities


def binary_crossentropy(y_true, y_pred, from_logits=False):
    """Mean of `-(y log p + (1 - y) log(1 - p))`, `p = clip(y_pred, 1e-7, 1 - 1e-7)`.

    On probabilities always the clipped formula, as `sparse_categorical_crossentropy`; a
    model that ends in a sigmoid is trained through `sigmoid_crossentropy`, which follows
    `striate.backend.crossentropy_rule()`.

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
    y_pred = as_tensor(y_pred)
    pred = y_pred.data
    t = _dense_targets("binary_crossentropy", y_true, pred.shape, pred.dtype)
    if from_logits:
        return rules.binary_from_logits(t, y_pred, pred)
    return rules.binary_clipped(t, y_pred, pred, through_sigmoid=False)


def sigmoid_crossentropy(y_true, logits):
    """The binary cross-entropy of `sigmoid(logits)` as one op: `(loss, probabilities)`, by
    `striate.backend.crossentropy_rule()`: 'logits' (default) computes it from the logits,
    `mean(max(z, 0) - z y + log1p(exp(-|z|)))`, gradient `(sigmoid(z) - y) / size`; 'keras3'
    is the clipped loss of `p = sigmoid(z)`, with the numbers of the two ops run one after the
    other. The probabilities are `striate.ops.activations.sigmoid`'s, bit for bit.

    >>> import numpy as np
    >>> loss, p = sigmoid_crossentropy(np.array([[1.0]]), Tensor(np.array([[np.log(3.0)]])))
    >>> round(float(loss.data), 4), p.round(2).tolist()
    (0.2877, [[0.75]])
    """
    logits = as_tensor(logits)
    z = logits.data
    t = _dense_targets("binary_crossentropy", y_true, z.shape, z.dtype)
    probabilities = sigmoid_probabilities(z)
    if backend.crossentropy_rule() == "logits":
        return rules.binary_from_logits(t, logits, z), probabilities
    return rules.binary_clipped(t, logits, probabilities, through_sigmoid=True), probabilities


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

    return Tensor.from_op(np.asarray(value / size, dtype=pred.dtype), (y_pred,), backward, name)
