"""Models with several inputs and outputs train (striate.models.outputs): a loss, a loss weight
and metrics per output, logs named as Keras 3 names them, evaluate in Keras's order, predict
in the model's output structure; and, against Keras 3, a two-input/two-output model's 40 Adam
steps and fit's data arguments (steps_per_epoch, validation_steps, validation_freq,
initial_epoch, class_weight, sample_weight)."""

import os

import numpy as np
import pytest

import striate

RNG = np.random.default_rng(3)
XA = RNG.normal(size=(32, 4)).astype("float32")
XB = RNG.normal(size=(32, 3)).astype("float32")
Y1 = RNG.integers(0, 3, 32)
Y2 = RNG.normal(size=(32, 1)).astype("float32")

# What Keras 3.15 logs for this model compiled with a loss and metrics per output (run once).
KERAS_KEYS = [
    "loss", "out1_accuracy", "out1_loss", "out2_loss", "out2_mae",
    "val_loss", "val_out1_accuracy", "val_out1_loss", "val_out2_loss", "val_out2_mae",
]  # fmt: skip


def two_in_two_out(lib, as_dict=False):
    layers = lib.layers
    a, b = lib.Input((4,), name="a"), lib.Input((3,), name="b")
    hidden = layers.Dense(5, activation="relu", name="h")(layers.concatenate([a, b], name="cat"))
    out1 = layers.Dense(3, activation="softmax", name="out1")(hidden)
    out2 = layers.Dense(1, name="out2")(hidden)
    if as_dict:
        return lib.Model({"a": a, "b": b}, {"out1": out1, "out2": out2})
    return lib.Model([a, b], [out1, out2])


def compiled(as_dict=False, **kwargs):
    striate.backend.clear_session()
    striate.utils.set_random_seed(0)
    model = two_in_two_out(striate, as_dict)
    settings = {
        "loss": ["sparse_categorical_crossentropy", "mse"],
        "loss_weights": [1.0, 0.5],
        "metrics": [["accuracy"], ["mae"]],
    }
    settings.update(kwargs)
    model.compile("adam", **settings)
    return model


def test_logs_follow_keras_names_and_evaluate_its_order():
    model = compiled()
    history = model.fit(
        [XA, XB], [Y1, Y2], batch_size=8, epochs=2, verbose=0, validation_data=([XA, XB], [Y1, Y2])
    )
    assert sorted(history.history) == KERAS_KEYS
    logs = model.evaluate([XA, XB], [Y1, Y2], verbose=0, return_dict=True)
    assert list(logs) == ["loss", "out1_loss", "out2_loss", "out1_accuracy", "out2_mae"]
    values = model.evaluate([XA, XB], [Y1, Y2], batch_size=32, verbose=0)
    assert values == pytest.approx(list(logs.values()), rel=1e-6)
    assert values[0] == pytest.approx(values[1] + 0.5 * values[2], rel=1e-6)  # weighted sum
    assert [name for name, _ in model.metrics] == ["out1_accuracy", "out2_mae"]


def test_dicts_by_input_and_output_name_and_predict_in_the_output_structure():
    model = compiled(
        as_dict=True,
        loss={"out1": "sparse_categorical_crossentropy", "out2": "mse"},
        loss_weights={"out2": 0.5},
        metrics={"out1": "accuracy", "out2": ["mae", "mse"]},
    )
    inputs, targets = {"a": XA, "b": XB}, {"out1": Y1, "out2": Y2}
    history = model.fit(inputs, targets, batch_size=8, verbose=0)
    assert sorted(history.history) == [
        "loss", "out1_accuracy", "out1_loss", "out2_loss", "out2_mae", "out2_mse"
    ]  # fmt: skip
    predicted = model.predict(inputs, verbose=0)
    assert list(predicted) == ["out1", "out2"]
    assert predicted["out1"].shape == (32, 3) and predicted["out2"].shape == (32, 1)
    listed = compiled().predict([XA, XB], batch_size=5, verbose=0)
    assert isinstance(listed, list) and [p.shape for p in listed] == [(32, 3), (32, 1)]


