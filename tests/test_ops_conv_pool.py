"""Block pixel order, conv2d(pixel_order='blocks') and the fused conv2d_max_pool2d: same numbers
as the unfused ops (bit for bit where the GEMMs are the same, within float rounding where the
fused op's GEMM has another height: tests/rounding.py), gradient checks, errors."""

import functools
import itertools

import numpy as np
import pytest
from gradcheck import check_gradients
from rounding import assert_equal_within_rounding

from striate.engine import conv_gemm
from striate.engine.blocks import PixelBlocks
from striate.ops.conv import conv2d
from striate.ops.conv_pool import conv2d_max_pool2d
from striate.ops.pool import max_pool2d
from striate.tensor import Tensor, no_grad

# (input h, w, channels, kernel, strides, padding): odd and even conv outputs, both layouts.
CASES = [
    (6, 6, 1, 2, 1, "valid"),  # 5x5 output: last row and column pooled by no window
    (7, 7, 1, 2, 1, "valid"),  # 6x6: windows tile the output
    (9, 8, 3, 3, 1, "same"),
    (9, 11, 2, 3, 2, "valid"),
    (8, 7, 20, 3, 1, "valid"),  # pixel-major patches
    (5, 5, 6, 1, 1, "valid"),
    (28, 28, 1, 2, 1, "valid"),  # the article's layer: 27x27 -> 13x13
]


@pytest.fixture(params=["kernel_major", "pixel_major"])
def layout(request, monkeypatch):
    threshold = 10**9 if request.param == "kernel_major" else 0
    monkeypatch.setattr(conv_gemm, "KERNEL_MAJOR_CHANNELS", threshold)
    return request.param


def run(op, arrays, g=None, seed=1):
    """(output, input grad, kernel grad, bias grad) of op(x, kernel, bias) for gradient g."""
    tensors = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    out = op(*tensors)
    if g is None:
        g = np.random.default_rng(seed).standard_normal(out.shape).astype(out.dtype)
    out.backward(g)
    return (out.data,) + tuple(t.grad for t in tensors)


def case_arrays(h, w, c, k, dtype, rng, ties=True):
    f = 4
    if ties:  # small integers: many tied maxima, so the first-max rule is exercised
        x = rng.integers(-2, 3, (2, h, w, c)).astype(dtype)
        kernel = rng.integers(-1, 2, (k, k, c, f)).astype(dtype)
    else:
        x = rng.standard_normal((2, h, w, c)).astype(dtype)
        kernel = rng.standard_normal((k, k, c, f)).astype(dtype)
    return x, kernel, rng.standard_normal(f).astype(dtype)


