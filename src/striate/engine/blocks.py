"""The 2x2-block pixel order: an image's pixels listed so that 2x2 max pooling reads whole blocks.

A convolution computes its output as one GEMM whose rows are pixels. In the usual row-major order
a 2x2 pooling window's four cells are scattered over the rows, and pooling must gather them
(strided views, or `np.take`). In block order, the rows are grouped by the cell's place in its
window: first every window's top-left cell, then every top-right, bottom-left and bottom-right
cell, each group in (image, window row, window column) order, so each group is one contiguous
`(n, oh // 2, ow // 2, channels)` array, and pooling (and its gradient) runs on whole arrays. When
the height or width is odd, the pixels no window covers follow: the last row, then the last
column.

>>> blocks = PixelBlocks(1, 3, 4)
>>> image = np.arange(12).reshape(1, 3, 4, 1)
>>> blocks.gather(image)[:, 0].tolist()  # 4 groups of 2 windows, then the last row
[0, 2, 1, 3, 4, 6, 5, 7, 8, 9, 10, 11]
>>> bool((blocks.scatter(blocks.gather(image)) == image).all())
True
"""

import numpy as np


class PixelBlocks:
    """Block order for `n` images of `oh` x `ow` pixels (each with any trailing shape)."""

    def __init__(self, n, oh, ow):
        self.n, self.oh, self.ow = n, oh, ow
        self.ph, self.pw = oh // 2, ow // 2
        self.parts_size = n * self.ph * self.pw  # rows in each of the 4 groups
        self.size = n * oh * ow

    def parts(self, rows):
        """The 4 groups of `rows` (block order, `(size, *rest)`) as `(4, n, ph, pw, *rest)`."""
        return rows[: 4 * self.parts_size].reshape((4, self.n, self.ph, self.pw) + rows.shape[1:])

    def rest(self, rows):
        """The rows of pixels that no 2x2 window covers (empty when oh and ow are even)."""
        return rows[4 * self.parts_size :]

    def row_ranges(self, n0, n1, pooled_only=False):
        """The (start, stop) ranges of the rows that hold the pixels of images n0:n1: one per
        group, then (unless `pooled_only`) one for the last row and one for the last column
        when the height or width is odd.

        >>> PixelBlocks(3, 3, 4).row_ranges(1, 2)
        [(2, 4), (8, 10), (14, 16), (20, 22), (28, 32)]
        """
        q, start = self.ph * self.pw, 4 * self.parts_size
        ranges = [(t * self.parts_size + n0 * q, t * self.parts_size + n1 * q) for t in range(4)]
        if not pooled_only:
            if self.oh % 2:
                ranges.append((start + n0 * self.ow, start + n1 * self.ow))
                start += self.n * self.ow
            if self.ow % 2:
                ranges.append((start + n0 * 2 * self.ph, start + n1 * 2 * self.ph))
        return ranges

    def gather(self, image, out=None, pooled_only=False, batch=None):
        """Pixels of `image` `(n, oh, ow, *rest)` in block order: `(size, *rest)`, or with
        `pooled_only` only the 4 groups, `(4 * parts_size, *rest)`. With `batch=(n0, n1)`,
        `image` holds only images n0:n1, and only their rows of `out` are written."""
        if out is None:
            size = 4 * self.parts_size if pooled_only else self.size
            out = np.empty((size,) + image.shape[3:], image.dtype)
        for destination, source in zip(
            self._row_pieces(out, pooled_only, batch), self._image_pieces(image, pooled_only)
        ):
            np.copyto(destination, source)
        return out

    def scatter(self, rows, out=None, pooled_only=False, batch=None):
        """The inverse of `gather`: rows in block order back to an `(n, oh, ow, *rest)` image,
        or with `pooled_only` the 4 groups to the `(n, 2 * ph, 2 * pw, *rest)` image of the
        pixels that 2x2 windows cover. With `batch=(n0, n1)`, only images n0:n1."""
        if out is None:
            n = self.n if batch is None else batch[1] - batch[0]
            oh, ow = (2 * self.ph, 2 * self.pw) if pooled_only else (self.oh, self.ow)
            out = np.empty((n, oh, ow) + rows.shape[1:], rows.dtype)
        for destination, source in zip(
            self._image_pieces(out, pooled_only), self._row_pieces(rows, pooled_only, batch)
        ):
            np.copyto(destination, source)
        return out

    def _row_pieces(self, rows, pooled_only=False, batch=None):
        n, ph, pw = self.n, self.ph, self.pw
        n0, n1 = (0, n) if batch is None else batch
        rest = rows.shape[1:]
        pieces = [self.parts(rows)[:, n0:n1].reshape((2, 2, n1 - n0, ph, pw) + rest)]
        if pooled_only:
            return pieces
        start = 4 * self.parts_size
        if self.oh % 2:
            pieces.append(rows[start : start + n * self.ow].reshape((n, self.ow) + rest)[n0:n1])
            start += n * self.ow
        if self.ow % 2:
            pieces.append(rows[start : start + n * 2 * ph].reshape((n, 2 * ph) + rest)[n0:n1])
        return pieces

    def _image_pieces(self, image, pooled_only=False):
        n, ph, pw = image.shape[0], self.ph, self.pw
        rest = image.shape[3:]
        tail = tuple(range(5, 5 + len(rest)))
        windows = image[:, : 2 * ph, : 2 * pw].reshape((n, ph, 2, pw, 2) + rest)
        pieces = [windows.transpose((2, 4, 0, 1, 3) + tail)]
        if pooled_only:
            return pieces
        if self.oh % 2:
            pieces.append(image[:, self.oh - 1])
        if self.ow % 2:
            pieces.append(image[:, : 2 * ph, self.ow - 1])
        return pieces