def test_batches_of_several_inputs_and_outputs_train_as_arrays():
    def generator():
        for i in range(0, 32, 8):
            yield (XA[i : i + 8], XB[i : i + 8]), (Y1[i : i + 8], Y2[i : i + 8])

    a, b = compiled(), compiled()
    a.fit([XA, XB], [Y1, Y2], batch_size=8, shuffle=False, verbose=0)
    b.fit(generator(), verbose=0)
    for u, v in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(u, v)


def test_one_loss_for_every_output_and_a_flat_metric_list_for_all():
    model = compiled(loss="mse", loss_weights=None, metrics=["mae"])
    history = model.fit([XA, XB], [np.eye(3)[Y1], Y2], batch_size=8, verbose=0)
    assert sorted(history.history) == ["loss", "out1_loss", "out1_mae", "out2_loss", "out2_mae"]


def test_errors_name_the_outputs():
    with pytest.raises(ValueError) as error:
        compiled(loss={"out1": "mse", "out3": "mse"})
    assert str(error.value) == (
        "compile: loss names output(s) ['out3'] that model 'functional' does not have; its "
        "outputs are ['out1', 'out2']. Received: loss with keys ['out1', 'out3']."
    )
    with pytest.raises(
        ValueError,
        match=r"loss_weights must have one entry per output of model "
        r"'functional' \(2: \['out1', 'out2'\]\). Received: loss_weights with 3",
    ):
        compiled(loss_weights=[1, 2, 3])
    model = compiled()
    with pytest.raises(
        ValueError,
        match=r"fit: y must hold one array per output \(\['out1', "
        r"'out2'\]\), as a list or a dict by output name. Received: ndarray.",
    ):
        model.fit([XA, XB], Y1, verbose=0)
    with pytest.raises(ValueError, match=r"fit: no targets for output\(s\) \['out2'\]"):
        model.fit([XA, XB], {"out1": Y1}, verbose=0)
    with pytest.raises(
        ValueError, match="class_weight is only supported for models with a single output"
    ):
        model.fit([XA, XB], [Y1, Y2], class_weight={0: 1.0}, verbose=0)
    with pytest.raises(
        ValueError,
        match=r"every input must have the same number of samples. "
        r"Received: inputs with \[32, 31\] samples.",
    ):
        model.fit([XA, XB[:31]], [Y1, Y2], verbose=0)


