"""Rescaling, Normalization, Resizing and CenterCrop: loop references and hand computations for
the ops, float64 gradient checks, configs, shapes, errors, saving, and parity with Keras 3."""

import os

import numpy as np
import pytest
from gradcheck import check_gradients

import striate
from striate.layers import CenterCrop, Dense, Input, Normalization, Rescaling, Resizing
from striate.ops import image as image_ops
from striate.ops import pixel
from striate.tensor import Tensor

os.environ.setdefault("KERAS_BACKEND", "torch")


def _images(shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).uniform(0, 1, shape).astype(dtype)


# -- loop references ---------------------------------------------------------------------------
def _bilinear_loop(x, out_h, out_w):
    """torch's bilinear, align_corners=False, one output pixel at a time."""
    n, h, w, c = x.shape
    out = np.zeros((n, out_h, out_w, c))

    def source(i, size_in, size_out):
        s = max((i + 0.5) * size_in / size_out - 0.5, 0.0)
        low = int(np.floor(s))
        return low, min(low + 1, size_in - 1), s - low

    for i in range(out_h):
        y0, y1, fy = source(i, h, out_h)
        for j in range(out_w):
            x0, x1, fx = source(j, w, out_w)
            out[:, i, j] = (
                (1 - fy) * (1 - fx) * x[:, y0, x0]
                + (1 - fy) * fx * x[:, y0, x1]
                + fy * (1 - fx) * x[:, y1, x0]
                + fy * fx * x[:, y1, x1]
            )
    return out


def _nearest_loop(x, out_h, out_w):
    """'nearest-exact': the input pixel whose cell holds the output pixel's center."""
    n, h, w, c = x.shape
    out = np.zeros((n, out_h, out_w, c))
    for i in range(out_h):
        for j in range(out_w):
            yi = min(int(np.floor((i + 0.5) * h / out_h + 1e-9)), h - 1)
            xi = min(int(np.floor((j + 0.5) * w / out_w + 1e-9)), w - 1)
            out[:, i, j] = x[:, yi, xi]
    return out


@pytest.mark.parametrize("size", [(3, 5), (7, 9), (4, 4), (11, 13), (1, 1), (5, 2)])
def test_bilinear_resize_matches_a_loop(size):
    x = _images((2, 5, 6, 3), dtype=np.float64)
    out = image_ops.resize(Tensor(x), *size).data
    np.testing.assert_allclose(out, _bilinear_loop(x, *size), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("size", [(3, 5), (7, 9), (10, 12), (15, 4), (2, 18)])
def test_nearest_resize_matches_a_loop(size):
    x = _images((2, 5, 6, 3), dtype=np.float64)
    out = image_ops.resize(Tensor(x), *size, interpolation="nearest").data
    np.testing.assert_array_equal(out, _nearest_loop(x, *size))


def test_resize_by_hand():
    # 1x2 -> 1x4: source columns -0.25 (clamped to 0), 0.25, 0.75, 1.25 (upper tap clamped)
    x = np.array([0.0, 4.0]).reshape(1, 1, 2, 1)
    assert image_ops.resize(Tensor(x), 1, 4).data.ravel().tolist() == [0.0, 1.0, 3.0, 4.0]
    # 4 -> 2 halves: bilinear reads 0.5 and 2.5 (means of pairs); with antialias the triangle
    # of half-width 2 around 1 and 3 gives weights 1/8, 3/8, 3/8, 1/8 (normalised)
    x = np.array([0.0, 8.0, 16.0, 24.0]).reshape(1, 1, 4, 1)
    assert image_ops.resize(Tensor(x), 1, 2).data.ravel().tolist() == [4.0, 20.0]
    aa = image_ops.resize(Tensor(x), 1, 2, antialias=True).data.ravel()
    np.testing.assert_allclose(aa, [(0 * 3 + 8 * 3 + 16 * 1) / 7, (8 * 1 + 16 * 3 + 24 * 3) / 7])
    # nearest 4 -> 3: centers 2/3, 2, 10/3 fall in cells 0, 2, 3
    out = image_ops.resize(Tensor(x), 1, 3, interpolation="nearest").data.ravel()
    assert out.tolist() == [0.0, 16.0, 24.0]


def test_antialias_weights_sum_to_one_and_match_bilinear_when_upsampling():
    for in_size, out_size in [(9, 4), (10, 3), (7, 7), (4, 9)]:
        matrix = image_ops.resize_matrix(in_size, out_size, antialias=True)
        np.testing.assert_allclose(matrix.sum(axis=1), 1.0)
    np.testing.assert_allclose(
        image_ops.resize_matrix(4, 9, antialias=True), image_ops.resize_matrix(4, 9)
    )


def test_crop_and_pad_by_hand():
    x = np.arange(2 * 4 * 5 * 1, dtype=np.float64).reshape(2, 4, 5, 1)
    np.testing.assert_array_equal(image_ops.crop(Tensor(x), 1, 2, 2, 3).data, x[:, 1:3, 2:5])
    padded = image_ops.pad(Tensor(x), 1, 2, 6, 9, value=-1.0).data
    assert padded.shape == (2, 6, 9, 1)
    np.testing.assert_array_equal(padded[:, 1:5, 2:7], x)
    assert (padded[:, 0] == -1).all() and (padded[:, :, :2] == -1).all()
    with pytest.raises(ValueError, match=r"crop: the window 3x3 at \(2, 0\) does not fit"):
        image_ops.crop(Tensor(x), 2, 0, 3, 3)


# -- gradients -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "size,interpolation,antialias",
    [
        ((3, 4), "bilinear", False),
        ((7, 9), "bilinear", False),
        ((2, 3), "bilinear", True),
        ((3, 8), "nearest", False),
    ],
)
def test_resize_gradients(size, interpolation, antialias):
    check_gradients(
        lambda x: image_ops.resize(x, *size, interpolation, antialias), [_images((2, 5, 6, 2))]
    )


