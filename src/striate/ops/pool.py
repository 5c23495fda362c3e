"""Pooling on NHWC arrays: max, average and global average, with Keras's output sizes.

A pooling window is read as ph*pw *parts*: part t = (a, b), in row-major window order, is the array
`x[:, a + sh*i, b + sw*j, :]` over all windows (i, j), shape `(N, oh, ow, C)`. Max and average are
elementwise over the parts, one part at a time. A part is read in one of two ways:

- a strided view `x[:, a : a + sh*(oh-1) + 1 : sh, b : ... : sw, :]`, no copy. An elementwise op
  on such a view runs one inner loop per pixel, C elements long: fine when C is large;
- with few channels and non-overlapping windows, an `np.take` of whole channel vectors, by a
  cached index, into one reused contiguous buffer, so that every op after it is one long loop
  (a 2x2 pool over 6 channels runs ~2x faster so). The backward pass then builds the whole input
  gradient with one more `np.take`, through the inverse index (each pixel lies in at most one
  window; pixels in none, such as a dropped last row, read a zero row).

Max pooling sends each gradient to exactly one cell, the first maximum in row-major window order
(as PyTorch and TensorFlow do), using a one-byte code per output (which part held it) computed
once in the forward pass. The common 2x2 window with stride 2 has its own path, a tournament
(`tournament`, `route`; also used by `striate.ops.conv_pool`): `top = max(p0, p1)`,
`bottom = max(p2, p3)`, `out = max(top, bottom)`, and three boolean masks (`p0 >= p1`,
`p2 >= p3`, `top >= bottom`: a tie goes to the earlier part) that route the gradient in two
products and two differences per pair: 6 passes over quarter-size arrays each way, against 3
per part for the general path. 'same' max pooling pads with -inf, so padding never wins; 'same'
average pooling divides by the number of real cells, as Keras does.
"""

import functools

import numpy as np

from striate.ops.geometry import (
    _check_4d,
    _check_float,
    _checked_length,
    _pad,
    _padding_mode,
    _pair,
    same_padding,
)
from striate.tensor import Tensor, as_tensor, grad_enabled

# Below this many channels (and without overlap) the parts are gathered with np.take.
_TAKE_MAX_CHANNELS = 16


def max_pool2d(x, pool_size=(2, 2), strides=None, padding="valid"):
    """Max pooling (Keras's MaxPooling2D).

    `out[n, i, j, c] = max_{a < ph, b < pw} x_pad[n, i*sh + a, j*sw + b, c]`, with -inf padding.

    Args:
        x: Tensor `(batch, height, width, channels)`, float.
        pool_size: int or (ph, pw), positive.
        strides: int or (sh, sw), positive; None means `pool_size`.
        padding: 'valid' or 'same' (case-insensitive).

    Returns:
        Tensor `(batch, out_height, out_width, channels)`. The gradient of each output goes to
        the first maximum of its window in row-major order; overlapping windows add up.

    >>> x = np.array([1, 5, 2, 0, 3, 4, 9, 9, 6, 7, 8, 2], np.float32).reshape(1, 3, 4, 1)
    >>> max_pool2d(x).data[..., 0]
    array([[[5., 9.]]], dtype=float32)
    >>> max_pool2d(x, 2, strides=1, padding="SAME").data[0, :, :, 0]
    array([[5., 9., 9., 9.],
           [7., 9., 9., 9.],
           [7., 8., 8., 2.]], dtype=float32)
    """
    x = as_tensor(x)
    geo = _geometry(x.data, pool_size, strides, padding, "max_pool2d")
    xp = geo.source(_pad(x.data, geo.pads_h, geo.pads_w, -np.inf))
    recording = grad_enabled() and x.requires_grad
    if geo.pairs:
        return _max_pool_2x2(x, xp, geo, recording)
    # One pass over the parts in row-major window order, keeping the running maximum and, when a
    # gradient will be needed, `code`: the index t of the part holding it. A later part takes over
    # only when strictly greater, so a tie stays with the first maximum in row-major order.
    out = geo.part(xp, 0, fresh=True)
    code = np.zeros(out.shape, geo.code_dtype) if recording else None
    buffer = geo.part_buffer(out)
    for t in range(1, geo.size):
        part = geo.part(xp, t, out=buffer)
        if recording:
            wins = np.greater(part, out).view(np.uint8)
            np.maximum(code, np.multiply(wins, t, dtype=code.dtype), out=code)  # t > earlier codes
        np.maximum(out, part, out=out)
    if not recording:
        return Tensor.from_op(out, (x,), None, "max_pool2d")

    def backward(g):
        # dL/dx[first argmax of window w] += g[w]; every other cell of the window gets nothing.
        g = g.astype(out.dtype, copy=False)
        if geo.take:
            rows = geo.rows_buffer(geo.size, out.dtype)
            chosen = code == geo.part_numbers  # (T, N, oh, ow, C): part t holds the argmax
            np.multiply(g, chosen, out=rows[:-1].reshape(chosen.shape))
            return (geo.take_back(rows, per_part=True),)
        dxp = geo.empty_grad(out.dtype)
        for t, s in enumerate(geo.slices):
            if geo.overlap:
                dxp[s] += g * (code == t)
            else:
                np.multiply(g, code == t, out=dxp[s])
        return (geo.crop(dxp),)

    return Tensor.from_op(out, (x,), backward, "max_pool2d")


