"""Losses: gradient checks, the fused softmax path, Keras's clip rule, error texts, parity."""

import math
import os

import numpy as np
import pytest
from gradcheck import check_gradients

from striate.ops import losses
from striate.ops.activations import sigmoid, softmax
from striate.tensor import Tensor

EPS = 1e-7
N, C = 6, 4


def probabilities(shape, seed=0):
    """Positive, unnormalised, away from the clip region (exercises the p / sum(p) gradient)."""
    return np.random.default_rng(seed).random(shape) + 0.1


def int_labels(count, classes=C, seed=1):
    return np.random.default_rng(seed).integers(0, classes, count)


def one_hot(labels, classes=C):
    return np.eye(classes)[labels]


def soft_targets(shape, seed=2):
    t = np.random.default_rng(seed).random(shape)
    return t / t.sum(axis=-1, keepdims=True)


def article_logits():
    """float32 logits as from unscaled 0-255 pixels: some true-class probabilities are exactly
    1.0 or under 1e-7 (both clipped: zero gradient), the rest ordinary."""
    rng = np.random.default_rng(3)
    z = rng.standard_normal((N, C)).astype(np.float32)
    labels = np.array([0, 1, 2, 3, 0, 1])
    z[0, 0] += 300.0  # p_true == 1.0 exactly
    z[1, 2] += 300.0  # p_true == 0.0
    z[2, 0] += 17.5  # p_true ~ 2.5e-8 < 1e-7
    return z, labels


# ----------------------------------------------------------------------------- gradient checks


@pytest.mark.parametrize("shape", [(N, C), (2, 3, C)])
def test_sparse_gradients_on_probabilities_and_logits(shape, crossentropy_rule):
    labels = int_labels(math.prod(shape[:-1])).reshape(shape[:-1])
    p = probabilities(shape)
    check_gradients(lambda y: losses.sparse_categorical_crossentropy(labels, y), [p])
    check_gradients(lambda y: losses.sparse_categorical_crossentropy(labels, y, True), [p * 3])
    # Through softmax: the chain rule, and the fused op (the loss's parent is the logits).
    check_gradients(lambda z: losses.sparse_categorical_crossentropy(labels, softmax(z)), [p * 3])
    check_gradients(lambda z: losses.softmax_crossentropy(labels, z)[0], [p * 3])


@pytest.mark.parametrize("targets", ["one_hot", "soft"])
def test_categorical_gradients(targets, crossentropy_rule):
    t = one_hot(int_labels(N)) if targets == "one_hot" else soft_targets((N, C))
    p = probabilities((N, C))
    check_gradients(lambda y: losses.categorical_crossentropy(t, y), [p])
    check_gradients(lambda y: losses.categorical_crossentropy(t, y, from_logits=True), [p * 3])
    check_gradients(lambda z: losses.categorical_crossentropy(t, softmax(z)), [p * 3])
    check_gradients(lambda z: losses.softmax_crossentropy(t, z, sparse=False)[0], [p * 3])


@pytest.mark.parametrize("shape", [(N, 1), (N, 3), (2, 3, 4)])
def test_binary_and_mse_gradients(shape):
    t = np.random.default_rng(4).random(shape)
    p = np.random.default_rng(5).random(shape) * 0.9 + 0.05
    check_gradients(lambda y: losses.binary_crossentropy(t, y), [p])
    check_gradients(lambda y: losses.binary_crossentropy(t, y, from_logits=True), [(p - 0.5) * 8])
    check_gradients(lambda z: losses.binary_crossentropy(t, sigmoid(z)), [(p - 0.5) * 8])
    check_gradients(lambda y: losses.mean_squared_error(t, y), [p])


# ----------------------------------------------------------------------------- clip rule


def test_clipped_probabilities_give_keras_loss_and_zero_gradient():
    p = np.array([[0.0, 1.0], [1.0, 0.0], [0.25, 0.75]], dtype=np.float32)
    y = Tensor(p.copy(), requires_grad=True)
    loss = losses.sparse_categorical_crossentropy(np.array([0, 0, 1]), y)
    expected = (-math.log(np.float32(EPS)) - math.log(np.float32(1 - EPS)) - math.log(0.75)) / 3
    assert loss.data.dtype == np.float32
    assert loss.data == pytest.approx(expected, rel=1e-6)
    assert -math.log(np.float32(EPS)) == pytest.approx(16.118, abs=1e-3)  # KERAS.md
    loss.backward()
    np.testing.assert_array_equal(y.grad[:2], 0.0)  # both clipped samples pass no gradient
    # The unclipped sample: d/dy_j of -log(y_1 / S) = 1/S - [j == 1] / y_1, S = 1, over N = 3.
    np.testing.assert_allclose(y.grad[2], np.array([1.0, 1.0 - 1 / 0.75]) / 3, rtol=1e-6)


