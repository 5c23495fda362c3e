"""Metric objects against Keras 3's on the same streams of batches (including an empty and a
one-sample batch), with and without sample weights; compile's names and History keys."""

import os
import re

import numpy as np
import pytest

import striate
from striate import metrics

os.environ.setdefault("KERAS_BACKEND", "torch")

C = 5
SIZES = [6, 0, 1, 9, 4]


def _stream(kind, seed=0):
    """Batches (y_true, y_pred, sample_weight) of float32 predictions."""
    rng = np.random.default_rng(seed)
    batches = []
    for n in SIZES:
        weight = rng.random(n).astype(np.float32) + 0.1
        if kind == "sparse":
            y = rng.integers(0, C, (n, 1))
            p = rng.random((n, C)).astype(np.float32)
        elif kind == "categorical":
            y = np.eye(C, dtype=np.float32)[rng.integers(0, C, n)]
            p = rng.random((n, C)).astype(np.float32)
        elif kind == "binary":
            y = rng.integers(0, 2, (n, 3)).astype(np.float32)
            p = rng.random((n, 3)).astype(np.float32)
        elif kind == "labels":
            y = rng.integers(0, C, n)
            p = rng.integers(0, C, n)
        elif kind == "equal":
            y = rng.integers(0, 3, (n, 2)).astype(np.float32)
            p = rng.integers(0, 3, (n, 2)).astype(np.float32)
        else:  # values for Mean
            y, p = rng.standard_normal(n).astype(np.float32), None
        batches.append((y, p, weight))
    return batches


CASES = [
    ("Accuracy", {}, "equal"),
    ("BinaryAccuracy", {}, "binary"),
    ("BinaryAccuracy", {"threshold": 0.3}, "binary"),
    ("CategoricalAccuracy", {}, "categorical"),
    ("SparseCategoricalAccuracy", {}, "sparse"),
    ("TopKCategoricalAccuracy", {"k": 2}, "categorical"),
    ("SparseTopKCategoricalAccuracy", {}, "sparse"),
    ("SparseTopKCategoricalAccuracy", {"k": 3}, "sparse"),
    ("Mean", {}, "mean"),
    ("Precision", {}, "binary"),
    ("Precision", {"thresholds": [0.2, 0.5, 0.7]}, "binary"),
    ("Precision", {"top_k": 2}, "categorical"),
    ("Precision", {"class_id": 1}, "binary"),
    ("Recall", {}, "binary"),
    ("Recall", {"thresholds": 0.35}, "binary"),
    ("Recall", {"top_k": 1, "class_id": 2}, "categorical"),
    ("AUC", {}, "binary"),
    ("AUC", {"num_thresholds": 13}, "binary"),
    ("AUC", {"curve": "PR"}, "binary"),
    ("AUC", {"curve": "PR", "summation_method": "minoring"}, "binary"),
    ("AUC", {"summation_method": "majoring"}, "binary"),
    ("AUC", {"thresholds": [0.1, 0.4, 0.45, 0.9]}, "binary"),
    ("SparseCategoricalCrossentropy", {}, "sparse"),
    ("SparseCategoricalCrossentropy", {"from_logits": True}, "sparse"),
    ("CategoricalCrossentropy", {}, "categorical"),
    ("CategoricalCrossentropy", {"label_smoothing": 0.1}, "categorical"),
    ("BinaryCrossentropy", {}, "binary"),
    ("BinaryCrossentropy", {"from_logits": True}, "binary"),
    ("KLDivergence", {}, "categorical"),
    ("CategoricalHinge", {}, "categorical"),
    ("RootMeanSquaredError", {}, "binary"),
    ("Sum", {}, "mean"),
    ("TruePositives", {}, "binary"),
    ("FalsePositives", {"thresholds": [0.3, 0.6]}, "binary"),
    ("TrueNegatives", {}, "binary"),
    ("FalseNegatives", {"thresholds": 0.7}, "binary"),
    ("F1Score", {}, "categorical"),
    ("F1Score", {"average": "macro"}, "categorical"),
    ("F1Score", {"average": "micro", "threshold": 0.5}, "binary"),
    ("F1Score", {"average": "weighted"}, "categorical"),
    ("MeanIoU", {"num_classes": C}, "labels"),
]


def _run(metric, batches, weighted):
    results = []
    for y, p, w in batches:
        args = (y,) if p is None else (y, p)
        metric.update_state(*args, sample_weight=w if weighted else None)
        results.append(np.asarray(metric.result(), dtype=np.float64))
    return results


