"""conv2d, zero_padding2d and the output-size arithmetic: loop oracle, gradients, torch parity."""

import functools
import itertools
import math

import numpy as np
import pytest
from gradcheck import check_gradients

from striate.engine import conv_gemm
from striate.ops.conv import conv2d, conv_output_length, same_padding, zero_padding2d
from striate.tensor import Tensor, no_grad

SHAPES = [(5, 7), (6, 6), (7, 5)]
KERNELS = [(1, 1), (2, 2), (3, 3), (4, 4), (2, 3), (3, 1), (1, 4)]
STRIDES = [(1, 1), (2, 2), (3, 3), (1, 2), (3, 2)]


@pytest.fixture(params=["kernel_major", "pixel_major"])
def layout(request, monkeypatch):
    """Run a test once with each patch-matrix layout, whatever the channel count."""
    threshold = 10**9 if request.param == "kernel_major" else 0
    monkeypatch.setattr(conv_gemm, "KERNEL_MAJOR_CHANNELS", threshold)
    return request.param


def reference_conv(x, kernel, bias, strides, padding):
    """Slow and obvious: pad by the Keras rule, then a dot product per output position."""
    n, h, w, _ = x.shape
    kh, kw, _, f = kernel.shape
    sh, sw = strides
    if padding == "same":
        oh, ow = math.ceil(h / sh), math.ceil(w / sw)
        total_h = max((oh - 1) * sh + kh - h, 0)
        total_w = max((ow - 1) * sw + kw - w, 0)
        top, left = total_h // 2, total_w // 2  # the odd cell goes to the bottom / right
        xp = np.zeros((n, h + total_h, w + total_w, x.shape[3]), x.dtype)
        xp[:, top : top + h, left : left + w] = x
    else:
        oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
        xp = x
    out = np.zeros((n, oh, ow, f), x.dtype)
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, i * sh : i * sh + kh, j * sw : j * sw + kw, :]
            out[:, i, j, :] = np.tensordot(patch, kernel, axes=3)
    return out if bias is None else out + bias


def cases(shapes, kernels, strides, paddings):
    for (h, w), (kh, kw), stride, padding in itertools.product(shapes, kernels, strides, paddings):
        if padding == "valid" and (kh > h or kw > w):
            continue
        yield (h, w), (kh, kw), stride, padding


# ------------------------------------------------------------------------------ arithmetic


# (n, k, s) -> (out, before, after), read off Keras 3 Conv2D(padding="same") outputs.
KERAS_SAME = {
    (6, 2, 1): (6, 0, 1),
    (6, 3, 1): (6, 1, 1),
    (6, 4, 1): (6, 1, 2),
    (6, 2, 2): (3, 0, 0),
    (6, 3, 2): (3, 0, 1),
    (6, 4, 2): (3, 1, 1),
    (6, 4, 3): (2, 0, 1),
    (5, 2, 2): (3, 0, 1),
    (5, 3, 3): (2, 0, 1),
    (7, 4, 3): (3, 1, 2),
    (7, 3, 3): (3, 1, 1),
    (5, 1, 3): (2, 0, 0),
}


@pytest.mark.parametrize("nks, expected", sorted(KERAS_SAME.items()))
def test_same_padding_matches_keras(nks, expected):
    n, k, s = nks
    assert conv_output_length(n, k, s, "same") == expected[0]
    assert same_padding(n, k, s) == expected[1:]


def test_valid_output_length():
    assert conv_output_length(28, 2, 1, "valid") == 27
    assert conv_output_length(27, 2, 2, "valid") == 13
    assert conv_output_length(7, 3, 3, "VALID") == 2
    assert conv_output_length(28, 30, 1, "valid") == -1
    assert conv_output_length(1, 2, 1, "valid") == 0


# ------------------------------------------------------------------------------ forward


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_forward_matches_loop_reference(layout, padding, channels):
    rng = np.random.default_rng(channels)
    for (h, w), (kh, kw), strides, pad in cases(SHAPES, KERNELS, STRIDES, [padding]):
        x = rng.standard_normal((2, h, w, channels))
        kernel = rng.standard_normal((kh, kw, channels, 2))
        bias = rng.standard_normal(2) if (kh + kw) % 2 else None
        got = conv2d(
            Tensor(x), Tensor(kernel), None if bias is None else Tensor(bias), strides, pad
        )
        want = reference_conv(x, kernel, bias, strides, pad)
        np.testing.assert_allclose(
            got.data,
            want,
            rtol=1e-12,
            atol=1e-12,
            err_msg=f"input {h}x{w}x{channels}, kernel {kh}x{kw}, strides {strides}, {pad}",
        )