@pytest.mark.usefixtures("keras3_crossentropy")  # the fused op follows the rule
@pytest.mark.parametrize("fused", [True, False])
def test_sparse_softmax_clip_mask_matches_chain_rule(fused):
    z, labels = article_logits()
    zt = Tensor(z.copy(), requires_grad=True)
    p = softmax(zt)
    assert p.data[0, 0] == 1.0 and p.data[1, 1] == 0.0 and p.data[2, 2] < EPS
    if fused:  # one op: the gradient goes straight to the logits
        loss, probabilities = losses.softmax_crossentropy(labels, zt)
        np.testing.assert_array_equal(probabilities, p.data)
    else:  # through softmax's own backward
        loss = losses.sparse_categorical_crossentropy(labels, p)
    assert loss.parents[0] is (zt if fused else p)
    loss.backward()
    np.testing.assert_array_equal(zt.grad[:3], 0.0)
    expected = p.data[3:] - one_hot(labels[3:])
    np.testing.assert_allclose(zt.grad[3:], expected / N, rtol=1e-5, atol=1e-7)


# ----------------------------------------------------------------------------- torch parity


def torch_keras_loss(torch, name, t, y, from_logits=False):
    """The Keras 3 torch-backend formulas, written out in torch (reduction: mean over batch)."""
    F = torch.nn.functional
    if name in ("sparse", "categorical"):
        if from_logits:
            log_p = F.log_softmax(y, dim=-1)
        else:
            y = y / torch.sum(y, dim=-1, keepdim=True)
            log_p = torch.log(torch.clip(y, EPS, 1.0 - EPS))
        if name == "sparse":
            return -log_p.gather(-1, t.long().unsqueeze(-1)).squeeze(-1).mean()
        return -torch.sum(t * log_p, dim=-1).mean()
    if name == "binary":
        if from_logits:
            return F.binary_cross_entropy_with_logits(y, t, reduction="none").mean(-1).mean()
        y = torch.clip(y, EPS, 1.0 - EPS)
        return F.binary_cross_entropy(y, t, reduction="none").mean(-1).mean()
    return torch.square(y - t).mean(-1).mean()


OURS = {
    "sparse": losses.sparse_categorical_crossentropy,
    "categorical": losses.categorical_crossentropy,
    "binary": losses.binary_crossentropy,
    "mse": losses.mean_squared_error,
}


def parity_cases():
    z, labels = article_logits()
    soft = soft_targets((N, C)).astype(np.float32)
    soft[2] = [0.5, 0.0, 0.0, 0.5]  # entry 0 hits the clip (p < 1e-7) with a nonzero target
    rng = np.random.default_rng(6)
    bin_t = (rng.random((N, 3)) > 0.5).astype(np.float32)
    bin_p = rng.random((N, 3)).astype(np.float32)
    bin_p[0, :2] = [0.0, 1.0]  # clipped
    return [
        ("sparse", labels, z, "softmax"),
        ("sparse", labels, z, "logits"),
        ("sparse", labels, probabilities((N, C)).astype(np.float32), "probs"),
        ("categorical", one_hot(labels).astype(np.float32), z, "softmax"),
        ("categorical", soft, z, "softmax"),
        ("sparse", labels, z, "fused"),
        ("categorical", one_hot(labels).astype(np.float32), z, "fused"),
        ("categorical", soft, z, "fused"),
        ("categorical", soft, z, "logits"),
        ("categorical", soft, probabilities((N, C)).astype(np.float32), "probs"),
        ("binary", bin_t, bin_p, "probs"),
        ("binary", bin_t, (bin_p - 0.5) * 9, "logits"),
        ("binary", bin_t, (bin_p - 0.5) * 9, "sigmoid"),
        ("mse", bin_t, bin_p, "probs"),
    ]


