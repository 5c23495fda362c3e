"""Per-pixel maps of images and features: rescaling, normalization, contrast, brightness."""

import numpy as np

from striate.tensor import Tensor


def scale_shift(x, scale, offset):
    """`x * scale + offset` (scale and offset: numbers, or arrays broadcast on the last axes).

    >>> scale_shift(Tensor(np.array([0.0, 255.0])), 1 / 255, -0.5).data
    array([-0.5,  0.5])
    """
    xd = x.data
    scale = np.asarray(scale, xd.dtype)
    out = xd * scale + np.asarray(offset, xd.dtype)

    def backward(g):
        return (_unbroadcast(g * scale, xd.shape),)  # d/dx = scale

    return Tensor.from_op(out, (x,), backward, "scale_shift")


def _unbroadcast(g, shape):
    """Sum `g` down to `shape` (where a broadcast made it bigger)."""
    if g.shape == shape:
        return g
    g = g.sum(axis=tuple(range(g.ndim - len(shape))))
    return g.sum(axis=tuple(i for i, n in enumerate(shape) if n == 1), keepdims=True)


def normalize(x, mean, variance, epsilon, invert=False):
    """`(x - mean) / max(sqrt(variance), epsilon)`, or with `invert` the inverse map
    `mean + x * max(sqrt(variance), epsilon)` (Keras's Normalization).

    >>> normalize(Tensor(np.array([3.0, 5.0])), 3.0, 4.0, 1e-7).data
    array([0., 1.])
    """
    xd = x.data
    mean = np.asarray(mean, xd.dtype)
    denominator = np.maximum(np.sqrt(np.asarray(variance, xd.dtype)), xd.dtype.type(epsilon))
    if invert:
        out = mean + xd * denominator
    else:
        out = (xd - mean) / denominator

    def backward(g):
        local = g * denominator if invert else g / denominator  # d/dx = denominator^(+-1)
        return (_unbroadcast(local, xd.shape),)

    return Tensor.from_op(out, (x,), backward, "normalize")


def _clip_mask(values, low, high):
    return (values >= low) & (values <= high)


def adjust_contrast(x, factors, low, high):
    """Per image and channel, `(x - mean) * factor + mean` with the mean over height and
    width, then clipped to `[low, high]` (Keras's RandomContrast).

    Args:
        x: Tensor `(N, H, W, C)`.
        factors: one contrast factor per image, shape `(N,)`.
        low, high: the value range to clip to.

    >>> x = Tensor(np.array([0.0, 2.0]).reshape(1, 1, 2, 1))
    >>> adjust_contrast(x, np.array([2.0]), 0, 255).data.ravel()
    array([0., 3.])
    """
    xd = x.data
    f = np.asarray(factors, xd.dtype).reshape(-1, 1, 1, 1)
    mean = xd.mean(axis=1, keepdims=True).mean(axis=2, keepdims=True)
    before = (xd - mean) * f + mean
    out = np.clip(before, low, high)

    def backward(g):
        # y = f x + (1 - f) mean(x): dx = f g + (1 - f) sum_hw(g) / (H W), where not clipped.
        g = g * _clip_mask(before, low, high)
        pixels = xd.shape[1] * xd.shape[2]
        return (f * g + (1 - f) * g.sum(axis=(1, 2), keepdims=True) / pixels,)

    return Tensor.from_op(out.astype(xd.dtype), (x,), backward, "adjust_contrast")


def adjust_brightness(x, deltas, low, high):
    """`x + delta` (one delta per image), clipped to `[low, high]` (Keras's RandomBrightness).

    >>> x = Tensor(np.array([1.0, 250.0]).reshape(1, 1, 2, 1))
    >>> adjust_brightness(x, np.array([10.0]), 0, 255).data.ravel()
    array([ 11., 255.])
    """
    xd = x.data
    before = xd + np.asarray(deltas, xd.dtype).reshape(-1, 1, 1, 1)
    out = np.clip(before, low, high).astype(xd.dtype)

    def backward(g):
        return (g * _clip_mask(before, low, high),)  # 1 where not clipped

    return Tensor.from_op(out, (x,), backward, "adjust_brightness")
