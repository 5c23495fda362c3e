"""The random augmentation layers: the affine resampling against a loop reference, float64
gradients, identity at inference, seeds, per-image draws, configs, errors, training at the front
of a model, and Keras 3 parity (exact where a factor fixes the draw, by statistics otherwise)."""

import os

import numpy as np
import pytest
from gradcheck import check_gradients

import striate
from striate.layers import (
    Conv2D,
    Dense,
    Flatten,
    Input,
    RandomBrightness,
    RandomContrast,
    RandomCrop,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
    Rescaling,
)
from striate.ops import affine, pixel
from striate.ops import image as image_ops
from striate.tensor import Tensor

os.environ.setdefault("KERAS_BACKEND", "torch")

FILL_MODES = ["reflect", "wrap", "constant", "nearest"]
INTERPOLATIONS = ["bilinear", "nearest"]


def _images(shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).uniform(0, 1, shape).astype(dtype)


def _all_layers(seed=None):
    return [
        RandomFlip(seed=seed),
        RandomRotation(0.2, seed=seed),
        RandomZoom(0.3, 0.2, seed=seed),
        RandomTranslation(0.2, 0.3, seed=seed),
        RandomContrast(0.5, value_range=(0, 1), seed=seed),
        RandomBrightness(0.3, value_range=(0, 1), seed=seed),
        RandomCrop(4, 5, seed=seed),
    ]


# -- the affine resampling against a loop --------------------------------------------------------
def _read(image, row, col, fill_mode, fill_value):
    """One pixel of `image` (H, W, C) at integer (row, col), outside the image by `fill_mode`."""
    h, w, _ = image.shape

    def fold(i, n):
        if fill_mode == "wrap":
            return i % n
        if fill_mode == "nearest":
            return min(max(i, 0), n - 1)
        i %= 2 * n  # reflect: d c b a | a b c d | d c b a
        return i if i < n else 2 * n - 1 - i

    if fill_mode == "constant" and not (0 <= row < h and 0 <= col < w):
        return np.full(image.shape[2], fill_value)
    return image[fold(row, h), fold(col, w)]


def _affine_loop(x, transforms, interpolation, fill_mode, fill_value):
    n, h, w, c = x.shape
    out = np.zeros(x.shape)
    for b in range(n):
        a0, a1, a2, b0, b1, b2, _, _ = transforms[b]
        for r in range(h):
            for q in range(w):
                src_x, src_y = a0 * q + a1 * r + a2, b0 * q + b1 * r + b2
                if interpolation == "nearest":
                    out[b, r, q] = _read(
                        x[b], int(np.rint(src_y)), int(np.rint(src_x)), fill_mode, fill_value
                    )
                    continue
                y0, x0 = int(np.floor(src_y)), int(np.floor(src_x))
                fy, fx = src_y - y0, src_x - x0
                for dy, wy in ((0, 1 - fy), (1, fy)):
                    for dx, wx in ((0, 1 - fx), (1, fx)):
                        pixel_value = _read(x[b], y0 + dy, x0 + dx, fill_mode, fill_value)
                        out[b, r, q] += wy * wx * pixel_value
    return out


def _transforms(n, h, w, seed=0):
    rng = np.random.default_rng(seed)
    rotations = affine.affine_matrices(angle=rng.uniform(-180, 180, n), height=h, width=w, size=n)
    zooms = affine.affine_matrices(
        scale=(rng.uniform(0.5, 1.7, n), rng.uniform(0.5, 1.7, n)), height=h, width=w, size=n
    )
    shifts = affine.affine_matrices(
        translate=(rng.uniform(-9, 9, n), rng.uniform(-9, 9, n)), size=n
    )
    return np.concatenate([rotations, zooms, shifts])


@pytest.mark.parametrize("fill_mode", FILL_MODES)
@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_affine_transform_matches_a_loop(fill_mode, interpolation):
    transforms = _transforms(2, 5, 7)
    x = _images((len(transforms), 5, 7, 2), dtype=np.float64)
    out = affine.affine_transform(Tensor(x), transforms, interpolation, fill_mode, 0.25).data
    reference = _affine_loop(x, transforms, interpolation, fill_mode, 0.25)
    np.testing.assert_allclose(out, reference, rtol=1e-12, atol=1e-12)