@pytest.mark.slow
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize(("name", "kwargs", "kind"), CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_streams_match_keras(name, kwargs, kind, weighted):
    keras = pytest.importorskip("keras")
    batches = _stream(kind)
    if name == "MeanIoU":  # Keras keeps an int32 confusion matrix (it truncates float weights;
        # striate adds them as they are): compare with whole-number weights
        batches = [(y, p, np.ceil(2 * w)) for y, p, w in batches]
    ours, theirs = getattr(metrics, name)(**kwargs), getattr(keras.metrics, name)(**kwargs)
    for _ in range(2):  # and again after reset_state
        expected = [np.asarray(r) for r in _run_keras(theirs, batches, weighted)]
        for got, want in zip(_run(ours, batches, weighted), expected):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        ours.reset_state()
        theirs.reset_state()
    assert ours.name == re.sub(r"_\d+$", "", theirs.name)


def _run_keras(metric, batches, weighted):
    results = []
    for y, p, w in batches:
        args = (y,) if p is None else (y, p)
        # (Keras fails on an empty batch for these: "the max of an empty tensor")
        if len(y) or type(metric).__name__ not in ("AUC", "CategoricalHinge", "F1Score"):
            metric.update_state(*args, sample_weight=w if weighted else None)
        results.append(np.asarray(metric.result().detach().cpu().numpy(), dtype=np.float64))
    return results


def test_empty_state_results_are_zero():
    for cls in (metrics.Mean, metrics.SparseCategoricalAccuracy, metrics.Precision, metrics.AUC):
        assert cls().result() == 0.0


def test_compile_names_objects_and_history_keys():
    from striate.layers import Dense
    from striate.models import Sequential

    rng = np.random.default_rng(0)
    x = rng.standard_normal((20, 3)).astype(np.float32)
    y = rng.integers(0, C, 20)
    model = Sequential([Dense(C, activation="softmax", input_shape=(3,))])
    model.compile(
        optimizer="adam",
        loss="sparse_categorical_crossentropy",
        metrics=[
            "acc",
            "accuracy",
            "sparse_categorical_accuracy",
            metrics.SparseTopKCategoricalAccuracy(k=2),
            metrics.SparseCategoricalAccuracy(name="hits"),
        ],
    )
    history = model.fit(x, y, epochs=2, batch_size=7, validation_split=0.25, verbose=0)
    names = ["acc", "accuracy", "sparse_categorical_accuracy", "sparse_top_k_categorical_accuracy"]
    names.append("hits")
    assert sorted(history.history) == sorted(
        ["loss", "val_loss"] + names + ["val_" + n for n in names]
    )
    first = history.history["acc"][-1]
    assert history.history["accuracy"][-1] == first == history.history["hits"][-1]
    result = model.evaluate(x, y, verbose=0, return_dict=True)
    predictions = model.predict(x, verbose=0)
    assert result["acc"] == pytest.approx(float(np.mean(predictions.argmax(-1) == y)))
    assert model._metric_identifiers[:4] == names[:3] + [model._metric_identifiers[3]]


def test_binary_precision_recall_auc_in_fit():
    from striate.layers import Dense
    from striate.models import Sequential

    rng = np.random.default_rng(1)
    x = rng.standard_normal((24, 3)).astype(np.float32)
    y = (x[:, :1] > 0).astype(np.float32)
    model = Sequential([Dense(1, activation="sigmoid", input_shape=(3,))])
    model.compile(
        optimizer="sgd",
        loss="binary_crossentropy",
        metrics=["precision", metrics.Recall(), "auc", "acc"],
    )
    history = model.fit(x, y, epochs=1, batch_size=5, verbose=0)
    assert set(history.history) == {"loss", "precision", "recall", "auc", "acc"}
    p = model.predict(x, verbose=0)
    auc = metrics.AUC()
    auc.update_state(y, p)
    assert model.evaluate(x, y, verbose=0, return_dict=True)["auc"] == pytest.approx(auc.result())


def test_default_metric_objects_are_saved_by_name(tmp_path):
    from striate.layers import Dense
    from striate.models import Sequential
    from striate.saving import load_model

    model = Sequential([Dense(C, activation="softmax", input_shape=(3,))])
    model.compile(
        loss="sparse_categorical_crossentropy", metrics=[metrics.SparseCategoricalAccuracy(), "auc"]
    )
    model.save(tmp_path / "m.striate")
    loaded = load_model(tmp_path / "m.striate")
    assert [name for name, _ in loaded.metrics] == ["sparse_categorical_accuracy", "auc"]


def test_bad_names_and_thresholds():
    with pytest.raises(ValueError, match="Unknown metric 'acuracy'"):
        metrics.get("acuracy")
    with pytest.raises(ValueError, match=r"thresholds must be in \[0, 1\]"):
        metrics.Precision(thresholds=[0.5, 1.5])
    with pytest.raises(ValueError, match="num_thresholds must be > 1"):
        metrics.AUC(num_thresholds=1)


def test_compile_refuses_a_metric_with_several_values():
    with pytest.raises(ValueError, match=r"gives several values \(one per threshold or class\)"):
        metrics.get(metrics.Precision(thresholds=[0.3, 0.6]))
    assert metrics.get(metrics.Recall(thresholds=[0.3]))[0] == "recall"


@pytest.mark.parametrize(
    "metric",
    [
        metrics.SparseTopKCategoricalAccuracy(k=2, name="top2"),
        metrics.BinaryAccuracy(threshold=0.3),
        metrics.Precision(thresholds=0.4, class_id=1),
        metrics.AUC(num_thresholds=50, curve="PR"),
        metrics.AUC(thresholds=[0.2, 0.7]),
    ],
)
def test_serialize_and_get_round_trip(metric):
    name, again = metrics.get(metrics.serialize(metric))
    assert type(again) is type(metric) and again.get_config() == metric.get_config()
    assert name == metric.name


def test_new_metric_objects_train_in_fit_and_log_under_their_names():
    model = striate.Sequential([striate.Input((4,)), striate.layers.Dense(3, activation="softmax")])
    model.compile(
        optimizer="adam",
        loss="categorical_crossentropy",
        metrics=[metrics.F1Score(average="macro"), metrics.CategoricalCrossentropy()],
    )
    x = np.random.default_rng(0).random((16, 4)).astype("float32")
    y = np.eye(3, dtype="float32")[np.random.default_rng(1).integers(0, 3, 16)]
    history = model.fit(x, y, epochs=1, verbose=0)
    assert {"loss", "f1_score", "categorical_crossentropy"} <= set(history.history)
    assert history.history["categorical_crossentropy"][0] == pytest.approx(
        history.history["loss"][0], rel=1e-4
    )
