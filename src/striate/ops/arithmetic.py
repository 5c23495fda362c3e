"""Keras's `ops` for a user's own layers: broadcasting arithmetic, math, reductions and shapes.

A custom layer's `call` writes `ops.matmul(inputs, self.w) + self.b` as in Keras; each function
here works on Tensors (and arrays or Python numbers, taken as constants), records its backward on
the tape, and is exposed as `striate.ops.<name>` (Keras 3's names) and through the Tensor
operators `+ - * / @ ** -x` and `x[...]`.

Broadcasting: an operand of shape s broadcast to the output gets back the output's gradient
summed over the broadcast axes (`_unbroadcast`). Python numbers take the other operand's float
type, as Keras's weak types do.
"""

import numpy as np

from striate.tensor import Tensor


def _operands(x, y):
    """Both as Tensors; a constant takes the float type of the Tensor beside it."""
    like = x if isinstance(x, Tensor) else y if isinstance(y, Tensor) else None
    return _tensor(x, like), _tensor(y, like)


def _tensor(value, like=None):
    if isinstance(value, Tensor):
        return value
    array = np.asarray(value)
    if like is not None and (array.dtype.kind != "f" or array.ndim == 0):
        array = array.astype(like.data.dtype)
    elif array.dtype.kind != "f":
        array = array.astype(np.float32)
    return Tensor(array)


