"""Keras's output-size and padding arithmetic, and the argument checks that conv and pooling
share. Each check raises ValueError/TypeError saying what was expected and what was received."""

import numbers

import numpy as np


def conv_output_length(n, k, stride, padding):
    """Output length along one axis, as Keras computes it.

    Args:
        n: input length. k: kernel (or pool) length. stride: step.
        padding: 'valid' (only windows that fit) or 'same' (zero-padded, ceil(n / stride)).

    Returns:
        int: `floor((n - k) / stride) + 1` for 'valid', `ceil(n / stride)` for 'same'. It may be
        zero or negative when the kernel does not fit: callers turn that into an error.

    >>> conv_output_length(28, 2, 1, "valid"), conv_output_length(27, 2, 2, "valid")
    (27, 13)
    >>> conv_output_length(7, 3, 2, "same")
    4
    """
    padding = _padding_mode(padding, "conv_output_length")
    if padding == "valid":
        return (n - k) // stride + 1
    return -(-n // stride)


def same_padding(n, k, stride):
    """Zeros Keras adds before and after an axis of length n for 'same' padding.

    Args:
        n: input length. k: kernel (or pool) length. stride: step.

    Returns:
        (before, after): `total = max((out - 1) * stride + k - n, 0)` with `out = ceil(n / stride)`,
        `before = total // 2` and the odd one, if any, after (bottom / right).

    >>> same_padding(6, 3, 1), same_padding(6, 4, 1), same_padding(6, 3, 2)
    ((1, 1), (1, 2), (0, 1))
    """
    out = -(-n // stride)
    total = max((out - 1) * stride + k - n, 0)
    return total // 2, total - total // 2


def _pad(xd, pads_h, pads_w, value):
    """Copy of xd with `value` rows/columns added around height and width (no copy if none)."""
    (top, bottom), (left, right) = pads_h, pads_w
    if top == bottom == left == right == 0:
        return xd
    n, h, w, c = xd.shape
    shape = (n, h + top + bottom, w + left + right, c)
    out = np.zeros(shape, xd.dtype) if value == 0 else np.full(shape, value, xd.dtype)
    out[:, top : top + h, left : left + w, :] = xd
    return out


# ----------------------------------------------------------------------------------------------
# Validation shared with pool.py: each raises ValueError/TypeError saying what was expected.


def _check_4d(array, op, what, dims):
    _check_4d_shape(array.shape, op, what, dims)


def _check_4d_shape(shape, op, what, dims):
    if len(shape) != 4:
        raise ValueError(
            f"{op}: expected {what} with 4 dims {dims}. Received: {what} shape {shape}."
        )


def _check_float(array, op, what):
    _check_float_dtype(array.dtype, op, what)


def _check_float_dtype(dtype, op, what):
    if dtype.kind != "f":
        raise TypeError(
            f"{op}: expected a float {what} (float32, or float64 for gradient checks). "
            f"Received: {what} dtype {dtype}."
        )


def _check_same_dtype(xd, other, op, what):
    _check_same_dtypes(xd.dtype, other.dtype, op, what)


def _check_same_dtypes(x_dtype, other_dtype, op, what):
    if other_dtype != x_dtype:
        raise TypeError(
            f"{op}: the {what} dtype must match the input dtype (no silent casts). "
            f"Received: input dtype {x_dtype}, {what} dtype {other_dtype}."
        )


def _padding_mode(padding, op):
    mode = padding.lower() if isinstance(padding, str) else None
    if mode not in ("valid", "same"):
        raise ValueError(
            f"{op}: padding must be 'valid' or 'same' (case-insensitive). Received: padding={padding!r}."
        )
    return mode


def _is_int(value):
    # `type(...) is int` first: the ABC check for numbers.Integral costs microseconds per call
    return type(value) is int or (
        isinstance(value, numbers.Integral) and not isinstance(value, bool))


def _pair(value, name, op):
    """(a, b) of positive ints from an int or a pair."""
    pair = (value, value) if _is_int(value) else value
    if (
        not isinstance(pair, (tuple, list))
        or len(pair) != 2
        or not all(_is_int(v) and v > 0 for v in pair)
    ):
        raise ValueError(
            f"{op}: {name} must be a positive int or a tuple of 2 positive ints. "
            f"Received: {name}={value!r}."
        )
    return int(pair[0]), int(pair[1])


def _pad_spec(padding):
    """((top, bottom), (left, right)) of non-negative ints from Keras's three padding forms."""
    spec = padding
    if _is_int(spec):
        spec = ((spec, spec), (spec, spec))
    elif isinstance(spec, (tuple, list)) and len(spec) == 2 and all(_is_int(v) for v in spec):
        spec = ((spec[0], spec[0]), (spec[1], spec[1]))
    ok = (
        isinstance(spec, (tuple, list))
        and len(spec) == 2
        and all(isinstance(p, (tuple, list)) and len(p) == 2 for p in spec)
        and all(_is_int(v) and v >= 0 for p in spec for v in p)
    )
    if not ok:
        raise ValueError(
            "zero_padding2d: padding must be an int, (rows, cols) or ((top, bottom), (left, right)) "
            f"of non-negative ints. Received: padding={padding!r}."
        )
    return (int(spec[0][0]), int(spec[0][1])), (int(spec[1][0]), int(spec[1][1]))


def _checked_length(n, k, stride, padding, op, window, hw, received):
    """conv_output_length, or a ValueError showing the arithmetic when the window does not fit."""
    out = conv_output_length(n, k, stride, padding)
    if out > 0:
        return out
    formula = (
        f"floor(({n} - {k}) / {stride}) + 1 = {out}"
        if padding == "valid"
        else f"ceil({n} / {stride}) = {out}"
    )
    raise ValueError(
        f"{op}: {window} does not fit input {hw[0]}x{hw[1]} with padding '{padding}'. "
        f"Output size would be {formula}. Received: {received}."
    )


def output_length_formula(n, k, stride, padding):
    """The arithmetic of `conv_output_length` as text: `floor((n + pad - k) / s) + 1 = out`.

    Args:
        n: input length. k: kernel (or pool) length. stride: step. padding: 'valid' or 'same'
            ('same' shows the zeros `same_padding` adds, so the result is `ceil(n / stride)`).

    Returns:
        str: the formula and its value, which equals `conv_output_length(n, k, stride, padding)`
        (zero or negative when the kernel does not fit).

    >>> output_length_formula(28, 30, 1, "valid"), output_length_formula(5, 3, 2, "same")
    ('floor((28 - 30) / 1) + 1 = -1', 'floor((5 + 2 - 3) / 2) + 1 = 3')
    """
    padding = _padding_mode(padding, "output_length_formula")
    total = sum(same_padding(n, k, stride)) if padding == "same" else 0
    pad = f" + {total}" if total else ""
    return f"floor(({n}{pad} - {k}) / {stride}) + 1 = {conv_output_length(n, k, stride, padding)}"
