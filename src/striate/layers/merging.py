"""Merge layers, as Keras's: `Add`, `Subtract`, `Multiply`, `Average`, `Maximum`, `Minimum` on
inputs of one shape, `Concatenate(axis)` on inputs equal but on that axis, and their functional
forms `add([a, b])`, `concatenate([a, b])`...

>>> from striate.layers import Dense, Input
>>> x = Input(shape=(4,))
>>> add([Dense(3)(x), Dense(3)(x)]).shape, concatenate([x, Dense(3)(x)]).shape
((None, 3), (None, 7))
"""

import numpy as np

from striate.layers import symbolic
from striate.layers.base import Layer, format_shape
from striate.ops import merging as merging_ops
from striate.tensor import Tensor


class _Merge(Layer):
    """Takes a list of at least two tensors (`Subtract`: exactly two)."""

    _op = None
    _inputs_needed = None  # None: two or more

    def __call__(self, inputs, training=False):
        names = self._check_list(inputs)
        shapes = [tuple(t.shape) for t in inputs]
        self._check_shapes(shapes, names)
        if symbolic.is_symbolic(inputs):
            return symbolic.call_symbolic(self, list(inputs))
        tensors = [t if isinstance(t, Tensor) else Tensor(np.asarray(t)) for t in inputs]
        self.build_for([(None,) + t.data.shape[1:] for t in tensors])
        return self.call(tensors, training=training)

    def _check_list(self, inputs):
        count = len(inputs) if isinstance(inputs, (list, tuple)) else None
        needed = self._inputs_needed
        if count is None or count < 2 or (needed is not None and count != needed):
            wanted = "exactly 2 inputs" if needed else "a list of at least 2 inputs"
            raise ValueError(
                f"{self.describe()}: a merge layer takes {wanted}. Received: "
                f"{f'{count} inputs' if count is not None else type(inputs).__name__}."
            )
        return [
            f"'{t.name}'" if isinstance(t, symbolic.SymbolicTensor) else f"input {i}"
            for i, t in enumerate(inputs)
        ]

    def _check_shapes(self, shapes, names):
        first = shapes[0]
        for name, shape in zip(names[1:], shapes[1:]):
            if not _compatible(first, shape, None):
                raise ValueError(
                    f"{self.describe()}: inputs must have the same shape. Received: "
                    f"{names[0]} of shape {format_shape(first)} and {name} of shape "
                    f"{format_shape(shape)}."
                )

    def build_for(self, input_shape):
        shapes = [tuple(s) for s in input_shape]
        if self.built:
            for expected, shape in zip(self.input_shape, shapes):
                if not _compatible(expected, shape, None):
                    raise ValueError(
                        f"{self.describe()}: expected input shapes "
                        f"{', '.join(format_shape(s) for s in self.input_shape)}. Received: "
                        f"{', '.join(format_shape(s) for s in shapes)}."
                    )
            return self.output_shape
        self.input_shape = shapes
        self.output_shape = tuple(self.compute_output_shape(shapes))
        self.built = True
        return self.output_shape

    def compute_output_shape(self, input_shape):
        shapes = [tuple(s) for s in input_shape]
        return tuple(next((d for d in dims if d is not None), None) for dims in zip(*shapes))

    def call(self, inputs, training=False):
        return type(self)._op(list(inputs))


def _compatible(a, b, skip_axis):
    if len(a) != len(b):
        return False
    return all(
        i == skip_axis or x is None or y is None or x == y for i, (x, y) in enumerate(zip(a, b))
    )


class Add(_Merge):
    _op = staticmethod(merging_ops.add)


class Subtract(_Merge):
    _op = staticmethod(merging_ops.subtract)
    _inputs_needed = 2


class Multiply(_Merge):
    _op = staticmethod(merging_ops.multiply)


class Average(_Merge):
    _op = staticmethod(merging_ops.average)


class Maximum(_Merge):
    _op = staticmethod(merging_ops.maximum)


class Minimum(_Merge):
    _op = staticmethod(merging_ops.minimum)


class Concatenate(_Merge):
    """Joins its inputs along `axis` (default -1, the channels); other axes must match."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"{self.describe()}: axis must be an int. Received: axis={axis!r}")
        self.axis = int(axis)

    def _check_shapes(self, shapes, names):
        rank = len(shapes[0])
        if not -rank <= self.axis < rank or self.axis % rank == 0:
            raise ValueError(
                f"{self.describe()}: axis must be one of the non-batch axes 1..{rank - 1} (or "
                f"-{rank - 1}..-1) of inputs of shape {format_shape(shapes[0])}. Received: "
                f"axis={self.axis}."
            )
        axis = self.axis % rank
        for name, shape in zip(names[1:], shapes[1:]):
            if not _compatible(shapes[0], shape, axis):
                raise ValueError(
                    f"{self.describe()}: inputs must have the same shape except on the "
                    f"concatenation axis {self.axis}. Received: {names[0]} of shape "
                    f"{format_shape(shapes[0])} and {name} of shape {format_shape(shape)}."
                )

    def compute_output_shape(self, input_shape):
        shapes = [tuple(s) for s in input_shape]
        axis = self.axis % len(shapes[0])
        out = list(super().compute_output_shape(shapes))
        sizes = [s[axis] for s in shapes]
        out[axis] = None if None in sizes else sum(sizes)
        return tuple(out)

    def call(self, inputs, training=False):
        return merging_ops.concatenate(list(inputs), self.axis % inputs[0].data.ndim)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


def add(inputs, **kwargs):
    """`Add(**kwargs)(inputs)`."""
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    """`Subtract(**kwargs)(inputs)`."""
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    """`Multiply(**kwargs)(inputs)`."""
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    """`Average(**kwargs)(inputs)`."""
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    """`Maximum(**kwargs)(inputs)`."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    """`Minimum(**kwargs)(inputs)`."""
    return Minimum(**kwargs)(inputs)


def concatenate(inputs, axis=-1, **kwargs):
    """`Concatenate(axis=axis, **kwargs)(inputs)`."""
    return Concatenate(axis=axis, **kwargs)(inputs)
