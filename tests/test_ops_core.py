"""Dense, activations, dropout, batch norm and reshapes: gradient checks, references, parity."""

import os

import numpy as np
import pytest
from gradcheck import check_gradients

from striate.ops import activations as act
from striate.ops.dense import dense
from striate.ops.normalization import batch_norm
from striate.ops.regularization import dropout
from striate.ops.shape import flatten, reshape
from striate.tensor import Tensor, no_grad

SHAPES = [(5, 7), (2, 3, 4, 5)]


def away_from_zero(shape, seed=0, gap=0.1):
    """Random values with |x| >= gap, so kinks (relu at 0) are not straddled by the check."""
    x = np.random.default_rng(seed).standard_normal(shape) * 2
    return np.where(x >= 0, x + gap, x - gap)


def unary_ops():
    return {
        "relu": act.relu,
        "sigmoid": act.sigmoid,
        "tanh": act.tanh,
        "softmax": act.softmax,
        "softmax_axis1": lambda x: act.softmax(x, axis=1),
        "leaky_relu": act.leaky_relu,
        "leaky_relu_0.5": lambda x: act.leaky_relu(x, negative_slope=0.5),
        "elu": act.elu,
        "elu_2": lambda x: act.elu(x, alpha=2.0),
        "selu": act.selu,
        "softplus": act.softplus,
        "swish": act.swish,
        "gelu": act.gelu,
        "gelu_tanh": lambda x: act.gelu(x, approximate=True),
    }


# ----------------------------------------------------------------------------- dense


@pytest.mark.parametrize(
    "x_shape, units", [((4, 3), 5), ((1, 1), 1), ((2, 3, 3, 4), 5), ((3, 2, 7), 2)]
)
@pytest.mark.parametrize("with_bias", [True, False])
def test_dense_gradients(x_shape, units, with_bias):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(x_shape)
    k = rng.standard_normal((x_shape[-1], units))
    if with_bias:
        check_gradients(dense, [x, k, rng.standard_normal(units)])
    else:
        check_gradients(dense, [x, k])


def test_dense_forward_against_loop_and_shape():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 3, 4))
    k = rng.standard_normal((4, 5))
    b = rng.standard_normal(5)
    out = dense(Tensor(x), Tensor(k), Tensor(b)).data
    assert out.shape == (2, 3, 3, 5)  # KERAS.md: Dense on a 4-D input works on the last axis
    expected = np.zeros((2, 3, 3, 5))
    for idx in np.ndindex(2, 3, 3):
        for u in range(5):
            expected[idx + (u,)] = sum(x[idx + (i,)] * k[i, u] for i in range(4)) + b[u]
    np.testing.assert_allclose(out, expected, rtol=1e-12)


def test_dense_skips_input_gradient_when_not_needed():
    x = Tensor(np.ones((3, 2)))
    k = Tensor(np.ones((2, 4)), requires_grad=True)
    b = Tensor(np.zeros(4), requires_grad=True)
    out = dense(x, k, b)
    assert out.backward_fn(np.ones((3, 4)))[0] is None
    out.backward(np.ones((3, 4)))
    np.testing.assert_array_equal(k.grad, np.full((2, 4), 3.0))
    np.testing.assert_array_equal(b.grad, np.full(4, 3.0))


def test_dense_shape_errors():
    with pytest.raises(
        ValueError, match=r"dense: the last axis of the input \(3\).*kernel.shape=\(4, 2\)"
    ):
        dense(Tensor(np.ones((2, 3))), Tensor(np.ones((4, 2))))
    with pytest.raises(ValueError, match=r"dense: bias must have shape \(2,\).*bias.shape=\(3,\)"):
        dense(Tensor(np.ones((2, 4))), Tensor(np.ones((4, 2))), Tensor(np.ones(3)))


# ----------------------------------------------------------------------------- activations


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", list(unary_ops()))
def test_activation_gradients(name, shape):
    check_gradients(unary_ops()[name], [away_from_zero(shape, seed=len(name))])


def test_activation_forward_values():
    x = np.array([-2.0, -0.5, 0.0, 0.5, 3.0])
    cases = {
        act.relu: [0, 0, 0, 0.5, 3],
        act.leaky_relu: [-0.4, -0.1, 0, 0.5, 3],  # Keras 3 default slope 0.2
        act.elu: np.where(x > 0, x, np.expm1(x)),
        act.sigmoid: 1 / (1 + np.exp(-x)),
        act.softplus: np.log(1 + np.exp(x)),
        act.swish: x / (1 + np.exp(-x)),
        act.tanh: np.tanh(x),
    }
    for op, expected in cases.items():
        np.testing.assert_allclose(op(Tensor(x)).data, expected, rtol=1e-12, atol=1e-15)
    t = Tensor(x)
    assert act.linear(t) is t
    assert act.silu is act.swish


