"""Image geometry on NHWC batches: casts, crops, constant padding, resizing and flips.

Every resize is a linear map along each spatial axis, written as an interpolation matrix
`M (out, in)` (`resize_matrix`): `y[n, i, j, c] = sum_h sum_w Mh[i, h] Mw[j, w] x[n, h, w, c]`.
Its backward is the same map with the transposed matrices. The matrices follow PyTorch's
`interpolate` (what Keras 3 runs on the torch backend): bilinear with `align_corners=False`,
the antialiased bilinear filter of PIL, and 'nearest-exact'.
"""

import numpy as np

from striate.tensor import Tensor

INTERPOLATIONS = ("bilinear", "nearest")


def cast(x, dtype):
    """`x` as `dtype` (the Tensor itself when it already is); the gradient is cast back.

    >>> cast(Tensor(np.arange(3, dtype=np.uint8)), "float32").data
    array([0., 1., 2.], dtype=float32)
    """
    dtype = np.dtype(dtype)
    if x.data.dtype == dtype:
        return x
    source = x.data.dtype

    def backward(g):
        return (g.astype(source) if source.kind == "f" else None,)  # the identity, cast back

    return Tensor.from_op(x.data.astype(dtype), (x,), backward, "cast")


def reshape_all(x, shape):
    """`x` reshaped to `shape`, batch axis included (adds or drops a batch axis of 1)."""
    in_shape = x.data.shape

    def backward(g):
        return (g.reshape(in_shape),)  # reshape back

    return Tensor.from_op(x.data.reshape(shape), (x,), backward, "reshape")


def crop(x, top, left, height, width):
    """The window `x[:, top:top + height, left:left + width, :]` (a copy).

    >>> crop(Tensor(np.arange(16.0).reshape(1, 4, 4, 1)), 1, 2, 2, 2).data[0, :, :, 0]
    array([[ 6.,  7.],
           [10., 11.]])
    """
    xd = x.data
    if top < 0 or left < 0 or top + height > xd.shape[1] or left + width > xd.shape[2]:
        raise ValueError(
            f"crop: the window {height}x{width} at ({top}, {left}) does not fit an image of "
            f"{xd.shape[1]}x{xd.shape[2]}. Received: x.shape={xd.shape}"
        )
    out = xd[:, top : top + height, left : left + width, :].copy()

    def backward(g):
        gx = np.zeros(xd.shape, g.dtype)
        gx[:, top : top + height, left : left + width, :] = g  # scatter back into the window
        return (gx,)

    return Tensor.from_op(out, (x,), backward, "crop")


def pad(x, top, left, height, width, value=0.0):
    """`x` placed at (`top`, `left`) in a `height` x `width` image filled with `value`."""
    xd = x.data
    n, h, w, c = xd.shape
    out = np.full((n, height, width, c), value, xd.dtype)
    out[:, top : top + h, left : left + w, :] = xd

    def backward(g):
        return (g[:, top : top + h, left : left + w, :],)  # the window the input went to

    return Tensor.from_op(out, (x,), backward, "pad")


def resize_matrix(in_size, out_size, interpolation="bilinear", antialias=False):
    """The `(out_size, in_size)` float64 matrix that resizes one axis, as torch's interpolate.

    - bilinear: source `s = max((i + 0.5) * in / out - 0.5, 0)`, weights `1 - frac(s)` on
      `floor(s)` and `frac(s)` on `min(floor(s) + 1, in - 1)`.
    - bilinear with antialias (PIL's filter): center `c = (i + 0.5) * scale` (`scale =
      in / out`), support `s = max(scale, 1)`, tap `j` weighted by `1 - |(j - c + 0.5) / s|`
      over `int(c - support + 0.5) <= j < int(c + support + 0.5)`, normalised to sum 1.
    - nearest ('nearest-exact'): `floor((i + 0.5) * in / out)`, in exact integer arithmetic.

    >>> resize_matrix(2, 4)
    array([[1.  , 0.  ],
           [0.75, 0.25],
           [0.25, 0.75],
           [0.  , 1.  ]])
    """
    matrix = np.zeros((out_size, in_size))
    rows = np.arange(out_size)
    scale = in_size / out_size
    if interpolation == "nearest":
        matrix[rows, np.minimum((2 * rows + 1) * in_size // (2 * out_size), in_size - 1)] = 1.0
    elif antialias:
        support = max(scale, 1.0)
        for i in rows:
            center = scale * (i + 0.5)
            low = max(int(center - support + 0.5), 0)
            high = min(int(center + support + 0.5), in_size)
            taps = np.arange(low, high)
            weights = np.maximum(1.0 - np.abs((taps - center + 0.5) / support), 0.0)
            total = weights.sum()
            matrix[i, low:high] = weights / total if total else weights
    else:
        source = np.maximum((rows + 0.5) * scale - 0.5, 0.0)
        lower = np.floor(source).astype(np.int64)
        upper = np.minimum(lower + 1, in_size - 1)
        frac = source - lower
        np.add.at(matrix, (rows, lower), 1.0 - frac)
        np.add.at(matrix, (rows, upper), frac)
    return matrix


def _apply(rows, cols, x):
    """`rows` along axis 1 and `cols` along axis 2 of NHWC `x`."""
    y = np.matmul(rows, x.reshape(x.shape[0], x.shape[1], -1))
    y = np.matmul(cols, y.reshape(-1, x.shape[2], x.shape[3]))
    return y.reshape(x.shape[0], rows.shape[0], cols.shape[0], x.shape[3])


def resize(x, height, width, interpolation="bilinear", antialias=False):
    """Resize NHWC images to `height` x `width` (see `resize_matrix` for the rules).

    Args:
        x: Tensor `(N, H, W, C)`, float.
        height, width: the output size.
        interpolation: 'bilinear' or 'nearest'.
        antialias: filter when downsampling (bilinear only, as torch).

    Returns:
        Tensor `(N, height, width, C)` in the dtype of `x`.

    >>> resize(Tensor(np.array([0.0, 4.0]).reshape(1, 1, 2, 1)), 1, 4).data.ravel()
    array([0., 1., 3., 4.])
    """
    xd = x.data
    if interpolation not in INTERPOLATIONS:
        raise ValueError(
            f"resize: interpolation must be one of {INTERPOLATIONS}. "
            f"Received: interpolation={interpolation!r}"
        )
    antialias = antialias and interpolation == "bilinear"
    rows = resize_matrix(xd.shape[1], height, interpolation, antialias).astype(xd.dtype)
    cols = resize_matrix(xd.shape[2], width, interpolation, antialias).astype(xd.dtype)
    out = _apply(rows, cols, xd)

    def backward(g):
        return (_apply(rows.T, cols.T, g),)  # the same linear map, transposed

    return Tensor.from_op(out, (x,), backward, "resize")


def flip(x, flips, horizontal, vertical):
    """Flip the images where `flips` (bool, one per image) is True: left-right when
    `horizontal`, top-bottom when `vertical` (both: the same images get both).

    >>> flip(Tensor(np.arange(2.0).reshape(1, 1, 2, 1)), np.array([True]), True, False).data
    array([[[[1.],
             [0.]]]])
    """
    mask = np.asarray(flips, bool).reshape(-1, 1, 1, 1)

    def apply(a):
        if horizontal:
            a = np.where(mask, a[:, :, ::-1, :], a)
        if vertical:
            a = np.where(mask, a[:, ::-1, :, :], a)
        return a

    def backward(g):
        return (apply(g),)  # a flip is its own inverse

    return Tensor.from_op(apply(x.data), (x,), backward, "flip")