def test_article_shapes_and_float32(layout):
    rng = np.random.default_rng(0)
    x = Tensor(rng.random((4, 28, 28, 1), dtype=np.float32) * 255, requires_grad=True)
    kernel = Tensor(rng.standard_normal((2, 2, 1, 6)).astype(np.float32), requires_grad=True)
    bias = Tensor(np.zeros(6, np.float32), requires_grad=True)
    out = conv2d(x, kernel, bias)
    assert out.shape == (4, 27, 27, 6) and out.dtype == np.float32
    out.backward(np.ones(out.shape, np.float32))
    for t in (x, kernel, bias):
        assert t.grad.dtype == np.float32 and t.grad.shape == t.shape
    want = reference_conv(
        x.data.astype(np.float64), kernel.data.astype(np.float64), None, (1, 1), "valid"
    )
    np.testing.assert_allclose(out.data, want, rtol=1e-5, atol=1e-3)


def test_non_contiguous_input(layout):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 12, 9, 4)).transpose(0, 2, 1, 3)[:, ::2]  # (2, 5, 12, 4), strided
    kernel = rng.standard_normal((3, 2, 4, 3))
    got = conv2d(x, kernel, None, (2, 1), "same").data
    np.testing.assert_allclose(got, reference_conv(x, kernel, None, (2, 1), "same"), atol=1e-12)


def test_many_channels_and_one_by_one_kernel(layout):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 6, 5, 9))
    for shape in [(1, 1, 9, 4), (3, 2, 9, 4)]:
        kernel = rng.standard_normal(shape)
        for padding, strides in [("valid", (1, 1)), ("same", (2, 1))]:
            got = conv2d(x, kernel, None, strides, padding).data
            np.testing.assert_allclose(
                got, reference_conv(x, kernel, None, strides, padding), atol=1e-12
            )


# ------------------------------------------------------------------------------ gradients


@pytest.mark.parametrize("channels", [1, 3])
def test_gradients(layout, channels):
    rng = np.random.default_rng(10 + channels)
    grid = cases(SHAPES, [(1, 1), (2, 2), (3, 3), (2, 3), (4, 1)], STRIDES[:4], ["valid", "same"])
    for (h, w), (kh, kw), strides, padding in grid:
        x = rng.standard_normal((2, h, w, channels))
        kernel = rng.standard_normal((kh, kw, channels, 2))
        bias = rng.standard_normal(2)
        try:
            with_bias = functools.partial(conv2d, strides=strides, padding=padding)
            check_gradients(with_bias, [x, kernel, bias])
            check_gradients(lambda a, k, op=with_bias: op(a, k, None), [x, kernel])
        except AssertionError as error:
            raise AssertionError(
                f"{h}x{w}x{channels}, kernel {kh}x{kw}, {strides}, {padding}: {error}"
            ) from error


def test_input_gradient_is_skipped_when_not_needed(layout, monkeypatch):
    rng = np.random.default_rng(2)
    x = Tensor(rng.standard_normal((2, 6, 6, 3)))
    kernel = Tensor(rng.standard_normal((3, 3, 3, 4)), requires_grad=True)
    bias = Tensor(np.zeros(4), requires_grad=True)

    def forbidden(*args):
        raise AssertionError("col2im ran for an input that needs no gradient")

    monkeypatch.setattr(conv_gemm, "col2im", forbidden)
    out = conv2d(x, kernel, bias, padding="same")
    g = rng.standard_normal(out.shape)
    out.backward(g)
    assert x.grad is None
    assert out.op == "conv2d"
    np.testing.assert_allclose(bias.grad, g.sum(axis=(0, 1, 2)))


def test_frozen_kernel_and_bias_get_no_gradient(layout):
    rng = np.random.default_rng(3)
    x = Tensor(rng.standard_normal((1, 5, 5, 2)), requires_grad=True)
    kernel, bias = Tensor(rng.standard_normal((2, 2, 2, 3))), Tensor(np.ones(3))
    out = conv2d(x, kernel, bias)
    parent_grads = out.backward_fn(np.ones(out.shape))
    assert parent_grads[1] is None and parent_grads[2] is None
    assert parent_grads[0].shape == x.shape
    only_bias = Tensor(np.ones(3), requires_grad=True)
    conv2d(Tensor(x.data), kernel, only_bias).backward(np.ones(out.shape))
    np.testing.assert_allclose(only_bias.grad, np.full(3, 16.0))


def test_no_grad_records_nothing():
    x = Tensor(np.ones((1, 3, 3, 1)), requires_grad=True)
    with no_grad():
        out = conv2d(x, Tensor(np.ones((2, 2, 1, 1)), requires_grad=True))
    assert out.backward_fn is None and not out.requires_grad


def test_zero_padding2d():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 4, 2))
    out = zero_padding2d(x, ((1, 2), (0, 3)))
    np.testing.assert_array_equal(out.data, np.pad(x, ((0, 0), (1, 2), (0, 3), (0, 0))))
    assert zero_padding2d(x, 1).shape == (2, 5, 6, 2)
    assert zero_padding2d(x, (2, 1)).shape == (2, 7, 6, 2)
    assert zero_padding2d(x.astype(np.float32), 1).dtype == np.float32
    check_gradients(lambda a: zero_padding2d(a, ((1, 2), (0, 3))), [x])


# ------------------------------------------------------------------------------ torch parity


