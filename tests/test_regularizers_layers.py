"""kernel/bias/activity regularizers and kernel/bias constraints on Dense and Conv2D, as in Keras
3: the penalties join the loss `fit` minimizes and logs (activity penalties divided by the batch
size), their gradients are hand-written (float64 checks), constraints act after every optimizer
step, configs and model files keep them, and training without them is unchanged."""

import os

import numpy as np
import pytest
from gradcheck import check_gradients

import striate
from striate import constraints, regularizers
from striate.layers import Conv2D, Dense, Flatten, MaxPool2D
from striate.models import Sequential, penalties, training
from striate.ops.dense import dense
from striate.ops.loss_terms import add_scalars, divide
from striate.ops.regularization import weight_penalty

SHAPE = (8, 8, 1)


@pytest.fixture(autouse=True)
def fresh():
    striate.backend.clear_session()
    striate.utils.set_random_seed(0)


def convnet(dtype=None):
    return Sequential(
        [
            Conv2D(
                4,
                3,
                activation="relu",
                input_shape=SHAPE,
                kernel_regularizer=regularizers.l2(1e-2),
                bias_regularizer=regularizers.l1(1e-3),
                kernel_constraint=constraints.max_norm(0.6, axis=[0, 1, 2]),
                dtype=dtype,
            ),
            MaxPool2D(2, dtype=dtype),
            Flatten(dtype=dtype),
            Dense(
                8,
                activation="relu",
                activity_regularizer=regularizers.l1(1e-2),
                kernel_regularizer=regularizers.l1_l2(l1=1e-3, l2=1e-2),
                dtype=dtype,
            ),
            Dense(
                3,
                activation="softmax",
                kernel_constraint=constraints.max_norm(1.0),
                bias_constraint="non_neg",
                dtype=dtype,
            ),
        ]
    )