def test_a_single_output_model_keeps_its_fused_path():
    model = striate.Sequential([striate.Input((4,)), striate.layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    assert model._output_spec is None


# -- parity with Keras 3 --------------------------------------------------------------------------
def keras_twin(ours, make):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    keras.backend.clear_session()
    theirs = make(keras)
    for layer in ours.layers:
        theirs.get_layer(layer.name).set_weights(layer.get_weights())
    return keras, theirs


def assert_same_weights(ours, theirs):
    for layer in ours.layers:
        for a, b in zip(layer.get_weights(), theirs.get_layer(layer.name).get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-3, atol=2e-5, err_msg=layer.name)


def assert_same_history(a, b):
    assert sorted(a.history) == sorted(b.history)
    for key in a.history:
        np.testing.assert_allclose(
            a.history[key], b.history[key], rtol=2e-4, atol=1e-5, err_msg=key
        )


@pytest.mark.slow
def test_two_inputs_two_outputs_40_adam_steps_match_keras():
    ours = compiled()
    keras, theirs = keras_twin(ours, two_in_two_out)
    theirs.compile(
        "adam",
        loss=["sparse_categorical_crossentropy", "mse"],
        loss_weights=[1.0, 0.5],
        metrics=[["accuracy"], ["mae"]],
    )
    data = {"batch_size": 8, "epochs": 10, "shuffle": False, "verbose": 0}  # 4 steps an epoch
    a = ours.fit([XA, XB], [Y1, Y2], validation_data=([XA, XB], [Y1, Y2]), **data)
    b = theirs.fit([XA, XB], [Y1, Y2], validation_data=([XA, XB], [Y1, Y2]), **data)
    assert sorted(a.history) == sorted(b.history) == KERAS_KEYS
    assert_same_history(a, b)
    assert_same_weights(ours, theirs)
    np.testing.assert_allclose(
        ours.evaluate([XA, XB], [Y1, Y2], verbose=0),
        theirs.evaluate([XA, XB], [Y1, Y2], verbose=0),
        rtol=2e-4,
        atol=1e-5,
    )


def small(lib):
    layers = lib.layers
    inputs = lib.Input((5,), name="x")
    hidden = layers.Dense(6, activation="relu", name="hidden")(inputs)
    return lib.Model(inputs, layers.Dense(3, activation="softmax", name="out")(hidden))


@pytest.mark.slow
@pytest.mark.parametrize(
    "arguments",
    [
        {"epochs": 5, "steps_per_epoch": 2},
        {"epochs": 4, "initial_epoch": 1, "validation_freq": 2},
        {"epochs": 3, "validation_freq": [1, 3], "validation_steps": 2, "validation_batch_size": 4},
        {"epochs": 2, "class_weight": {0: 0.5, 1: 2.0, 2: 1.0}},
        {"epochs": 2, "class_weight": {0: 0.5, 1: 2.0, 2: 1.0}, "validation_split": 0.25},
        {"epochs": 2, "sample_weight": np.linspace(0.0, 2.0, 32).astype("float32")},
    ],
    ids=[
        "steps_per_epoch",
        "initial_epoch",
        "validation_steps",
        "class_weight",
        "class_weight_split",
        "sample_weight",
    ],
)
def test_fit_arguments_match_keras(arguments, keras3_crossentropy):
    striate.backend.clear_session()
    striate.utils.set_random_seed(0)
    ours = small(striate)
    keras, theirs = keras_twin(ours, small)
    for model, lib in ((ours, striate), (theirs, keras)):
        model.compile(
            lib.optimizers.Adam(0.01),
            "sparse_categorical_crossentropy",
            metrics=["accuracy"],
            weighted_metrics=["accuracy"],
        )
    x = np.concatenate([XA, XB[:, :1]], axis=1)
    data = {"batch_size": 8, "shuffle": False, "verbose": 0, "validation_data": (x[:16], Y1[:16])}
    if "validation_split" in arguments:  # class weights weigh the training split only
        del data["validation_data"]
    a = ours.fit(x, Y1, **data, **arguments)
    b = theirs.fit(x, Y1, **data, **arguments)
    assert a.epoch == b.epoch
    assert_same_history(a, b)
    assert_same_weights(ours, theirs)


@pytest.mark.slow
def test_sample_weight_per_output_and_weighted_metrics_match_keras():
    ours = compiled(weighted_metrics=[["accuracy"], ["mae"]])
    keras, theirs = keras_twin(ours, two_in_two_out)
    theirs.compile(
        "adam",
        loss=["sparse_categorical_crossentropy", "mse"],
        loss_weights=[1.0, 0.5],
        metrics=[["accuracy"], ["mae"]],
        weighted_metrics=[["accuracy"], ["mae"]],
    )
    weights = [np.linspace(0.0, 2.0, 32).astype("float32"), np.linspace(1.0, 0.0, 32)]
    weights[1] = weights[1].astype("float32")
    data = {"batch_size": 8, "epochs": 3, "shuffle": False, "verbose": 0}
    a = ours.fit([XA, XB], [Y1, Y2], sample_weight=weights, **data)
    b = theirs.fit([XA, XB], [Y1, Y2], sample_weight=weights, **data)
    assert "out1_weighted_accuracy" in a.history
    assert_same_history(a, b)
    assert_same_weights(ours, theirs)