@pytest.mark.usefixtures("keras3_crossentropy")  # "fused": the Keras 3 rule, clip included
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", range(len(parity_cases())))
def test_losses_and_gradients_match_torch(case, dtype):
    torch = pytest.importorskip("torch")
    name, t, y, mode = parity_cases()[case]
    y = y.astype(dtype)
    t = t if name == "sparse" else t.astype(dtype)
    from_logits = mode == "logits"
    ours_y = Tensor(y.copy(), requires_grad=True)
    pred = {"softmax": softmax, "sigmoid": sigmoid}.get(mode, lambda v: v)(ours_y)
    kwargs = {} if name == "mse" else {"from_logits": from_logits}
    if mode == "fused":  # softmax and loss as one op
        ours = losses.softmax_crossentropy(t, ours_y, sparse=name == "sparse")[0]
    else:
        ours = OURS[name](t, pred, **kwargs)
    ours.backward()

    theirs_y = torch.tensor(y, requires_grad=True)

    def softmax_(v):
        return torch.softmax(v, -1)

    tpred = {"softmax": softmax_, "fused": softmax_, "sigmoid": torch.sigmoid}.get(
        mode, lambda v: v
    )(theirs_y)
    theirs = torch_keras_loss(torch, name, torch.tensor(t), tpred, from_logits)
    theirs.backward()
    tol = 2e-5 if dtype == np.float32 else 1e-10
    assert ours.data.dtype == dtype and ours_y.grad.dtype == dtype
    np.testing.assert_allclose(ours.data, theirs.item(), rtol=tol)
    np.testing.assert_allclose(ours_y.grad, theirs_y.grad.numpy(), rtol=tol, atol=tol * 1e-2)


# ----------------------------------------------------------------------------- keras parity


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    pytest.importorskip("torch")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("these parity checks use KERAS_BACKEND=torch")
    return keras


def test_loss_values_match_keras(keras):
    import torch

    z, labels = article_logits()
    p = softmax(Tensor(z)).data
    soft = soft_targets((N, C)).astype(np.float32)
    bin_t = (np.random.default_rng(6).random((N, 3)) > 0.5).astype(np.float32)
    bin_p = np.random.default_rng(7).random((N, 3)).astype(np.float32)
    bin_p[0, :2] = [0.0, 1.0]
    cases = [
        ("SparseCategoricalCrossentropy", labels, p, {}),
        ("SparseCategoricalCrossentropy", labels, z, {"from_logits": True}),
        ("CategoricalCrossentropy", soft, p, {}),
        ("CategoricalCrossentropy", soft, z, {"from_logits": True}),
        ("BinaryCrossentropy", bin_t, bin_p, {}),
        ("BinaryCrossentropy", bin_t, bin_p * 6 - 3, {"from_logits": True}),
        ("MeanSquaredError", bin_t, bin_p, {}),
    ]
    ours_by_class = {
        "SparseCategoricalCrossentropy": "sparse",
        "CategoricalCrossentropy": "categorical",
        "BinaryCrossentropy": "binary",
        "MeanSquaredError": "mse",
    }
    for cls, t, y, kwargs in cases:
        theirs = float(getattr(keras.losses, cls)(**kwargs)(t, y))
        ours = OURS[ours_by_class[cls]](t, Tensor(y), **kwargs)
        assert float(ours.data) == pytest.approx(theirs, rel=1e-6), cls
    # The KERAS.md pin: probability 0 for the true class costs -log(1e-7) = 16.118.
    zero = np.array([[0.0, 1.0]], dtype=np.float32)
    theirs = float(keras.losses.SparseCategoricalCrossentropy()(np.array([0]), zero))
    ours = float(losses.sparse_categorical_crossentropy(np.array([0]), Tensor(zero)).data)
    assert ours == pytest.approx(theirs, rel=1e-6) and round(ours, 3) == 16.118
    # Keras's own gradient (autograd through keras.losses on torch tensors), clipped rows included.
    zt = torch.tensor(z, requires_grad=True)
    keras.losses.SparseCategoricalCrossentropy()(
        torch.tensor(labels), torch.softmax(zt, -1)
    ).backward()
    ours_z = Tensor(z.copy(), requires_grad=True)
    losses.sparse_categorical_crossentropy(labels, softmax(ours_z)).backward()
    np.testing.assert_allclose(ours_z.grad, zt.grad.numpy(), rtol=1e-5, atol=1e-8)
    assert np.all(zt.grad.numpy()[:3] == 0)