def test_activations_saturate_without_overflow():
    big = np.array([-1000.0, 1000.0], dtype=np.float32)
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        np.testing.assert_array_equal(act.sigmoid(Tensor(big)).data, [0.0, 1.0])
        np.testing.assert_array_equal(act.softplus(Tensor(big)).data, [0.0, 1000.0])
        np.testing.assert_array_equal(act.softmax(Tensor(big)).data, [0.0, 1.0])
        np.testing.assert_array_equal(act.elu(Tensor(big)).data, [-1.0, 1000.0])


def test_softmax_is_a_plain_op():
    """No side channel for a later loss (the plan fuses softmax and loss explicitly)."""
    x = Tensor(np.random.default_rng(0).standard_normal((2, 3)), requires_grad=True)
    out = act.softmax(x)
    assert out.parents == (x,) and not hasattr(out, "saved")
    np.testing.assert_array_equal(out.data, act.softmax_probabilities(x.data))


def test_relu_gradient_is_zero_at_zero():
    x = Tensor(np.array([-1.0, 0.0, 1.0]), requires_grad=True)
    act.relu(x).backward(np.ones(3))
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 1.0])


TORCH_ACTIVATIONS = {
    "relu": lambda F, x: F.relu(x),
    "sigmoid": lambda F, x: F.sigmoid(x),
    "tanh": lambda F, x: F.tanh(x),
    "softmax": lambda F, x: F.softmax(x, dim=-1),
    "softmax_axis1": lambda F, x: F.softmax(x, dim=1),
    "leaky_relu": lambda F, x: F.leaky_relu(x, 0.2),
    "leaky_relu_0.5": lambda F, x: F.leaky_relu(x, 0.5),
    "elu": lambda F, x: F.elu(x),
    "elu_2": lambda F, x: F.elu(x, alpha=2.0),
    "selu": lambda F, x: F.selu(x),
    "softplus": lambda F, x: F.softplus(x),
    "swish": lambda F, x: F.silu(x),
    "gelu": lambda F, x: F.gelu(x),
    "gelu_tanh": lambda F, x: F.gelu(x, approximate="tanh"),
}


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-10), (np.float32, 2e-5)])
@pytest.mark.parametrize("name", list(TORCH_ACTIVATIONS))
def test_activations_match_torch(name, dtype, rtol):
    torch = pytest.importorskip("torch")
    x = (np.random.default_rng(5).standard_normal((4, 3, 2, 6)) * 4).astype(dtype)
    weights = np.random.default_rng(6).standard_normal(x.shape).astype(dtype)
    ours_x = Tensor(x.copy(), requires_grad=True)
    ours = unary_ops()[name](ours_x)
    ours.backward(weights)
    theirs_x = torch.tensor(x, requires_grad=True)
    theirs = TORCH_ACTIVATIONS[name](torch.nn.functional, theirs_x)
    (theirs * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=rtol, atol=rtol)
    np.testing.assert_allclose(ours_x.grad, theirs_x.grad.numpy(), rtol=rtol, atol=rtol)


# ----------------------------------------------------------------------------- dropout


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("rate", [0.25, 0.5, 0.9])
def test_dropout_gradients(shape, rate):
    # A fresh generator with the same seed per evaluation gives the same mask every time.
    check_gradients(lambda x: dropout(x, rate, np.random.default_rng(7)), [away_from_zero(shape)])