def test_affine_matrices_by_hand():
    # a quarter turn of a 3x3 image about its center: output (r, c) reads input (c, 2 - r)
    m = affine.affine_matrices(angle=np.array([90.0]), height=3, width=3)
    np.testing.assert_allclose(m, [[0, -1, 2, 1, 0, 0, 0, 0]], atol=1e-12)
    x = np.arange(9.0).reshape(1, 3, 3, 1)
    out = affine.affine_transform(Tensor(x), m, "nearest", "constant").data[0, :, :, 0]
    np.testing.assert_array_equal(out, np.rot90(x[0, :, :, 0], k=1))  # counter-clockwise
    zoom = affine.affine_matrices(scale=(np.array([2.0]), np.array([0.5])), height=5, width=3)
    np.testing.assert_allclose(zoom, [[2, 0, -1, 0, 0.5, 1, 0, 0]])


@pytest.mark.parametrize("fill_mode", FILL_MODES)
def test_affine_gradients(fill_mode):
    transforms = _transforms(1, 4, 5, seed=3)
    check_gradients(
        lambda t: affine.affine_transform(t, transforms, "bilinear", fill_mode, 0.5),
        [_images((3, 4, 5, 2))],
    )
    check_gradients(
        lambda t: affine.affine_transform(t, transforms, "nearest", fill_mode, 0.5),
        [_images((3, 4, 5, 2))],
    )


def test_flip_contrast_brightness_gradients():
    x = _images((3, 4, 5, 2))
    flips = np.array([True, False, True])
    for horizontal, vertical in [(True, False), (False, True), (True, True)]:
        check_gradients(lambda t, h=horizontal, v=vertical: image_ops.flip(t, flips, h, v), [x])
    check_gradients(lambda t: pixel.adjust_contrast(t, np.array([0.5, 1.5, 2.0]), -1, 1.8), [x])
    check_gradients(lambda t: pixel.adjust_brightness(t, np.array([0.1, -0.3, 0.4]), 0, 1), [x])


def test_contrast_and_brightness_by_hand():
    x = np.array([0.0, 2.0, 4.0, 10.0]).reshape(1, 2, 2, 1)  # mean 4
    out = pixel.adjust_contrast(Tensor(x), np.array([1.5]), 0, 10).data.ravel()
    np.testing.assert_allclose(out, [0.0, 1.0, 4.0, 10.0])  # -2, 1, 4, 13 clipped to [0, 10]
    out = pixel.adjust_brightness(Tensor(x), np.array([-1.0]), 0, 5).data.ravel()
    np.testing.assert_allclose(out, [0.0, 1.0, 3.0, 5.0])


# -- layers ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("index", range(7))
def test_identity_at_inference(index):
    x = _images((16, 6, 8, 2))
    layer = _all_layers()[index]
    if isinstance(layer, RandomCrop):  # Keras's smart_resize: the size holds at inference
        assert layer(x).shape == (16, 4, 5, 2)
        assert np.array_equal(RandomCrop(6, 8)(x, training=False).data, x)
        return
    np.testing.assert_array_equal(layer(x).data, x)
    np.testing.assert_array_equal(layer(x, training=False).data, x)
    assert not np.array_equal(layer(x, training=True).data, x)


@pytest.mark.parametrize("index", range(7))
def test_seeded_layers_repeat_and_draw_per_image(index):
    x = np.repeat(_images((1, 6, 8, 2)), 16, axis=0)
    first = _all_layers(seed=7)[index](x, training=True).data
    again = _all_layers(seed=7)[index](x, training=True).data
    np.testing.assert_array_equal(first, again)
    other = _all_layers(seed=8)[index](x, training=True).data
    assert not np.array_equal(first, other)
    distinct = len({image.tobytes() for image in first})
    if index == 6:  # RandomCrop: one window per batch, as Keras
        assert distinct == 1
    else:
        assert distinct > 1


def test_set_random_seed_makes_unseeded_layers_repeat():
    x = _images((8, 6, 6, 1))
    outputs = []
    for _ in range(2):
        striate.utils.set_random_seed(123)
        outputs.append([layer(x, training=True).data for layer in _all_layers()])
    for a, b in zip(*outputs):
        np.testing.assert_array_equal(a, b)


def test_one_image_and_shapes():
    image = _images((6, 8, 3))
    for layer in _all_layers(seed=1):
        out = layer(image, training=True)
        assert out.shape == ((4, 5, 3) if isinstance(layer, RandomCrop) else (6, 8, 3))
        assert layer.compute_output_shape((None, 6, 8, 3))[1:] == out.shape
    assert RandomFlip()(image.astype(np.uint8)).dtype == np.float32


