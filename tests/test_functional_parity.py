"""Functional models against Keras 3: the same code builds the same model in both libraries
(same parameter counts and output shapes); the same weights give the same predictions; 40 Adam
steps on the same batches give the same losses and weights (test_parity.py's tolerances); and
fine-tuning a frozen nested base gives the same numbers, the frozen weights bit-identical."""

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

import striate

pytestmark = pytest.mark.slow  # parity with Keras


def toy_resnet(lib, shape=(32, 32, 3)):
    """The Keras guide's toy ResNet ("The Functional API"), written once for both libraries."""
    layers = lib.layers
    inputs = lib.Input(shape=shape, name="img")
    x = layers.Conv2D(32, 3, activation="relu")(inputs)
    x = layers.Conv2D(64, 3, activation="relu")(x)
    block_1_output = layers.MaxPooling2D(3)(x)
    x = layers.Conv2D(64, 3, activation="relu", padding="same")(block_1_output)
    x = layers.Conv2D(64, 3, activation="relu", padding="same")(x)
    block_2_output = layers.add([x, block_1_output])
    x = layers.Conv2D(64, 3, activation="relu", padding="same")(block_2_output)
    x = layers.Conv2D(64, 3, activation="relu", padding="same")(x)
    block_3_output = layers.add([x, block_2_output])
    x = layers.Conv2D(64, 3, activation="relu")(block_3_output)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(256, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(10)(x)
    return lib.Model(inputs, outputs, name="toy_resnet")


def small_resnet(lib, shape=(32, 32, 3)):
    """Conv/BN/ReLU blocks with `add` skips, GlobalAveragePooling2D and a softmax Dense (a conv
    followed by BN has no bias, as in ResNets: its gradient would be rounding noise)."""
    layers = lib.layers
    inputs = lib.Input(shape=shape)
    x = layers.Conv2D(8, 3, strides=2, padding="same", use_bias=False)(inputs)
    x = layers.ReLU()(layers.BatchNormalization()(x))
    for _ in range(2):
        y = layers.Conv2D(8, 3, padding="same", activation="relu")(x)
        y = layers.BatchNormalization()(layers.Conv2D(8, 3, padding="same", use_bias=False)(y))
        x = layers.ReLU()(layers.Add()([x, y]))
    x = layers.GlobalAveragePooling2D()(x)
    return lib.Model(inputs, layers.Dense(10, activation="softmax")(x))


def plain_resnet(lib, shape=(32, 32, 3)):
    """Conv/ReLU blocks with `add` skips, without BN."""
    layers = lib.layers
    inputs = lib.Input(shape=shape)
    x = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(inputs)
    for _ in range(2):
        x = layers.add([x, layers.Conv2D(8, 3, padding="same", activation="relu")(x)])
    x = layers.GlobalAveragePooling2D()(x)
    return lib.Model(inputs, layers.Dense(10, activation="softmax")(x))


def two_in_two_out(lib):
    layers = lib.layers
    image, extra = lib.Input(shape=(8, 8, 3), name="image"), lib.Input(shape=(5,), name="extra")
    features = layers.Flatten()(layers.MaxPooling2D(2)(layers.Conv2D(4, 3)(image)))
    shared = layers.Dense(6, activation="tanh")
    joined = layers.concatenate([shared(features), extra])
    joined = layers.Concatenate()([joined, layers.maximum([extra, layers.Dense(5)(extra)])])
    left = layers.Dense(3, activation="softmax", name="left")(joined)
    right = layers.Dense(1, name="right")(layers.multiply([shared(features), shared(features)]))
    return lib.Model([image, extra], [left, right])


def nested(lib, shape=(32, 32, 3)):
    layers = lib.layers
    base = lib.Sequential(
        [
            lib.Input(shape=shape),
            layers.Conv2D(6, 3, activation="relu"),
            layers.BatchNormalization(),
            layers.MaxPooling2D(2),
            layers.Conv2D(8, 3, activation="relu"),
        ],
        name="base",
    )
    inputs = lib.Input(shape=shape)
    x = base(inputs, training=False)
    x = layers.GlobalAveragePooling2D()(x)
    return lib.Model(inputs, layers.Dense(10, activation="softmax", name="head")(x)), base


def build_both(make):
    striate.backend.clear_session()
    keras.backend.clear_session()
    striate.utils.set_random_seed(0)
    ours, theirs = make(striate), make(keras)
    copy_weights(ours, theirs)
    return ours, theirs


def copy_weights(ours, theirs):
    for layer in ours.layers:
        theirs.get_layer(layer.name).set_weights(layer.get_weights())


def assert_same_structure(ours, theirs):
    assert ours.count_params() == theirs.count_params()
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    for mine, twin in zip(ours.layers, theirs.layers):
        assert mine.count_params() == twin.count_params(), mine.name
        assert tuple(mine.output_shape) == tuple(twin.output.shape), mine.name


def batch(n=8, shape=(32, 32, 3), seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n,) + shape).astype(np.float32), rng.integers(0, 10, n)


def test_toy_resnet_counts_223242_params_and_keras_shapes():
    ours, theirs = build_both(toy_resnet)
    assert ours.count_params() == 223_242
    assert_same_structure(ours, theirs)
    assert "Total params: 223,242" in repr(ours.summary)


