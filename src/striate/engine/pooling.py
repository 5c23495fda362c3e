"""How pooling reads its windows and sends gradients back: the machinery of `striate.ops.pool`
and of the fused `striate.ops.conv_pool`.

A pooling window is read as ph*pw *parts*: part t = (a, b), in row-major window order, is the
array `x_pad[:, a + sh*i, b + sw*j, :]` over all windows (i, j), shape `(N, oh, ow, C)`. Max and
average are elementwise over the parts, one part at a time. A part is read in one of two ways:

- a strided view `x_pad[:, a : a + sh*(oh-1) + 1 : sh, b : ... : sw, :]`, no copy. An
  elementwise op on such a view runs one inner loop per pixel, C elements long: fine when C is
  large;
- with few channels (below `TAKE_MAX_CHANNELS`) and non-overlapping windows, an `np.take` of
  whole channel vectors, by a cached index, into one reused contiguous buffer, so that every op
  after it is one long loop (benchmarks/README.md). The backward pass then builds the whole
  input gradient with one more `np.take`, through the inverse index (each pixel lies in at most
  one window; pixels in none, such as a dropped last row, read a zero row).

Max pooling sends each gradient to exactly one cell, the first maximum in row-major window
order (as PyTorch and TensorFlow do), using a one-byte code per output (which part held it)
computed once in the forward pass (`running_max`, `to_first_max`). The common 2x2 window with
stride 2 has its own path, a tournament (`tournament`, `route`): `top = max(p0, p1)`,
`bottom = max(p2, p3)`, `out = max(top, bottom)`, and three boolean masks (`p0 >= p1`,
`p2 >= p3`, `top >= bottom`: a tie goes to the earlier part) that route the gradient in two
products and two differences per pair: 6 passes over quarter-size arrays each way, against 3
per part for the general path.

Every function that sends gradients back returns the gradient of the *padded* input; the op
crops it (`striate.ops.geometry.unpad`).
"""

import numpy as np

# Below this many channels (and without overlap) the parts are gathered with np.take.
TAKE_MAX_CHANNELS = 16


