"""Affine resampling of NHWC images, as Keras 3's `ops.image.affine_transform`.

A transform is 8 numbers `[a0, a1, a2, b0, b1, b2, c0, c1]` per image that map an output pixel
(row r, column c) to the input point `x = a0 c + a1 r + a2`, `y = b0 c + b1 r + b2` (c0 = c1 = 0
here: no perspective). The value there is read with 'nearest' (round half to even) or
'bilinear' interpolation; points outside the image follow `fill_mode`:

- 'reflect'  (d c b a | a b c d | d c b a), the edge pixel repeated;
- 'wrap'     (a b c d | a b c d | a b c d);
- 'nearest'  (a a a a | a b c d | d d d d);
- 'constant' (k k k k | a b c d | k k k k), k = fill_value, each bilinear tap on its own.

The output is a weighted sum of input pixels (and of k), so the backward scatters the gradient
back to the taps with the same weights.
"""

import numpy as np

from striate.tensor import Tensor

FILL_MODES = ("reflect", "wrap", "constant", "nearest")


def _mirror(index, size):
    s = size - 1
    return np.abs((index + s) % (2 * s) - s) if s else np.zeros_like(index)


def _fix(index, size, fill_mode):
    """In-range indices for `index` under `fill_mode` (Keras's index fixers)."""
    if fill_mode == "wrap":
        return index % size
    if fill_mode == "reflect":
        return (_mirror(2 * index + 1, 2 * size + 1) - 1) // 2
    return np.clip(index, 0, size - 1)


def _taps(coordinate, interpolation):
    """[(index, weight)] along one axis."""
    if interpolation == "nearest":
        return [(np.rint(coordinate).astype(np.int64), 1.0)]
    lower = np.floor(coordinate)
    upper_weight = coordinate - lower
    lower = lower.astype(np.int64)
    return [(lower, 1.0 - upper_weight), (lower + 1, upper_weight)]


def affine_matrices(angle=None, scale=None, translate=None, height=1, width=1, size=1):
    """Keras's `_compute_affine_matrix` about the image center for rotations (degrees), and the
    zoom and translation matrices of RandomZoom / RandomTranslation, as `(size, 8)` float64.

    `scale` is `(zoom_x, zoom_y)` arrays; `translate` is `(dx, dy)` in pixels.

    >>> affine_matrices(angle=np.array([0.0]), height=3, width=3).tolist()
    [[1.0, -0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]]
    """
    out = np.zeros((size, 8))
    if angle is not None:
        theta = np.asarray(angle, np.float64) * (np.pi / 180.0)
        cos, sin = np.cos(theta), np.sin(theta)
        cx, cy = 0.5 * (width - 1), 0.5 * (height - 1)
        out[:, 0], out[:, 1] = cos, -sin
        out[:, 2] = cx - cx * cos + cy * sin
        out[:, 3], out[:, 4] = sin, cos
        out[:, 5] = cy - cx * sin - cy * cos
    elif scale is not None:
        zx, zy = (np.asarray(z, np.float64) for z in scale)
        out[:, 0], out[:, 2] = zx, (width - 1.0) / 2.0 * (1.0 - zx)
        out[:, 4], out[:, 5] = zy, (height - 1.0) / 2.0 * (1.0 - zy)
    else:
        dx, dy = (np.asarray(t, np.float64) for t in translate)
        out[:, 0], out[:, 2], out[:, 4], out[:, 5] = 1.0, -dx, 1.0, -dy
    return out


def affine_transform(x, transforms, interpolation="bilinear", fill_mode="reflect", fill_value=0.0):
    """Resample every image of `x` through its transform (see the module docstring).

    Args:
        x: Tensor `(N, H, W, C)`, float.
        transforms: array `(N, 8)`.
        interpolation: 'nearest' or 'bilinear'.
        fill_mode: 'reflect', 'wrap', 'constant' or 'nearest'.
        fill_value: the value outside the image with 'constant'.

    Returns:
        Tensor `(N, H, W, C)` in the dtype of `x`.

    >>> x = Tensor(np.arange(4.0).reshape(1, 1, 4, 1))
    >>> shift = np.array([[1, 0, -1, 0, 1, 0, 0, 0]], float)  # read one column to the left
    >>> affine_transform(x, shift, "nearest", "constant").data.ravel()
    array([0., 0., 1., 2.])
    """
    xd = x.data
    n, h, w, c = xd.shape
    t = np.asarray(transforms, np.float64).reshape(n, 8, 1, 1)
    rows = np.arange(h, dtype=np.float64).reshape(1, h, 1)
    cols = np.arange(w, dtype=np.float64).reshape(1, 1, w)
    x_in = t[:, 0] * cols + t[:, 1] * rows + t[:, 2]
    y_in = t[:, 3] * cols + t[:, 4] * rows + t[:, 5]
    images = np.arange(n).reshape(n, 1, 1) * (h * w)
    gathers, weights, fill = [], [], np.zeros((n, h, w))
    for yi, wy in _taps(y_in, interpolation):
        for xi, wx in _taps(x_in, interpolation):
            weight = np.broadcast_to(np.asarray(wy * wx, np.float64), (n, h, w))
            if fill_mode == "constant":
                valid = (yi >= 0) & (yi < h) & (xi >= 0) & (xi < w)
                fill = fill + weight * ~valid
                weight = weight * valid
            flat = images + _fix(yi, h, fill_mode) * w + _fix(xi, w, fill_mode)
            gathers.append(flat.reshape(-1))
            weights.append(weight.reshape(-1, 1).astype(xd.dtype))
    source = xd.reshape(n * h * w, c)
    out = sum(weight * source[flat] for flat, weight in zip(gathers, weights))
    if fill_mode == "constant" and fill_value:
        out = out + (fill.reshape(-1, 1) * fill_value).astype(xd.dtype)
    out = out.reshape(n, h, w, c).astype(xd.dtype, copy=False)

    def backward(g):
        gx = np.zeros((n * h * w, c), g.dtype)
        g = g.reshape(-1, c)
        for flat, weight in zip(gathers, weights):
            np.add.at(gx, flat, weight * g)  # each tap gets its share of the gradient
        return (gx.reshape(xd.shape),)

    return Tensor.from_op(out, (x,), backward, "affine_transform")
