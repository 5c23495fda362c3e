"""Keras 3's losses as functions and classes: float64 gradient checks, and values and gradients
against Keras's on the same inputs (torch backend), with every reduction and sample weights."""

import os

import numpy as np
import pytest
from gradcheck import check_gradients

from striate import losses
from striate.tensor import Tensor

os.environ.setdefault("KERAS_BACKEND", "torch")

N, C = 6, 4
RNG = np.random.default_rng(7)
PROBS = RNG.random((N, C)) + 0.05
PROBS /= PROBS.sum(axis=-1, keepdims=True)
LOGITS = RNG.standard_normal((N, C)) * 2
LABELS = RNG.integers(0, C, N)
ONE_HOT = np.eye(C)[LABELS]
BINARY = RNG.integers(0, 2, (N, C)).astype(np.float64)
SIGMOIDS = RNG.random((N, C)) * 0.9 + 0.05
SOFT = RNG.random((N, C))
SOFT /= SOFT.sum(axis=-1, keepdims=True)
REGRESSION = RNG.standard_normal((N, C))
WEIGHTS = RNG.random(N) + 0.5

# (name, striate function kwargs, y_true, y_pred)
CASES = [
    ("sparse_categorical_crossentropy", {}, LABELS, PROBS),
    ("sparse_categorical_crossentropy", {"from_logits": True}, LABELS, LOGITS),
    ("sparse_categorical_crossentropy", {"ignore_class": 2}, LABELS, PROBS),
    ("sparse_categorical_crossentropy", {"from_logits": True, "ignore_class": 1}, LABELS, LOGITS),
    ("categorical_crossentropy", {}, SOFT, PROBS * 3),
    ("categorical_crossentropy", {"from_logits": True}, SOFT, LOGITS),
    ("categorical_crossentropy", {"label_smoothing": 0.1}, ONE_HOT, PROBS),
    ("categorical_crossentropy", {"from_logits": True, "label_smoothing": 0.2}, ONE_HOT, LOGITS),
    ("binary_crossentropy", {}, BINARY, SIGMOIDS),
    ("binary_crossentropy", {"from_logits": True}, BINARY, LOGITS),
    ("binary_crossentropy", {"label_smoothing": 0.2}, BINARY, SIGMOIDS),
    ("binary_crossentropy", {"from_logits": True, "label_smoothing": 0.1}, SOFT, LOGITS),
    ("binary_focal_crossentropy", {}, BINARY, SIGMOIDS),
    ("binary_focal_crossentropy", {"apply_class_balancing": True, "alpha": 0.4}, BINARY, SIGMOIDS),
    ("binary_focal_crossentropy", {"gamma": 1.5, "label_smoothing": 0.1}, BINARY, SIGMOIDS),
    ("binary_focal_crossentropy", {"from_logits": True}, BINARY, LOGITS),
    (
        "binary_focal_crossentropy",
        {"from_logits": True, "apply_class_balancing": True, "gamma": 3.0},
        BINARY,
        LOGITS,
    ),
    ("mean_squared_error", {}, REGRESSION, LOGITS),
    ("mean_absolute_error", {}, REGRESSION, LOGITS),
    ("huber", {}, REGRESSION, LOGITS),
    ("huber", {"delta": 0.5}, REGRESSION, LOGITS),
    ("kl_divergence", {}, SOFT, PROBS),
    ("categorical_hinge", {}, ONE_HOT, LOGITS),
    ("hinge", {}, BINARY, LOGITS),
    ("hinge", {}, REGRESSION, LOGITS),
    ("squared_hinge", {}, BINARY, LOGITS),
    ("log_cosh", {}, REGRESSION, LOGITS),
    ("poisson", {}, SOFT * 3, PROBS),
    ("mean_squared_logarithmic_error", {}, SOFT, PROBS),
    ("mean_absolute_percentage_error", {}, REGRESSION, LOGITS),
    ("cosine_similarity", {}, REGRESSION, LOGITS),
]
IDS = [f"{name}-{kwargs}" for name, kwargs, _, _ in CASES]
CLASS_OF = {
    "sparse_categorical_crossentropy": "SparseCategoricalCrossentropy",
    "categorical_crossentropy": "CategoricalCrossentropy",
    "binary_crossentropy": "BinaryCrossentropy",
    "binary_focal_crossentropy": "BinaryFocalCrossentropy",
    "mean_squared_error": "MeanSquaredError",
    "mean_absolute_error": "MeanAbsoluteError",
    "huber": "Huber",
    "kl_divergence": "KLDivergence",
    "categorical_hinge": "CategoricalHinge",
    "hinge": "Hinge",
    "squared_hinge": "SquaredHinge",
    "log_cosh": "LogCosh",
    "poisson": "Poisson",
    "mean_squared_logarithmic_error": "MeanSquaredLogarithmicError",
    "mean_absolute_percentage_error": "MeanAbsolutePercentageError",
    "cosine_similarity": "CosineSimilarity",
}