def test_crop_pad_cast_reshape_gradients():
    x = _images((2, 5, 6, 2))
    check_gradients(lambda t: image_ops.crop(t, 1, 2, 3, 3), [x])
    check_gradients(lambda t: image_ops.pad(t, 2, 1, 9, 8, 3.0), [x])
    check_gradients(lambda t: image_ops.reshape_all(t, (10, 6, 2)), [x])
    t = Tensor(x.astype(np.float64), requires_grad=True)
    image_ops.cast(t, "float32").backward(np.full(x.shape, 2.0, np.float32))
    assert t.grad.dtype == np.float64 and (t.grad == 2.0).all()


def test_scale_shift_and_normalize_gradients():
    x = _images((2, 3, 4, 3))
    check_gradients(lambda t: pixel.scale_shift(t, [0.5, 2.0, -1.0], 3.0), [x])
    mean, variance = np.array([0.1, 0.5, 0.9]), np.array([4.0, 0.25, 0.01])  # 0.1 < epsilon
    check_gradients(lambda t: pixel.normalize(t, mean, variance, 0.5), [x])
    check_gradients(lambda t: pixel.normalize(t, mean, variance, 0.5, invert=True), [x])


@pytest.mark.parametrize(
    "layer",
    [
        lambda: Resizing(4, 3, dtype="float64"),
        lambda: Resizing(4, 4, crop_to_aspect_ratio=True, dtype="float64"),
        lambda: Resizing(3, 5, pad_to_aspect_ratio=True, fill_value=2.0, dtype="float64"),
        lambda: CenterCrop(3, 4, dtype="float64"),
        lambda: CenterCrop(8, 4, dtype="float64"),  # taller than the input: smart_resize
        lambda: Rescaling(1 / 255, offset=-0.5, dtype="float64"),
        lambda: Normalization(mean=[0.5, 0.2], variance=[0.25, 4.0], dtype="float64"),
    ],
)
def test_deterministic_layers_pass_gradients(layer):
    check_gradients(lambda t: layer()(t), [_images((2, 5, 6, 2))])


def test_gradients_reach_a_trainable_layer_before_resizing():
    dense = Dense(2, dtype="float64")
    x = Tensor(_images((2, 4, 4, 3), dtype=np.float64))
    out = CenterCrop(2, 2, dtype="float64")(Resizing(3, 3, dtype="float64")(dense(x)))
    out.backward(np.ones(out.shape))
    assert dense.kernel.grad is not None and np.abs(dense.kernel.grad).sum() > 0