def test_flip_modes():
    x = _images((64, 3, 4, 1))
    for mode, flipped in [
        ("horizontal", x[:, :, ::-1]),
        ("vertical", x[:, ::-1, :]),
        ("horizontal_and_vertical", x[:, ::-1, ::-1]),  # one draw: both flips or neither
    ]:
        out = RandomFlip(mode, seed=0)(x, training=True).data
        same = (out == x).all(axis=(1, 2, 3))
        turned = (out == flipped).all(axis=(1, 2, 3))
        assert (same | turned).all() and 10 < turned.sum() < 54, mode


def test_random_crop_windows():
    x = np.arange(6 * 8, dtype=np.float32).reshape(1, 6, 8, 1)
    layer = RandomCrop(3, 4, seed=0)
    corners = set()
    for _ in range(200):
        out = layer(x, training=True).data[0, :, :, 0]
        top, left = divmod(int(out[0, 0]), 8)
        np.testing.assert_array_equal(out, x[0, top : top + 3, left : left + 4, 0])
        corners.add((top, left))
    assert corners == {(t, s) for t in range(4) for s in range(5)}
    # not larger in both dimensions: the aspect-ratio window, resized (Keras)
    assert RandomCrop(6, 10)(x, training=True).shape == (1, 6, 10, 1)


def test_wrong_rank_is_a_clear_error():
    for layer in _all_layers():
        with pytest.raises(
            ValueError,
            match=rf"{type(layer).__name__} '{layer.name}': expected images of rank 3 "
            r"\(height, width, channels\) or rank 4 .* Received: input shape \(4, 5\)\.",
        ):
            layer(np.zeros((4, 5)), training=True)
    with pytest.raises(ValueError, match=r"RandomFlip 'f': expected images .* \(2, 3, 4, 5, 6\)"):
        RandomFlip(name="f")(np.zeros((2, 3, 4, 5, 6)))
    with pytest.raises(ValueError, match=r"RandomZoom 'z': expected images .* \(None, 8\)"):
        RandomZoom(0.1, name="z")(Input((8,)))


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"RandomRotation 'r': factor must be .* factor=1.5"):
        RandomRotation(1.5, name="r")
    with pytest.raises(ValueError, match=r"height_factor must be .* \(-1, 1\]"):
        RandomZoom(-1.0)
    with pytest.raises(ValueError, match=r"height_factor=nan"):
        RandomZoom(float("nan"))
    with pytest.raises(ValueError, match="fill_mode must be one of"):
        RandomTranslation(0.1, 0.1, fill_mode="mirror")
    with pytest.raises(ValueError, match="mode must be one of"):
        RandomFlip("diagonal")
    with pytest.raises(ValueError, match=r"factor must be a number in \[0, 1\]"):
        RandomContrast(-0.5)
    with pytest.raises(ValueError, match="value_range must be a pair"):
        RandomBrightness(0.1, value_range=(0, 1, 2))
    with pytest.raises(ValueError, match="seed must be an int"):
        RandomFlip(seed="x")


def test_factor_ranges_as_keras():
    assert RandomRotation(0.2).factor == (-0.2, 0.2)
    assert RandomRotation((0.3, -0.1)).factor == (-0.1, 0.3)
    assert RandomContrast(0.4).factor == (0.0, 0.4)  # Keras 3: draws in [1, 1.4]
    assert RandomContrast((-0.3, 0.3)).factor == (-0.3, 0.3)  # a fixed factor 1.3
    assert RandomBrightness(0.2, value_range=(255, 0)).value_range == (0, 255)


@pytest.mark.parametrize("index", range(7))
def test_config_round_trip(index):
    layer = _all_layers(seed=3)[index]
    config = layer.get_config()
    again = type(layer).from_config(config)
    assert again.get_config() == config
    x = _images((2, 6, 8, 2))
    np.testing.assert_array_equal(layer(x, training=True).data, again(x, training=True).data)


def test_gradients_reach_a_trainable_layer_before_augmentation():
    dense = Dense(2, dtype="float64")
    x = Tensor(_images((2, 6, 6, 3), dtype=np.float64))
    out = dense(x)
    for layer in _all_layers(seed=0):
        layer.dtype = "float64"
        out = layer(out, training=True)
    out.backward(np.ones(out.shape))
    assert np.abs(dense.kernel.grad).sum() > 0