def data(n=80, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    x = rng.random((n,) + SHAPE).astype(dtype)
    return x, (x.reshape(n, -1)[:, :3].argmax(axis=1))


def test_penalty_gradients_in_float64():
    rng = np.random.default_rng(1)
    kernel, x = rng.standard_normal((5, 3)), rng.standard_normal((4, 5))

    def total(w, inputs):
        activity = divide(weight_penalty(dense(inputs, w, None), l1=0.1), 4)
        return add_scalars([weight_penalty(w, l1=0.01, l2=0.02), activity])

    check_gradients(total, [kernel, x])


def test_training_loss_is_the_loss_plus_penalties_with_its_gradient():
    """The whole step in float64: the loss fit minimizes is the compiled loss, plus each
    activity penalty / batch, plus each weight's penalty; its gradient matches differences."""
    model = convnet("float64")
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x, y = data(6, dtype=np.float64)
    terms = penalties.of(model)
    loss, _, _ = training._loss_step(model, x, y, None, True, terms)
    plain, _ = model.call_with_loss(striate.Tensor(x), y, training=True)
    hidden = model.layers[3]
    features = striate.Tensor(x)
    for layer in model.layers[:4]:
        features = layer(features, training=True)
    features = features.data
    expected = (
        float(plain.data)
        + 1e-2 * np.abs(features).sum() / len(x)
        + 1e-2 * np.square(model.layers[0].kernel.data).sum()
        + 1e-3 * np.abs(model.layers[0].bias.data).sum()
        + 1e-3 * np.abs(hidden.kernel.data).sum()
        + 1e-2 * np.square(hidden.kernel.data).sum()
    )
    assert float(loss.data) == pytest.approx(expected, rel=1e-12)
    loss.backward()
    for weight in (model.layers[0].kernel, hidden.kernel):
        analytic = weight.grad.copy()
        for flat in (0, 7, weight.data.size - 1):
            position = np.unravel_index(flat, weight.data.shape)
            saved = weight.data[position]
            values = []
            for step in (1e-6, -1e-6):
                weight.data[position] = saved + step
                value, _, _ = training._loss_step(model, x, y, None, True, terms)
                values.append(float(value.data))
            weight.data[position] = saved
            numeric = (values[0] - values[1]) / 2e-6
            assert analytic[position] == pytest.approx(numeric, rel=1e-5, abs=1e-8)


def test_constraints_act_after_each_step():
    model = Sequential(
        [Dense(4, input_shape=(3,), kernel_constraint=constraints.MaxNorm(0.5, axis=0))]
    )
    model.compile(optimizer=striate.optimizers.SGD(0.5), loss="mse")
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((8, 3)), rng.standard_normal((8, 4)) * 10
    kernel, bias = (w.copy() for w in model.get_weights())
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    # the loop reference: one SGD step of MSE, then each column scaled to norm <= 0.5
    error = 2 * ((x @ kernel + bias) - y) / y.size
    stepped = kernel - 0.5 * (x.T @ error)
    norms = np.sqrt((stepped.astype(np.float32) ** 2).sum(axis=0, keepdims=True))
    expected = stepped * (np.clip(norms, 0, 0.5) / (1e-7 + norms))
    np.testing.assert_allclose(model.get_weights()[0], expected, rtol=1e-5, atol=1e-6)
    assert np.sqrt((model.get_weights()[0] ** 2).sum(axis=0)).max() <= 0.5 + 1e-6


def test_constraint_numbers():
    w = np.array([[3.0, -1.0], [4.0, 0.0]], np.float32)
    np.testing.assert_allclose(constraints.NonNeg()(w), [[3, 0], [4, 0]])
    np.testing.assert_allclose(constraints.UnitNorm(axis=0)(w), [[0.6, -1], [0.8, 0]], rtol=1e-6)
    np.testing.assert_allclose(
        constraints.MinMaxNorm(min_value=2, max_value=4, rate=0.5)(w),
        [[3 * 4.5 / 5, -1 * 1.5], [4 * 4.5 / 5, 0]],
        rtol=1e-5,
    )
    assert constraints.max_norm(2, axis=[0, 1, 2])(np.ones((2, 2, 1, 3), np.float32)).shape == (
        2,
        2,
        1,
        3,
    )


def test_config_round_trip_and_model_file(tmp_path):
    model = convnet()
    for layer in model.layers:
        again = type(layer).from_config(layer.get_config())
        assert again.get_config() == layer.get_config()
    config = model.layers[0].get_config()
    assert config["kernel_regularizer"] == {"class_name": "L2", "config": {"l2": 0.01}}
    assert config["kernel_constraint"] == {
        "class_name": "MaxNorm",
        "config": {"max_value": 0.6, "axis": [0, 1, 2]},
    }
    assert model.layers[3].get_config()["activity_regularizer"]["class_name"] == "L1"
    assert model.layers[4].get_config()["bias_constraint"] == {"class_name": "NonNeg", "config": {}}
    assert "kernel_regularizer" not in Dense(2).get_config()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x, y = data(16)
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "m.striate")
    loaded = striate.saving.load_model(tmp_path / "m.striate")
    assert [la.get_config() for la in loaded.layers] == [la.get_config() for la in model.layers]
    assert loaded.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)


def test_names_objects_and_bad_names():
    layer = Dense(2, kernel_regularizer="l1_l2", bias_constraint="unit_norm")
    assert layer.kernel_regularizer.get_config() == {"l1": 0.0, "l2": 0.0}
    assert layer.bias_constraint.get_config() == {"axis": 0}
    with pytest.raises(
        ValueError,
        match=r"Dense 'dense_1': kernel_regularizer: Unknown regularizer 'l3'\. "
        r"Valid names: 'l1', 'l1_l2', 'l1l2', 'l2'\.",
    ):
        Dense(2, kernel_regularizer="l3", name="dense_1")
    with pytest.raises(ValueError, match="Conv2D 'c': kernel_constraint: Unknown constraint"):
        Conv2D(2, 3, kernel_constraint="max_nrm", name="c")
    with pytest.raises(ValueError, match="MaxNorm: max_value must be a number >= 0"):
        constraints.MaxNorm(-1)