# -- layers: shapes, dtypes, configs, errors ---------------------------------------------------
def test_rescaling():
    out = Rescaling(1 / 255.0)(np.array([[0, 51, 255]], np.uint8))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.data, [[0.0, 0.2, 1.0]], rtol=1e-6)
    per_channel = Rescaling([1.0, 2.0], offset=[0.0, 1.0])(np.ones((1, 2, 2, 2)))
    assert per_channel.data[0, 0, 0].tolist() == [1.0, 3.0]
    with pytest.raises(ValueError, match="Rescaling 'bad': scale must be a number"):
        Rescaling("x", name="bad")


def test_normalization_given_and_adapted():
    x = _images((10, 3, 4, 2), dtype=np.float64) * 10
    given = Normalization(mean=[1.0, 2.0], variance=[4.0, 9.0])
    np.testing.assert_allclose(given(x).data, (x - [1.0, 2.0]) / [2.0, 3.0], 1e-5, 1e-6)
    inverse = Normalization(mean=[1.0, 2.0], variance=[4.0, 9.0], invert=True)
    np.testing.assert_allclose(inverse(x).data, x * [2.0, 3.0] + [1.0, 2.0], 1e-5, 1e-6)
    assert given.weights == [] and given.get_config()["mean"] == [1.0, 2.0]

    layer = Normalization()
    layer.adapt(x)
    assert [w.name for w in layer.weights] == [
        "normalization/mean" if layer.name == "normalization" else f"{layer.name}/mean",
        f"{layer.name}/variance",
        f"{layer.name}/count",
    ]
    assert layer.trainable_weights == [] and layer.count_params() == 5  # as Keras: 2C + 1
    np.testing.assert_allclose(layer.adapt_mean.data, x.mean(axis=(0, 1, 2)), rtol=1e-6)
    np.testing.assert_allclose(layer.adapt_variance.data, x.var(axis=(0, 1, 2)), rtol=1e-6)
    out = layer(x).data
    np.testing.assert_allclose(out.mean(axis=(0, 1, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=(0, 1, 2)), 1, rtol=1e-5)


def test_normalization_adapts_batch_by_batch_as_the_whole():
    x = _images((13, 3, 4, 2), dtype=np.float64) * 5 + 2
    batches = (x[i : i + 4] for i in range(0, 13, 4))  # a generator, unequal last batch
    layer = Normalization(axis=(1, -1))
    layer.adapt(batches)
    np.testing.assert_allclose(layer.adapt_mean.data, x.mean(axis=(0, 2)), rtol=1e-6)
    np.testing.assert_allclose(layer.adapt_variance.data, x.var(axis=(0, 2)), rtol=1e-5)
    assert layer.adapt_mean.data.shape == (3, 2)
    tuples = Normalization()
    tuples.adapt([(x[:5], np.zeros(5)), (x[5:], np.zeros(8))])  # (x, y) batches: x is used
    np.testing.assert_allclose(tuples.adapt_mean.data, x.mean(axis=(0, 1, 2)), rtol=1e-6)


def test_normalization_errors():
    with pytest.raises(ValueError, match="both mean and variance must be set"):
        Normalization(mean=1.0)
    with pytest.raises(ValueError, match="empty iterable"):
        Normalization().adapt([])
    layer = Normalization(name="norm")
    layer.adapt(np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"Normalization 'norm'.adapt: the layer was built for"):
        layer.adapt(np.ones((4, 5)))
    with pytest.raises(
        ValueError,
        match=r"Normalization 'norm': expected inputs of rank 2 with sizes \[3\] on axes \[1\] "
        r"\(built for \(4, 3\)\). Received: input shape \(2, 5\)\.",
    ):
        layer(np.ones((2, 5)))
    assert layer(np.ones((7, 3))).shape == (7, 3)
    with pytest.raises(ValueError, match="adapt learns them only when they are not given"):
        Normalization(mean=0.0, variance=1.0).adapt(np.ones((2, 3)))


def test_resizing_and_center_crop_shapes_and_dtypes():
    x = _images((2, 7, 9, 3))
    assert Resizing(4, 5)(x).shape == (2, 4, 5, 3)
    assert Resizing(4, 5).compute_output_shape((None, 7, 9, 3)) == (None, 4, 5, 3)
    assert Resizing(4, 5)(x[0]).shape == (4, 5, 3)  # one image: no batch axis back
    assert CenterCrop(3, 3)(x).shape == (2, 3, 3, 3)
    np.testing.assert_array_equal(CenterCrop(3, 3)(x).data, x[:, 2:5, 3:6])
    assert CenterCrop(10, 4)(x).shape == (2, 10, 4, 3)
    u8 = (x * 255).astype(np.uint8)
    assert Resizing(4, 5)(u8).dtype == np.uint8  # Keras keeps an integer dtype (rounded)
    assert CenterCrop(3, 3)(u8).dtype == np.float32
    assert Resizing(4, 5, dtype="float64")(x).dtype == np.float64


def test_wrong_rank_is_a_clear_error():
    with pytest.raises(
        ValueError,
        match=r"Resizing 'resize_me': expected images of rank 3 \(height, width, channels\) or "
        r"rank 4 .* Received: input shape \(2, 3\)\.",
    ):
        Resizing(2, 2, name="resize_me")(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"CenterCrop 'cc': expected images .* \(None, 8, 8\)"):
        CenterCrop(2, 2, name="cc")(Input((8, 8)))
    with pytest.raises(ValueError, match="only one of pad_to_aspect_ratio and crop_to_aspect"):
        Resizing(2, 2, crop_to_aspect_ratio=True, pad_to_aspect_ratio=True)
    with pytest.raises(
        ValueError, match=r"interpolation must be one of .*interpolation='lanczos3'"
    ):
        Resizing(2, 2, interpolation="lanczos3")
    with pytest.raises(ValueError, match="height must be a positive int. Received: height=0"):
        CenterCrop(0, 2)
    with pytest.raises(ValueError, match="channels_last only"):
        Resizing(2, 2, data_format="channels_first")


@pytest.mark.parametrize(
    "layer",
    [
        lambda: Rescaling([0.5, 2.0], offset=1.0),
        lambda: Normalization(axis=(1, 3), invert=True),
        lambda: Normalization(mean=[1.0, 2.0], variance=[3.0, 4.0]),
        lambda: Resizing(3, 4, "nearest", pad_to_aspect_ratio=True, fill_value=1.5),
        lambda: Resizing(3, 4, crop_to_aspect_ratio=True, antialias=True),
        lambda: CenterCrop(3, 4),
    ],
)
def test_config_round_trip(layer):
    first = layer()
    config = first.get_config()
    again = type(first).from_config(config)
    assert again.get_config() == config


def test_model_file_keeps_adapted_statistics(tmp_path):
    x = _images((8, 6, 6, 3)) * 255
    norm = Normalization()
    norm.adapt(x)
    model = striate.Sequential(
        [Input((6, 6, 3)), Resizing(4, 4), norm, CenterCrop(3, 3), striate.layers.Flatten()]
    )
    model.save(tmp_path / "m.striate")
    loaded = striate.models.load_model(tmp_path / "m.striate")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    np.testing.assert_array_equal(loaded.layers[1].adapt_mean.data, norm.adapt_mean.data)
    assert loaded.layers[1].adapt_mean.data.any()


# -- parity with Keras 3 -----------------------------------------------------------------------
def _keras():
    return pytest.importorskip("keras")


RESIZES = [
    {"height": 4, "width": 5},
    {"height": 11, "width": 13},
    {"height": 4, "width": 5, "interpolation": "nearest"},
    {"height": 11, "width": 6, "interpolation": "nearest"},
    {"height": 4, "width": 4, "crop_to_aspect_ratio": True},
    {"height": 3, "width": 9, "crop_to_aspect_ratio": True, "interpolation": "nearest"},
    {"height": 5, "width": 3, "pad_to_aspect_ratio": True, "fill_value": 0.7},
    {"height": 6, "width": 12, "pad_to_aspect_ratio": True, "interpolation": "nearest"},
    {"height": 3, "width": 4, "antialias": True},
    {"height": 12, "width": 14, "antialias": True},
]


@pytest.mark.slow
def test_resizing_and_center_crop_match_keras():
    keras = _keras()
    x = _images((3, 7, 9, 2))
    for kwargs in RESIZES:
        theirs = keras.ops.convert_to_numpy(keras.layers.Resizing(**kwargs)(x))
        np.testing.assert_allclose(Resizing(**kwargs)(x).data, theirs, atol=1e-5, err_msg=kwargs)
    u8 = (x * 255).astype(np.uint8)
    theirs = keras.ops.convert_to_numpy(keras.layers.Resizing(5, 4)(u8))
    ours = Resizing(5, 4)(u8).data
    assert ours.dtype == theirs.dtype == np.uint8
    assert np.abs(ours.astype(int) - theirs).max() <= 1  # rounding of .5 after float32 math
    for size in [(4, 5), (7, 9), (9, 12), (5, 11), (2, 2)]:
        theirs = keras.ops.convert_to_numpy(keras.layers.CenterCrop(*size)(x))
        np.testing.assert_allclose(CenterCrop(*size)(x).data, theirs, atol=1e-5, err_msg=size)
    single = keras.ops.convert_to_numpy(keras.layers.Resizing(4, 5)(x[0]))
    np.testing.assert_allclose(Resizing(4, 5)(x[0]).data, single, atol=1e-5)


@pytest.mark.slow
def test_rescaling_and_normalization_match_keras():
    keras = _keras()
    x = _images((4, 5, 6, 3)) * 255
    for scale, offset in [(1 / 255, 0.0), (1 / 127.5, -1.0), ([1.0, 2.0, 0.5], [0.0, 1.0, 2.0])]:
        theirs = keras.ops.convert_to_numpy(keras.layers.Rescaling(scale, offset)(x))
        np.testing.assert_allclose(Rescaling(scale, offset)(x).data, theirs, rtol=1e-6)
    for axis in [-1, (1, -1), None]:
        theirs_layer, ours_layer = keras.layers.Normalization(axis=axis), Normalization(axis=axis)
        theirs_layer.adapt(x)
        ours_layer.adapt(x)
        theirs = keras.ops.convert_to_numpy(theirs_layer(x))
        np.testing.assert_allclose(ours_layer(x).data, theirs, rtol=1e-5, atol=1e-5)
        # batch by batch (Keras needs TensorFlow for iterables: compare with its one-array adapt)
        ours_batches = Normalization(axis=axis)
        ours_batches.adapt([x[:1], x[1:3], x[3:]])
        np.testing.assert_allclose(ours_batches(x).data, theirs, rtol=1e-5, atol=1e-5)
        assert [tuple(w.shape) for w in theirs_layer.weights] == [
            w.data.shape for w in ours_layer.weights
        ]
    for invert in (False, True):
        kwargs = {"mean": [1.0, 2.0, 3.0], "variance": [4.0, 0.0, 9.0], "invert": invert}
        theirs = keras.ops.convert_to_numpy(keras.layers.Normalization(**kwargs)(x))
        np.testing.assert_allclose(Normalization(**kwargs)(x).data, theirs, rtol=1e-6)


@pytest.mark.slow
def test_configs_match_keras():
    keras = _keras()
    pairs = [
        (Rescaling(0.5, 1.0), keras.layers.Rescaling(0.5, 1.0)),
        (Resizing(3, 4), keras.layers.Resizing(3, 4)),
        (CenterCrop(3, 4), keras.layers.CenterCrop(3, 4)),
        (Normalization(invert=True), keras.layers.Normalization(invert=True)),
    ]
    for ours, theirs in pairs:
        mine, keras_config = ours.get_config(), theirs.get_config()
        for key in ("name", "dtype", "trainable"):
            mine.pop(key), keras_config.pop(key)
        keras_config = {k: list(v) if isinstance(v, tuple) else v for k, v in keras_config.items()}
        assert mine == keras_config, type(ours).__name__