def test_blocks_gather_scatter_roundtrip_and_parts():
    rng = np.random.default_rng(0)
    for n, oh, ow in itertools.product([1, 3], [1, 2, 5, 6], [1, 3, 4]):
        blocks = PixelBlocks(n, oh, ow)
        image = rng.standard_normal((n, oh, ow, 2, 3))
        rows = blocks.gather(image)
        assert rows.shape == (n * oh * ow, 2, 3)
        assert np.array_equal(blocks.scatter(rows), image)
        assert sorted(rows.ravel()) == sorted(image.ravel())
        ph, pw = oh // 2, ow // 2
        for t, (a, b) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
            part = image[:, a : 2 * ph : 2, b : 2 * pw : 2]
            assert np.array_equal(blocks.parts(rows)[t], part)
        assert len(blocks.rest(rows)) == n * (oh * ow - 4 * ph * pw)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_block_order_gives_the_same_output_and_input_gradient(layout, dtype):
    rng = np.random.default_rng(2)
    for h, w, c, k, s, padding in CASES:
        arrays = case_arrays(h, w, c, k, dtype, rng, ties=False)
        rows = run(functools.partial(conv2d, strides=s, padding=padding), arrays)
        blocks = run(
            functools.partial(conv2d, strides=s, padding=padding, pixel_order="blocks"), arrays
        )
        assert np.array_equal(rows[0], blocks[0]) and np.array_equal(rows[1], blocks[1])
        # The kernel and bias gradients sum over pixels in another order: equal up to rounding.
        tolerance = 1e-12 if dtype == np.float64 else 1e-4
        for a, b in zip(rows[2:], blocks[2:]):
            np.testing.assert_allclose(a, b, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fused_equals_conv_then_pool_within_rounding(layout, dtype):
    rng = np.random.default_rng(3)
    for h, w, c, k, s, padding in CASES:
        for ties in (True, False):
            arrays = case_arrays(h, w, c, k, dtype, rng, ties)

            def unfused(x, kernel, bias, s=s, padding=padding):
                out = conv2d(x, kernel, bias, s, padding, pixel_order="blocks")
                return max_pool2d(out, 2)

            fused = functools.partial(conv2d_max_pool2d, strides=s, padding=padding)
            for got, want in zip(run(fused, arrays), run(unfused, arrays)):
                assert_equal_within_rounding(got, want, what=str((h, w, c, k, s)))


def test_fused_gradients(layout):
    rng = np.random.default_rng(4)
    for h, w, c, k, s, padding in CASES[:-1]:
        # Distinct values far apart: a small step never changes which cell is the max.
        x = rng.permutation(2 * h * w * c).reshape(2, h, w, c) * 0.1
        kernel = rng.standard_normal((k, k, c, 3))
        bias = rng.standard_normal(3)
        fn = functools.partial(conv2d_max_pool2d, strides=s, padding=padding)
        check_gradients(fn, [x, kernel, bias])
        check_gradients(fn, [x, kernel])  # no bias


def test_fused_records_only_what_is_needed():
    x = np.ones((1, 6, 6, 1), np.float32)
    kernel = np.ones((2, 2, 1, 2), np.float32)
    with no_grad():
        assert conv2d_max_pool2d(x, Tensor(kernel, requires_grad=True)).backward_fn is None
    assert conv2d_max_pool2d(x, kernel).backward_fn is None
    frozen = Tensor(x, requires_grad=True)
    out = conv2d_max_pool2d(frozen, kernel)  # only the input needs a gradient
    out.backward(np.ones(out.shape, np.float32))
    assert frozen.grad.shape == x.shape and frozen.grad.sum() == 4 * out.data.size


def test_fused_errors():
    with pytest.raises(ValueError, match="a 2x2 pool window does not fit"):
        conv2d_max_pool2d(np.ones((1, 2, 5, 1)), np.ones((2, 2, 1, 1)))
    with pytest.raises(ValueError, match="expects 2"):
        conv2d_max_pool2d(np.ones((1, 6, 6, 1)), np.ones((2, 2, 2, 1)))
    with pytest.raises(ValueError, match="pixel_order must be 'rows' or 'blocks'"):
        conv2d(np.ones((1, 6, 6, 1)), np.ones((2, 2, 1, 1)), pixel_order="columns")


@pytest.mark.parametrize(
    "trainable", [(True, False, True), (False, True, False), (True, False, False)]
)
def test_fused_equals_unfused_for_each_subset_of_gradients(layout, trainable):
    """Input, kernel, bias: whichever need a gradient, fused and unfused give the same ones."""
    rng = np.random.default_rng(5)
    for h, w, c, k, s, padding in CASES[:4]:
        arrays = case_arrays(h, w, c, k, np.float32, rng)
        results = []
        for fused in (True, False):
            tensors = [Tensor(a.copy(), requires_grad=r) for a, r in zip(arrays, trainable)]
            if fused:
                out = conv2d_max_pool2d(*tensors, strides=s, padding=padding)
            else:
                out = max_pool2d(conv2d(*tensors, s, padding, pixel_order="blocks"), 2)
            out.backward(np.random.default_rng(1).standard_normal(out.shape).astype(np.float32))
            results.append([out.data] + [t.grad for t in tensors])
        for got, want in zip(*results):
            assert (got is None) == (want is None)
            if got is not None:
                assert_equal_within_rounding(got, want)