class Windows:
    """The pooling windows of one input shape `(n, h, w, c)`: window `pool`, `strides`, Keras's
    padding `pads_h`, `pads_w` and output size `out_hw`; how their parts are read (`take` or
    strided views) and how gradients go back to the padded input."""

    def __init__(self, shape, pool, strides, pads_h, pads_w, out_hw, take_max_channels):
        (n, h, w, c), (ph, pw), (sh, sw), (oh, ow) = shape, pool, strides, out_hw
        self.pads_h, self.pads_w, self.hw = pads_h, pads_w, (h, w)
        self.padded = (n, h + sum(pads_h), w + sum(pads_w), c)
        self.pool, self.strides, self.out_hw = pool, strides, out_hw
        self.size = ph * pw
        self.overlap = sh < ph or sw < pw
        self.two_by_two = pool == (2, 2) and strides == (2, 2)  # the tournament's case
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

    def __repr__(self):
        return (
            f"Windows(padded={self.padded}, pool={self.pool}, strides={self.strides}, "
            f"out={self.out_hw}, take={self.take})"
        )

    def source(self, x_pad):
        """x_pad as `part` reads it: C-contiguous for the take path, so that its rows are a view."""
        return np.ascontiguousarray(x_pad) if self.take else x_pad

    def part(self, x_pad, t, out=None, fresh=False):
        """Part t of x_pad: gathered into `out` (or a new array), or a strided view (copied if
        fresh)."""
        if not self.take:
            view = x_pad[self.slices[t]]
            return view.copy() if fresh else view
        n, _, _, c = self.padded
        rows = np.take(x_pad.reshape(-1, c), self._index("gather")[t], axis=0, out=out, mode="clip")
        return rows.reshape((n,) + self.out_hw + (c,))

    def all_parts(self, x_pad):
        """The ph*pw parts of x_pad, each `(N, oh, ow, C)`: strided views, or one gather of all."""
        if not self.take:
            return [x_pad[s] for s in self.slices]
        n, _, _, c = self.padded
        gathered = np.take(x_pad.reshape(-1, c), self._index("gather").reshape(-1), axis=0)
        return gathered.reshape((self.size, n) + self.out_hw + (c,))

    def part_buffer(self, like):
        """Scratch array that `part` gathers into (None for strided views)."""
        if not self.take:
            return None
        return np.empty((like.size // like.shape[-1], like.shape[-1]), like.dtype)

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

    def rows_buffer(self, count, dtype):
        """(count*N*oh*ow + 1, C) rows for `take_back`: callers fill all but the last, zero, row."""
        n, _, _, c = self.padded
        rows = np.empty((count * n * self.out_hw[0] * self.out_hw[1] + 1, c), dtype)
        rows[-1] = 0
        return rows

    def take_back(self, rows, per_part):
        """Padded-input gradient from part gradients (per_part) or one gradient shared by all
        parts, filled into a `rows_buffer`."""
        dx_pad = np.take(rows, self._index("parts" if per_part else "windows"), axis=0)
        return dx_pad.reshape(self.padded)

    def empty_grad(self, dtype):
        """Array for the padded-input gradient, zero only where no window writes: uninitialised
        when windows tile the input; with stride == pool size, only the rows and columns past
        the last window are zeroed; otherwise (gaps between windows, or overlap, which adds)
        all."""
        if self.tiled:
            return np.empty(self.padded, dtype)
        if self.pool != self.strides:
            return np.zeros(self.padded, dtype)
        grad = np.empty(self.padded, dtype)
        (oh, ow), (ph, pw) = self.out_hw, self.pool
        grad[:, oh * ph :] = 0
        grad[:, :, ow * pw :] = 0
        return grad

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


def running_max(windows, x_pad, recording):
    """`(out, code)`: the maximum over each window's parts, and (when `recording`) `code`, the
    index t of the part holding the first maximum. One pass over the parts in row-major window
    order; a later part takes over only when strictly greater, so a tie stays with the first."""
    out = windows.part(x_pad, 0, fresh=True)
    code = np.zeros(out.shape, windows.code_dtype) if recording else None
    buffer = windows.part_buffer(out)
    for t in range(1, windows.size):
        part = windows.part(x_pad, t, out=buffer)
        if recording:
            wins = np.greater(part, out).view(np.uint8)
            np.maximum(code, np.multiply(wins, t, dtype=code.dtype), out=code)  # t > earlier codes
        np.maximum(out, part, out=out)
    return out, code


def to_first_max(windows, g, code):
    """The padded-input gradient that sends `g[w]` to the cell `code` names in window w."""
    if windows.take:
        rows = windows.rows_buffer(windows.size, g.dtype)
        chosen = code == windows.part_numbers  # (T, N, oh, ow, C): part t holds the argmax
        np.multiply(g, chosen, out=rows[:-1].reshape(chosen.shape))
        return windows.take_back(rows, per_part=True)
    dx_pad = windows.empty_grad(g.dtype)
    for t, s in enumerate(windows.slices):
        if windows.overlap:
            dx_pad[s] += g * (code == t)
        else:
            np.multiply(g, code == t, out=dx_pad[s])
    return dx_pad


def to_tournament_winner(windows, g, masks):
    """The padded-input gradient that sends `g[w]` to the cell of window w that `tournament`
    chose (2x2 windows, stride 2)."""
    if windows.take:
        rows = windows.rows_buffer(4, g.dtype)
        route(g, masks, rows[:-1].reshape((4,) + g.shape))
        return windows.take_back(rows, per_part=True)
    dx_pad = windows.empty_grad(g.dtype)
    route(g, masks, [dx_pad[s] for s in windows.slices])
    return dx_pad


def window_sum(windows, x_pad):
    """The sum over each window's parts, `(N, oh, ow, C)`, added in row-major window order."""
    out = windows.part(x_pad, 0, fresh=True)
    buffer = windows.part_buffer(out)
    for t in range(1, windows.size):
        np.add(out, windows.part(x_pad, t, out=buffer), out=out)
    return out


def to_every_cell(windows, g, scale):
    """The padded-input gradient that gives every cell of window w `g[w] * scale[w]` (added up
    where windows overlap; 0 for cells in no window). `scale` is a float or broadcasts to g."""
    if windows.take:
        rows = windows.rows_buffer(1, g.dtype)
        np.multiply(g, scale, out=rows[:-1].reshape(g.shape))
        return windows.take_back(rows, per_part=False)
    share = np.multiply(g, scale)
    dx_pad = windows.empty_grad(g.dtype)
    for s in windows.slices:
        if windows.overlap:
            dx_pad[s] += share
        else:
            dx_pad[s] = share
    return dx_pad


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
    masks = (
        np.equal(out, p0, out=top_left),
        left_bottom,
        np.greater_equal(out, bottom, out=top_wins),
    )
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