def test_dropout_is_inverted_and_keeps_the_right_fraction():
    x = np.full((200, 500), 3.0, dtype=np.float32)
    out = dropout(Tensor(x), 0.3, np.random.default_rng(0)).data
    kept = out != 0
    np.testing.assert_allclose(out[kept], 3.0 / 0.7, rtol=1e-6)
    assert abs(kept.mean() - 0.7) < 0.005
    assert abs(out.mean() - 3.0) < 0.03
    # The documented rule: 32 random bits per unit (two per 64-bit raw draw) >= rate * 2**32.
    raw = np.random.default_rng(0).bit_generator.random_raw(x.size // 2)
    expected = raw.view(np.uint32).reshape(x.shape) >= round(0.3 * 2**32)
    np.testing.assert_array_equal(kept, expected)


def test_dropout_rate_zero_one_and_errors():
    x = Tensor(np.ones((2, 3)))
    assert dropout(x, 0.0, np.random.default_rng(0)) is x
    np.testing.assert_array_equal(dropout(x, 1.0, np.random.default_rng(0)).data, 0.0)
    odd = dropout(Tensor(np.ones((3, 5, 7))), 0.5, np.random.default_rng(0)).data  # odd size
    assert odd.shape == (3, 5, 7) and set(np.unique(odd)) <= {0.0, 2.0}
    tiny = dropout(Tensor(np.ones(1000)), 1e-12, np.random.default_rng(0)).data
    np.testing.assert_allclose(tiny, 1 / (1 - 1e-12))  # a tiny rate keeps (almost) every unit
    with pytest.raises(ValueError, match=r"dropout: rate must be in \[0, 1\]. Received: rate=1.5"):
        dropout(x, 1.5)


# ----------------------------------------------------------------------------- batch norm


def bn_reference(x, gamma, beta, mean, var, eps):
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


BN_CASES = [((6, 4), -1), ((3, 4, 5, 2), -1), ((3, 4, 5, 2), 1), ((4, 3, 5), 0)]


@pytest.mark.parametrize("shape, axis", BN_CASES)
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_gradients(shape, axis, training):
    rng = np.random.default_rng(3)
    channels = shape[axis]
    x = rng.standard_normal(shape) * 2 + 1
    gamma = rng.standard_normal(channels)
    beta = rng.standard_normal(channels)
    mm, mv = rng.standard_normal(channels), rng.random(channels) + 0.5

    def fn(x, gamma, beta):
        return batch_norm(x, gamma, beta, mm.copy(), mv.copy(), training=training, axis=axis)

    check_gradients(fn, [x, gamma, beta])


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_gradients_without_gamma_or_beta(training):
    x = np.random.default_rng(4).standard_normal((5, 3))
    mm, mv = np.zeros(3), np.full(3, 2.0)
    check_gradients(lambda x: batch_norm(x, None, None, mm, mv, training=training), [x])
    check_gradients(
        lambda x, g: batch_norm(x, g, None, mm, mv, training=training), [x, np.arange(3.0) + 1]
    )


def test_batch_norm_forward_and_moving_update_against_formula():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((4, 3, 3, 2)) * 3 + 5
    gamma, beta = np.array([1.5, 0.5]), np.array([0.1, -0.2])
    mm, mv = np.array([0.3, -0.1]), np.array([1.2, 0.8])
    mm0, mv0 = mm.copy(), mv.copy()
    out = batch_norm(Tensor(x), Tensor(gamma), Tensor(beta), mm, mv, training=True).data
    bm, bv = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))  # biased variance
    np.testing.assert_allclose(out, bn_reference(x, gamma, beta, bm, bv, 1e-3), rtol=1e-12)
    np.testing.assert_allclose(mm, mm0 * 0.99 + bm * 0.01, rtol=1e-12)
    np.testing.assert_allclose(mv, mv0 * 0.99 + bv * 0.01, rtol=1e-12)
    inference = batch_norm(Tensor(x), Tensor(gamma), Tensor(beta), mm, mv, training=False).data
    np.testing.assert_allclose(inference, bn_reference(x, gamma, beta, mm, mv, 1e-3), rtol=1e-12)


def test_batch_norm_errors():
    x = Tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"batch_norm: gamma must have shape \(3,\).*\(4,\)"):
        batch_norm(x, Tensor(np.ones(4)), None, np.zeros(3), np.ones(3))
    with pytest.raises(ValueError, match="batch_norm: axis 2 is out of range for a 2-D input"):
        batch_norm(x, None, None, np.zeros(3), np.ones(3), axis=2)


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    pytest.importorskip("torch")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("these parity checks use KERAS_BACKEND=torch")
    return keras


def to_numpy(value):
    """A Keras Variable or torch tensor as an ndarray (avoids a NumPy 2 copy= warning)."""
    return getattr(value, "value", value).detach().cpu().numpy()


