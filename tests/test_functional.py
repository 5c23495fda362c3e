"""The Functional API: Input -> layers -> Model(inputs, outputs), merge layers (ops checked in
float64 against central differences), nested models, freezing, the summary's "Connected to"
column, and every error's text."""

import numpy as np
import pytest
from gradcheck import check_gradients

import striate
from striate import layers
from striate.layers.symbolic import SymbolicTensor
from striate.ops import merging
from striate.tensor import Tensor


@pytest.fixture(autouse=True)
def fresh_names():
    striate.backend.clear_session()
    striate.utils.set_random_seed(0)


def residual_model():
    inputs = striate.Input(shape=(6, 6, 2), name="img")
    x = layers.Conv2D(3, 3, padding="same", activation="relu")(inputs)
    skip = layers.Conv2D(3, 1)(inputs)
    x = layers.add([x, skip])
    x = layers.concatenate([x, inputs])
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(4, activation="softmax")(x)
    return striate.Model(inputs, outputs, name="residual")


def test_input_is_a_symbolic_tensor_and_layers_record_nodes():
    x = striate.Input(shape=(5,), batch_size=8, name="x", dtype="float32")
    assert isinstance(x, SymbolicTensor)
    assert x.shape == (8, 5) and x.dtype == "float32" and x.name == "x"
    y = layers.Dense(3, name="d")(x)
    assert y.shape == (8, 3) and y.node.layer.name == "d" and y.node.input_tensors == [x]
    with pytest.raises(TypeError, match="has no values"):
        np.asarray(y)


def test_functional_model_structure_and_weights():
    model = residual_model()
    assert model.name == "residual"
    assert [layer.name for layer in model.layers] == [
        "img", "conv2d", "conv2d_1", "add", "concatenate", "global_average_pooling2d", "dense"
    ]  # fmt: skip
    assert model.count_params() == (3 * 3 * 2 * 3 + 3) + (2 * 3 + 3) + (5 * 4 + 4)
    assert model.inputs[0].name == "img" and model.outputs[0].shape == (None, 4)
    assert model.input_shape == (None, 6, 6, 2) and model.output_shape == (None, 4)
    assert model.get_layer("add") is model.layers[3] and model.get_layer(index=-1).name == "dense"
    assert len(model.trainable_weights) == 6 and model.non_trainable_weights == []
    arrays = [np.full_like(w, i) for i, w in enumerate(model.get_weights())]
    model.set_weights(arrays)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), arrays))
    assert isinstance(striate.models.Model(model.inputs, model.outputs), striate.models.Functional)


def test_functional_outputs_equal_the_layers_by_hand():
    model = residual_model()
    x = np.random.default_rng(0).random((3, 6, 6, 2)).astype(np.float32)
    by_hand = model.get_layer("conv2d")(x).data + model.get_layer("conv2d_1")(x).data
    by_hand = np.concatenate([by_hand, x], axis=-1).mean(axis=(1, 2))
    by_hand = model.get_layer("dense")(by_hand).data
    np.testing.assert_allclose(model.predict(x, verbose=0), by_hand, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(model(x).data, by_hand, rtol=1e-6, atol=1e-7)


def test_fit_evaluate_predict_on_a_functional_model():
    model = residual_model()
    rng = np.random.default_rng(1)
    x, y = rng.random((40, 6, 6, 2)).astype(np.float32), rng.integers(0, 4, 40)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["acc"])
    before = model.evaluate(x, y, verbose=0)[0]
    history = model.fit(x, y, batch_size=8, epochs=5, verbose=0)
    assert len(history.history["loss"]) == 5
    assert model.evaluate(x, y, verbose=0)[0] < before
    assert model.predict(x, verbose=0).shape == (40, 4)


def test_shared_layer_shares_weights():
    a, b = striate.Input(shape=(4,), name="a"), striate.Input(shape=(4,), name="b")
    shared = layers.Dense(2, name="shared")
    model = striate.Model([a, b], layers.subtract([shared(a), shared(b)]))
    assert model.count_params() == 10 and len(model.layers) == 4
    xa, xb = np.ones((2, 4)), np.zeros((2, 4))
    out = model([xa, xb]).data
    np.testing.assert_allclose(out, np.ones((2, 4)) @ shared.get_weights()[0], rtol=1e-6)
    np.testing.assert_allclose(model({"a": xa, "b": xb}).data, out)
    assert "shared[0][0]" in model.summary.__repr__() and "shared[1][0]" in repr(model.summary)