def _max_pool_2x2(x, xp, geo, recording):
    """max_pool2d for 2x2 windows with stride 2: the tournament described in the module doc."""
    out, masks = tournament(*geo.all_parts(xp), recording)
    if not recording:
        return Tensor.from_op(out, (x,), None, "max_pool2d")

    def backward(g):
        g = g.astype(out.dtype, copy=False)
        if geo.take:
            rows = geo.rows_buffer(4, out.dtype)
            route(g, masks, rows[:-1].reshape((4,) + out.shape))
            return (geo.take_back(rows, per_part=True),)
        dxp = geo.empty_grad(out.dtype)
        route(g, masks, [dxp[s] for s in geo.slices])
        return (geo.crop(dxp),)

    return Tensor.from_op(out, (x,), backward, "max_pool2d")


def tournament(p0, p1, p2, p3, recording, overwrite=False, out=None, masks=None):
    """Max of four same-shape arrays, the parts (cells) of 2x2 windows in row-major order.

    Returns `(out, masks)`: `out = max(max(p0, p1), max(p2, p3))`, and, when `recording`, the
    three boolean masks that `route` needs: left wins its top pair (`p0 == max(p0, p1)`), left
    wins its bottom pair, and the top pair wins (`>=`). Every tie goes to the earlier cell, so
    the chosen cell is the first maximum in row-major order. `out` is a new array unless given
    (as are the masks, a list of three boolean arrays); with `overwrite`, p2 is used as scratch
    space.

    >>> parts = [np.array([1.0, 5.0]), np.array([3.0, 5.0]), np.array([3.0, 2.0]), np.zeros(2)]
    >>> out, masks = tournament(*parts, recording=True)
    >>> cells = [np.empty(2) for _ in range(4)]
    >>> route(np.array([10.0, 20.0]), masks, cells)
    >>> out.tolist(), [cell.tolist() for cell in cells]  # ties: p1 before p2, p0 before p1
    ([3.0, 5.0], [[0.0, 20.0], [10.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    """
    top_left, bottom_left, top_wins = masks if masks is not None else (None, None, None)
    out = np.maximum(p0, p1, out=out)
    if overwrite:  # p2 may hold the bottom pair's maximum: one quarter-size array less
        left_bottom = np.greater_equal(p2, p3, out=bottom_left) if recording else None
        bottom = np.maximum(p2, p3, out=p2)
    else:
        bottom = np.maximum(p2, p3)
        # `p2 == max(p2, p3)` is `p2 >= p3` (NaN included) and reads p3 no second time.
        left_bottom = np.equal(bottom, p2, out=bottom_left) if recording else None
    if not recording:
        return np.maximum(out, bottom, out=out), None
    masks = (np.equal(out, p0, out=top_left), left_bottom,
             np.greater_equal(out, bottom, out=top_wins))
    return np.maximum(out, bottom, out=out), masks


