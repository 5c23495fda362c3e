"""Conv2D's dilation and groups, DepthwiseConv2D, SeparableConv2D and Conv2DTranspose: loop
oracles, float64 gradient checks, output shapes, weights, configs, model files and errors.
(Keras parity: tests/test_conv_family_parity.py.)"""

import itertools
import math

import numpy as np
import pytest
from gradcheck import check_gradients

from striate.layers import (
    Conv2D,
    Conv2DTranspose,
    DepthwiseConv2D,
    Flatten,
    SeparableConv2D,
)
from striate.models import Sequential, load_model
from striate.ops.conv import conv2d
from striate.ops.conv_dilated import conv2d_dilated
from striate.ops.conv_transpose import conv2d_transpose
from striate.ops.depthwise import depthwise_conv2d
from striate.ops.geometry import conv_transpose_crops

RNG = np.random.default_rng(0)


def keras_pad(x, kernel, strides, dilation, padding):
    """Slow and obvious: the input padded by Keras's 'same' rule for the dilated kernel."""
    if padding == "valid":
        return x
    n, h, w, c = x.shape
    pads = []
    for size, k, s, d in zip((h, w), kernel, strides, dilation):
        span = (k - 1) * d + 1
        total = max((math.ceil(size / s) - 1) * s + span - size, 0)
        pads.append((total // 2, total - total // 2))
    return np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))


def windows_of(xp, kernel, strides, dilation):
    """Every output pixel's window taps, one pixel at a time: {(i, j): (n, kh, kw, c)}."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, strides, dilation
    oh = (xp.shape[1] - (kh - 1) * dh - 1) // sh + 1
    ow = (xp.shape[2] - (kw - 1) * dw - 1) // sw + 1
    for i in range(oh):
        for j in range(ow):
            rows = [i * sh + a * dh for a in range(kh)]
            cols = [j * sw + b * dw for b in range(kw)]
            yield i, j, oh, ow, xp[:, rows][:, :, cols]


def reference_conv(x, kernel, bias, strides, padding, dilation, groups):
    """A dot product per output pixel and group."""
    kh, kw, cg, f = kernel.shape
    fg = f // groups
    out = None
    for i, j, oh, ow, taps in windows_of(
        keras_pad(x, (kh, kw), strides, dilation, padding), (kh, kw), strides, dilation
    ):
        if out is None:
            out = np.zeros((x.shape[0], oh, ow, f))
        for g in range(groups):
            part = taps[..., g * cg : (g + 1) * cg]
            out[:, i, j, g * fg : (g + 1) * fg] = np.tensordot(
                part, kernel[..., g * fg : (g + 1) * fg], axes=3
            )
    return out + (0 if bias is None else bias)


def reference_depthwise(x, kernel, bias, strides, padding, dilation):
    """Per pixel and channel: the window times that channel's kernels, summed."""
    kh, kw, c, m = kernel.shape
    out = None
    for i, j, oh, ow, taps in windows_of(
        keras_pad(x, (kh, kw), strides, dilation, padding), (kh, kw), strides, dilation
    ):
        if out is None:
            out = np.zeros((x.shape[0], oh, ow, c * m))
        for ch in range(c):
            for k in range(m):
                out[:, i, j, ch * m + k] = np.sum(taps[..., ch] * kernel[:, :, ch, k], (1, 2))
    return out + (0 if bias is None else bias)


def keras_transpose_length(n, k, s, padding, output_padding, d):
    """Keras's output length of a transposed conv (backend_utils, written out again)."""
    k = (k - 1) * d + 1
    if padding == "valid":
        extra = max(k, s) - k if output_padding is None else output_padding
        return (n - 1) * s + k + extra
    return n * s if output_padding is None else (n - 1) * s + k % 2 + output_padding