def test_sequential_with_augmentation_at_the_front_trains(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 64)
    x = rng.uniform(0, 100, (64, 8, 8, 1)).astype(np.float32)
    x[y == 1, 2:6, 2:6] += 150  # a bright center: any flip keeps it
    model = striate.Sequential(
        [
            Input((8, 8, 1)),
            RandomFlip(seed=1),
            Rescaling(1 / 255),
            Conv2D(4, 3, activation="relu"),
            Flatten(),
            Dense(2, activation="softmax"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    before = model.get_weights()
    history = model.fit(x, y, epochs=4, batch_size=16, verbose=0)
    losses = history.history["loss"]
    assert np.isfinite(losses).all() and losses[-1] < losses[0]
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    model.save(tmp_path / "m.striate")
    loaded = striate.models.load_model(tmp_path / "m.striate")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.layers[0].get_config() == model.layers[0].get_config()
    state = model.layers[0].generator.bit_generator.state
    assert loaded.layers[0].generator.bit_generator.state == state  # a resumed fit draws on


# -- parity with Keras 3 -----------------------------------------------------------------------
def _keras():
    return pytest.importorskip("keras")


def _array(out):
    """A striate Tensor's or a Keras tensor's values."""
    return out.data if isinstance(out, Tensor) else np.asarray(out)


def _theirs(keras, layer, x, training=True):
    return keras.ops.convert_to_numpy(layer(x, training=training))


@pytest.mark.slow
@pytest.mark.parametrize("fill_mode", FILL_MODES)
@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_fixed_affine_draws_match_keras(fill_mode, interpolation):
    keras = _keras()
    x = _images((3, 7, 9, 2))
    common = {"fill_mode": fill_mode, "interpolation": interpolation, "fill_value": 0.3}
    cases = [(name, (f, f)) for name in ["RandomRotation"] for f in (0.1, 0.25, -0.37)]
    cases += [("RandomZoom", ((0.3, 0.3), (-0.4, -0.4))), ("RandomZoom", ((-0.5, -0.5),))]
    cases += [("RandomTranslation", ((0.3, 0.3), (-0.4, -0.4)))]
    for name, factors in cases:
        factors = factors if isinstance(factors[0], tuple) else (factors,)
        theirs = _theirs(keras, getattr(keras.layers, name)(*factors, **common), x)
        ours = getattr(striate.layers, name)(*factors, **common)(x, training=True).data
        np.testing.assert_allclose(ours, theirs, atol=1e-5, err_msg=f"{name} {factors}")


@pytest.mark.slow
def test_fixed_color_draws_and_crops_match_keras():
    keras = _keras()
    x = _images((3, 7, 9, 2)) * 255
    pairs = [
        (RandomContrast((-0.3, 0.3)), keras.layers.RandomContrast((-0.3, 0.3))),
        (RandomBrightness((0.2, 0.2)), keras.layers.RandomBrightness((0.2, 0.2))),
        (
            RandomBrightness((-0.1, -0.1), (0, 100)),
            keras.layers.RandomBrightness((-0.1, -0.1), (0, 100)),
        ),
        (RandomCrop(9, 9), keras.layers.RandomCrop(9, 9)),  # not larger: aspect window, resize
        (RandomCrop(7, 4), keras.layers.RandomCrop(7, 4)),
        (RandomCrop(7, 9), keras.layers.RandomCrop(7, 9)),
    ]
    for ours, theirs in pairs:
        np.testing.assert_allclose(
            ours(x, training=True).data, _theirs(keras, theirs, x), rtol=1e-6, atol=1e-4
        )
    # both flips: the images Keras flips equal ours flipped
    for mode, axes in [
        ("horizontal", (1,)),
        ("vertical", (0,)),
        ("horizontal_and_vertical", (0, 1)),
    ]:
        theirs = _theirs(keras, keras.layers.RandomFlip(mode), x[0])
        flipped = np.flip(x[0], axis=axes)
        assert np.array_equal(theirs, x[0]) or np.array_equal(theirs, flipped)
        ours = RandomFlip(mode, seed=0)
        outputs = [ours(x[0], training=True).data for _ in range(8)]
        assert any(np.array_equal(o, flipped) for o in outputs)
    # RandomCrop at inference: Keras 3.15 returns the input unchanged (its output shape then
    # disagrees with compute_output_shape); striate keeps the shape with Keras's smart_resize
    smart = keras.ops.convert_to_numpy(keras.preprocessing.image.smart_resize(x, (4, 5)))
    np.testing.assert_allclose(RandomCrop(4, 5)(x).data, smart, rtol=1e-6, atol=1e-4)


def _spread(values, low, high, slack=1e-4):
    """Draws in [low, high] (within `slack` of the span), reaching both ends, centered."""
    values = np.asarray(values)
    span = high - low
    assert values.min() >= low - slack * span and values.max() <= high + slack * span
    assert values.min() < low + 0.1 * span and values.max() > high - 0.1 * span
    assert abs(values.mean() - (low + high) / 2) < 0.08 * span


@pytest.mark.slow
def test_random_draws_match_keras_by_statistics():
    keras = _keras()
    n = 400
    x = np.repeat(_images((1, 6, 5, 1)) * 100 + 50, n, axis=0)
    # share of flipped images: Binomial(400, 1/2) is within 200 +- 40 with p > 0.9999
    for layer in (RandomFlip("horizontal", seed=4), keras.layers.RandomFlip("horizontal", seed=4)):
        out = _array(layer(x, training=True))
        share = (~(out == x).all(axis=(1, 2, 3))).sum()
        assert 160 < share < 240, type(layer).__module__
    # contrast factors, read back from the output: Keras 3 draws factor=0.5 in [1, 1.5]
    mean = x[0].mean()
    for layer in (
        RandomContrast(0.5, seed=2, value_range=(-1e6, 1e6)),
        keras.layers.RandomContrast(0.5, seed=2, value_range=(-1e6, 1e6)),
    ):
        out = _array(layer(x, training=True))
        _spread((out[:, 0, 0, 0] - mean) / (x[0, 0, 0, 0] - mean), 1.0, 1.5)
    # brightness deltas: factor 0.2 of the value range 0..255 is in [-51, 51]
    for layer in (
        RandomBrightness(0.2, value_range=(0, 255), seed=2),
        keras.layers.RandomBrightness(0.2, value_range=(0, 255), seed=2),
    ):
        out = _array(layer(x, training=True))
        _spread(out[:, 0, 0, 0] - x[:, 0, 0, 0], -51, 51)
    # rotation angles: a 1x1 marker's position, for a factor of 0.05 turns (+-18 degrees)
    marker = np.zeros((n, 41, 41, 1), np.float32)
    marker[:, 20, 38] = 1.0
    for layer in (
        RandomRotation(0.05, fill_mode="constant", interpolation="nearest", seed=5),
        keras.layers.RandomRotation(0.05, fill_mode="constant", interpolation="nearest", seed=5),
    ):
        out = _array(layer(marker, training=True))[..., 0]
        rows, cols = np.nonzero(out)[1:]
        angles = np.degrees(np.arctan2(20 - rows, cols - 20))  # counter-clockwise, as Keras
        _spread(angles, -18, 18, slack=0.1)  # a pixel's position: within 3 degrees


def test_functional_model_with_augmentation_and_summary(capsys):
    inputs = Input((12, 12, 3))
    x = RandomZoom(0.1, seed=0)(inputs)
    x = RandomCrop(8, 8, seed=0)(x)
    x = striate.layers.CenterCrop(6, 6)(x)
    outputs = Dense(2)(Flatten()(x))
    model = striate.Model(inputs, outputs)
    model.summary()
    text = capsys.readouterr().out
    assert "random_crop" in text and "(None, 8, 8, 3)" in text and "(None, 6, 6, 3)" in text
    assert model.predict(np.ones((3, 12, 12, 3)), verbose=0).shape == (3, 2)


@pytest.mark.slow
def test_configs_match_keras():
    keras = _keras()
    for ours in _all_layers(seed=3):
        theirs = getattr(keras.layers, type(ours).__name__).from_config(
            {k: v for k, v in ours.get_config().items() if k != "dtype"}
        )
        mine, keras_config = ours.get_config(), theirs.get_config()
        for key in ("name", "dtype", "trainable"):
            mine.pop(key), keras_config.pop(key)
        keras_config = {k: list(v) if isinstance(v, tuple) else v for k, v in keras_config.items()}
        assert mine == keras_config, type(ours).__name__