def test_several_inputs_and_outputs_by_call_compile_and_predict():
    image, extra = striate.Input(shape=(4, 4, 1), name="image"), striate.Input(shape=(3,))
    features = layers.Flatten()(layers.Conv2D(2, 3)(image))
    joined = layers.concatenate([features, extra])
    first, second = layers.Dense(2, name="first")(joined), layers.Dense(1, name="second")(joined)
    model = striate.Model({"image": image, "extra": extra}, [first, second])
    outs = model([np.ones((5, 4, 4, 1)), np.ones((5, 3))])
    assert [o.data.shape for o in outs] == [(5, 2), (5, 1)]
    model.compile(optimizer="adam", loss="mse")  # one loss for every output, as Keras 3
    predicted = model.predict([np.ones((5, 4, 4, 1)), np.ones((5, 3))], verbose=0)
    assert [p.shape for p in predicted] == [(5, 2), (5, 1)]


def test_nested_models_and_sequential_as_a_layer():
    base = striate.Sequential(
        [striate.Input(shape=(6, 6, 2)), layers.Conv2D(3, 3), layers.Flatten()], name="base"
    )
    inner_in = striate.Input(shape=(48,))
    head = striate.Model(inner_in, layers.Dense(2)(inner_in), name="head")
    inputs = striate.Input(shape=(6, 6, 2))
    model = striate.Model(inputs, head(base(inputs)))
    assert [layer.name for layer in model.layers] == ["input_layer_2", "base", "head"]
    assert model.count_params() == base.count_params() + head.count_params()
    x = np.random.default_rng(2).random((3, 6, 6, 2)).astype(np.float32)
    np.testing.assert_allclose(model(x).data, head(base(x)).data)
    text = repr(model.summary)
    assert "base (Sequential)" in text and "head (Functional)" in text and "base[0][0]" in text


def test_freezing_a_nested_base_and_fine_tuning():
    base = striate.Sequential(
        [striate.Input(shape=(6, 6, 2)), layers.Conv2D(3, 3), layers.BatchNormalization()],
        name="base",
    )
    inputs = striate.Input(shape=(6, 6, 2))
    x = layers.GlobalAveragePooling2D()(base(inputs, training=False))
    model = striate.Model(inputs, layers.Dense(3, activation="softmax")(x))
    rng = np.random.default_rng(3)
    x, y = rng.random((32, 6, 6, 2)).astype(np.float32), rng.integers(0, 3, 32)
    base.trainable = False
    assert all(not layer.trainable for layer in base.layers)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    assert len(model.trainable_weights) == 2 and len(model.non_trainable_weights) == 6
    frozen = [w.copy() for w in base.get_weights()]
    head = [w.copy() for w in model.get_layer(index=-1).get_weights()]
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(base.get_weights(), frozen))
    assert not np.array_equal(model.get_layer(index=-1).get_weights()[0], head[0])
    base.trainable = True
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert not np.array_equal(base.get_weights()[0], frozen[0])


def test_changing_trainable_without_compiling_warns_as_keras():
    model = residual_model()
    x, y = np.ones((8, 6, 6, 2), np.float32), np.zeros(8, int)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    model.get_layer("conv2d").trainable = False
    with pytest.warns(
        UserWarning, match=r"Please recompile your model.*Changed layers: \['conv2d'"
    ):
        model.fit(x, y, epochs=1, verbose=0)


# -- merge layers ------------------------------------------------------------------------------
ARRAYS = [np.random.default_rng(i).standard_normal((2, 3, 4)) for i in range(3)]


