"""2-D convolution on NHWC arrays: im2col by stride tricks, one GEMM, col2im by strided adds.

Layout is Keras's: inputs `(batch, height, width, channels)`, kernels
`(kernel_height, kernel_width, in_channels, filters)`. Output sizes follow Keras exactly
(`conv_output_length`, `same_padding`), including its bottom/right bias for odd 'same' padding.

The patch matrix ("cols") holds one row per (kernel position, input channel) and one column per
output pixel, or the transpose of that. With few input channels (the first layer of an image model)
it is built kernel-position-major, `(kh*kw*C, N*oh*ow)`, so that each of its kh*kw blocks is a long
copy of a shifted image; with many channels it is built pixel-major, `(N*oh*ow, kh*kw*C)`, so that
each copied run is a whole `kw*C` stretch of a row. When there is a bias, the patch matrix carries
one extra row (or column) of ones and the kernel one extra row holding the bias: the GEMM then adds
the bias, and the kernel-gradient GEMM yields the bias gradient as its last row (a ones-vector
product, which on tall arrays beats `sum(axis=0)`), so neither costs a pass of its own.

The input gradient (skipped when the input needs none, as for a model's first layer) is col2im of
`g @ W^T`: one (N*oh*ow, C) block per kernel offset, from a batched GEMM, each added back with one
strided `+=` along whole image rows, then cropped of the 'same' padding.
"""

import numbers

import numpy as np
from numpy.lib.stride_tricks import as_strided

from striate.tensor import Tensor, as_tensor, grad_enabled

# Below this many input channels the patch matrix is built kernel-position-major (see above);
# measured: C <= 4 faster kernel-major, C >= 8 pixel-major.
_KERNEL_MAJOR_CHANNELS = 5


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


def zero_padding2d(x, padding):
    """Pad the height and width of an NHWC tensor with zeros (Keras's ZeroPadding2D).

    Args:
        x: Tensor `(batch, height, width, channels)`.
        padding: `((top, bottom), (left, right))`, or `(rows, cols)` for symmetric padding, or one
            int for all four sides; non-negative ints.

    Returns:
        Tensor `(batch, top + height + bottom, left + width + right, channels)`.

    >>> out = zero_padding2d(np.ones((1, 2, 2, 1), np.float32), ((1, 0), (0, 2)))
    >>> out.shape, out.data[0, :, :, 0].tolist()
    ((1, 3, 4, 1), [[0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0]])
    """
    x = as_tensor(x)
    _check_4d(x.data, "zero_padding2d", "input", "(batch, height, width, channels)")
    (top, bottom), (left, right) = _pad_spec(padding)
    _, h, w, _ = x.data.shape
    out = _pad(x.data, (top, bottom), (left, right), 0)

    def backward(g):
        # d out / d x is the identity on the interior: crop the padding off g.
        return (g[:, top : top + h, left : left + w, :],)

    return Tensor.from_op(out, (x,), backward, "zero_padding2d")


def conv2d(x, kernel, bias=None, strides=(1, 1), padding="valid"):
    """2-D cross-correlation (Keras's Conv2D without the activation).

    `out[n, i, j, f] = sum_{a, b, c} x_pad[n, i*sh + a, j*sw + b, c] * kernel[a, b, c, f] + bias[f]`

    Args:
        x: Tensor `(batch, height, width, in_channels)`, float32 or float64.
        kernel: Tensor `(kernel_height, kernel_width, in_channels, filters)`, same dtype.
        bias: optional Tensor `(filters,)`, same dtype.
        strides: int or (sh, sw), positive.
        padding: 'valid' or 'same' (case-insensitive); 'same' pads with zeros as Keras does.

    Returns:
        Tensor `(batch, out_height, out_width, filters)` in the input's dtype.

    >>> x = np.arange(9, dtype=np.float32).reshape(1, 3, 3, 1)
    >>> out = conv2d(x, np.ones((2, 2, 1, 1), np.float32), np.array([0.5], np.float32))
    >>> out.data[0, :, :, 0]
    array([[ 8.5, 12.5],
           [20.5, 24.5]], dtype=float32)
    """
    x, kernel = as_tensor(x), as_tensor(kernel)
    bias = None if bias is None else as_tensor(bias)
    xd, wd = x.data, kernel.data
    sh, sw = _pair(strides, "strides", "conv2d")
    padding = _padding_mode(padding, "conv2d")
    _check_4d(xd, "conv2d", "input", "(batch, height, width, channels)")
    _check_4d(wd, "conv2d", "kernel", "(kernel_height, kernel_width, in_channels, filters)")
    n, h, w, c = xd.shape
    kh, kw, kc, f = wd.shape
    if min(kh, kw, f) < 1:
        raise ValueError(
            f"conv2d: the kernel needs at least one row, column and filter. "
            f"Received: kernel shape {wd.shape}."
        )
    if kc != c:
        raise ValueError(
            f"conv2d: the input has {c} channels but the kernel expects {kc} "
            f"(kernel shape is (kernel_height, kernel_width, in_channels, filters)). "
            f"Received: input shape {xd.shape}, kernel shape {wd.shape}."
        )
    _check_float(xd, "conv2d", "input")
    _check_same_dtype(xd, wd, "conv2d", "kernel")
    if bias is not None:
        if bias.data.shape != (f,):
            raise ValueError(
                f"conv2d: expected a bias of shape ({f},), one value per filter. "
                f"Received: bias shape {bias.data.shape}."
            )
        _check_same_dtype(xd, bias.data, "conv2d", "bias")
    window, received = f"kernel {kh}x{kw}", f"input shape {xd.shape}, kernel shape {wd.shape}"
    oh = _checked_length(h, kh, sh, padding, "conv2d", window, (h, w), received)
    ow = _checked_length(w, kw, sw, padding, "conv2d", window, (h, w), received)
    if padding == "same":
        pads_h, pads_w = same_padding(h, kh, sh), same_padding(w, kw, sw)
        xp = _pad(xd, pads_h, pads_w, 0)
    else:
        pads_h, pads_w = (0, 0), (0, 0)
        xp = xd

    m, k = n * oh * ow, kh * kw * c
    kernel_major = c < _KERNEL_MAJOR_CHANNELS
    dtype = xd.dtype
    w2 = wd.reshape(k, f)
    if bias is None:
        wb = w2
    else:
        wb = np.empty((k + 1, f), dtype)
        wb[:k] = w2
        wb[k] = bias.data
    cols = _im2col(xp, kh, kw, sh, sw, oh, ow, kernel_major, bias is not None)
    out = (cols.T @ wb) if kernel_major else (cols @ wb)
    out = out.reshape(n, oh, ow, f)

    recording = grad_enabled()
    need_x = recording and x.requires_grad
    need_w = recording and kernel.requires_grad
    need_b = recording and bias is not None and bias.requires_grad
    keep_cols = cols if need_w else None  # only the kernel gradient reads the patches
    del cols

    def backward(g):
        g2 = g.astype(dtype, copy=False).reshape(m, f)
        grad_x = grad_w = grad_b = None
        if need_w:
            # dL/d[kernel; bias] = cols^T @ g  (the ones row of cols gives dL/dbias = sum_m g)
            gwb = (keep_cols @ g2) if kernel_major else (keep_cols.T @ g2)
            grad_w = gwb[:k].reshape(kh, kw, c, f)
            if need_b:
                grad_b = gwb[k]
        elif need_b:
            grad_b = np.ones(m, dtype) @ g2  # dL/dbias = sum over pixels of g
        if need_x:
            # dL/dx = col2im(g @ W^T): every patch entry goes back to the pixel it was read from.
            grad_x = _col2im(g2, w2, (n, h, w, c), pads_h, pads_w, kh, kw, sh, sw, oh, ow)
        if bias is None:
            return grad_x, grad_w
        return grad_x, grad_w, grad_b

    parents = (x, kernel) if bias is None else (x, kernel, bias)
    return Tensor.from_op(out, parents, backward, "conv2d")