def reference_transpose(x, kernel, bias, strides, padding, output_padding, dilation):
    """Scatter every input pixel's kernel into a big canvas, then cut Keras's window out of it
    (JAX's left pad rule: before = min(ceil(total / 2), k - 1))."""
    n, h, w, c = x.shape
    kh, kw, f, _ = kernel.shape
    margin = 8
    canvas = np.zeros(
        (
            n,
            h * strides[0] + kh * dilation[0] + 2 * margin,
            w * strides[1] + kw * dilation[1] + 2 * margin,
            f,
        )
    )
    for i, j, a, b in itertools.product(range(h), range(w), range(kh), range(kw)):
        y = margin + i * strides[0] + a * dilation[0]
        z = margin + j * strides[1] + b * dilation[1]
        canvas[:, y, z] += x[:, i, j] @ kernel[a, b].T
    starts, lengths = [], []
    extras = output_padding or (None, None)
    for size, k, s, e, d in zip((h, w), (kh, kw), strides, extras, dilation):
        span = (k - 1) * d + 1
        if padding == "valid":
            before = span - 1
        else:
            total = s + span - 2 if e is None else span + span % 2 - 2 + e
            before = min(total // 2 + total % 2, span - 1)
        starts.append(margin + span - 1 - before)
        lengths.append(keras_transpose_length(size, k, s, padding, e, d))
    out = canvas[:, starts[0] : starts[0] + lengths[0], starts[1] : starts[1] + lengths[1]]
    return out + (0 if bias is None else bias)


CONV_CASES = [
    # (h, w), kernel, strides, dilation, groups
    ((6, 7), (3, 3), (1, 1), (2, 2), 1),
    ((7, 8), (2, 3), (1, 1), (1, 3), 1),
    ((6, 6), (3, 2), (2, 2), (1, 1), 2),
    ((5, 7), (1, 1), (1, 3), (1, 1), 4),
    ((7, 7), (3, 3), (1, 1), (3, 2), 2),
    ((5, 5), (2, 2), (3, 2), (1, 1), 4),
]


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("hw, kernel, strides, dilation, groups", CONV_CASES)
def test_dilated_grouped_conv_matches_loop_reference(
    hw, kernel, strides, dilation, groups, padding
):
    x = RNG.standard_normal((2, *hw, 4))
    k = RNG.standard_normal((*kernel, 4 // groups, 4))
    b = RNG.standard_normal(4)
    out = conv2d_dilated(x, k, b, strides, padding, dilation, groups).data
    np.testing.assert_allclose(
        out, reference_conv(x, k, b, strides, padding, dilation, groups), rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize("hw, kernel, strides, dilation, groups", CONV_CASES[:4])
def test_dilated_grouped_conv_gradients(hw, kernel, strides, dilation, groups):
    x = RNG.standard_normal((2, *hw, 4))
    k = RNG.standard_normal((*kernel, 4 // groups, 4))
    b = RNG.standard_normal(4)
    for padding in ("valid", "same"):
        check_gradients(
            lambda x, k, b, p=padding: conv2d_dilated(x, k, b, strides, p, dilation, groups),
            [x, k, b],
        )


def test_plain_case_is_todays_conv2d_bit_for_bit():
    """dilation 1 and groups 1 run today's op: the same numbers, the same fusions."""
    x = RNG.standard_normal((3, 9, 9, 2)).astype(np.float32)
    layer = Conv2D(4, 3, padding="same", dilation_rate=1, groups=1)
    out = layer(x).data
    np.testing.assert_array_equal(out, conv2d(x, layer.kernel, layer.bias, 1, "same").data)
    assert layer.fusions == frozenset({"activation", "conv_max_pool"})
    # the separate path agrees to rounding, and promises no fused max pooling
    twin = conv2d_dilated(x, layer.kernel.data, layer.bias.data, 1, "same", 1, 1).data
    np.testing.assert_allclose(twin, out, rtol=1e-5, atol=1e-6)
    assert Conv2D(4, 3, dilation_rate=2).fusions == frozenset({"activation"})
    assert Conv2D(4, 3, groups=2).fusions == frozenset({"activation"})


DEPTHWISE_CASES = [
    ((6, 7), (3, 3), (1, 1), (1, 1), 1),
    ((7, 6), (2, 3), (2, 2), (1, 1), 2),
    ((7, 7), (3, 2), (1, 1), (2, 3), 3),
    ((5, 6), (1, 2), (3, 1), (1, 1), 1),
    ((8, 8), (3, 3), (2, 2), (2, 2), 2),  # Keras allows both on depthwise
]


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("hw, kernel, strides, dilation, multiplier", DEPTHWISE_CASES)
def test_depthwise_matches_loop_reference(hw, kernel, strides, dilation, multiplier, padding):
    x = RNG.standard_normal((2, *hw, 3))
    k = RNG.standard_normal((*kernel, 3, multiplier))
    b = RNG.standard_normal(3 * multiplier)
    out = depthwise_conv2d(x, k, b, strides, padding, dilation).data
    np.testing.assert_allclose(
        out, reference_depthwise(x, k, b, strides, padding, dilation), rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize("hw, kernel, strides, dilation, multiplier", DEPTHWISE_CASES)
def test_depthwise_gradients(hw, kernel, strides, dilation, multiplier):
    x = RNG.standard_normal((2, *hw, 3))
    k = RNG.standard_normal((*kernel, 3, multiplier))
    b = RNG.standard_normal(3 * multiplier)
    for padding in ("valid", "same"):
        check_gradients(
            lambda x, k, b, p=padding: depthwise_conv2d(x, k, b, strides, p, dilation),
            [x, k, b],
        )


TRANSPOSE_CASES = [
    # (h, w), kernel, strides, output_padding, dilation
    ((3, 4), (3, 3), (2, 2), None, (1, 1)),
    ((4, 3), (2, 3), (1, 1), None, (1, 1)),
    ((3, 3), (4, 4), (3, 3), (1, 2), (1, 1)),
    ((2, 4), (3, 2), (2, 3), (0, 1), (1, 1)),
    ((4, 4), (3, 3), (1, 1), None, (2, 2)),
    ((3, 5), (1, 3), (1, 2), (0, 1), (1, 1)),
    ((3, 3), (2, 2), (1, 1), (0, 0), (2, 3)),
]


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("hw, kernel, strides, extra, dilation", TRANSPOSE_CASES)
def test_transpose_matches_loop_reference(hw, kernel, strides, extra, dilation, padding):
    x = RNG.standard_normal((2, *hw, 3))
    k = RNG.standard_normal((*kernel, 4, 3))
    b = RNG.standard_normal(4)
    out = conv2d_transpose(x, k, b, strides, padding, extra, dilation).data
    expected = reference_transpose(x, k, b, strides, padding, extra, dilation)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("hw, kernel, strides, extra, dilation", TRANSPOSE_CASES)
def test_transpose_gradients(hw, kernel, strides, extra, dilation):
    x = RNG.standard_normal((2, *hw, 3))
    k = RNG.standard_normal((*kernel, 4, 3))
    b = RNG.standard_normal(4)
    for padding in ("valid", "same"):
        check_gradients(
            lambda x, k, b, p=padding: conv2d_transpose(x, k, b, strides, p, extra, dilation),
            [x, k, b],
        )


@pytest.mark.parametrize(
    "n, k, s, padding, extra, d, expected",
    [
        # Keras 3 Conv2DTranspose output lengths (compute_output_shape)
        (7, 3, 2, "same", None, 1, 14),
        (7, 3, 2, "valid", None, 1, 15),
        (7, 2, 3, "valid", None, 1, 21),
        (7, 4, 3, "same", 1, 1, 19),
        (7, 3, 2, "valid", 1, 1, 16),
        (5, 3, 1, "same", None, 2, 5),
        (5, 3, 1, "valid", None, 2, 9),
    ],
)
def test_transpose_output_length(n, k, s, padding, extra, d, expected):
    assert conv_transpose_crops(n, k, s, padding, extra, d)[2] == expected
    assert keras_transpose_length(n, k, s, padding, extra, d) == expected


# ---------------------------------------------------------------------------------- layers


@pytest.mark.parametrize(
    "make, input_shape, output_shape, weights",
    [
        (
            lambda: Conv2D(8, 3, dilation_rate=2),
            (None, 12, 11, 4),
            (None, 8, 7, 8),
            [(3, 3, 4, 8), (8,)],
        ),
        (
            lambda: Conv2D(8, 3, groups=4, padding="same", strides=2),
            (None, 12, 11, 4),
            (None, 6, 6, 8),
            [(3, 3, 1, 8), (8,)],
        ),
        (
            lambda: DepthwiseConv2D(3, depth_multiplier=2),
            (None, 12, 11, 4),
            (None, 10, 9, 8),
            [(3, 3, 4, 2), (8,)],
        ),
        (
            lambda: DepthwiseConv2D((2, 3), strides=2, padding="same", use_bias=False),
            (None, 12, 11, 4),
            (None, 6, 6, 4),
            [(2, 3, 4, 1)],
        ),
        (
            lambda: SeparableConv2D(6, 3, depth_multiplier=2),
            (None, 12, 11, 4),
            (None, 10, 9, 6),
            [(3, 3, 4, 2), (1, 1, 8, 6), (6,)],
        ),
        (
            lambda: Conv2DTranspose(6, 3, strides=2, padding="same"),
            (None, 5, 7, 4),
            (None, 10, 14, 6),
            [(3, 3, 6, 4), (6,)],
        ),
        (
            lambda: Conv2DTranspose(6, 3, strides=2, output_padding=1),
            (None, 5, 7, 4),
            (None, 12, 16, 6),
            [(3, 3, 6, 4), (6,)],
        ),
    ],
)
def test_layer_shapes_and_weights(make, input_shape, output_shape, weights):
    layer = make()
    assert layer.build_for(input_shape) == output_shape
    assert [w.data.shape for w in layer.weights] == weights
    assert layer.count_params() == sum(math.prod(s) for s in weights)
    x = RNG.random((2, *input_shape[1:]), dtype=np.float32)
    assert layer(x).data.shape == (2, *output_shape[1:])


def test_weight_names_follow_keras():
    sep = SeparableConv2D(4, 3, name="sep")
    sep.build_for((None, 8, 8, 2))
    assert [w.name for w in sep.weights] == [
        "sep/depthwise_kernel",
        "sep/pointwise_kernel",
        "sep/bias",
    ]
    dw = DepthwiseConv2D(3, name="dw")
    dw.build_for((None, 8, 8, 2))
    assert [w.name for w in dw.weights] == ["dw/kernel", "dw/bias"]


@pytest.mark.parametrize(
    "layer",
    [
        Conv2D(4, 3, dilation_rate=(2, 1), groups=2, activation="relu"),
        DepthwiseConv2D(3, 2, "same", depth_multiplier=3, depthwise_initializer="he_normal"),
        SeparableConv2D(5, (2, 3), dilation_rate=2, use_bias=False, activation="tanh"),
        Conv2DTranspose(3, 2, strides=(2, 3), output_padding=(1, 0), padding="same"),
    ],
)
def test_config_round_trip(layer):
    config = layer.get_config()
    twin = type(layer).from_config(config)
    assert twin.get_config() == config


def test_model_file_round_trip(tmp_path):
    model = Sequential(
        [
            Conv2D(4, 3, dilation_rate=2, groups=2, padding="same", input_shape=(10, 10, 2)),
            DepthwiseConv2D(3, depth_multiplier=2, activation="relu"),
            SeparableConv2D(4, 2, strides=2),
            Conv2DTranspose(3, 3, strides=2, padding="same", output_padding=1),
            Flatten(),
        ]
    )
    x = RNG.random((3, 10, 10, 2), dtype=np.float32)
    path = tmp_path / "convs.striate"
    model.save(path)
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]


def test_training_step_reaches_every_weight():
    model = Sequential(
        [
            Conv2D(4, 3, groups=2, dilation_rate=2, input_shape=(9, 9, 2)),
            DepthwiseConv2D(2),
            SeparableConv2D(3, 2),
            Conv2DTranspose(2, 2, strides=2),
            Flatten(),
        ]
    )
    model.compile("sgd", "mse")
    x = RNG.random((4, 9, 9, 2), dtype=np.float32)
    y = np.zeros((4, model.output_shape[-1]), np.float32)
    before = [w.copy() for w in model.get_weights()]
    model.fit(x, y, epochs=1, verbose=0)
    changed = [not np.array_equal(a, b) for a, b in zip(before, model.get_weights())]
    assert all(changed)


# ---------------------------------------------------------------------------------- errors


def test_errors_name_the_layer():
    with pytest.raises(
        ValueError,
        match=r"Conv2D 'c': strides > 1 are not supported together "
        r"with dilation_rate > 1.*Received: strides=\(2, 2\)",
    ):
        Conv2D(4, 3, strides=2, dilation_rate=2, name="c")
    with pytest.raises(ValueError, match=r"Conv2DTranspose 't': strides > 1 are not supported"):
        Conv2DTranspose(4, 3, strides=(1, 2), dilation_rate=(2, 1), name="t")
    with pytest.raises(
        ValueError,
        match=r"Conv2D 'c': filters must be divisible by groups.*"
        r"Received: filters=6, groups=4",
    ):
        Conv2D(6, 3, groups=4, name="c")
    layer = Conv2D(6, 3, groups=3, name="g")
    with pytest.raises(
        ValueError,
        match=r"Conv2D 'g': the input's channels must be divisible "
        r"by groups. Received: groups=3.*\(4 channels\)",
    ):
        layer(np.zeros((1, 5, 5, 4), np.float32))
    with pytest.raises(ValueError, match=r"Conv2D 'g': groups must be a positive int"):
        Conv2D(6, 3, groups=0, name="g")
    with pytest.raises(
        ValueError,
        match=r"DepthwiseConv2D 'd': expected input with 4 dims.*"
        r"Received: input shape \(None, 5, 5\)",
    ):
        DepthwiseConv2D(3, name="d").build_for((None, 5, 5))
    with pytest.raises(
        ValueError,
        match=r"SeparableConv2D 's': kernel 3x3 \(dilated to 7x7\) "
        r"does not fit input 6x6",
    ):
        SeparableConv2D(2, 3, dilation_rate=3, name="s").build_for((None, 6, 6, 1))
    with pytest.raises(
        ValueError,
        match=r"Conv2DTranspose 't': output_padding must be smaller "
        r"than strides.*Received: output_padding=\(2, 2\)",
    ):
        Conv2DTranspose(4, 3, strides=2, output_padding=2, name="t")
    with pytest.raises(
        ValueError,
        match=r"DepthwiseConv2D 'd': depth_multiplier must be a "
        r"positive int. Received: depth_multiplier=0",
    ):
        DepthwiseConv2D(3, depth_multiplier=0, name="d")
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\) kernel_regularizer"):
        DepthwiseConv2D(3, kernel_regularizer="l2")


def test_op_errors():
    x = np.zeros((1, 5, 5, 4))
    with pytest.raises(
        ValueError,
        match=r"conv2d_dilated: the input's 4 channels and the "
        r"kernel's 6 filters must both split into 3 groups",
    ):
        conv2d_dilated(x, np.zeros((3, 3, 1, 6)), groups=3)
    with pytest.raises(
        ValueError,
        match=r"depthwise_conv2d: the input has 4 channels but the "
        r"kernel expects 2",
    ):
        depthwise_conv2d(x, np.zeros((3, 3, 2, 1)))
    with pytest.raises(ValueError, match=r"conv2d_transpose: expected input with 4 dims"):
        conv2d_transpose(np.zeros((5, 5, 4)), np.zeros((3, 3, 2, 4)))


def test_inspection_and_summary_know_dilation_and_groups():
    from striate.see.field import detailed_summary
    from striate.see.inspect import inspect_model
    from striate.see.walk import layer_conv_walkthrough

    model = Sequential(
        [
            Conv2D(4, 3, dilation_rate=2, groups=2, activation="relu", input_shape=(9, 9, 2)),
            DepthwiseConv2D(2, activation="tanh"),
        ]
    )
    x = RNG.random((1, 9, 9, 2), dtype=np.float32)
    records = inspect_model(model, x).layers
    conv = model.layers[0]
    expected = conv2d_dilated(x, conv.kernel.data, conv.bias.data, 1, "valid", 2, 2).data
    np.testing.assert_array_equal(records[0].pre_activation, expected[0])
    np.testing.assert_array_equal(np.tanh(records[1].pre_activation), records[1].output)
    text = detailed_summary(model)
    assert "floor((9 - 5) / 1) + 1 = 5" in text and "5x5" in text
    with pytest.raises(ValueError, match=r"is dilated or grouped; the walkthrough shows plain"):
        layer_conv_walkthrough(model, 0, x[0])