@pytest.mark.slow  # over 1 s (the quick tier stays under a minute)
@pytest.mark.parametrize(
    "op, reference",
    [
        (merging.add, lambda a, b, c: a + b + c),
        (merging.average, lambda a, b, c: (a + b + c) / 3),
        (merging.multiply, lambda a, b, c: a * b * c),
        (merging.maximum, lambda a, b, c: np.maximum(np.maximum(a, b), c)),
        (merging.minimum, lambda a, b, c: np.minimum(np.minimum(a, b), c)),
        (lambda t: merging.concatenate(t, 1), lambda a, b, c: np.concatenate([a, b, c], 1)),
    ],
)
def test_merge_ops_forward_and_float64_gradients(op, reference):
    np.testing.assert_allclose(op([Tensor(a) for a in ARRAYS]).data, reference(*ARRAYS))
    check_gradients(lambda *t: op(list(t)), ARRAYS)


def test_subtract_gradients_and_ties_split_in_half():
    check_gradients(lambda a, b: merging.subtract([a, b]), ARRAYS[:2])
    a, b = Tensor(np.array([1.0, 2.0]), requires_grad=True), Tensor(np.array([1.0, 3.0]))
    b.requires_grad = True
    merging.maximum([a, b]).backward(np.ones(2))
    np.testing.assert_array_equal(a.grad, [0.5, 0.0])
    np.testing.assert_array_equal(b.grad, [0.5, 1.0])


def test_merge_layers_eager_and_symbolic_shapes():
    x = [np.ones((2, 3)), 2 * np.ones((2, 3))]
    assert layers.Add()(x).data.tolist() == [[3.0] * 3] * 2
    assert layers.Average()(x).data[0, 0] == 1.5
    assert layers.Concatenate(axis=1)(x).data.shape == (2, 6)
    a, b = striate.Input(shape=(4, 4, 3)), striate.Input(shape=(4, 4, 5))
    assert layers.concatenate([a, b]).shape == (None, 4, 4, 8)
    assert layers.Concatenate(axis=1)([a, a]).shape == (None, 8, 4, 3)
    assert layers.Concatenate(axis=1).get_config()["axis"] == 1


def test_error_texts():
    a = striate.Input(shape=(8, 8, 64), name="a")
    b = striate.Input(shape=(8, 8, 32), name="b")
    with pytest.raises(ValueError) as error:
        layers.add([a, b])
    assert str(error.value) == (
        "Add 'add': inputs must have the same shape. Received: 'a' of shape (None, 8, 8, 64) "
        "and 'b' of shape (None, 8, 8, 32)."
    )
    with pytest.raises(ValueError, match="except on the concatenation axis 1. Received: 'a'"):
        layers.concatenate([a, b], axis=1)
    with pytest.raises(ValueError, match="axis must be one of the non-batch axes 1..3"):
        layers.concatenate([a, a], axis=0)
    with pytest.raises(ValueError, match="Subtract 'subtract': a merge layer takes exactly 2"):
        layers.subtract([a, a, a])
    with pytest.raises(ValueError, match="a list of at least 2 inputs. Received: SymbolicTensor"):
        layers.Add()(a)
    flat = striate.Input(shape=(10,), name="flat")
    with pytest.raises(ValueError) as error:
        layers.Conv2D(2, 3, name="conv")(flat)
    assert "Conv2D 'conv': expected input with 4 dims" in str(error.value)
    assert "Received: input shape (None, 10)" in str(error.value)
    dense = layers.Dense(3, name="d")
    dense(flat)
    with pytest.raises(ValueError, match=r"Dense 'd': expected input shape \(None, 10\)"):
        dense(striate.Input(shape=(7,)))
    other = striate.Input(shape=(10,), name="other")
    with pytest.raises(ValueError) as error:
        striate.Model(other, layers.Dense(2)(flat), name="m")
    assert str(error.value).startswith(
        "Model 'm': the graph is disconnected: output 'dense' depends on Input 'flat' (None, 10)"
    )
    with pytest.raises(TypeError, match="outputs must be symbolic tensors"):
        striate.Model(other, np.ones(3))
    with pytest.raises(TypeError, match="a functional model is Model.inputs, outputs."):
        type("Mine", (striate.Model,), {})(other)


