"""max_pool2d, avg_pool2d, global_avg_pool2d: loop oracle (values and tie-routing), gradients,
torch parity, error texts. Every pooling test runs on both gather paths (strided views, np.take)."""

import functools
import itertools
import math

import numpy as np
import pytest
from gradcheck import check_gradients

from striate.engine import pooling
from striate.ops.pool import avg_pool2d, global_avg_pool2d, max_pool2d
from striate.tensor import Tensor, no_grad

SHAPES = [(5, 7), (6, 6), (7, 5)]
POOLS = [(1, 1), (2, 2), (3, 3), (4, 4), (2, 3), (3, 1)]
STRIDES = [None, (1, 1), (2, 2), (3, 3), (1, 2), (3, 2)]


@pytest.fixture(params=["views", "take"])
def path(request, monkeypatch):
    """Run a test once with strided views and once with np.take (where windows do not overlap)."""
    monkeypatch.setattr(pooling, "TAKE_MAX_CHANNELS", 0 if request.param == "views" else 10**9)
    return request.param


def keras_padding(n, k, s):
    out = math.ceil(n / s)
    total = max((out - 1) * s + k - n, 0)
    return out, total // 2, total - total // 2


def windows(shape, pool_size, strides, padding):
    """Yield (i, j, rows, cols) of each window in input coordinates, clipped to the real cells."""
    _, h, w, _ = shape
    (ph, pw), (sh, sw) = pool_size, strides or pool_size
    if padding == "same":
        (oh, top, _), (ow, left, _) = keras_padding(h, ph, sh), keras_padding(w, pw, sw)
    else:
        (oh, top), (ow, left) = ((h - ph) // sh + 1, 0), ((w - pw) // sw + 1, 0)
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * sh - top, j * sw - left
            yield i, j, range(max(r0, 0), min(r0 + ph, h)), range(max(c0, 0), min(c0 + pw, w))


def reference_pool(x, g, pool_size, strides, padding, kind):
    """Slow and obvious: per window, the max (gradient to np.argmax, the first in row-major
    order) or the mean over its real cells. Returns (out, dx) for upstream gradient g (or None)."""
    cells = list(windows(x.shape, pool_size, strides, padding))
    oh, ow = cells[-1][0] + 1, cells[-1][1] + 1
    out = np.zeros((x.shape[0], oh, ow, x.shape[3]), x.dtype)
    dx = np.zeros_like(x)
    g = np.zeros(out.shape) if g is None else g
    for i, j, rows, cols in cells:
        for n in range(x.shape[0]):
            for c in range(x.shape[3]):
                block = x[n, rows.start : rows.stop, cols.start : cols.stop, c]
                if kind == "max":
                    out[n, i, j, c] = block.max()
                    a, b = np.unravel_index(np.argmax(block), block.shape)
                    dx[n, rows.start + a, cols.start + b, c] += g[n, i, j, c]
                else:
                    out[n, i, j, c] = block.mean()
                    dx[n, rows.start : rows.stop, cols.start : cols.stop, c] += (
                        g[n, i, j, c] / block.size
                    )
    return out, dx


def cases():
    for (h, w), pool_size, strides, padding in itertools.product(
        SHAPES, POOLS, STRIDES, ["valid", "same"]
    ):
        if padding == "valid" and (pool_size[0] > h or pool_size[1] > w):
            continue
        yield (h, w), pool_size, strides, padding


def run(op, x, g, pool_size, strides, padding):
    t = Tensor(x, requires_grad=True)
    out = op(t, pool_size, strides, padding)
    out.backward(g)
    return out.data, t.grad


# ------------------------------------------------------------------------------ values and routing


@pytest.mark.slow  # over 1 s (the quick tier stays under a minute)
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("op, kind", [(max_pool2d, "max"), (avg_pool2d, "avg")])
def test_matches_loop_reference(path, op, kind, channels):
    rng = np.random.default_rng(channels)
    for (h, w), pool_size, strides, padding in cases():
        # Small integers: many ties, so the max gradient must follow the first-in-row-major rule.
        x = rng.integers(-3, 3, (2, h, w, channels)).astype(np.float64)
        out_shape = reference_pool(x, None, pool_size, strides, padding, kind)[0].shape
        g = rng.standard_normal(out_shape)
        want_out, want_dx = reference_pool(x, g, pool_size, strides, padding, kind)
        got_out, got_dx = run(op, x, g, pool_size, strides, padding)
        message = f"{kind} {h}x{w}x{channels}, pool {pool_size}, strides {strides}, {padding}"
        np.testing.assert_allclose(got_out, want_out, atol=1e-12, err_msg=message)
        np.testing.assert_allclose(got_dx, want_dx, atol=1e-12, err_msg=message)


def test_ties_route_to_exactly_one_cell(path):
    x = np.ones((2, 6, 7, 3), np.float32)
    for strides in [None, (1, 1), (1, 2)]:
        t = Tensor(x, requires_grad=True)
        out = max_pool2d(t, (2, 3), strides)
        out.backward(np.ones(out.shape, np.float32))
        sh, sw = strides or (2, 3)
        # Every window sends its 1 to its top-left cell, and only there.
        expected = np.zeros_like(x)
        for i in range(out.shape[1]):
            for j in range(out.shape[2]):
                expected[:, i * sh, j * sw, :] += 1
        np.testing.assert_array_equal(t.grad, expected)
        assert t.grad.sum() == out.data.size


def test_same_max_never_picks_padding_and_same_avg_counts_real_cells(path):
    # Values from Keras 3 (MaxPooling2D / AveragePooling2D, padding="same").
    x = np.arange(15, dtype=np.float32).reshape(1, 3, 5, 1)
    assert avg_pool2d(x, 2, padding="same").data[0, :, :, 0].tolist() == [
        [3.0, 5.0, 6.5],
        [10.5, 12.5, 14.0],
    ]
    assert avg_pool2d(x, 3, 2, "same").data[0, :, :, 0].tolist() == [
        [3.0, 4.5, 6.0],
        [8.0, 9.5, 11.0],
    ]
    assert max_pool2d(-1 - x, 2, padding="same").data[0, :, :, 0].tolist() == [
        [-1, -3, -5],
        [-11, -13, -15],
    ]
    assert max_pool2d(-1 - x, 3, 2, "same").data[0, :, :, 0].tolist() == [
        [-1, -2, -4],
        [-6, -7, -9],
    ]
    assert np.all(avg_pool2d(np.ones((2, 5, 7, 2)), (3, 2), (2, 2), "same").data == 1)


def test_article_shapes_and_float32(path):
    rng = np.random.default_rng(0)
    for op in (max_pool2d, avg_pool2d):
        x = Tensor(rng.standard_normal((4, 27, 27, 6)).astype(np.float32), requires_grad=True)
        out = op(x, 2)
        assert out.shape == (4, 13, 13, 6) and out.dtype == np.float32
        out.backward(np.ones(out.shape, np.float32))
        assert x.grad.dtype == np.float32 and x.grad.shape == x.shape
        assert not x.grad[:, 26].any() and not x.grad[:, :, 26].any()  # the dropped row and column


def test_non_contiguous_input(path):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 9, 14, 3))[:, ::2, 1::2]  # a strided view, (2, 5, 7, 3)
    g = rng.standard_normal((2, 2, 3, 3))
    for op, kind in [(max_pool2d, "max"), (avg_pool2d, "avg")]:
        for a, b in zip(
            run(op, x, g, 2, None, "valid"), reference_pool(x, g, (2, 2), None, "valid", kind)
        ):
            np.testing.assert_allclose(a, b, atol=1e-12)