def route(g, masks, cells):
    """Write the four cells' gradients for window gradient `g` into `cells` (4 arrays shaped
    like g): g at the cell `tournament` chose, 0 at the others. Each window's gradient goes to
    its top or bottom pair, then to that pair's left or right cell, as g * mask there and
    g - g * mask (an exact 0 or g) at the other."""
    left_top, left_bottom, top = masks
    to_top = np.multiply(g, top, out=cells[1])  # cells 1 and 3 hold the pairs' gradients first
    to_bottom = np.subtract(g, to_top, out=cells[3])
    np.multiply(to_top, left_top, out=cells[0])
    np.subtract(to_top, cells[0], out=to_top)
    np.multiply(to_bottom, left_bottom, out=cells[2])
    np.subtract(to_bottom, cells[2], out=to_bottom)


def avg_pool2d(x, pool_size=(2, 2), strides=None, padding="valid"):
    """Average pooling (Keras's AveragePooling2D).

    `out[n, i, j, c] = sum_{a, b} x_pad[n, i*sh + a, j*sw + b, c] / count[i, j]`, where
    `count` is ph*pw for 'valid' and, for 'same', the number of real (not padding) cells.

    Args:
        x: Tensor `(batch, height, width, channels)`, float.
        pool_size: int or (ph, pw), positive.
        strides: int or (sh, sw), positive; None means `pool_size`.
        padding: 'valid' or 'same' (case-insensitive).

    Returns:
        Tensor `(batch, out_height, out_width, channels)`.

    >>> x = np.arange(6, dtype=np.float32).reshape(1, 2, 3, 1)
    >>> avg_pool2d(x, 2, padding="same").data[0, :, :, 0]
    array([[2. , 3.5]], dtype=float32)
    """
    x = as_tensor(x)
    geo = _geometry(x.data, pool_size, strides, padding, "avg_pool2d")
    xp = geo.source(_pad(x.data, geo.pads_h, geo.pads_w, 0))
    out = geo.part(xp, 0, fresh=True)
    buffer = geo.part_buffer(out)
    for t in range(1, geo.size):
        np.add(out, geo.part(xp, t, out=buffer), out=out)
    scale = geo.inverse_counts(out.dtype)  # a Python float, or (oh, ow, C) where counts vary
    np.multiply(out, scale, out=out)

    def backward(g):
        # dL/dx[cell] = sum over the windows w holding the cell of g[w] / count[w]
        g = g.astype(out.dtype, copy=False)
        if geo.take:
            rows = geo.rows_buffer(1, out.dtype)
            np.multiply(g, scale, out=rows[:-1].reshape(g.shape))
            return (geo.take_back(rows, per_part=False),)
        share = np.multiply(g, scale)
        dxp = geo.empty_grad(out.dtype)
        for s in geo.slices:
            if geo.overlap:
                dxp[s] += share
            else:
                dxp[s] = share
        return (geo.crop(dxp),)

    return Tensor.from_op(out, (x,), backward, "avg_pool2d")


def global_avg_pool2d(x, keepdims=False):
    """Mean over height and width (Keras's GlobalAveragePooling2D).

    Args:
        x: Tensor `(batch, height, width, channels)`, float.
        keepdims: keep the pooled axes, giving `(batch, 1, 1, channels)`.

    Returns:
        Tensor `(batch, channels)`, or `(batch, 1, 1, channels)` with keepdims.

    >>> global_avg_pool2d(np.arange(8, dtype=np.float32).reshape(1, 2, 2, 2)).data
    array([[3., 4.]], dtype=float32)
    """
    x = as_tensor(x)
    xd = x.data
    _check_4d(xd, "global_avg_pool2d", "input", "(batch, height, width, channels)")
    _check_float(xd, "global_avg_pool2d", "input")
    n, h, w, c = xd.shape
    if h * w == 0:
        raise ValueError(
            f"global_avg_pool2d: the input has no pixels to average. Received: input shape {xd.shape}."
        )
    out = xd.sum(axis=(1, 2), keepdims=keepdims) * (1.0 / (h * w))  # Python float: keeps dtype

    def backward(g):
        # dL/dx[n, y, x, c] = g[n, c] / (h * w), the same for every pixel
        share = g.astype(xd.dtype, copy=False).reshape(n, 1, 1, c) * (1.0 / (h * w))
        grad = np.empty(xd.shape, xd.dtype)
        grad[...] = share
        return (grad,)

    return Tensor.from_op(out, (x,), backward, "global_avg_pool2d")