def test_summary_has_the_connected_to_column():
    text = repr(residual_model().summary)
    lines = text.splitlines()
    assert "Connected to" in lines[2]
    add_row = next(i for i, line in enumerate(lines) if line.startswith(" add (Add)"))
    assert lines[add_row].rstrip().endswith("conv2d[0][0]")
    assert lines[add_row + 1].strip() == "conv2d_1[0][0]"
    assert " img (InputLayer)" in text and "(None, 6, 6, 2)" in text
    assert "Total params: 90" in text


def test_weights_file_and_model_file_round_trip(tmp_path):
    model = residual_model()
    x = np.random.default_rng(4).random((2, 6, 6, 2)).astype(np.float32)
    expected = model.predict(x, verbose=0)
    model.save_weights(tmp_path / "w.striate")
    striate.backend.clear_session()
    twin = residual_model()
    twin.load_weights(tmp_path / "w.striate")
    np.testing.assert_array_equal(twin.predict(x, verbose=0), expected)
    model.save(tmp_path / "m.striate")
    loaded = striate.saving.load_model(tmp_path / "m.striate")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), expected)


def test_merge_ops_sum_gradients_back_over_broadcast_axes():
    x, w = ARRAYS[0], np.random.default_rng(7).standard_normal((1, 4))
    for op in (merging.add, merging.multiply, merging.maximum, merging.subtract):
        check_gradients(lambda a, b, op=op: op([a, b]), [x, w])
    check_gradients(lambda a, b: merging.multiply([a, b]), [x, w[0]])


def test_config_round_trip_in_keras_shape_with_a_nested_sequential_and_a_shared_layer():
    base = striate.Sequential(
        [striate.Input(shape=(6, 6, 2)), layers.Conv2D(3, 3), layers.Flatten()], name="base"
    )
    a, b = striate.Input(shape=(6, 6, 2), name="a"), striate.Input(shape=(6, 6, 2), name="b")
    shared = layers.Dense(4, name="shared")
    joined = layers.concatenate([shared(base(a)), shared(base(b))], name="joined")
    model = striate.Model([a, b], [layers.Dense(2, name="out")(joined), joined], name="twin")
    config = model.get_config()
    entry = next(e for e in config["layers"] if e["name"] == "shared")
    histories = [n["args"][0]["config"]["keras_history"] for n in entry["inbound_nodes"]]
    assert histories == [["base", 0, 0], ["base", 1, 0]]
    assert config["input_layers"] == [["a", 0, 0], ["b", 0, 0]]
    assert config["output_layers"] == [["out", 0, 0], ["joined", 0, 0]]
    rebuilt = striate.Model.from_config(config)
    assert [layer.name for layer in rebuilt.layers] == [layer.name for layer in model.layers]
    assert rebuilt.count_params() == model.count_params()
    rebuilt.set_weights(model.get_weights())
    x = [np.random.default_rng(5).random((2, 6, 6, 2)).astype(np.float32)] * 2
    for mine, theirs in zip(model(x), rebuilt(x)):
        np.testing.assert_array_equal(mine.data, theirs.data)
    broken = {**config, "layers": [e for e in config["layers"] if e["name"] != "base"]}
    with pytest.raises(ValueError, match="the calls of shared, joined, out need tensors"):
        striate.Model.from_config(broken)


def test_unfreezing_without_compiling_warns_and_trains_what_compile_chose():
    model = residual_model()
    conv = model.get_layer("conv2d")
    conv.trainable = False
    x, y = np.random.default_rng(6).random((8, 6, 6, 2)).astype(np.float32), np.zeros(8, int)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    kept = conv.get_weights()
    conv.trainable = True
    with pytest.warns(UserWarning, match="trainable` state has changed since the model was"):
        model.fit(x, y, epochs=1, verbose=0)  # no crash in the optimizer
    assert all(np.array_equal(a, b) for a, b in zip(conv.get_weights(), kept))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    assert not np.array_equal(conv.get_weights()[0], kept[0])