def _unbroadcast(grad, shape):
    """Sum `grad` down to `shape` (the inverse of broadcasting an operand of that shape)."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        i + extra for i, size in enumerate(shape) if size == 1 and grad.shape[i + extra] != 1
    )
    return grad.sum(axis=axes, keepdims=True).reshape(shape)


def _binary(x, y, forward, grads, op):
    a, b = _operands(x, y)
    out = forward(a.data, b.data)

    def backward(g):
        ga, gb = grads(g, a.data, b.data, out)
        return (
            None if ga is None else _unbroadcast(ga, a.data.shape),
            None if gb is None else _unbroadcast(gb, b.data.shape),
        )

    return Tensor.from_op(out, (a, b), backward, op)


# d(a + b) = g, g
def add(x, y):
    return _binary(x, y, np.add, lambda g, a, b, o: (g, g), "add")


# d(a - b) = g, -g
def subtract(x, y):
    return _binary(x, y, np.subtract, lambda g, a, b, o: (g, -g), "subtract")


# d(a * b) = g b, g a
def multiply(x, y):
    return _binary(x, y, np.multiply, lambda g, a, b, o: (g * b, g * a), "multiply")


# d(a / b) = g / b, -g a / b^2
def divide(x, y):
    return _binary(x, y, np.divide, lambda g, a, b, o: (g / b, -g * o / b), "divide")


# d(a ^ b) = g b a^(b-1), g a^b ln a  (the exponent's gradient only where a > 0)
def power(x, y):
    def grads(g, a, b, o):
        with np.errstate(divide="ignore", invalid="ignore"):
            log_a = np.where(a > 0, np.log(np.where(a > 0, a, 1)), 0)
        return g * b * np.power(a, b - 1), g * o * log_a

    return _binary(x, y, np.power, grads, "power")


# max(a, b): the gradient goes to the larger (to `a` on ties, as Keras's torch backend)
def maximum(x, y):
    return _binary(x, y, np.maximum, lambda g, a, b, o: (g * (a >= b), g * (a < b)), "maximum")


def minimum(x, y):
    return _binary(x, y, np.minimum, lambda g, a, b, o: (g * (a <= b), g * (a > b)), "minimum")


# C = A @ B (batched, broadcast over leading axes): dA = G B^T, dB = A^T G
def matmul(x, y):
    a, b = _operands(x, y)
    out = np.matmul(a.data, b.data)

    def backward(g):
        ad, bd = a.data, b.data
        if bd.ndim == 1:
            ga = g[..., None] * bd
            gb = (ad * g[..., None]).reshape(-1, bd.shape[0]).sum(axis=0)
            return _unbroadcast(ga, ad.shape), gb
        ga = np.matmul(g, np.swapaxes(bd, -1, -2)) if ad.ndim > 1 else np.matmul(bd, g)
        gb = np.matmul(np.swapaxes(ad, -1, -2), g) if ad.ndim > 1 else np.outer(ad, g)
        return _unbroadcast(ga, ad.shape), _unbroadcast(gb, bd.shape)

    return Tensor.from_op(out, (a, b), backward, "matmul")


def _unary(x, forward, derivative, op):
    """`forward(a)` with d/da = derivative(a, out) (elementwise)."""
    a = _tensor(x)
    out = forward(a.data)
    return Tensor.from_op(out, (a,), lambda g: (g * derivative(a.data, out),), op)


def negative(x):
    return _unary(x, np.negative, lambda a, o: -1, "negative")


def abs(x):  # noqa: A001 (Keras's name)
    return _unary(x, np.abs, lambda a, o: np.sign(a), "abs")


def square(x):
    return _unary(x, np.square, lambda a, o: 2 * a, "square")


def sqrt(x):
    return _unary(x, np.sqrt, lambda a, o: 0.5 / o, "sqrt")


def exp(x):
    return _unary(x, np.exp, lambda a, o: o, "exp")


def log(x):
    return _unary(x, np.log, lambda a, o: 1 / a, "log")


def clip(x, x_min, x_max):
    return _unary(
        x,
        lambda a: np.clip(a, x_min, x_max),
        lambda a, o: (a >= x_min) & (a <= x_max),
        "clip",
    )


def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    return tuple(a % ndim for a in axes)


# s = sum over axes: ds/da = 1 (the gradient broadcast back)
def sum(x, axis=None, keepdims=False):  # noqa: A001 (Keras's name)
    a = _tensor(x)
    axes = _axes(axis, a.data.ndim)
    out = np.sum(a.data, axis=axes, keepdims=keepdims)

    def backward(g):
        return (np.broadcast_to(np.expand_dims(g, axes) if not keepdims else g, a.data.shape),)

    return Tensor.from_op(np.asarray(out), (a,), backward, "sum")


def mean(x, axis=None, keepdims=False):
    a = _tensor(x)
    count = int(np.prod([a.data.shape[i] for i in _axes(axis, a.data.ndim)]))
    return divide(sum(a, axis, keepdims), count)


# m = max over axes: the gradient is shared by the positions that hold the max
def max(x, axis=None, keepdims=False):  # noqa: A001 (Keras's name)
    a = _tensor(x)
    axes = _axes(axis, a.data.ndim)
    kept = np.max(a.data, axis=axes, keepdims=True)
    out = kept if keepdims else np.squeeze(kept, axis=axes)

    def backward(g):
        hit = a.data == kept
        share = hit / hit.sum(axis=axes, keepdims=True)
        return ((g if keepdims else np.expand_dims(g, axes)) * share,)

    return Tensor.from_op(np.asarray(out), (a,), backward, "max")


def transpose(x, axes=None):
    a = _tensor(x)
    order = tuple(range(a.data.ndim))[::-1] if axes is None else tuple(axes)
    inverse = tuple(np.argsort(order))
    out = np.transpose(a.data, order)
    return Tensor.from_op(out, (a,), lambda g: (np.transpose(g, inverse),), "transpose")


def reshape(x, new_shape):
    a = _tensor(x)
    out = np.reshape(a.data, new_shape)
    return Tensor.from_op(out, (a,), lambda g: (g.reshape(a.data.shape),), "reshape")


def expand_dims(x, axis):
    a = _tensor(x)
    return reshape(a, np.expand_dims(a.data, axis).shape)


def squeeze(x, axis=None):
    a = _tensor(x)
    return reshape(a, np.squeeze(a.data, axis).shape)


def concatenate(xs, axis=0):
    tensors = [_tensor(t, next(u for u in xs if isinstance(u, Tensor))) for t in xs]
    out = np.concatenate([t.data for t in tensors], axis=axis)
    cuts = np.cumsum([t.data.shape[axis] for t in tensors])[:-1]
    return Tensor.from_op(
        out, tuple(tensors), lambda g: tuple(np.split(g, cuts, axis=axis)), "concatenate"
    )


def take_items(x, key):
    """`x[key]` (basic or advanced indexing); the gradient is scattered back (added where an
    index repeats)."""
    a = _tensor(x)
    out = a.data[key]

    def backward(g):
        grad = np.zeros_like(a.data)
        np.add.at(grad, key, g)
        return (grad,)

    return Tensor.from_op(np.asarray(out), (a,), backward, "getitem")


def cast(x, dtype):
    a = _tensor(x)
    out = a.data.astype(dtype)
    return Tensor.from_op(out, (a,), lambda g: (g.astype(a.data.dtype),), "cast")


def convert_to_tensor(x, dtype=None):
    array = np.asarray(x.data if isinstance(x, Tensor) else x)
    return Tensor(array if dtype is None else array.astype(dtype))


def convert_to_numpy(x):
    return np.asarray(x.data if isinstance(x, Tensor) else x)


def shape(x):
    return tuple(x.shape)