# ----------------------------------------------------------------------------- labels


def test_sparse_label_forms_agree():
    p = Tensor(probabilities((N, C)))
    labels = int_labels(N)
    reference = losses.sparse_categorical_crossentropy(labels, p).data
    for form in (
        labels[:, None],
        labels.astype(np.uint8),
        labels.astype(np.float32),
        Tensor(labels),
    ):
        assert losses.sparse_categorical_crossentropy(form, p).data == reference


def test_sparse_label_errors():
    sce = losses.sparse_categorical_crossentropy
    p = Tensor(np.full((32, 10), 0.1))
    labels = np.zeros(32, dtype=np.int64)
    labels[5] = 12
    with pytest.raises(
        ValueError,
        match=r"^sparse_categorical_crossentropy: label 12 at index 5 is out of range for 10 "
        r"classes \(expected 0\.\.9\)\.$",
    ):
        sce(labels, p)
    labels[5] = -1
    with pytest.raises(ValueError, match=r"label -1 at index 5 is out of range"):
        sce(labels, p)
    with pytest.raises(
        ValueError,
        match=r"sparse_categorical_crossentropy: received one-hot labels of shape \(32, 10\); "
        r"use loss='categorical_crossentropy' or pass integer class labels",
    ):
        sce(np.eye(10)[np.zeros(32, dtype=int)], p)
    fractional = np.zeros(32)
    fractional[3] = 0.5
    with pytest.raises(ValueError, match=r"integer class indices; found 0.5 at index 3"):
        sce(fractional, p)
    with pytest.raises(TypeError, match=r"integer class indices. Received: y_true.dtype=<U1"):
        sce(np.array(["a"] * 32), p)
    with pytest.raises(
        ValueError,
        match=r"sparse_categorical_crossentropy: y_true has 31 samples but y_pred has 32. "
        r"Received: y_true.shape=\(31,\), y_pred.shape=\(32, 10\)",
    ):
        sce(np.zeros(31, dtype=int), p)


def test_dense_target_errors():
    p = Tensor(np.full((32, 10), 0.1))
    with pytest.raises(
        ValueError,
        match=r"categorical_crossentropy: received integer class labels of shape \(32,\) for "
        r"predictions of shape \(32, 10\); use loss='sparse_categorical_crossentropy'",
    ):
        losses.categorical_crossentropy(np.zeros(32, dtype=int), p)
    with pytest.raises(ValueError, match=r"categorical_crossentropy: y_true has 31 samples"):
        losses.categorical_crossentropy(np.zeros((31, 10)), p)
    with pytest.raises(ValueError, match=r"binary_crossentropy: y_true must have shape \(32, 10\)"):
        losses.binary_crossentropy(np.zeros((32, 3)), p)
    with pytest.raises(ValueError, match=r"mean_squared_error: y_true has 8 samples"):
        losses.mean_squared_error(np.zeros((8, 10)), p)


def test_trailing_axis_of_one_is_accepted():
    p = Tensor(np.array([[0.2], [0.9]]))
    t = np.array([0.0, 1.0])
    for op in (losses.binary_crossentropy, losses.mean_squared_error):
        assert op(t, p).data == op(t[:, None], p).data


# ----------------------------------------------------------------------------- dtypes


@pytest.mark.parametrize(
    "name, mode",
    [
        (n, m)
        for n in OURS
        for m in ("probs", "logits", "activation")
        if (n, m) != ("mse", "logits")
    ],
)
def test_float32_in_float32_out(name, mode):
    shape = (N, C)
    y = probabilities(shape).astype(np.float32)
    t = {"sparse": int_labels(N), "categorical": soft_targets(shape)}.get(name, y / 2)
    yt = Tensor(y.copy(), requires_grad=True)
    pred = (sigmoid if name in ("binary", "mse") else softmax)(yt) if mode == "activation" else yt
    kwargs = {} if name == "mse" else {"from_logits": mode == "logits"}
    loss = OURS[name](t, pred, **kwargs)
    assert loss.data.dtype == np.float32 and loss.data.shape == ()
    loss.backward()
    assert yt.grad.dtype == np.float32