def test_add_weight_takes_them_for_a_users_layer():
    class Scale(striate.layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(
                shape=(input_shape[-1],), initializer="ones", regularizer="l2", constraint="non_neg"
            )

        def call(self, inputs):
            return striate.ops.merging.multiply([inputs, self.w])

    layer = Scale()
    layer(np.ones((2, 3), np.float32))
    assert float(layer.losses[0].data) == pytest.approx(0.03)
    assert isinstance(layer.w.constraint, constraints.NonNeg)


def test_training_without_them_does_no_extra_work():
    model = Sequential([Dense(2, input_shape=(3,))])
    assert penalties.of(model) is None


@pytest.mark.slow
def test_forty_adam_steps_match_keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    model = convnet()
    twin = keras.Sequential([keras.Input(shape=SHAPE)])
    for layer in model.layers:
        config = {
            k: v
            for k, v in layer.get_config().items()
            if k not in ("dtype", "batch_input_shape", "name")
        }
        twin.add(getattr(keras.layers, type(layer).__name__).from_config(config))
    twin.set_weights(model.get_weights())
    x, y = data(80)
    for net, lib in ((model, striate), (twin, keras)):
        net.compile(
            optimizer=lib.optimizers.Adam(learning_rate=0.01),
            loss="sparse_categorical_crossentropy",
        )
    ours = model.fit(x, y, batch_size=8, epochs=4, shuffle=False, verbose=0)  # 40 steps
    theirs = twin.fit(x, y, batch_size=8, epochs=4, shuffle=False, verbose=0)
    np.testing.assert_allclose(ours.history["loss"], theirs.history["loss"], rtol=2e-4, atol=1e-5)
    for a, b in zip(model.get_weights(), twin.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=2e-5)
    np.testing.assert_allclose(
        model.evaluate(x, y, verbose=0), twin.evaluate(x, y, verbose=0), rtol=2e-4
    )


def test_functional_and_subclassed_models_add_the_same_penalties():
    sequential = convnet()
    inputs = striate.Input(shape=SHAPE)
    x = inputs
    for layer in sequential.layers:
        x = layer(x)
    functional = striate.Model(inputs, x)

    class Net(striate.Model):
        def __init__(self, stack, **kwargs):
            super().__init__(**kwargs)
            self.stack = list(stack)

        def call(self, inputs):
            for layer in self.stack:
                inputs = layer(inputs)
            return inputs

    subclassed = Net(sequential.layers)
    subclassed.build((None,) + SHAPE)
    x, y = data(16)
    losses = []
    for model in (sequential, functional, subclassed):
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        losses.append(model.evaluate(x, y, verbose=0))
    assert losses[0] == pytest.approx(losses[1], rel=1e-6)
    assert losses[0] == pytest.approx(losses[2], rel=1e-6)
    sequential.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    with striate.no_grad():
        bare, _ = sequential.call_with_loss(striate.Tensor(x), y)
    assert losses[0] > float(bare.data) + 1e-3  # the penalties are in it


@pytest.mark.slow  # parity with Keras 3
def test_every_kernel_layers_options_add_keras_penalties_and_constraints():
    """Depthwise, separable and transposed convolutions and both normalizations take Keras's
    per-weight options; `evaluate` reports the same penalized loss as Keras, and one SGD step
    with the constraints gives Keras's weights."""
    keras = pytest.importorskip("keras")

    def build(lib):
        layers = lib.layers
        l1_l2 = lib.regularizers.L1L2(0.01, 0.01)
        return lib.Sequential(
            [
                lib.Input((8, 8, 3)),
                layers.SeparableConv2D(
                    4,
                    3,
                    depthwise_regularizer="l2",
                    pointwise_regularizer="l1",
                    pointwise_constraint="non_neg",
                    name="sep",
                ),
                layers.BatchNormalization(
                    gamma_regularizer="l2", beta_constraint="max_norm", name="bn"
                ),
                layers.DepthwiseConv2D(
                    3, depthwise_regularizer=l1_l2, bias_constraint="unit_norm", name="dw"
                ),
                layers.Conv2DTranspose(
                    2, 3, kernel_regularizer="l2", kernel_constraint="max_norm", name="tr"
                ),
                layers.LayerNormalization(beta_regularizer="l1", name="ln"),
                layers.GlobalAveragePooling2D(name="gap"),
                layers.Dense(3, activation="softmax", name="out"),
            ]
        )

    striate.utils.set_random_seed(0)
    ours, theirs = build(striate), build(keras)
    rng = np.random.default_rng(0)
    for layer in ours.layers:
        weights = [w + rng.normal(0, 0.3, w.shape).astype(w.dtype) for w in layer.get_weights()]
        layer.set_weights(weights)
        theirs.get_layer(layer.name).set_weights(weights)
    x = rng.random((8, 8, 8, 3)).astype("float32")
    y = rng.integers(0, 3, 8)
    for model, lib in ((ours, striate), (theirs, keras)):
        model.compile(optimizer=lib.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    assert ours.evaluate(x, y, verbose=0) == pytest.approx(
        theirs.evaluate(x, y, verbose=0), rel=1e-5
    )
    ours.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    theirs.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for layer in ours.layers:
        for a, b in zip(layer.get_weights(), theirs.get_layer(layer.name).get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=layer.name)
