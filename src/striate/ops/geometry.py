"""Keras's output-size and padding arithmetic, padding itself, and the argument checks that
conv and pooling share. Each check raises ValueError/TypeError saying what was expected and what
was received."""

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
    padding = padding_mode(padding, "conv_output_length")
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


def pad(xd, pads_h, pads_w, value):
    """Copy of an NHWC array with `value` rows and columns added around height and width.

    Args:
        xd: ndarray `(batch, height, width, channels)`.
        pads_h, pads_w: `(top, bottom)` and `(left, right)`, non-negative ints.
        value: what the new cells hold (0, or -inf for max pooling).

    Returns:
        ndarray `(batch, top + height + bottom, left + width + right, channels)`; xd itself,
        not a copy, when all four pads are 0.

    >>> pad(np.ones((1, 1, 2, 1)), (1, 0), (0, 1), 0)[0, :, :, 0]
    array([[0., 0., 0.],
           [1., 1., 0.]])
    """
    (top, bottom), (left, right) = pads_h, pads_w
    if top == bottom == left == right == 0:
        return xd
    n, h, w, c = xd.shape
    shape = (n, h + top + bottom, w + left + right, c)
    out = np.zeros(shape, xd.dtype) if value == 0 else np.full(shape, value, xd.dtype)
    out[:, top : top + h, left : left + w, :] = xd
    return out


def unpad(padded, pads_h, pads_w):
    """The inverse of `pad`: a view of `padded` without its added rows and columns (how a
    gradient with respect to a padded input becomes one with respect to the input).

    >>> unpad(pad(np.ones((1, 1, 2, 1)), (1, 0), (0, 1), 0), (1, 0), (0, 1)).shape
    (1, 1, 2, 1)
    """
    (top, bottom), (left, right) = pads_h, pads_w
    _, hp, wp, _ = padded.shape
    return padded[:, top : hp - bottom, left : wp - right, :]


# ----------------------------------------------------------------------------------------------
# Argument checks shared by the conv and pooling ops: each raises ValueError/TypeError naming
# the op (`op`) and the argument (`what`), saying what was expected and what was received.


def check_4d(array, op, what, dims):
    """An array with 4 dims, described by `dims`."""
    check_4d_shape(array.shape, op, what, dims)


def check_4d_shape(shape, op, what, dims):
    """A shape with 4 dims."""
    if len(shape) != 4:
        raise ValueError(
            f"{op}: expected {what} with 4 dims {dims}. Received: {what} shape {shape}."
        )


def check_float(array, op, what):
    """An array of a float dtype."""
    check_float_dtype(array.dtype, op, what)


def check_float_dtype(dtype, op, what):
    """A float dtype."""
    if dtype.kind != "f":
        raise TypeError(
            f"{op}: expected a float {what} (float32, or float64 for gradient checks). "
            f"Received: {what} dtype {dtype}."
        )


def check_same_dtypes(x_dtype, other_dtype, op, what):
    """Another argument's dtype equal to the input's."""
    if other_dtype != x_dtype:
        raise TypeError(
            f"{op}: the {what} dtype must match the input dtype (no silent casts). "
            f"Received: input dtype {x_dtype}, {what} dtype {other_dtype}."
        )


def padding_mode(padding, op):
    """'valid' or 'same' from a case-insensitive string."""
    mode = padding.lower() if isinstance(padding, str) else None
    if mode not in ("valid", "same"):
        raise ValueError(
            f"{op}: padding must be 'valid' or 'same' (case-insensitive). "
            f"Received: padding={padding!r}."
        )
    return mode


def _is_int(value):
    # `type(...) is int` first: the ABC check for numbers.Integral is slow (benchmarks/README.md)
    return type(value) is int or (
        isinstance(value, numbers.Integral) and not isinstance(value, bool)
    )