@pytest.mark.parametrize(("name", "kwargs", "y_true", "y_pred"), CASES, ids=IDS)
def test_per_sample_gradients(name, kwargs, y_true, y_pred):
    function = getattr(losses, name)
    check_gradients(lambda p: function(y_true, p, **kwargs), [y_pred])


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "none", None])
@pytest.mark.parametrize(("name", "kwargs", "y_true", "y_pred"), CASES, ids=IDS)
def test_class_gradients_with_sample_weight(name, kwargs, y_true, y_pred, reduction):
    loss = getattr(losses, CLASS_OF[name])(reduction=reduction, **kwargs)
    check_gradients(lambda p: loss(y_true, p, sample_weight=WEIGHTS), [y_pred])
    check_gradients(lambda p: loss(y_true, p), [y_pred])


def _keras_value_and_grad(call, y_true, y_pred):
    torch = pytest.importorskip("torch")
    p = torch.tensor(y_pred, requires_grad=True)
    out = call(torch.tensor(y_true), p)
    weights = np.random.default_rng(0).standard_normal(tuple(out.shape))
    (out * torch.tensor(weights)).sum().backward()
    return out.detach().numpy(), p.grad.numpy(), weights


def _striate_value_and_grad(call, y_true, y_pred, weights):
    p = Tensor(np.array(y_pred), requires_grad=True)
    out = call(y_true, p)
    out.backward(np.asarray(weights, dtype=out.data.dtype))
    return out.data, p.grad


@pytest.fixture
def keras64():
    """Keras with float64 as its default float type (restored after the test)."""
    keras = pytest.importorskip("keras")
    previous = keras.config.floatx()
    keras.config.set_floatx("float64")
    try:
        yield keras
    finally:
        keras.config.set_floatx(previous)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "kwargs", "y_true", "y_pred"), CASES, ids=IDS)
def test_functions_and_classes_match_keras(name, kwargs, y_true, y_pred, keras64):
    keras = keras64
    calls = [
        (
            lambda t, p: getattr(keras.losses, name)(t, p, **kwargs),
            lambda t, p: getattr(losses, name)(t, p, **kwargs),
        )
    ]
    for reduction in ("sum_over_batch_size", "sum", "none"):
        for weights in (None, WEIGHTS):
            ours = getattr(losses, CLASS_OF[name])(reduction=reduction, **kwargs)
            theirs = getattr(keras.losses, CLASS_OF[name])(
                reduction=reduction, dtype="float64", **kwargs
            )
            calls.append(
                (
                    lambda t, p, k=theirs, w=weights: k(t, p, sample_weight=w),
                    lambda t, p, o=ours, w=weights: o(t, p, sample_weight=w),
                )
            )
    for keras_call, striate_call in calls:
        value, grad, weights = _keras_value_and_grad(keras_call, y_true, y_pred)
        ours, our_grad = _striate_value_and_grad(striate_call, y_true, y_pred, weights)
        # Keras's torch `mean` and `sum` round through float32 even in float64 (Keras 3.15);
        # its MSLE returns float32 and its cosine similarity normalizes with a float32 epsilon
        float32 = name in ("mean_squared_logarithmic_error", "cosine_similarity")
        rtol, atol = (5e-6, 1e-8) if float32 else (2e-7, 1e-9)
        np.testing.assert_allclose(ours, value, rtol=rtol, atol=atol)
        np.testing.assert_allclose(our_grad, grad, rtol=rtol, atol=atol)


