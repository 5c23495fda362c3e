"""Image reshaping ops: upsampling (nearest, bilinear), cropping, and axis permutation."""

import numpy as np

from striate.ops.geometry import check_4d, check_float, pad, pair, unpad
from striate.tensor import Tensor, as_tensor


def upsampling2d(x, size=(2, 2), interpolation="nearest"):
    """Grow height and width by integer factors (Keras's UpSampling2D).

    'nearest' repeats each pixel `size` times: backward sums each block of g. 'bilinear' is
    half-pixel bilinear resizing (torch's align_corners=False, as Keras's torch backend):
    `out = A_h @ x @ A_w^T` per channel, with interpolation matrices A; backward applies their
    transposes, `dL/dx = A_h^T @ g @ A_w`.

    Args:
        x: Tensor `(batch, height, width, channels)`, float.
        size: int or (rows, cols) factors. interpolation: 'nearest' or 'bilinear'.

    Returns:
        Tensor `(batch, height * rows, width * cols, channels)`.

    >>> upsampling2d(np.array([[[[1.0], [2.0]]]]), (1, 2)).data.ravel()
    array([1., 1., 2., 2.])
    >>> upsampling2d(np.array([[[[0.0], [4.0]]]]), (1, 2), "bilinear").data.ravel()
    array([0., 1., 3., 4.])
    """
    op = "upsampling2d"
    x = as_tensor(x)
    xd = x.data
    check_4d(xd, op, "input", "(batch, height, width, channels)")
    check_float(xd, op, "input")
    sh, sw = pair(size, "size", op)
    n, h, w, c = xd.shape
    if interpolation == "nearest":
        out = np.repeat(np.repeat(xd, sh, axis=1), sw, axis=2)

        def backward(g):
            # every output cell of a pixel's block came from it: sum the block
            return (g.reshape(n, h, sh, w, sw, c).sum(axis=(2, 4), dtype=xd.dtype),)

    elif interpolation == "bilinear":
        rows, cols = interpolation_matrix(h, sh, xd.dtype), interpolation_matrix(w, sw, xd.dtype)
        out = np.einsum("yh,nhwc->nywc", rows, xd)
        out = np.einsum("xw,nywc->nyxc", cols, out)

        def backward(g):
            g = g.astype(xd.dtype, copy=False)
            return (np.einsum("xw,nyxc->nywc", cols, np.einsum("yh,nyxc->nhxc", rows, g)),)

    else:
        raise ValueError(
            f"{op}: interpolation must be 'nearest' or 'bilinear'. "
            f"Received: interpolation={interpolation!r}."
        )
    return Tensor.from_op(np.ascontiguousarray(out), (x,), backward, op)


def interpolation_matrix(n, factor, dtype):
    """(n * factor, n) weights of half-pixel linear interpolation: output cell y reads source
    `s = max((y + 0.5) / factor - 0.5, 0)` as `(1 - t) x[floor(s)] + t x[min(floor(s) + 1,
    n - 1)]` with `t = s - floor(s)`.

    >>> interpolation_matrix(2, 2, np.float64)
    array([[1.  , 0.  ],
           [0.75, 0.25],
           [0.25, 0.75],
           [0.  , 1.  ]])
    """
    y = np.arange(n * factor)
    source = np.maximum((y + 0.5) / factor - 0.5, 0.0)
    low = np.minimum(np.floor(source).astype(int), n - 1)
    high = np.minimum(low + 1, n - 1)
    t = source - low
    matrix = np.zeros((n * factor, n))
    np.add.at(matrix, (y, low), 1 - t)
    np.add.at(matrix, (y, high), t)
    return matrix.astype(dtype)


def cropping2d(x, cropping):
    """Cut rows and columns off the edges (Keras's Cropping2D); backward pads g with zeros.

    Args:
        x: Tensor `(batch, height, width, channels)`.
        cropping: `((top, bottom), (left, right))` of non-negative ints leaving at least one
            row and column.

    Returns:
        Tensor `(batch, height - top - bottom, width - left - right, channels)`, a view.

    >>> cropping2d(np.zeros((1, 4, 5, 1)), ((1, 0), (1, 2))).shape
    (1, 3, 2, 1)
    """
    x = as_tensor(x)
    xd = x.data
    check_4d(xd, "cropping2d", "input", "(batch, height, width, channels)")
    pads_h, pads_w = cropping
    if sum(pads_h) >= xd.shape[1] or sum(pads_w) >= xd.shape[2]:
        raise ValueError(
            f"cropping2d: cropping {cropping} leaves nothing of input {xd.shape[1]}x"
            f"{xd.shape[2]}. Received: input shape {xd.shape}."
        )
    out = unpad(xd, pads_h, pads_w)

    def backward(g):
        return (pad(g.astype(xd.dtype, copy=False), pads_h, pads_w, 0),)  # zeros where cut

    return Tensor.from_op(out, (x,), backward, "cropping2d")


def permute(x, dims):
    """Reorder the axes of each sample (Keras's Permute): `dims` numbers them from 1.

    Backward transposes g back with the inverse permutation.

    >>> permute(np.zeros((2, 3, 4, 5)), (3, 1, 2)).shape
    (2, 5, 3, 4)
    """
    x = as_tensor(x)
    xd = x.data
    order = (0, *dims)
    if sorted(order) != list(range(xd.ndim)):
        raise ValueError(
            f"permute: dims must order the axes 1..{xd.ndim - 1} of each sample. "
            f"Received: dims={tuple(dims)}, input shape {xd.shape}."
        )
    inverse = tuple(np.argsort(order))

    def backward(g):
        return (np.transpose(g, inverse),)

    out = np.ascontiguousarray(np.transpose(xd, order))
    return Tensor.from_op(out, (x,), backward, "permute")
