"""The two rules of the cross-entropies, each written once; `striate.ops.losses` validates the
targets and chooses the rule (`striate.backend.crossentropy_rule`).

- Clipped (Keras 3, torch backend): from probabilities `p`, normalised `p / sum(p)` (the
  categorical ones) and clipped to `[1e-7, 1 - 1e-7]`, then `-log`. The gradient through the
  clip is zero where the value was clipped (torch.clip passes gradient only for
  min <= p <= max), so a sample whose true-class probability is exactly 1.0, or under 1e-7,
  contributes no gradient. With `through_softmax` / `through_sigmoid` the gradient goes to the
  logits the probabilities came from, by the chain rule through normalisation, clip and
  activation.
- From logits (tf.keras 2 after a softmax or sigmoid, PyTorch's `cross_entropy` and
  `binary_cross_entropy_with_logits`): exact, shifted by the maximum (log-sum-exp), no clip;
  every sample has a gradient, `p - onehot`.

Each function takes validated arrays: `parent` is the Tensor the gradient goes to, `pred` or
`logits` its data (or the probabilities computed from it).
"""

import numpy as np

from striate import backend
from striate.tensor import Tensor

_sum = np.add.reduce  # the ufunc method: cheaper per call than np.sum (benchmarks/README.md)


def _clip(a, lo, hi):
    return np.minimum(np.maximum(a, lo), hi)  # cheaper per call than np.clip (benchmarks/README.md)


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


# ----------------------------------------------------------------------------- sparse


def sparse_clipped(labels, parent, pred, through_softmax):
    """Keras 3's clipped sparse cross-entropy of probabilities `pred` for flat integer
    `labels`; the gradient goes to `parent`: `pred` itself, or the logits `pred` is the
    softmax of (`through_softmax`)."""
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


def sparse_from_logits(labels, parent, logits):
    """`(loss, softmax(logits))`: the mean of `logsumexp(z) - z[label]`, exact; gradient
    `(softmax(z) - onehot) / N` to `parent`. The probabilities are
    `striate.ops.activations.softmax`'s, bit for bit."""
    p2 = logits.reshape(-1, logits.shape[-1])
    count = p2.shape[0]
    rows = np.arange(count)
    shifted = p2 - np.maximum.reduce(p2, axis=1, keepdims=True)
    probabilities = np.exp(shifted)
    total = _sum(probabilities, axis=1)
    value = _sum(np.log(total)) - _sum(shifted[rows, labels])
    probabilities /= total[:, None]

    def backward(g):
        d = probabilities.copy()
        d[rows, labels] -= 1
        d *= float(g) / count
        return (d.reshape(logits.shape),)  # dL/dz = (softmax(z) - onehot) / N

    name = "sparse_categorical_crossentropy"
    loss = Tensor.from_op(_scalar(value / count, logits.dtype), (parent,), backward, name)
    return loss, probabilities.reshape(logits.shape)


# ----------------------------------------------------------------------------- categorical


def categorical_clipped(t2, parent, pred, through_softmax):
    """Keras 3's clipped categorical cross-entropy of probabilities `pred` for targets `t2`
    (N, C); the gradient goes to `parent`, as in `sparse_clipped`."""
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


def categorical_from_logits(t2, parent, logits):
    """`(loss, softmax(logits))`: the mean of `-sum(y * log_softmax(z))`, exact; gradient
    `(softmax(z) * sum(y) - y) / N` to `parent`."""
    p2 = logits.reshape(-1, logits.shape[-1])
    count = p2.shape[0]
    shifted = p2 - np.maximum.reduce(p2, axis=1, keepdims=True)
    probabilities = np.exp(shifted)
    total = _sum(probabilities, axis=1, keepdims=True)
    log_p = shifted - np.log(total)
    value = -_sum(t2 * log_p, axis=None)
    probabilities /= total

    def backward(g):
        d = probabilities * _sum(t2, axis=1, keepdims=True)
        d -= t2
        d *= float(g) / count
        return (d.reshape(logits.shape),)  # dL/dz = (softmax(z) * sum(y) - y) / N

    name = "categorical_crossentropy"
    loss = Tensor.from_op(_scalar(value / count, logits.dtype), (parent,), backward, name)
    return loss, probabilities.reshape(logits.shape)


# ----------------------------------------------------------------------------- binary


def binary_clipped(t, parent, pred, through_sigmoid):
    """Keras 3's `-(y log p + (1 - y) log(1 - p))` with `p = clip(pred, 1e-7, 1 - 1e-7)`,
    the mean over all entries; zero gradient where clipped. With `through_sigmoid`, `pred` is
    `sigmoid(parent)` and the gradient goes on through the sigmoid, in the order the two ops
    run one after the other (the same numbers)."""
    dtype = pred.dtype
    size = pred.size
    lo, hi = _bounds(dtype)
    o = _clip(pred, lo, hi)
    elementwise = t * np.log(o)
    elementwise += (1 - t) * np.log1p(-o)
    value = -_sum(elementwise, axis=None)

    def backward(g):
        d = o - t
        d /= o * (1 - o)
        d *= np.multiply(o == pred, float(g) / size, dtype=dtype)  # zero where clipped
        if through_sigmoid:
            return (d * pred * (1 - pred),)  # dL/dz = dL/dp * p (1 - p)
        return (d,)  # dL/dp = mask * (p - y) / (p (1 - p)) / size

    name = "binary_crossentropy"
    return Tensor.from_op(_scalar(value / size, dtype), (parent,), backward, name)


def binary_from_logits(t, parent, logits):
    """The mean of `max(z, 0) - z y + log(1 + exp(-|z|))`, exact; gradient
    `(sigmoid(z) - y) / size` to `parent`."""
    dtype = logits.dtype
    size = logits.size
    e = np.exp(-np.abs(logits))
    elementwise = np.log1p(e)
    elementwise += np.maximum(logits, 0)
    elementwise -= logits * t
    value = _sum(elementwise, axis=None)

    def backward(g):
        s = np.where(logits >= 0, 1, e) / (1 + e)  # sigmoid(z) from exp(-|z|)
        s -= t
        s *= float(g) / size
        return (s.astype(dtype, copy=False),)  # dL/dz = (sigmoid(z) - y) / size

    name = "binary_crossentropy"
    return Tensor.from_op(_scalar(value / size, dtype), (parent,), backward, name)