@pytest.mark.parametrize("make", [toy_resnet, small_resnet], ids=["toy", "small_bn"])
def test_same_weights_same_predictions(make):
    ours, theirs = build_both(make)
    assert_same_structure(ours, theirs)
    x, _ = batch(6)
    np.testing.assert_allclose(
        ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-5
    )


def test_two_inputs_two_outputs_same_predictions():
    ours, theirs = build_both(two_in_two_out)
    assert_same_structure(ours, theirs)
    rng = np.random.default_rng(1)
    x = [rng.random((4, 8, 8, 3)).astype(np.float32), rng.random((4, 5)).astype(np.float32)]
    for a, b in zip(ours(x), theirs.predict(x, verbose=0)):
        np.testing.assert_allclose(a.data, b, rtol=1e-5, atol=1e-6)


def fit_both(ours, theirs, epochs, x, y):
    for model in (ours, theirs):
        model.compile(
            optimizer=model_lib(model).optimizers.Adam(learning_rate=0.003),
            loss="sparse_categorical_crossentropy",
        )
    a = ours.fit(x, y, batch_size=8, epochs=epochs, shuffle=False, verbose=0)
    b = theirs.fit(x, y, batch_size=8, epochs=epochs, shuffle=False, verbose=0)
    np.testing.assert_allclose(a.history["loss"], b.history["loss"], rtol=2e-4, atol=1e-5)


def model_lib(model):
    return striate if isinstance(model, striate.Model) else keras


def assert_same_weights(ours, theirs):
    for layer in ours.layers:
        for a, b in zip(layer.get_weights(), theirs.get_layer(layer.name).get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-3, atol=2e-5, err_msg=layer.name)


def test_40_adam_steps_match_keras(keras3_crossentropy):
    """Conv/ReLU blocks with `add` skips, 40 steps run freely in both libraries."""
    ours, theirs = build_both(plain_resnet)
    x, y = batch(32, seed=2)
    fit_both(ours, theirs, 10, x, y)  # 4 batches of 8 per epoch: 40 steps
    assert_same_weights(ours, theirs)


def test_40_adam_steps_of_a_batchnorm_resnet_match_keras_step_by_step(keras3_crossentropy):
    """The BN ResNet: every one of 40 Adam steps gives Keras's weights (the Sequential parity
    tolerance) from the same weights, with each library's own Adam moments carried through all
    40. Run freely, the two drift apart past that bar within 40 steps although every step
    agrees: BatchNormalization over 8 samples makes each kernel that feeds it scale-invariant,
    so its gradient along that direction is float32 rounding noise, which Adam's division by
    sqrt(v) turns into updates of the learning rate's size (the losses still agree to 1e-4).
    Measured: the free run's worst weight is 5e-3 past the bar; here every step is within it.
    So each step starts from Keras's weights (BN's moving statistics included)."""
    ours, theirs = build_both(small_resnet)
    x, y = batch(32, seed=2)
    for model in (ours, theirs):
        model.compile(
            optimizer=model_lib(model).optimizers.Adam(learning_rate=0.003),
            loss="sparse_categorical_crossentropy",
        )
    for step in range(40):
        rows = slice(step % 4 * 8, step % 4 * 8 + 8)
        a = ours.fit(x[rows], y[rows], batch_size=8, epochs=1, shuffle=False, verbose=0)
        b = theirs.fit(x[rows], y[rows], batch_size=8, epochs=1, shuffle=False, verbose=0)
        np.testing.assert_allclose(a.history["loss"], b.history["loss"], rtol=2e-4, atol=1e-5)
        assert_same_weights(ours, theirs)
        for layer in ours.layers:
            layer.set_weights(theirs.get_layer(layer.name).get_weights())


def test_fine_tuning_a_frozen_nested_base_matches_keras(keras3_crossentropy):
    striate.backend.clear_session()
    keras.backend.clear_session()
    striate.utils.set_random_seed(0)
    (ours, base), (theirs, their_base) = nested(striate), nested(keras)
    copy_weights(ours, theirs)
    assert_same_structure(ours, theirs)
    x, y = batch(32, seed=3)
    base.trainable = their_base.trainable = False
    frozen = base.get_weights()
    fit_both(ours, theirs, 3, x, y)
    assert all(np.array_equal(a, b) for a, b in zip(base.get_weights(), frozen))
    assert_same_weights(ours, theirs)
    base.trainable = their_base.trainable = True
    fit_both(ours, theirs, 2, x, y)
    assert not np.array_equal(base.get_weights()[0], frozen[0])
    assert_same_weights(ours, theirs)


def test_a_recorded_training_argument_is_used_as_keras_3_uses_it():
    x = np.random.default_rng(0).random((4, 8)).astype("float32")
    seen = {}
    for lib in (striate, keras):
        inputs = lib.Input((8,))
        dropout = lib.layers.Dropout(0.5)
        outputs = [dropout(inputs, training=True), dropout(inputs, training=False)]
        model = lib.Model(inputs, outputs)

        def changed(result):
            arrays = [r.data if isinstance(r, striate.Tensor) else r for r in result]
            return [not np.allclose(keras.ops.convert_to_numpy(a), x) for a in arrays]

        seen[lib.__name__] = (
            changed(model(x)),  # no mode given: each call's recorded one
            changed(model(x, training=True)),  # a given mode overrides
            changed(model.predict(x, verbose=0)),
        )
    assert seen["striate"] == seen["keras"] == ([True, False], [True, True], [False, False])
