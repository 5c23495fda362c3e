"""Element-wise merges of same-shape tensors (add, subtract, multiply, average, maximum,
minimum) and concatenation along an axis, each with its backward right below its forward.

>>> import numpy as np
>>> from striate.tensor import Tensor
>>> a, b = Tensor(np.array([1.0, 5.0]), requires_grad=True), Tensor(np.array([3.0, 2.0]))
>>> out = maximum([a, b])
>>> out.data
array([3., 5.])
>>> out.backward(np.ones(2))
>>> a.grad
array([0., 1.])
"""

import numpy as np

from striate.tensor import Tensor


def _fit(grads, tensors):
    """Each gradient summed back to its input's shape where NumPy broadcast that input (a
    per-channel weight times a batch): over the axes it lacked or had of size 1."""
    fitted = []
    for grad, tensor in zip(grads, tensors):
        shape = tensor.data.shape
        if grad.shape != shape:
            grad = grad.sum(axis=tuple(range(grad.ndim - len(shape))))
            axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
            grad = grad.sum(axis=axes, keepdims=True) if axes else grad
        fitted.append(grad)
    return tuple(fitted)


def add(tensors):
    """`x0 + x1 + ...`; backward: each input gets the output's gradient g."""
    out = tensors[0].data
    for tensor in tensors[1:]:
        out = out + tensor.data
    return Tensor.from_op(out, tuple(tensors), lambda g: _fit((g,) * len(tensors), tensors), "add")


def subtract(tensors):
    """`x0 - x1`; backward: (g, -g)."""
    a, b = tensors
    return Tensor.from_op(a.data - b.data, (a, b), lambda g: _fit((g, -g), tensors), "subtract")


def average(tensors):
    """`(x0 + ... + x(n-1)) / n`; backward: g / n to each input (Keras sums, then divides)."""
    count = len(tensors)
    out = tensors[0].data
    for tensor in tensors[1:]:
        out = out + tensor.data
    out = out / count

    def backward(g):
        share = g / count
        return _fit((share,) * count, tensors)

    return Tensor.from_op(out, tuple(tensors), backward, "average")


def multiply(tensors):
    """`x0 * x1 * ...`; backward: input i gets g times the product of the other inputs."""
    arrays = [t.data for t in tensors]
    out = arrays[0]
    for array in arrays[1:]:
        out = out * array

    def backward(g):
        grads = []
        for i in range(len(arrays)):
            grad = g
            for j, array in enumerate(arrays):
                if j != i:
                    grad = grad * array
            grads.append(grad)
        return _fit(grads, tensors)

    return Tensor.from_op(out, tuple(tensors), backward, "multiply")


def _extremum(tensors, pick, op):
    """Pairwise from the left, as Keras: out = pick(out, x_i). Backward: the gradient goes to
    the larger (smaller) of each pair; at a tie it is split in halves (PyTorch's rule)."""
    arrays = [t.data for t in tensors]
    outs = [arrays[0]]
    for array in arrays[1:]:
        outs.append(pick(outs[-1], array))

    def backward(g):
        grads = [None] * len(arrays)
        running = g
        for i in range(len(arrays) - 1, 0, -1):
            previous, current = outs[i - 1], arrays[i]
            winner = pick(previous, current)
            tie = previous == current
            to_current = np.where(tie, 0.5, (current == winner).astype(g.dtype)).astype(g.dtype)
            grads[i] = running * to_current
            running = running * (1 - to_current)
        grads[0] = running
        return _fit(grads, tensors)

    return Tensor.from_op(outs[-1], tuple(tensors), backward, op)


def maximum(tensors):
    return _extremum(tensors, np.maximum, "maximum")


def minimum(tensors):
    return _extremum(tensors, np.minimum, "minimum")


def concatenate(tensors, axis):
    """Join along `axis` (any axis but the batch's); backward: g cut back into the pieces."""
    arrays = [t.data for t in tensors]
    out = np.concatenate(arrays, axis=axis)
    cuts = np.cumsum([a.shape[axis] for a in arrays])[:-1]

    def backward(g):
        return tuple(np.split(g, cuts, axis=axis))

    return Tensor.from_op(out, tuple(tensors), backward, "concatenate")
