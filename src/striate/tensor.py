"""A small reverse-mode tape.

A `Tensor` holds an ndarray, and, when it was made by an op while gradients are recorded, the
tensors it came from and a `backward_fn` that maps the gradient of the output to the gradients of
those parents (micrograd's `_backward`, but returning plain ndarrays instead of mutating).
`backward()` sorts the graph topologically and walks it in reverse, adding gradients with `+`.

>>> import numpy as np
>>> w = Tensor(np.array([2.0, 3.0]), requires_grad=True)
>>> y = Tensor.from_op(w.data * w.data, (w,), lambda g: (2 * w.data * g,), "square")
>>> y.backward(np.ones(2))
>>> w.grad
array([4., 6.])
"""

import contextlib

import numpy as np

_GRAD_ENABLED = True


@contextlib.contextmanager
def no_grad():
    """Within this block ops record nothing, so inference keeps no closures alive."""
    global _GRAD_ENABLED
    previous = _GRAD_ENABLED
    _GRAD_ENABLED = False
    try:
        yield
    finally:
        _GRAD_ENABLED = previous


def grad_enabled():
    return _GRAD_ENABLED


class Tensor:
    """An ndarray on the tape. Leaves with `requires_grad=True` collect `.grad`."""

    __slots__ = ("backward_fn", "data", "grad", "name", "op", "parents", "requires_grad")

    def __init__(self, data, requires_grad=False, name=None):
        self.data = data
        self.grad = None
        self.requires_grad = requires_grad
        self.parents = ()
        self.backward_fn = None
        self.op = "leaf"
        self.name = name

    @classmethod
    def from_op(cls, data, parents, backward_fn, op):
        """Wrap an op's output; record it on the tape only if a parent needs a gradient."""
        out = cls(data)
        out.op = op
        if _GRAD_ENABLED:
            for parent in parents:
                if parent.requires_grad:
                    out.requires_grad = True
                    out.parents = parents
                    out.backward_fn = backward_fn
                    break
        return out

    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    def numpy(self):
        return self.data

    def __repr__(self):
        label = f" name={self.name!r}" if self.name else ""
        return f"Tensor(shape={self.data.shape}, dtype={self.data.dtype}, op={self.op}{label})"

    # Arithmetic as in Keras (`x @ w + b` in a custom layer's call): striate.ops.arithmetic.
    __array_ufunc__ = None  # `array + tensor` calls Tensor.__radd__, not NumPy elementwise

    def __add__(self, other):
        return _arithmetic().add(self, other)

    def __radd__(self, other):
        return _arithmetic().add(other, self)

    def __sub__(self, other):
        return _arithmetic().subtract(self, other)

    def __rsub__(self, other):
        return _arithmetic().subtract(other, self)

    def __mul__(self, other):
        return _arithmetic().multiply(self, other)

    def __rmul__(self, other):
        return _arithmetic().multiply(other, self)

    def __truediv__(self, other):
        return _arithmetic().divide(self, other)

    def __rtruediv__(self, other):
        return _arithmetic().divide(other, self)

    def __matmul__(self, other):
        return _arithmetic().matmul(self, other)

    def __rmatmul__(self, other):
        return _arithmetic().matmul(other, self)

    def __pow__(self, other):
        return _arithmetic().power(self, other)

    def __neg__(self):
        return _arithmetic().negative(self)

    def __getitem__(self, key):
        return _arithmetic().take_items(self, key)

    def backward(self, grad=None):
        """Accumulate d(self)/d(leaf) into every leaf's `.grad` (seed `grad`, default ones)."""
        if grad is None:
            data = self.data
            grad = (
                np.ones(data.shape, data.dtype)
                if isinstance(data, np.ndarray)
                else np.ones_like(data)
            )
        order = _topological_order(self)
        self.grad = grad
        for node in reversed(order):
            if node.backward_fn is None:
                continue
            parent_grads = node.backward_fn(node.grad)
            for parent, parent_grad in zip(node.parents, parent_grads):
                if parent_grad is None or not parent.requires_grad:
                    continue
                if parent.grad is None:
                    parent.grad = parent_grad
                else:
                    parent.grad = parent.grad + parent_grad
            # Intermediate results are not needed again: free them (and the closure's arrays).
            node.grad = None
            node.backward_fn = None
            node.parents = ()


def _topological_order(root):
    """Every node that root's gradient reaches, each after all of its parents (depth first).
    Tensors that need no gradient are left out: nothing is sent to them."""
    order, seen, stack = [], {id(root)}, [(root, iter(root.parents))]
    while stack:
        node, parents = stack[-1]
        for parent in parents:
            if parent.requires_grad and id(parent) not in seen:
                seen.add(id(parent))
                stack.append((parent, iter(parent.parents)))
                break
        else:
            stack.pop()
            order.append(node)
    return order


def _arithmetic():
    from striate.ops import arithmetic  # (the ops import this module)

    return arithmetic


def as_tensor(value):
    """Return `value` if it is a Tensor, else wrap the array (no copy)."""
    return value if isinstance(value, Tensor) else Tensor(np.asarray(value))


class Variable(Tensor):
    """A layer's weight: a leaf Tensor that knows whether the optimizer may change it.

    The optimizer that updates a Variable may rebind its `.data` to a view of one buffer that
    holds every weight it updates (same shape, dtype and values: see `Optimizer.build`), so read
    `variable.data` each time rather than keeping the array; writing into it (`np.copyto`, as
    `Layer.set_weights` does) is always safe.
    """

    __slots__ = ("constraint", "regularizer", "trainable")

    def __init__(self, data, trainable=True, name=None, regularizer=None, constraint=None):
        super().__init__(data, requires_grad=trainable, name=name)
        self.trainable = trainable
        self.regularizer = regularizer  # its penalty joins the training loss (Keras)
        self.constraint = constraint  # applied to its values after every optimizer step

    def __repr__(self):
        return (
            f"Variable(name={self.name!r}, shape={self.data.shape}, dtype={self.data.dtype}, "
            f"trainable={self.trainable})"
        )
