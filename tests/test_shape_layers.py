"""UpSampling2D, Cropping2D, ZeroPadding2D, Permute, GlobalMaxPooling2D,
GlobalAveragePooling2D(keepdims), SpatialDropout2D and LayerNormalization: loop oracles, float64
gradient checks, shapes, configs, model files and errors. (Keras parity:
tests/test_conv_family_parity.py.)"""

import itertools

import numpy as np
import pytest
from gradcheck import check_gradients

from striate.layers import (
    Cropping2D,
    Dense,
    Flatten,
    GlobalAveragePooling2D,
    GlobalMaxPool2D,
    GlobalMaxPooling2D,
    LayerNormalization,
    Permute,
    SpatialDropout2D,
    UpSampling2D,
    ZeroPadding2D,
)
from striate.models import Sequential, load_model
from striate.ops.layer_norm import layer_norm
from striate.ops.pool import global_max_pool2d
from striate.ops.regularization import spatial_dropout2d
from striate.ops.reshaping import cropping2d, permute, upsampling2d
from striate.tensor import Tensor

RNG = np.random.default_rng(0)


def reference_bilinear(x, size):
    """Per output pixel: torch's align_corners=False source position, four neighbours."""
    n, h, w, c = x.shape
    out = np.zeros((n, h * size[0], w * size[1], c))

    def source(y, length, factor):
        s = max((y + 0.5) / factor - 0.5, 0.0)
        low = min(int(np.floor(s)), length - 1)
        return low, min(low + 1, length - 1), s - low

    for y, z in itertools.product(range(h * size[0]), range(w * size[1])):
        y0, y1, ty = source(y, h, size[0])
        z0, z1, tz = source(z, w, size[1])
        out[:, y, z] = (
            (1 - ty) * (1 - tz) * x[:, y0, z0]
            + (1 - ty) * tz * x[:, y0, z1]
            + ty * (1 - tz) * x[:, y1, z0]
            + ty * tz * x[:, y1, z1]
        )
    return out