def torch_conv(x, kernel, bias, strides, padding):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    xt = torch.tensor(x).permute(0, 3, 1, 2)
    if padding == "same":
        (top, bottom), (left, right) = (
            same_padding(x.shape[i], kernel.shape[i - 1], strides[i - 1]) for i in (1, 2)
        )
        xt = F.pad(xt, (left, right, top, bottom))
    wt = torch.tensor(kernel).permute(3, 2, 0, 1)
    out = F.conv2d(xt, wt, None if bias is None else torch.tensor(bias), stride=strides)
    return out.permute(0, 2, 3, 1).numpy()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_matches_torch(layout, dtype):
    pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    grid = cases(SHAPES + [(28, 28)], [(2, 2), (3, 3), (4, 4), (2, 3)], STRIDES, ["valid", "same"])
    for (h, w), (kh, kw), strides, padding in grid:
        x = rng.standard_normal((2, h, w, 3)).astype(dtype)
        kernel = rng.standard_normal((kh, kw, 3, 5)).astype(dtype)
        bias = rng.standard_normal(5).astype(dtype)
        got = conv2d(x, kernel, bias, strides, padding).data
        assert got.dtype == dtype
        tol = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(
            got,
            torch_conv(x, kernel, bias, strides, padding),
            rtol=tol,
            atol=tol,
            err_msg=f"{h}x{w}, kernel {kh}x{kw}, {strides}, {padding}",
        )


def test_gradients_match_torch(layout):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    for strides, padding in [((1, 1), "valid"), ((2, 2), "same"), ((3, 2), "same")]:
        x = rng.standard_normal((2, 7, 6, 2))
        kernel, bias = rng.standard_normal((3, 2, 2, 4)), rng.standard_normal(4)
        tensors = [Tensor(a.copy(), requires_grad=True) for a in (x, kernel, bias)]
        out = conv2d(*tensors, strides, padding)
        g = rng.standard_normal(out.shape)
        out.backward(g)
        leaves = [torch.tensor(a, requires_grad=True) for a in (x, kernel, bias)]
        xt = leaves[0].permute(0, 3, 1, 2)
        if padding == "same":
            top, bottom = same_padding(7, 3, strides[0])
            left, right = same_padding(6, 2, strides[1])
            xt = torch.nn.functional.pad(xt, (left, right, top, bottom))
        ot = torch.nn.functional.conv2d(
            xt, leaves[1].permute(3, 2, 0, 1), leaves[2], stride=strides
        )
        ot.permute(0, 2, 3, 1).backward(torch.tensor(g))
        for mine, theirs in zip(tensors, leaves):
            np.testing.assert_allclose(mine.grad, theirs.grad.numpy(), atol=1e-12)


# ------------------------------------------------------------------------------ errors


def test_error_messages():
    x = np.zeros((1, 28, 28, 1), np.float32)
    k = np.zeros((2, 2, 1, 6), np.float32)
    with pytest.raises(
        ValueError,
        match=(
            r"conv2d: expected input with 4 dims \(batch, height, width, channels\)\. "
            r"Received: input shape \(28, 28\)\."
        ),
    ):
        conv2d(np.zeros((28, 28), np.float32), k)
    with pytest.raises(
        ValueError, match=r"expected kernel with 4 dims .* Received: kernel shape \(2, 2\)"
    ):
        conv2d(x, np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match=r"the input has 3 channels but the kernel expects 1"):
        conv2d(np.zeros((1, 28, 28, 3), np.float32), k)
    with pytest.raises(
        ValueError, match=r"padding must be 'valid' or 'same' .* Received: padding='full'"
    ):
        conv2d(x, k, padding="full")
    with pytest.raises(
        ValueError,
        match=(
            r"strides must be a positive int or a tuple of 2 positive ints\. "
            r"Received: strides=\(0, 1\)"
        ),
    ):
        conv2d(x, k, strides=(0, 1))
    with pytest.raises(ValueError, match=r"strides=1\.5"):
        conv2d(x, k, strides=1.5)
    big = np.zeros((30, 30, 1, 6), np.float32)
    with pytest.raises(
        ValueError,
        match=(
            r"kernel 30x30 does not fit input 28x28 with padding 'valid'\. "
            r"Output size would be floor\(\(28 - 30\) / 1\) \+ 1 = -1\."
        ),
    ):
        conv2d(x, big)
    with pytest.raises(ValueError, match=r"expected a bias of shape \(6,\)"):
        conv2d(x, k, np.zeros(5, np.float32))
    with pytest.raises(TypeError, match=r"kernel dtype must match the input dtype"):
        conv2d(x, k.astype(np.float64))
    with pytest.raises(TypeError, match=r"expected a float input .* Received: input dtype uint8"):
        conv2d(x.astype(np.uint8), k)
    with pytest.raises(ValueError, match=r"zero_padding2d: padding must be"):
        zero_padding2d(x, ((1, -1), (0, 0)))
    assert conv2d(x, k, padding="SAME").shape == (1, 28, 28, 6)