def test_names_defaults_and_serialization_round_trip():
    loss = losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0, reduction="sum")
    again = losses.get(losses.serialize(loss))
    assert type(again) is type(loss) and again.get_config() == loss.get_config()
    assert losses.Huber().name == "huber_loss"
    assert losses.get("huber").get_config() == {
        "name": "huber_loss",
        "reduction": "sum_over_batch_size",
        "delta": 1.0,
    }
    assert type(losses.get("kld")) is losses.KLDivergence
    assert type(losses.get("BinaryFocalCrossentropy")) is losses.BinaryFocalCrossentropy
    old_file = {
        "class_name": "sparse_categorical_crossentropy",
        "config": {"name": "sparse_categorical_crossentropy", "from_logits": False},
    }
    assert losses.get(old_file).fuses_softmax
    renamed = losses.get(losses.serialize(losses.MeanAbsoluteError(name="l1")))
    assert renamed.name == "l1" and type(renamed) is losses.MeanAbsoluteError


def test_options_that_change_the_loss_turn_the_fused_step_off():
    assert losses.CategoricalCrossentropy().fuses_softmax
    assert not losses.CategoricalCrossentropy(label_smoothing=0.1).fuses_softmax
    assert not losses.SparseCategoricalCrossentropy(ignore_class=0).fuses_softmax
    assert not losses.SparseCategoricalCrossentropy(reduction="sum").fuses_softmax
    assert losses.BinaryCrossentropy().fused_activation is not None
    assert losses.BinaryCrossentropy(label_smoothing=0.1).fused_activation is None


def test_bad_reduction_and_axis_are_named():
    with pytest.raises(ValueError, match="reduction must be one of .*Received: reduction='avg'"):
        losses.Huber(reduction="avg")
    with pytest.raises(ValueError, match="only axis=-1.*Received: axis=1"):
        losses.categorical_crossentropy(ONE_HOT, PROBS, axis=1)


def test_ignore_class_of_every_label_gives_zero():
    loss = losses.SparseCategoricalCrossentropy(ignore_class=3)
    value = loss(np.full(N, 3), Tensor(PROBS))
    assert float(value.data) == 0.0


def test_default_mean_is_the_one_op_path_bit_for_bit():
    from striate.ops import losses as ops

    for loss, y, p in [
        (losses.SparseCategoricalCrossentropy(), LABELS, PROBS),
        (losses.CategoricalCrossentropy(), ONE_HOT, PROBS),
        (losses.BinaryCrossentropy(), BINARY, SIGMOIDS),
        (losses.MeanSquaredError(), REGRESSION, LOGITS),
    ]:
        per = getattr(losses, loss.registered_name)(y, Tensor(p)).data.mean()
        fast = loss(y, Tensor(p)).data
        assert fast == getattr(ops, loss.registered_name)(y, Tensor(p)).data
        np.testing.assert_allclose(fast, per, rtol=1e-14)


@pytest.mark.parametrize(
    ("loss", "targets"),
    [
        (losses.CategoricalCrossentropy(label_smoothing=0.1), ONE_HOT),
        (losses.SparseCategoricalCrossentropy(ignore_class=0), LABELS),
        (losses.SparseCategoricalCrossentropy(reduction="sum"), LABELS),
        ("huber", ONE_HOT),
        ("kld", SOFT),
        ("categorical_hinge", ONE_HOT),
        (losses.BinaryFocalCrossentropy(apply_class_balancing=True), BINARY),
    ],
)
def test_fit_and_evaluate_with_the_catalog(loss, targets):
    from striate.layers import Dense
    from striate.models import Sequential

    model = Sequential([Dense(C, activation="softmax", input_shape=(3,))])
    model.compile(optimizer="sgd", loss=loss)
    x = RNG.standard_normal((N, 3)).astype(np.float32)
    history = model.fit(x, targets, epochs=2, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert np.isfinite(model.evaluate(x, targets, verbose=0))