def _im2col(xp, kh, kw, sh, sw, oh, ow, kernel_major, ones):
    """Patch matrix of xp, `(K[+1], M)` kernel-major or `(M, K[+1])`; one copy, no Python loop."""
    n, _, _, c = xp.shape
    s0, s1, s2, s3 = xp.strides
    m, k = n * oh * ow, kh * kw * c
    if kernel_major:
        view = as_strided(xp, (kh, kw, c, n, oh, ow), (s1, s2, s3, s0, s1 * sh, s2 * sw))
        cols = np.empty((k + ones, m), xp.dtype)
        cols[:k].reshape(kh, kw, c, n, oh, ow)[...] = view
        if ones:
            cols[k] = 1
        return cols
    view = as_strided(xp, (n, oh, ow, kh, kw, c), (s0, s1 * sh, s2 * sw, s1, s2, s3))
    if not ones:
        return view.reshape(m, k)  # a view when no copy is needed (1x1 kernel, stride 1)
    cols = np.empty((m, k + 1), xp.dtype)
    cols[:, :k].reshape(n, oh, ow, kh, kw, c)[...] = view
    cols[:, k] = 1
    return cols


def _col2im(g2, w2, x_shape, pads_h, pads_w, kh, kw, sh, sw, oh, ow):
    """Input gradient: patch gradients g @ W^T added back with one strided += per kernel offset."""
    n, h, w, c = x_shape
    dxp = np.zeros((n, h + sum(pads_h), w + sum(pads_w), c), g2.dtype)
    rows, columns = sh * (oh - 1) + 1, sw * (ow - 1) + 1
    # Patch gradients as one (M, C) block per kernel offset, so that each += runs along whole
    # `ow * C` rows rather than C-long runs strided by K: a batched GEMM, or one GEMM when C == 1.
    if c == 1:
        dcols = (w2 @ g2.T).reshape(kh, kw, n, oh, ow, c)
    else:
        dcols = np.matmul(g2, w2.reshape(kh * kw, c, -1).transpose(0, 2, 1))
        dcols = dcols.reshape(kh, kw, n, oh, ow, c)
    for a in range(kh):
        for b in range(kw):
            dxp[:, a : a + rows : sh, b : b + columns : sw, :] += dcols[a, b]
    return dxp[:, pads_h[0] : pads_h[0] + h, pads_w[0] : pads_w[0] + w, :]


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
    if array.ndim != 4:
        raise ValueError(
            f"{op}: expected {what} with 4 dims {dims}. Received: {what} shape {array.shape}."
        )


def _check_float(array, op, what):
    if array.dtype.kind != "f":
        raise TypeError(
            f"{op}: expected a float {what} (float32, or float64 for gradient checks). "
            f"Received: {what} dtype {array.dtype}."
        )


def _check_same_dtype(xd, other, op, what):
    if other.dtype != xd.dtype:
        raise TypeError(
            f"{op}: the {what} dtype must match the input dtype (no silent casts). "
            f"Received: input dtype {xd.dtype}, {what} dtype {other.dtype}."
        )


def _padding_mode(padding, op):
    mode = padding.lower() if isinstance(padding, str) else None
    if mode not in ("valid", "same"):
        raise ValueError(
            f"{op}: padding must be 'valid' or 'same' (case-insensitive). Received: padding={padding!r}."
        )
    return mode


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


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
