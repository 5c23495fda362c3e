"""Keras's everyday namespace on striate: `import striate as keras` and the submodules a Keras
program imports; utils (to_categorical, normalize), backend (image layout, clear_session) and
regularizers checked against Keras 3."""

import importlib
import os
import types

import numpy as np
import pytest
from gradcheck import check_gradients

import striate
from striate import backend, regularizers, utils
from striate.layers import (
    AveragePooling2D,
    Conv2D,
    Dense,
    Flatten,
    GlobalAveragePooling2D,
    MaxPooling2D,
    ZeroPadding2D,
)
from striate.ops.regularization import weight_penalty

SUBMODULES = [
    "layers",
    "models",
    "optimizers",
    "losses",
    "metrics",
    "callbacks",
    "initializers",
    "regularizers",
    "activations",
    "utils",
    "backend",
    "datasets",
    "saving",
]


@pytest.mark.parametrize("name", SUBMODULES)
def test_submodules_import_every_way(name):
    module = getattr(striate, name)
    assert isinstance(module, types.ModuleType)
    assert importlib.import_module(f"striate.{name}") is module
    namespace = {}
    exec(f"from striate import {name}", namespace)  # noqa: S102 - the import form itself
    assert namespace[name] is module
    assert name in striate.__all__


def test_import_striate_as_keras_finds_what_programs_use():
    keras = importlib.import_module("striate")
    assert keras.Input is keras.layers.Input and keras.Sequential is keras.models.Sequential
    model = keras.Sequential(
        [
            keras.Input(shape=(8, 8, 1)),
            keras.layers.Conv2D(2, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(3),
            keras.layers.Softmax(),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=["accuracy"],
    )
    assert model.output_shape == (None, 3)
    for name in ("set_random_seed", "to_categorical", "normalize", "image_dataset_from_directory"):
        assert callable(getattr(keras.utils, name))
    for name in ("floatx", "epsilon", "image_data_format", "set_image_data_format"):
        assert callable(getattr(keras.backend, name))
    assert callable(keras.backend.clear_session) and callable(keras.saving.load_model)
    assert keras.callbacks.EarlyStopping and keras.initializers.HeNormal and keras.datasets.mnist
    assert keras.regularizers.l2(0.001).get_config() == {"l2": 0.001}


# -- backend -------------------------------------------------------------------------------------
def test_backend_image_layout_floatx_and_epsilon():
    assert backend.image_data_format() == "channels_last"
    backend.set_image_data_format("channels_last")  # accepted: it is what striate runs
    assert backend.floatx() == "float32" and backend.epsilon() == 1e-7
    with pytest.raises(ValueError, match=r"striate runs images channels_last only .*"):
        backend.set_image_data_format("channels_first")
    with pytest.raises(ValueError, match=r"data_format must be 'channels_last'.*'NHWC'"):
        backend.set_image_data_format("NHWC")
    assert backend.image_data_format() == "channels_last"


def test_clear_session_restarts_default_names():
    backend.clear_session()
    assert [Dense(1).name, Dense(1).name, Conv2D(1, 1).name] == ["dense", "dense_1", "conv2d"]
    backend.clear_session()
    assert Dense(1).name == "dense"
    striate.layers.base.reset_names()  # the older spelling does the same
    assert Dense(1).name == "dense"


@pytest.mark.parametrize(
    "make",
    [
        lambda: Conv2D(2, 3, data_format="channels_first", name="c"),
        lambda: MaxPooling2D(data_format="channels_first", name="c"),
        lambda: AveragePooling2D(data_format="channels_first", name="c"),
        lambda: GlobalAveragePooling2D(data_format="channels_first", name="c"),
        lambda: ZeroPadding2D(data_format="channels_first", name="c"),
        lambda: Flatten(data_format="channels_first", name="c"),
    ],
)
def test_channels_first_layers_are_refused_at_construction(make):
    with pytest.raises(
        ValueError,
        match=r"^\w+ 'c': striate runs images channels_last only: only "
        r"data_format='channels_last' \(NHWC\) is supported. Received: "
        r"data_format='channels_first'$",
    ):
        make()


def test_channels_last_is_accepted_explicitly():
    assert Flatten(data_format="channels_last").build_for((None, 2, 3, 4)) == (None, 24)


# -- utils ---------------------------------------------------------------------------------------
def test_to_categorical_values_shapes_and_dtype():
    one_hot = utils.to_categorical([0, 1, 2, 3])
    np.testing.assert_array_equal(one_hot, np.eye(4))
    assert one_hot.dtype == np.float64
    cifar = utils.to_categorical(np.array([[3], [0], [9]], dtype=np.uint8), 10)
    assert cifar.shape == (3, 10) and cifar.dtype == np.float64 and cifar[0, 3] == 1
    assert utils.to_categorical([1], num_classes=5).tolist() == [[0, 1, 0, 0, 0]]
    assert utils.to_categorical([[0, 1], [2, 0]]).shape == (2, 2, 3)
    assert utils.to_categorical(2, 3).tolist() == [0, 0, 1]


@pytest.mark.parametrize(
    "labels, num_classes, message",
    [
        ([0, 3], 3, r"to_categorical: labels must be in 0..2 \(num_classes=3\). Received: label 3"),
        ([1, -1], 3, r"Received: label -1 at index 1"),
        ([], None, r"cannot infer num_classes from no labels"),
    ],
)
def test_to_categorical_errors(labels, num_classes, message):
    with pytest.raises(ValueError, match=message):
        utils.to_categorical(labels, num_classes)


def test_normalize_values():
    x = np.array([[3.0, 4.0], [0.0, 0.0]])
    np.testing.assert_allclose(utils.normalize(x), [[0.6, 0.8], [0, 0]])
    np.testing.assert_allclose(utils.normalize(x, order=1), [[3 / 7, 4 / 7], [0, 0]])
    np.testing.assert_allclose(utils.normalize(x, axis=0), [[1, 1], [0, 0]])


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    pytest.importorskip("torch")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("these comparisons use KERAS_BACKEND=torch")
    return keras


@pytest.mark.parametrize(
    "labels, num_classes",
    [
        ([0, 1, 2, 3], None),
        (np.array([[3], [0], [9], [1]], dtype=np.uint8), 10),  # CIFAR-10's (n, 1) labels
        (np.array([1, 0, 2]), 7),  # more classes than labels
        (np.array([[0, 2], [1, 1]], dtype=np.int32), None),
        (np.array([1.0, 2.0]), None),  # floats are cast to int64, as Keras casts them
        (3, 5),
    ],
)
def test_to_categorical_matches_keras(keras, labels, num_classes):
    theirs = keras.utils.to_categorical(labels, num_classes)
    ours = utils.to_categorical(labels, num_classes)
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("axis", [-1, 1, 2])
@pytest.mark.parametrize("order", [1, 2, np.inf])
def test_normalize_matches_keras(keras, axis, order):
    x = np.random.default_rng(0).standard_normal((3, 4, 5))
    x[0, 0] = 0.0
    theirs = keras.utils.normalize(x, axis=axis, order=order)
    np.testing.assert_allclose(utils.normalize(x, axis=axis, order=order), theirs, rtol=1e-15)
    vector = np.array([3.0, 4.0])
    assert utils.normalize(vector).shape == keras.utils.normalize(vector).shape == (1, 2)


# -- regularizers --------------------------------------------------------------------------------
def test_regularizer_penalties_configs_and_names():
    w = np.array([[0.5, -2.0], [1.5, 0.0]])
    assert float(regularizers.L1(0.1)(w).data) == pytest.approx(0.4)
    assert float(regularizers.L2(0.1)(w).data) == pytest.approx(0.65)
    assert float(regularizers.L1L2(l1=0.1, l2=0.1)(w).data) == pytest.approx(1.05)
    assert float(regularizers.l1_l2()(w).data) == 0.0  # Keras: l1_l2 is L1L2, both 0
    assert regularizers.L1().get_config() == {"l1": 0.01}
    assert regularizers.L2().get_config() == {"l2": 0.01}
    assert regularizers.L1L2(l2=0.5).get_config() == {"l1": 0.0, "l2": 0.5}
    assert regularizers.l1 is regularizers.L1 and regularizers.l2 is regularizers.L2
    assert regularizers.get(None) is None
    assert regularizers.get("l2").get_config() == {"l2": 0.01}
    assert type(regularizers.get("L1L2")) is regularizers.L1L2
    same = regularizers.L2(0.3)
    assert regularizers.get(same) is same
    clone = regularizers.get(regularizers.serialize(regularizers.L1L2(0.2, 0.3)))
    assert clone.get_config() == {"l1": 0.2, "l2": 0.3}
    assert repr(clone) == "L1L2(l1=0.2, l2=0.3)"
    # float32 weights give a float32 penalty
    assert regularizers.L2()(np.ones(3, np.float32)).data.dtype == np.float32


def test_regularizer_errors():
    with pytest.raises(ValueError, match=r"l2: expected a non-negative float. Received: l2=-1"):
        regularizers.L2(-1)
    with pytest.raises(ValueError, match=r"l1: expected a non-negative float. Received: l1=inf"):
        regularizers.L1(float("inf"))
    with pytest.raises(ValueError, match=r"Unknown regularizer 'l3'"):
        regularizers.get("l3")


def test_weight_penalty_gradient():
    w = np.random.default_rng(1).standard_normal((4, 3))
    w = np.where(np.abs(w) < 0.05, 0.1, w)  # |w| has a kink at 0
    check_gradients(lambda t: weight_penalty(t, l1=0.3, l2=0.2), [w])


@pytest.mark.parametrize(
    "ours, name, config",
    [
        (regularizers.L1(0.05), "L1", {"l1": 0.05}),
        (regularizers.L2(0.02), "L2", {"l2": 0.02}),
        (regularizers.L1L2(0.01, 0.03), "L1L2", {"l1": 0.01, "l2": 0.03}),
    ],
)
def test_regularizers_match_keras(keras, ours, name, config):
    import torch

    theirs = getattr(keras.regularizers, name)(**config)
    w = np.random.default_rng(2).standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_allclose(ours(w).data, theirs(torch.tensor(w)).numpy(), rtol=1e-6)
    assert ours.get_config() == pytest.approx(theirs.get_config())


def test_plot_model_writes_the_graph_as_dot_and_says_what_drawing_needs(tmp_path):
    inputs = striate.Input((4,), name="x")
    left = striate.layers.Dense(3, name="left")(inputs)
    right = striate.layers.Dense(3, name="right")(inputs)
    model = striate.Model(inputs, striate.layers.add([left, right], name="sum"))
    path = striate.utils.plot_model(model, to_file=str(tmp_path / "m.dot"), show_shapes=True)
    text = open(path).read()
    assert text.startswith("digraph model {") and "sum | Add | (None, 3)" in text
    assert text.count("->") == 4  # x->left, x->right, left->sum, right->sum
    import shutil

    if shutil.which("dot") is None:
        with pytest.raises(ImportError, match=r"needs Graphviz's `dot` program"):
            striate.utils.plot_model(model, to_file=str(tmp_path / "m.png"))
        assert (tmp_path / "m.dot").exists()
    with pytest.raises(ValueError, match="to_file must end in"):
        striate.utils.plot_model(model, to_file=str(tmp_path / "m.jpg"))


def test_backend_set_epsilon_and_is_keras_tensor():
    assert striate.backend.is_keras_tensor(striate.Input((2,)))
    assert not striate.backend.is_keras_tensor(np.zeros(2))
    before = striate.backend.epsilon()
    try:
        striate.backend.set_epsilon(1e-5)
        assert striate.backend.epsilon() == 1e-5
        with pytest.raises(ValueError, match="set_epsilon"):
            striate.backend.set_epsilon(0)
    finally:
        striate.backend.set_epsilon(before)


def test_sequence_is_pydataset_and_batches_pack_and_unpack_as_in_keras():
    assert striate.utils.Sequence is striate.utils.PyDataset
    pack, unpack = striate.utils.pack_x_y_sample_weight, striate.utils.unpack_x_y_sample_weight
    x, y, w = np.zeros(2), np.ones(2), np.full(2, 0.5)
    assert unpack(pack(x, y, w)) == (x, y, w) and unpack(pack(x, y)) == (x, y, None)
    assert unpack(pack(x))[0] is x and unpack(x) == (x, None, None)
    assert pack((x, x)) == ((x, x),)  # a tuple x is not taken for (x, y)
    with pytest.raises(ValueError, match="a tuple of 4 items"):
        unpack((x, y, w, w))