def test_many_channels():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 7, 6, 20))
    g = rng.standard_normal((2, 4, 3, 20))
    for op, kind in [(max_pool2d, "max"), (avg_pool2d, "avg")]:
        got = run(op, x, g, (2, 2), None, "same")
        want = reference_pool(x, g, (2, 2), None, "same", kind)
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, atol=1e-12)


# ------------------------------------------------------------------------------ gradients


@pytest.mark.parametrize("op", [max_pool2d, avg_pool2d])
def test_gradients(path, op):
    rng = np.random.default_rng(2)
    for (h, w), pool_size, strides, padding in cases():
        if pool_size == (4, 4) or strides == (3, 3):
            continue  # keep the run short; the loop-reference test covers these
        # Distinct values far apart, so that a small step never changes which cell is the max.
        x = rng.permutation(2 * h * w * 2).reshape(2, h, w, 2) * 0.1
        try:
            check_gradients(
                functools.partial(op, pool_size=pool_size, strides=strides, padding=padding), [x]
            )
        except AssertionError as error:
            raise AssertionError(
                f"{h}x{w}, pool {pool_size}, strides {strides}, {padding}: {error}"
            ) from error


def test_global_avg_pool2d():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 5, 4))
    np.testing.assert_allclose(global_avg_pool2d(x).data, x.mean(axis=(1, 2)))
    assert global_avg_pool2d(x, keepdims=True).shape == (2, 1, 1, 4)
    assert global_avg_pool2d(x.astype(np.float32)).dtype == np.float32
    check_gradients(global_avg_pool2d, [x])
    check_gradients(lambda a: global_avg_pool2d(a, keepdims=True), [x])