@pytest.mark.parametrize("size", [(1, 1), (2, 2), (3, 1), (2, 5)])
def test_upsampling_matches_loop_reference(size):
    x = RNG.standard_normal((2, 3, 4, 2))
    nearest = upsampling2d(x, size).data
    for y, z in itertools.product(range(3 * size[0]), range(4 * size[1])):
        np.testing.assert_array_equal(nearest[:, y, z], x[:, y // size[0], z // size[1]])
    np.testing.assert_allclose(
        upsampling2d(x, size, "bilinear").data, reference_bilinear(x, size), atol=1e-12
    )


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
@pytest.mark.parametrize("size", [(2, 2), (3, 2)])
def test_upsampling_gradients(size, interpolation):
    x = RNG.standard_normal((2, 3, 4, 2))
    check_gradients(lambda x: upsampling2d(x, size, interpolation), [x])


def test_cropping_permute_global_max_references_and_gradients():
    x = RNG.standard_normal((2, 6, 5, 3))
    np.testing.assert_array_equal(cropping2d(x, ((1, 2), (0, 3))).data, x[:, 1:4, 0:2])
    check_gradients(lambda x: cropping2d(x, ((1, 2), (0, 3))), [x])
    out = permute(x, (3, 1, 2)).data
    for i, j, k in itertools.product(range(6), range(5), range(3)):
        assert np.all(out[:, k, i, j] == x[:, i, j, k])
    check_gradients(lambda x: permute(x, (2, 3, 1)), [x])
    top = global_max_pool2d(x).data
    for n, c in itertools.product(range(2), range(3)):
        assert top[n, c] == max(x[n, i, j, c] for i in range(6) for j in range(5))
    check_gradients(lambda x: global_max_pool2d(x, keepdims=True), [x])


def test_global_max_shares_the_gradient_between_ties():
    x = Tensor(np.array([[[[1.0], [3.0]], [[3.0], [0.0]]]]), requires_grad=True)
    global_max_pool2d(x).backward(np.array([[4.0]]))
    np.testing.assert_array_equal(x.grad[0, :, :, 0], [[0.0, 2.0], [2.0, 0.0]])


def reference_layer_norm(x, gamma, beta, axes, epsilon):
    """Sample by sample: mean and biased variance over the axes, then the affine map."""
    out = np.empty_like(x)
    for n in range(x.shape[0]):
        sample = x[n]
        mean = sample.mean(axis=tuple(a - 1 for a in axes), keepdims=True)
        var = ((sample - mean) ** 2).mean(axis=tuple(a - 1 for a in axes), keepdims=True)
        shape = [sample.shape[a - 1] if a in axes else 1 for a in range(1, x.ndim)]
        out[n] = (sample - mean) / np.sqrt(var + epsilon) * gamma.reshape(shape) + beta.reshape(
            shape
        )
    return out


@pytest.mark.parametrize(
    "shape, axes",
    [((3, 5), (1,)), ((2, 4, 3, 5), (3,)), ((2, 4, 3, 5), (1, 3)), ((2, 3, 4), (1, 2))],
)
def test_layer_norm_reference_and_gradients(shape, axes):
    x = RNG.standard_normal(shape) * 3 + 1
    weight_shape = tuple(shape[a] for a in axes)
    gamma, beta = RNG.standard_normal(weight_shape), RNG.standard_normal(weight_shape)
    out = layer_norm(x, Tensor(gamma), Tensor(beta), axes, 1e-3).data
    np.testing.assert_allclose(out, reference_layer_norm(x, gamma, beta, axes, 1e-3), atol=1e-12)
    check_gradients(lambda x, g, b: layer_norm(x, g, b, axes, 1e-3), [x, gamma, beta])
    check_gradients(lambda x: layer_norm(x, None, None, axes, 1e-3), [x])


def test_spatial_dropout_drops_whole_channels_in_training_only():
    x = np.ones((64, 3, 4, 32), np.float32)
    layer = SpatialDropout2D(0.25, seed=3)
    np.testing.assert_array_equal(layer(x).data, x)  # inference: identity
    y = layer(x, training=True).data
    assert np.all((y == 0) | (y == np.float32(1 / 0.75)))
    assert np.all(y == y[:, :1, :1, :])  # one draw per (sample, channel)
    dropped = np.mean(y[:, 0, 0, :] == 0)
    assert 0.2 < dropped < 0.3  # 2048 draws: 0.25 within 4 standard deviations
    again = SpatialDropout2D(0.25, seed=3)(x, training=True).data
    np.testing.assert_array_equal(again, y)  # seeded: the same channels
    factor = spatial_dropout2d(Tensor(x), 0.25, np.random.default_rng(0)).data
    check_gradients(
        lambda t: spatial_dropout2d(t, 0.5, np.random.default_rng(1)), [RNG.random((2, 2, 2, 4))]
    )
    assert factor.shape == x.shape


# ---------------------------------------------------------------------------------- layers


@pytest.mark.parametrize(
    "layer, input_shape, output_shape",
    [
        (UpSampling2D(), (None, 3, 4, 2), (None, 6, 8, 2)),
        (UpSampling2D((3, 1), interpolation="bilinear"), (None, 3, 4, 2), (None, 9, 4, 2)),
        (Cropping2D(1), (None, 6, 5, 2), (None, 4, 3, 2)),
        (Cropping2D((2, 1)), (None, 6, 5, 2), (None, 2, 3, 2)),
        (ZeroPadding2D(((1, 0), (2, 3))), (None, 6, 5, 2), (None, 7, 10, 2)),
        (Permute((2, 1)), (None, 6, 5), (None, 5, 6)),
        (GlobalMaxPooling2D(), (None, 6, 5, 2), (None, 2)),
        (GlobalMaxPool2D(keepdims=True), (None, 6, 5, 2), (None, 1, 1, 2)),
        (GlobalAveragePooling2D(keepdims=True), (None, 6, 5, 2), (None, 1, 1, 2)),
        (SpatialDropout2D(0.5), (None, 6, 5, 2), (None, 6, 5, 2)),
        (LayerNormalization(axis=[1, 3]), (None, 6, 5, 2), (None, 6, 5, 2)),
    ],
)
def test_layer_shapes(layer, input_shape, output_shape):
    assert layer.build_for(input_shape) == output_shape
    x = RNG.random((2, *input_shape[1:]), dtype=np.float32)
    assert layer(x).data.shape == (2, *output_shape[1:])


def test_layer_norm_weights_follow_keras():
    layer = LayerNormalization(axis=[1, -1], name="ln")
    layer.build_for((None, 6, 5, 2))
    assert [(w.name, w.data.shape) for w in layer.weights] == [
        ("ln/gamma", (6, 2)),
        ("ln/beta", (6, 2)),
    ]
    assert LayerNormalization(center=False).build_for((None, 3)) == (None, 3)
    only_gamma = LayerNormalization(center=False)
    only_gamma.build_for((None, 3))
    assert [w.name.split("/")[1] for w in only_gamma.weights] == ["gamma"]


@pytest.mark.parametrize(
    "layer",
    [
        UpSampling2D((2, 3), interpolation="bilinear"),
        Cropping2D(((1, 2), (3, 0))),
        Permute((3, 1, 2)),
        GlobalMaxPooling2D(keepdims=True),
        SpatialDropout2D(0.3, seed=7),
        LayerNormalization(axis=[1, 2], epsilon=1e-5, center=False, gamma_initializer="zeros"),
    ],
)
def test_config_round_trip(layer):
    config = layer.get_config()
    assert type(layer).from_config(config).get_config() == config


def test_model_file_round_trip(tmp_path):
    model = Sequential(
        [
            UpSampling2D(2, interpolation="bilinear", input_shape=(4, 5, 3)),
            Cropping2D(((1, 0), (2, 1))),
            ZeroPadding2D(1),
            SpatialDropout2D(0.5, seed=1),
            LayerNormalization(),
            Permute((2, 1, 3)),
            UpSampling2D((1, 2)),
            GlobalMaxPooling2D(),
            Dense(2),
        ]
    )
    x = RNG.random((3, 4, 5, 3), dtype=np.float32)
    path = tmp_path / "shapes.striate"
    model.save(path)
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
    model.compile("sgd", "mse")
    model.fit(x, np.zeros((3, 2), np.float32), epochs=1, verbose=0)  # trains through them all


def test_errors_name_the_layer():
    with pytest.raises(
        ValueError,
        match=r"Cropping2D 'c': cropping 3 \+ 3 rows/columns leaves "
        r"nothing of the input's height 6.*Received: cropping=",
    ):
        Cropping2D(3, name="c").build_for((None, 6, 8, 1))
    with pytest.raises(
        ValueError,
        match=r"Cropping2D 'c': cropping must be an int, \(rows, cols\)"
        r".*Received: cropping=-1",
    ):
        Cropping2D(-1, name="c")
    for layer in (
        UpSampling2D(name="u"),
        Cropping2D(name="u"),
        GlobalMaxPooling2D(name="u"),
        SpatialDropout2D(0.1, name="u"),
    ):
        with pytest.raises(
            ValueError,
            match=rf"{type(layer).__name__} 'u': expected input with "
            r"4 dims.*Received: input shape \(None, 5, 5\)",
        ):
            layer.build_for((None, 5, 5))
    with pytest.raises(
        ValueError,
        match=r"UpSampling2D 'u': interpolation must be 'nearest' or "
        r"'bilinear'. Received: interpolation='bicubic'",
    ):
        UpSampling2D(interpolation="bicubic", name="u")
    with pytest.raises(ValueError, match=r"Permute 'p': dims must be a permutation of 1..n"):
        Permute((0, 1), name="p")
    with pytest.raises(ValueError, match=r"Permute 'p': expected input with 3 dims"):
        Permute((2, 1), name="p").build_for((None, 2, 3, 4))
    with pytest.raises(ValueError, match=r"LayerNormalization 'l': axis 4 is out of bounds"):
        LayerNormalization(axis=4, name="l").build_for((None, 2, 3, 4))
    with pytest.raises(ValueError, match=r"SpatialDropout2D 's': rate must be a number in"):
        SpatialDropout2D(1.0, name="s")
    with pytest.raises(ValueError, match=r"gamma_regularizer: Unknown regularizer 'l3'"):
        LayerNormalization(gamma_regularizer="l3")


def test_flatten_after_permute_reads_the_permuted_order():
    x = np.arange(24, dtype=np.float32).reshape(1, 2, 3, 4)
    model = Sequential([Permute((3, 1, 2), input_shape=(2, 3, 4)), Flatten()])
    np.testing.assert_array_equal(
        model.predict(x, verbose=0)[0], np.transpose(x[0], (2, 0, 1)).ravel()
    )


def test_new_layers_in_a_functional_model():
    from striate.layers import Add, Conv2D, Conv2DTranspose, DepthwiseConv2D, Input
    from striate.models import Model

    inputs = Input(shape=(8, 8, 2))
    down = Conv2D(4, 3, strides=2, padding="same")(inputs)
    up = Conv2DTranspose(2, 3, strides=2, padding="same")(down)
    skip = DepthwiseConv2D(3, padding="same")(inputs)
    merged = LayerNormalization()(Add()([up, skip]))
    outputs = Dense(3)(GlobalMaxPooling2D()(UpSampling2D(interpolation="bilinear")(merged)))
    model = Model(inputs, outputs)
    x = RNG.random((2, 8, 8, 2), dtype=np.float32)
    assert model.predict(x, verbose=0).shape == (2, 3)
    model.compile("adam", "mse")
    before = [w.copy() for w in model.get_weights()]
    model.fit(x, np.ones((2, 3), np.float32), epochs=1, verbose=0)
    assert all(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
