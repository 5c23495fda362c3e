"""Sliding windows as strided views (im2col without a copy), with any stride and dilation, and
their adjoint: adding per-window values back into the cells they came from.

A window view of an NHWC array is `(batch, out_h, out_w, kernel_h, kernel_w, channels)`, where
`view[n, i, j, a, b, c] = x[n, i * sh + a * dh, j * sw + b * dw, c]`. Dilation only changes the
step between taps, so a dilated im2col is the same view with other strides.
"""

from numpy.lib.stride_tricks import as_strided


def window_view(xd, kernel, strides, dilation, out_hw):
    """Read-only view `(n, oh, ow, kh, kw, c)` of `xd` (n, h, w, c): every window's taps.

    >>> import numpy as np
    >>> x = np.arange(5.0).reshape(1, 1, 5, 1)
    >>> window_view(x, (1, 2), (1, 1), (1, 2), (1, 3))[0, 0, :, 0, :, 0]
    array([[0., 2.],
           [1., 3.],
           [2., 4.]])
    """
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = kernel, strides, dilation, out_hw
    n, _, _, c = xd.shape
    s_n, s_h, s_w, s_c = xd.strides
    shape = (n, oh, ow, kh, kw, c)
    steps = (s_n, s_h * sh, s_w * sw, s_h * dh, s_w * dw, s_c)
    return as_strided(xd, shape, steps, writeable=False)


def add_windows(target, per_window, strides, dilation):
    """`target[n, i*sh + a*dh, j*sw + b*dw, c] += per_window[n, i, j, a, b, c]` for every tap
    (the adjoint of `window_view`): one strided add per kernel offset, never per pixel.

    >>> import numpy as np
    >>> t = np.zeros((1, 1, 4, 1))
    >>> add_windows(t, np.ones((1, 1, 3, 1, 2, 1)), (1, 1), (1, 1))
    >>> t[0, 0, :, 0]
    array([1., 2., 2., 1.])
    """
    _, oh, ow, kh, kw, _ = per_window.shape
    (sh, sw), (dh, dw) = strides, dilation
    for a in range(kh):
        rows = slice(a * dh, a * dh + (oh - 1) * sh + 1, sh)
        for b in range(kw):
            cols = slice(b * dw, b * dw + (ow - 1) * sw + 1, sw)
            target[:, rows, cols, :] += per_window[:, :, :, a, b, :]