def test_no_grad_and_frozen_input_record_nothing():
    x = Tensor(np.ones((1, 4, 4, 1)), requires_grad=True)
    with no_grad():
        assert max_pool2d(x).backward_fn is None
    assert max_pool2d(Tensor(np.ones((1, 4, 4, 1)))).backward_fn is None


# ------------------------------------------------------------------------------ torch parity


def torch_pool(x, pool_size, strides, padding, kind, g):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    strides = strides or pool_size
    xt = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
    inp, ones = xt, torch.ones_like(xt)
    if padding == "same":
        _, top, bottom = keras_padding(x.shape[1], pool_size[0], strides[0])
        _, left, right = keras_padding(x.shape[2], pool_size[1], strides[1])
        pads = (left, right, top, bottom)
        inp = F.pad(xt, pads, value=-math.inf if kind == "max" else 0.0)
        ones = F.pad(ones, pads)
    if kind == "max":
        out = F.max_pool2d(inp, pool_size, strides)
    else:  # mean over real cells: windowed sum of x over windowed count of ones
        out = F.avg_pool2d(inp, pool_size, strides) / F.avg_pool2d(ones, pool_size, strides)
    out.backward(torch.tensor(g.transpose(0, 3, 1, 2)))
    return out.detach().numpy().transpose(0, 2, 3, 1), xt.grad.numpy().transpose(0, 2, 3, 1)


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_matches_torch(path, kind):
    pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    op = max_pool2d if kind == "max" else avg_pool2d
    for (h, w), pool_size, strides, padding in cases():
        # float32 on the default strides only, to keep the run short.
        for dtype in (np.float64,) if strides else (np.float32, np.float64):
            # Integers after a ReLU-like clip: plenty of ties (all-zero windows), as in training.
            x = np.maximum(rng.integers(-2, 3, (2, h, w, 3)), 0).astype(dtype)
            out = op(Tensor(x), pool_size, strides, padding)
            g = rng.standard_normal(out.shape).astype(dtype)
            want_out, want_dx = torch_pool(x, pool_size, strides, padding, kind, g)
            got_out, got_dx = run(op, x, g, pool_size, strides, padding)
            assert got_out.dtype == dtype and got_dx.dtype == dtype
            tol = 1e-6 if dtype == np.float32 else 1e-12
            message = f"{h}x{w}, pool {pool_size}, strides {strides}, {padding}, {dtype.__name__}"
            np.testing.assert_allclose(got_out, want_out, rtol=tol, atol=tol, err_msg=message)
            np.testing.assert_allclose(got_dx, want_dx, rtol=tol, atol=tol, err_msg=message)


# ------------------------------------------------------------------------------ errors


def test_error_messages():
    x = np.zeros((1, 4, 4, 2), np.float32)
    with pytest.raises(
        ValueError,
        match=(
            r"max_pool2d: expected input with 4 dims \(batch, height, width, channels\)\. "
            r"Received: input shape \(4, 4\)\."
        ),
    ):
        max_pool2d(np.zeros((4, 4), np.float32))
    with pytest.raises(
        ValueError,
        match=r"avg_pool2d: padding must be 'valid' or 'same' .* Received: padding='full'",
    ):
        avg_pool2d(x, padding="full")
    with pytest.raises(
        ValueError,
        match=(
            r"max_pool2d: pool_size must be a positive int or a tuple of 2 positive ints\. "
            r"Received: pool_size=\(2, 0\)"
        ),
    ):
        max_pool2d(x, (2, 0))
    with pytest.raises(ValueError, match=r"strides=-1"):
        avg_pool2d(x, 2, strides=-1)
    with pytest.raises(
        ValueError,
        match=(
            r"max_pool2d: pool 5x5 does not fit input 4x4 with padding 'valid'\. "
            r"Output size would be floor\(\(4 - 5\) / 1\) \+ 1 = 0\."
        ),
    ):
        max_pool2d(x, 5, 1)
    with pytest.raises(TypeError, match=r"expected a float input .* Received: input dtype int64"):
        max_pool2d(x.astype(np.int64))
    with pytest.raises(ValueError, match=r"global_avg_pool2d: expected input with 4 dims"):
        global_avg_pool2d(np.zeros((2, 3), np.float32))
    assert max_pool2d(x, padding="Same").shape == (1, 2, 2, 2)
