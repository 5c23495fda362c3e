"""Lambda, Identity, ActivityRegularization, GaussianNoise, GaussianDropout, UnitNormalization,
GroupNormalization: gradients by float64 finite differences, a loop reference for the
normalizations, statistics for the noise, config round trips, and Keras 3 parity."""

import numpy as np
import pytest
from gradcheck import check_gradients

import striate
from striate import layers
from striate.tensor import Tensor

rng = np.random.default_rng(0)


def group_norm_loop(x, groups, gamma, beta, epsilon=1e-3):
    out = np.empty_like(x)
    per = x.shape[-1] // groups
    for n in range(x.shape[0]):
        for g in range(groups):
            block = x[n, ..., g * per : (g + 1) * per]
            out[n, ..., g * per : (g + 1) * per] = (block - block.mean()) / np.sqrt(
                block.var() + epsilon
            )
    return out * gamma + beta


def built(layer, shape, dtype="float64"):
    layer.dtype = dtype
    layer.build_for((None,) + shape)
    return layer


def test_group_normalization_matches_a_loop_and_its_gradients_finite_differences():
    layer = built(layers.GroupNormalization(groups=2), (3, 3, 4))
    gamma, beta = rng.normal(size=4), rng.normal(size=4)
    layer.set_weights([gamma, beta])
    x = rng.normal(size=(2, 3, 3, 4))
    np.testing.assert_allclose(
        layer(Tensor(x)).data, group_norm_loop(x, 2, gamma, beta), rtol=1e-10
    )

    check_gradients(lambda a: layer.call(a), [x])
    with pytest.raises(ValueError, match="channels must be divisible by groups"):
        built(layers.GroupNormalization(groups=3), (3, 3, 4))


def test_unit_normalization_and_identity():
    x = rng.normal(size=(3, 5))
    out = layers.UnitNormalization()(Tensor(x)).data
    np.testing.assert_allclose(out, x / np.linalg.norm(x, axis=-1, keepdims=True), rtol=1e-12)
    check_gradients(lambda a: layers.UnitNormalization().call(a), [x])
    assert layers.Identity()(Tensor(x)).data is x


def test_noise_layers_are_the_identity_at_inference_and_have_the_right_statistics():
    x = np.ones((200, 500), np.float32)
    for layer, mean, std in (
        (layers.GaussianNoise(0.3, seed=1), 1.0, 0.3),
        (layers.GaussianDropout(0.2, seed=1), 1.0, np.sqrt(0.2 / 0.8)),
    ):
        assert layer(Tensor(x), training=False).data is x
        noisy = layer(Tensor(x), training=True).data
        assert noisy.dtype == np.float32
        assert abs(noisy.mean() - mean) < 0.01 and abs(noisy.std() - std) < 0.01
        again = type(layer).from_config(layer.get_config())
        np.testing.assert_array_equal(again(Tensor(x), training=True).data, noisy)  # seeded


def test_activity_regularization_adds_its_penalty_to_the_loss():
    model = striate.Sequential(
        [striate.Input((4,)), layers.ActivityRegularization(l1=0.1, l2=0.2), layers.Dense(1)]
    )
    model.compile(optimizer="sgd", loss="mse")
    x, y = rng.random((8, 4)).astype("float32"), np.zeros((8, 1), "float32")
    plain = float(np.mean((model.predict(x, verbose=0) - y) ** 2))
    penalty = (0.1 * np.abs(x).sum() + 0.2 * np.square(x).sum()) / len(x)
    assert model.evaluate(x, y, verbose=0) == pytest.approx(plain + penalty, rel=1e-5)


def test_configs_round_trip_and_a_lambda_trains_but_is_never_saved(tmp_path):
    for layer in (
        layers.GroupNormalization(groups=4, epsilon=1e-5, gamma_regularizer="l2"),
        layers.UnitNormalization(axis=[1, 2]),
        layers.GaussianNoise(0.5, seed=3),
        layers.GaussianDropout(0.1),
        layers.ActivityRegularization(l1=0.5),
        layers.Identity(),
    ):
        config = layer.get_config()
        assert type(layer).from_config(config).get_config() == config
    model = striate.Sequential([striate.Input((3,)), layers.Lambda(lambda x: x * 2.0 - 1.0)])
    np.testing.assert_allclose(model.predict(np.ones((2, 3)), verbose=0), np.ones((2, 3)))
    with pytest.raises(ValueError, match="a striate model file never holds or runs code"):
        model.save(tmp_path / "m.striate")
    with pytest.raises(TypeError, match="function must be callable"):
        layers.Lambda("os.system")


@pytest.mark.slow  # parity with Keras 3
def test_the_same_outputs_and_gradients_as_keras():
    keras = pytest.importorskip("keras")
    import torch

    x = rng.normal(size=(2, 4, 4, 6)).astype("float32")
    gamma, beta = rng.normal(size=6).astype("float32"), rng.normal(size=6).astype("float32")
    cases = [
        (layers.GroupNormalization(3), keras.layers.GroupNormalization(3), [gamma, beta]),
        (layers.UnitNormalization(), keras.layers.UnitNormalization(), []),
        (layers.Lambda(lambda t: t * 3.0), keras.layers.Lambda(lambda t: t * 3.0), []),
    ]
    upstream = rng.normal(size=x.shape).astype("float32")
    for ours, theirs, weights in cases:
        ours.build_for((None, 4, 4, 6))
        theirs.build((None, 4, 4, 6))
        if weights:
            ours.set_weights(weights)
            theirs.set_weights(weights)
        leaf = Tensor(x.copy(), requires_grad=True)
        out = ours(leaf)
        out.backward(upstream)
        tx = torch.tensor(x, requires_grad=True)
        tout = theirs(tx)
        tout.backward(torch.tensor(upstream))
        np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(leaf.grad, tx.grad.numpy(), rtol=1e-4, atol=1e-5)