def _geometry(xd, pool_size, strides, padding, op):
    """Validate one call's arguments and return its (cached) `_Geometry`."""
    pool = _pair(pool_size, "pool_size", op)
    strides = pool if strides is None else _pair(strides, "strides", op)
    padding = _padding_mode(padding, op)
    _check_4d(xd, op, "input", "(batch, height, width, channels)")
    _check_float(xd, op, "input")
    return _Geometry.cached(xd.shape, pool, strides, padding, op, _TAKE_MAX_CHANNELS)


class _Geometry:
    """Pooling arithmetic for one input shape, and the gather / scatter of window parts."""

    @staticmethod
    @functools.lru_cache(maxsize=16)
    def cached(shape, pool, strides, padding, op, take_max_channels):
        return _Geometry(shape, pool, strides, padding, op, take_max_channels)

    def __init__(self, shape, pool, strides, padding, op, take_max_channels):
        (n, h, w, c), (ph, pw), (sh, sw) = shape, pool, strides
        window = f"pool {ph}x{pw}"
        received = f"input shape {shape}, pool_size={pool}, strides={strides}"
        oh = _checked_length(h, ph, sh, padding, op, window, (h, w), received)
        ow = _checked_length(w, pw, sw, padding, op, window, (h, w), received)
        same = padding == "same"
        self.pads_h = same_padding(h, ph, sh) if same else (0, 0)
        self.pads_w = same_padding(w, pw, sw) if same else (0, 0)
        self.hw = (h, w)
        self.padded = (n, h + sum(self.pads_h), w + sum(self.pads_w), c)
        self.pool, self.strides, self.out_hw = pool, strides, (oh, ow)
        self.size = ph * pw
        self.overlap = sh < ph or sw < pw
        self.pairs = pool == (2, 2) and strides == (2, 2)  # the tournament path of max_pool2d
        self.take = not self.overlap and c < take_max_channels and self.size > 1
        # Windows tile the padded input exactly: every cell gets written, no zero fill needed.
        self.tiled = (sh, sw) == (ph, pw) and (oh * ph, ow * pw) == self.padded[1:3]
        rows, cols = sh * (oh - 1) + 1, sw * (ow - 1) + 1
        self.slices = [
            (slice(None), slice(a, a + rows, sh), slice(b, b + cols, sw))
            for a in range(ph)
            for b in range(pw)
        ]
        self.code_dtype = np.min_scalar_type(self.size - 1)  # uint8 up to 16x16 windows
        self.part_numbers = np.arange(self.size, dtype=self.code_dtype).reshape(-1, 1, 1, 1, 1)
        self._indices = {}

    def _index(self, which):
        """Cached index arrays for the take path (each built on first use):

        'gather': (T, P) pixel row read by part t for window p;
        'parts': per padded pixel, its row t*P + p in the stacked part gradients;
        'windows': per padded pixel, its window p. Pixels in no window get the last row, T*P or P.
        """
        if which not in self._indices:
            (n, hp, wp, _), (ph, pw), (sh, sw), (oh, ow) = (
                self.padded,
                self.pool,
                self.strides,
                self.out_hw,
            )
            if which == "gather":
                starts = (np.arange(n)[:, None, None] * hp + np.arange(oh)[:, None] * sh) * wp
                starts = (starts + np.arange(ow) * sw).reshape(-1)
                offsets = (np.arange(ph)[:, None] * wp + np.arange(pw)).reshape(-1)
                index = offsets[:, None] + starts
            else:
                gather = self._index("gather")
                rows = np.arange(gather.size) if which == "parts" else np.arange(gather[0].size)
                index = np.full(n * hp * wp, rows.size, np.intp)
                index[gather.reshape(-1)] = np.resize(rows, gather.size)
            index.flags.writeable = False
            self._indices[which] = index
        return self._indices[which]

    def source(self, xp):
        """xp as `part` reads it: C-contiguous for the take path, so that its rows are a view."""
        return np.ascontiguousarray(xp) if self.take else xp

    def part(self, xp, t, out=None, fresh=False):
        """Part t of xp: gathered into `out` (or a new array), or a strided view (copied if fresh)."""
        if not self.take:
            view = xp[self.slices[t]]
            return view.copy() if fresh else view
        n, _, _, c = self.padded
        rows = np.take(xp.reshape(-1, c), self._index("gather")[t], axis=0, out=out, mode="clip")
        return rows.reshape((n,) + self.out_hw + (c,))

    def all_parts(self, xp):
        """The ph*pw parts of xp, each `(N, oh, ow, C)`: strided views, or one gather of all."""
        if not self.take:
            return [xp[s] for s in self.slices]
        n, _, _, c = self.padded
        gathered = np.take(xp.reshape(-1, c), self._index("gather").reshape(-1), axis=0)
        return gathered.reshape((self.size, n) + self.out_hw + (c,))

    def part_buffer(self, like):
        """Scratch array that `part` gathers into (None for strided views)."""
        return (
            np.empty((like.size // like.shape[-1], like.shape[-1]), like.dtype)
            if self.take
            else None
        )

    def rows_buffer(self, count, dtype):
        """(count*N*oh*ow + 1, C) rows for `take_back`: callers fill all but the last, zero, row."""
        n, _, _, c = self.padded
        rows = np.empty((count * n * self.out_hw[0] * self.out_hw[1] + 1, c), dtype)
        rows[-1] = 0
        return rows

    def take_back(self, rows, per_part):
        """Input gradient from part gradients (per_part) or one gradient shared by all parts."""
        dxp = np.take(rows, self._index("parts" if per_part else "windows"), axis=0)
        return self.crop(dxp.reshape(self.padded))

    def empty_grad(self, dtype):
        """Array for the input gradient, zero only where no window writes: uninitialised when
        windows tile the input; with stride == pool size, only the rows and columns past the
        last window are zeroed; otherwise (gaps between windows, or overlap, which adds) all."""
        if self.tiled:
            return np.empty(self.padded, dtype)
        if self.pool != self.strides:
            return np.zeros(self.padded, dtype)
        grad = np.empty(self.padded, dtype)
        (oh, ow), (ph, pw) = self.out_hw, self.pool
        grad[:, oh * ph :] = 0
        grad[:, :, ow * pw :] = 0
        return grad

    def crop(self, dxp):
        (top, _), (left, _), (h, w) = self.pads_h, self.pads_w, self.hw
        return dxp[:, top : top + h, left : left + w, :]

    def inverse_counts(self, dtype):
        """1 / (real cells per window): a Python float, or an (oh, ow, C) array for 'same'."""
        (ph, pw), (sh, sw), (oh, ow) = self.pool, self.strides, self.out_hw
        if self.padded[1:3] == self.hw:
            return 1.0 / (ph * pw)
        (h, w), top, left = self.hw, self.pads_h[0], self.pads_w[0]
        rows = np.minimum(np.arange(oh) * sh - top + ph, h) - np.maximum(
            np.arange(oh) * sh - top, 0
        )
        cols = np.minimum(np.arange(ow) * sw - left + pw, w) - np.maximum(
            np.arange(ow) * sw - left, 0
        )
        counts = (rows[:, None] * cols[None, :]).astype(dtype)
        inverse = np.empty((oh, ow, self.padded[3]), dtype)
        inverse[...] = (1 / counts)[:, :, None]
        return inverse