def test_a_functional_chain_runs_the_sequential_plan_bit_for_bit():
    from striate.models.plan import describe

    def stack():
        return [
            layers.Conv2D(4, 3, activation="relu"),
            layers.MaxPool2D(2),
            layers.Flatten(),
            layers.Dense(5, activation="softmax"),
        ]

    sequential = striate.Sequential([striate.Input(shape=(8, 8, 1))] + stack())
    x = inputs = striate.Input(shape=(8, 8, 1))
    for layer in stack():
        x = layer(x)
    functional = striate.Model(inputs, x)
    functional.set_weights(sequential.get_weights())
    (chain,) = functional._chains.values()
    assert describe(functional._chain_plan(chain))[0].endswith(", relu")  # conv + pool fused
    rng = np.random.default_rng(8)
    data, labels = rng.random((32, 8, 8, 1)).astype(np.float32), rng.integers(0, 5, 32)
    for model in (sequential, functional):
        striate.utils.set_random_seed(1)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(data, labels, batch_size=8, epochs=2, verbose=0)
    for a, b in zip(sequential.get_weights(), functional.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(sequential.predict(data, verbose=0), functional(data).data)


def test_a_call_with_a_training_argument_keeps_it_in_its_config_and_uses_it_as_keras_3_does():
    # Keras 3 records base(x, training=False) in the graph, uses it when the model is called
    # with no mode (model(x)), and lets a given mode override it (fit, predict, model(x,
    # training=True)): checked against Keras 3 in test_functional_parity.py.
    base = striate.Sequential(
        [layers.Input((8,)), layers.Dense(16), layers.Dropout(0.5)], name="base"
    )
    pinned_in = striate.Input((8,))
    pinned = striate.Model(pinned_in, layers.Dense(2)(base(pinned_in, training=True)))
    x = np.random.default_rng(0).random((4, 8)).astype("float32")
    inference = pinned(x, training=False).data
    assert not np.array_equal(pinned(x).data, inference)  # the recorded training=True
    np.testing.assert_array_equal(pinned.predict(x, verbose=0), inference)
    config = pinned.get_config()
    assert config["layers"][1]["inbound_nodes"][0]["kwargs"] == {"training": True}
    rebuilt = striate.Model.from_config(config)
    rebuilt.set_weights(pinned.get_weights())
    assert not np.array_equal(rebuilt(x).data, rebuilt(x, training=False).data)
    config["layers"][1]["inbound_nodes"][0]["kwargs"] = {"training": "yes"}
    with pytest.raises(ValueError, match=r"training='yes'; expected true, false or none"):
        striate.Model.from_config(config)


def test_summary_takes_keras_options_show_trainable_expand_nested_layer_range_positions():
    base = striate.Sequential(
        [layers.Input((8, 8, 1)), layers.Conv2D(2, 3), layers.Flatten()], name="base"
    )
    base.trainable = False
    inputs = striate.Input((8, 8, 1))
    model = striate.Model(inputs, layers.Dense(3, name="head")(base(inputs, training=False)))
    lines = []
    model.summary(show_trainable=True, expand_nested=True, print_fn=lines.append)
    text = lines[-1]
    assert "Trainable" in text
    assert " base (Sequential)" in text and "   conv2d" in text  # nested layers indented
    row = next(line for line in text.splitlines() if line.startswith(" head"))
    assert " Y " in row
    assert " N " in next(line for line in text.splitlines() if line.startswith(" base"))
    model.summary(
        layer_range=["base", "head"], positions=[0.4, 0.6, 0.7, 1.0], print_fn=lines.append
    )
    assert "input_layer" not in lines[-1].split("=")[1]  # the table starts at base
    with pytest.raises(ValueError, match=r"layer_range names 'nope'"):
        model.summary(layer_range=["nope", "head"])
    with pytest.raises(ValueError, match=r"positions must give the end of each of the 4"):
        model.summary(positions=[0.5, 1.0])


def test_layer_input_and_output_are_its_first_calls_tensors_as_in_keras():
    model = residual_model()
    conv = model.layers[1]
    assert conv.output is conv._inbound_nodes[0].outputs[0]
    assert conv.input is model.inputs[0]
    assert model.input is model.inputs[0] and model.output is model.outputs[0]
    features = striate.Model(model.input, conv.output)  # Keras's feature-extractor pattern
    assert features.output_shape == conv.output_shape
    with pytest.raises(AttributeError, match=r"has never been called and thus has no defined"):
        _ = layers.Dense(2).output