@pytest.mark.parametrize("shape", [(4, 3), (3, 5, 5, 4)])
def test_batch_norm_matches_keras_training_step_and_moving_statistics(keras, shape):
    rng = np.random.default_rng(9)
    channels = shape[-1]
    x = (rng.standard_normal(shape) * 3 + 2).astype(np.float32)
    weights = [
        rng.random(channels).astype(np.float32) + 0.5,
        rng.standard_normal(channels).astype(np.float32),
        rng.standard_normal(channels).astype(np.float32),
        rng.random(channels).astype(np.float32) + 0.5,
    ]
    layer = keras.layers.BatchNormalization()
    layer.build(shape)
    layer.set_weights(weights)
    theirs = to_numpy(layer(x, training=True))
    k_mean, k_var = to_numpy(layer.moving_mean), to_numpy(layer.moving_variance)

    gamma, beta, mm, mv = (w.copy() for w in weights)
    ours = batch_norm(Tensor(x), Tensor(gamma), Tensor(beta), mm, mv, training=True)
    assert ours.data.dtype == np.float32 and mm.dtype == np.float32
    np.testing.assert_allclose(ours.data, theirs, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(mm, k_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mv, k_var, rtol=1e-5, atol=1e-6)
    # Keras feeds the *biased* batch variance to the moving variance (not Bessel-corrected).
    count = x.size // channels
    axes = tuple(range(x.ndim - 1))
    unbiased = weights[3] * 0.99 + x.var(axis=axes, ddof=1) * 0.01
    assert np.abs(unbiased - k_var).max() > 100 * np.abs(mv - k_var).max() + 1e-6, count

    theirs_inf = to_numpy(layer(x, training=False))
    ours_inf = batch_norm(Tensor(x), Tensor(gamma), Tensor(beta), mm, mv, training=False)
    np.testing.assert_allclose(ours_inf.data, theirs_inf, rtol=1e-4, atol=1e-4)


# ----------------------------------------------------------------------------- reshapes


@pytest.mark.parametrize(
    "shape, target, expected",
    [((2, 12), (3, 4), (2, 3, 4)), ((2, 3, 4), (-1,), (2, 12)), ((3, 2, 2, 2), (4, -1), (3, 4, 2))],
)
def test_reshape_forward_view_and_gradient(shape, target, expected):
    x = np.random.default_rng(0).standard_normal(shape)
    out = reshape(Tensor(x), target)
    assert out.shape == expected
    assert np.shares_memory(out.data, x)
    check_gradients(lambda t: reshape(t, target), [x])


def test_flatten_forward_view_and_gradient():
    x = np.random.default_rng(0).standard_normal((2, 13, 13, 6))
    out = flatten(Tensor(x))
    assert out.shape == (2, 1014)  # KERAS.md: 13x13x6 -> 1014
    assert np.shares_memory(out.data, x)
    assert flatten(Tensor(np.zeros(4))).shape == (4, 1)
    check_gradients(flatten, [x[:, :3, :2]])


def test_reshape_errors():
    x = Tensor(np.zeros((2, 13, 13, 6)))
    with pytest.raises(
        ValueError,
        match=r"cannot reshape per-sample shape \(13, 13, 6\) \(1014 "
        r"values\) to \(10, 100\) \(1000 values\)",
    ):
        reshape(x, (10, 100))
    with pytest.raises(ValueError, match="1014 is not a multiple of 100"):
        reshape(x, (100, -1))
    with pytest.raises(ValueError, match="one -1"):
        reshape(x, (-1, -1))


# ----------------------------------------------------------------------------- dtypes


def float32_cases():
    rng = np.random.default_rng(0)
    x4 = rng.standard_normal((2, 3, 3, 4)).astype(np.float32)
    c = np.ones(4, dtype=np.float32)
    cases = {name: (op, [x4]) for name, op in unary_ops().items()}
    cases["dense"] = (dense, [x4, rng.standard_normal((4, 5)).astype(np.float32), c[:1].repeat(5)])
    cases["dropout"] = (lambda x: dropout(x, 0.5, np.random.default_rng(0)), [x4])
    cases["bn_train"] = (
        lambda x, g, b: batch_norm(x, g, b, np.zeros(4, np.float32), c.copy(), training=True),
        [x4, c, c],
    )
    cases["bn_infer"] = (
        lambda x, g, b: batch_norm(x, g, b, np.zeros(4, np.float32), c.copy()),
        [x4, c, c],
    )
    cases["reshape"] = (lambda x: reshape(x, (-1,)), [x4])
    cases["flatten"] = (flatten, [x4])
    return cases


@pytest.mark.parametrize("name", list(float32_cases()))
def test_float32_in_float32_out(name):
    op, arrays = float32_cases()[name]
    tensors = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    out = op(*tensors)
    assert out.data.dtype == np.float32
    out.backward(np.ones_like(out.data))
    for t in tensors:
        assert t.grad.dtype == np.float32, name


def test_no_grad_records_nothing():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    with no_grad():
        out = act.relu(dense(x, Tensor(np.ones((3, 2)), requires_grad=True)))
    assert out.backward_fn is None and out.parents == ()