def pair(value, name, op):
    """(a, b) of positive ints from an int or a pair of them; a ValueError naming `name` and
    `op` for anything else.

    >>> pair(3, "strides", "conv2d"), pair([2, 1], "strides", "conv2d")
    ((3, 3), (2, 1))
    """
    values = (value, value) if _is_int(value) else value
    if (
        not isinstance(values, (tuple, list))
        or len(values) != 2
        or not all(_is_int(v) and v > 0 for v in values)
    ):
        raise ValueError(
            f"{op}: {name} must be a positive int or a tuple of 2 positive ints. "
            f"Received: {name}={value!r}."
        )
    return int(values[0]), int(values[1])


def pad_spec(padding, op="zero_padding2d", name="padding"):
    """((top, bottom), (left, right)) of non-negative ints from Keras's three padding forms
    (also Cropping2D's `cropping`: `name` is the argument errors name)."""
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
            f"{op}: {name} must be an int, (rows, cols) or "
            "((top, bottom), (left, right)) of non-negative ints. "
            f"Received: {name}={padding!r}."
        )
    return (int(spec[0][0]), int(spec[0][1])), (int(spec[1][0]), int(spec[1][1]))


def checked_length(n, k, stride, padding, op, window, hw, received):
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
    padding = padding_mode(padding, "output_length_formula")
    total = sum(same_padding(n, k, stride)) if padding == "same" else 0
    pad = f" + {total}" if total else ""
    return f"floor(({n}{pad} - {k}) / {stride}) + 1 = {conv_output_length(n, k, stride, padding)}"


# ----------------------------------------------------------------------------------------------
# Dilated kernels and transposed convolutions (Keras's arithmetic, `keras.src.backend.common.
# backend_utils`).


def dilated_length(k, dilation):
    """How many input cells a kernel of length `k` spans with `dilation - 1` holes between taps.

    >>> dilated_length(3, 1), dilated_length(3, 2)
    (3, 5)
    """
    return (k - 1) * dilation + 1


def conv_transpose_crops(n, k, stride, padding, output_padding=None, dilation=1):
    """Where Keras's transposed convolution cuts its output out of the full scatter.

    The full scatter of an input of length n has length `(n - 1) * stride + ke`, with
    `ke = dilated_length(k, dilation)`: input cell i adds its kernel at `i * stride + a *
    dilation`. Keras (the JAX padding rule, which its torch backend reproduces by cropping)
    keeps cells `crop_before` to `full - crop_after`; a negative crop adds zeros instead.

    Args:
        n: input length. k: kernel length. stride, dilation: positive ints.
        padding: 'valid' or 'same'. output_padding: None (Keras's default) or a non-negative int.

    Returns:
        (crop_before, crop_after, out_length). `out_length` is Keras's: 'valid' gives
        `(n - 1) * stride + max(ke, stride)`, 'same' `n * stride` (output_padding None), else
        `(n - 1) * stride + ke + output_padding` ('valid') or
        `(n - 1) * stride + ke % 2 + output_padding` ('same').

    >>> conv_transpose_crops(4, 3, 2, "same"), conv_transpose_crops(4, 3, 2, "valid")
    ((0, 1, 8), (0, 0, 9))
    >>> conv_transpose_crops(3, 3, 2, "valid", output_padding=1)
    (0, -1, 8)
    """
    padding = padding_mode(padding, "conv_transpose")
    ke = dilated_length(k, dilation)
    if padding == "valid":
        extra = max(ke, stride) - ke if output_padding is None else output_padding
        before, after = ke - 1, ke - 1 + extra
    else:
        if output_padding is None:
            total = stride + ke - 2
        else:
            total = ke + ke % 2 - 2 + output_padding
        before = min(total // 2 + total % 2, ke - 1)
        after = total - before
    crop_before, crop_after = ke - 1 - before, ke - 1 - after
    full = (n - 1) * stride + ke
    return crop_before, crop_after, full - crop_before - crop_after
