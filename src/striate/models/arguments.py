"""The arguments of `fit`, `evaluate`, `predict` and a model's call, checked before any work:
the input arrays (numeric, non-empty, finite, the model's per-sample shape), `compile` done,
`verbose` and `batch_size`."""

import numpy as np

from striate.layers.base import format_shape


def prepare_inputs(model, x, where):
    """Check `x` (numeric, non-empty, the model's per-sample shape); return it as an ndarray."""
    if x is None:
        raise ValueError(f"{where}: x is required. Received: x=None.")
    if model.input_shape is None:
        model.build((None,) + np.shape(x)[1:])
    return check_array(model.input_shape, x, model, where)


def check_array(expected_shape, x, model, where):
    """`x` as an ndarray, checked against one input's shape `expected_shape` (batch first)."""
    array = np.asarray(x)
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"{where}: x must be numeric (int, uint or float). "
            f"Received: x with dtype {array.dtype}."
        )
    if array.size == 0 or array.ndim == 0:
        raise ValueError(f"{where}: x is empty. Received: x of shape {array.shape}.")
    check_finite(array, "x", where)
    expected = expected_shape[1:]
    received = array.shape[1:]
    if len(expected) != len(received) or any(
        e is not None and e != r for e, r in zip(expected, received)
    ):
        hint = ""
        if received == tuple(expected[:-1]) and expected[-1] == 1:
            hint = " Add the channel axis with np.expand_dims(x, -1)."
        raise ValueError(
            f"{where}: {type(model).__name__} '{model.name}' expects input shape "
            f"{format_shape(expected_shape)}. Received: x of shape {array.shape}.{hint}"
        )
    return array


def check_finite(array, name, where):
    """A ValueError naming the array and its first NaN or infinite value, if it holds one (a
    NaN image would otherwise train or evaluate to NaN without a word)."""
    if array.dtype.kind != "f":
        return
    with np.errstate(over="ignore", invalid="ignore"):
        total = np.add.reduce(array, axis=None)
    if np.isfinite(total):
        return  # a NaN or an infinity anywhere would make the sum NaN or infinite
    if not np.isfinite(array).all():  # (a sum of finite values can overflow: look closer)
        index = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
        raise ValueError(
            f"{where}: {name} holds NaN or infinite values, the first at index {index}: "
            f"{array[index]}. Received: {name} of shape {array.shape}."
        )


def check_compiled(model, where):
    if not model.compiled:
        raise ValueError(
            f"{where}: you must call compile() before using the model, e.g. "
            f"model.compile(loss='sparse_categorical_crossentropy', "
            f"optimizer='adam', metrics=['acc'])."
        )


def resolve_verbose(verbose):
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 0, 1, 2 or 'auto'. Received: verbose={verbose!r}")
    return verbose


def batch_size_of(batch_size):
    if batch_size is None:
        return 32
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, (int, np.integer))
        or batch_size <= 0
    ):
        raise ValueError(f"batch_size must be a positive int. Received: batch_size={batch_size!r}")
    return int(batch_size)
