"""ONNX export: the graph passes onnx.checker's full check, has a shape on every tensor (batch
symbolic), and runs in onnxruntime with striate's outputs (1e-5) at batch sizes 1, 7 and 256,
for the Keras-made models of tests/keras_models.py imported into striate."""

import os
import subprocess
import sys

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
from optional import require  # noqa: E402

onnx = require("onnx", "'striate[onnx]'")
ort = require("onnxruntime", "'striate[test]'")

import striate  # noqa: E402
from striate.layers import BatchNormalization, Conv2D, Dense, Flatten, Input, MaxPool2D  # noqa: E402


def run(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x})[0]


def check_well_formed(path, opset):
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version == opset
    assert model.ir_version <= (8 if opset == 17 else 10)
    shaped = {v.name: v for v in list(model.graph.value_info) + list(model.graph.output)}
    initializers = {i.name for i in model.graph.initializer}
    for node in model.graph.node:
        for name in node.output:
            assert name not in initializers
            tensor = shaped[name].type.tensor_type
            dims = tensor.shape.dim
            if tensor.elem_type != onnx.TensorProto.FLOAT:  # a shape computed for Resize
                assert all(d.dim_value > 0 for d in dims), name
                continue
            assert dims[0].dim_param == "N", name
            assert all(d.dim_value > 0 for d in dims[1:]), name


def small_model():
    return striate.Sequential(
        [
            Input((9, 9, 2)),
            Conv2D(4, 3, strides=2, padding="same", activation="relu"),
            BatchNormalization(),
            MaxPool2D(2, padding="same"),
            Flatten(),
            Dense(3, activation="softmax"),
        ]
    )


@pytest.mark.parametrize("opset", [13, 17, 21])
def test_small_model_runs_the_same_in_onnxruntime(tmp_path, opset):
    model = small_model()
    model.layers[1].moving_variance.data[...] = 2.0
    path = striate.export.onnx(model, tmp_path / "m.onnx", opset_version=opset, verbose=False)
    check_well_formed(path, opset)
    for batch in (1, 7, 256):
        x = np.random.default_rng(batch).uniform(0, 1, (batch, 9, 9, 2)).astype("float32")
        np.testing.assert_allclose(run(path, x), model.predict(x, verbose=0), atol=1e-5)


def test_nchw_input(tmp_path):
    model = small_model()
    path = striate.export.onnx(model, tmp_path / "m.onnx", nchw_input=True, verbose=False)
    x = np.random.default_rng(0).uniform(0, 1, (5, 9, 9, 2)).astype("float32")
    got = run(path, x.transpose(0, 3, 1, 2).copy())
    np.testing.assert_allclose(got, model.predict(x, verbose=0), atol=1e-5)


def test_bad_requests_are_clear(tmp_path):
    with pytest.raises(ValueError, match="opset_version must be 13..21"):
        striate.export.onnx(small_model(), tmp_path / "m.onnx", opset_version=7)
    from striate.layers import UpSampling2D

    bilinear = striate.Sequential([Input((4, 4, 1)), UpSampling2D(interpolation="bilinear")])
    with pytest.raises(ValueError, match="'up_sampling2d' .*bilinear"):
        striate.export.onnx(bilinear, tmp_path / "m.onnx")
    from striate.layers import LayerNormalization

    normed = striate.Sequential([Input((4, 4, 2)), LayerNormalization()])
    with pytest.raises(ValueError, match="opset 17 or later"):
        striate.export.onnx(normed, tmp_path / "m.onnx", opset_version=13)
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["article", "convnet", "batchnorm", "resnet", "every_layer"])
def test_keras_models_export_and_match(tmp_path, name):
    keras = pytest.importorskip("keras")
    import keras_models

    original = keras_models.trained(keras, name)
    original.save(tmp_path / "k.keras")
    model = striate.models.load_model(tmp_path / "k.keras")
    path = striate.export.onnx(model, tmp_path / "m.onnx", verbose=False)
    check_well_formed(path, 17)
    for batch in (1, 7, 256):
        x = keras_models.images(model, batch, seed=batch)
        mine = model.predict(x, verbose=0)
        np.testing.assert_allclose(run(path, x), mine, atol=1e-5)
        theirs = np.asarray(original.predict(x, verbose=0))
        np.testing.assert_allclose(run(path, x), theirs, atol=1e-5)


@pytest.mark.slow
def test_cli_convert_and_export(tmp_path):
    model = small_model()
    model.save(tmp_path / "m.striate")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    cli = [sys.executable, "-m", "striate.cli"]
    done = subprocess.run(
        [*cli, "convert", str(tmp_path / "m.striate"), str(tmp_path / "m.keras")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    done = subprocess.run(
        [*cli, "export", str(tmp_path / "m.keras"), "--onnx", str(tmp_path / "m.onnx")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    x = np.random.default_rng(0).uniform(0, 1, (3, 9, 9, 2)).astype("float32")
    np.testing.assert_allclose(run(tmp_path / "m.onnx", x), model.predict(x, verbose=0), atol=1e-5)
    done = subprocess.run(
        [*cli, "convert", str(tmp_path / "m.keras"), str(tmp_path / "m.h5")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 2 and ".h5 is read only" in done.stderr


@pytest.mark.slow
def test_a_model_trained_on_digits_gives_the_same_classes_in_onnxruntime(tmp_path):
    pytest.importorskip("sklearn")
    from striate.datasets import digits
    from striate.layers import Activation, Rescaling
    from striate.utils import to_categorical

    (x_train, y_train), (x_test, _) = digits.load_data()
    x_train, x_test = x_train[..., None].astype("float32"), x_test[..., None].astype("float32")
    model = striate.Sequential(
        [
            Input((8, 8, 1)),
            Rescaling(1 / 255),
            Conv2D(6, 2),
            Activation("relu"),
            MaxPool2D(2),
            Flatten(),
            Dense(10),
            Activation("softmax"),
        ]
    )
    model.compile("adam", "categorical_crossentropy")
    model.fit(x_train, to_categorical(y_train, 10), epochs=3, batch_size=32, verbose=0)
    path = striate.export.onnx(model, tmp_path / "digits.onnx", verbose=False)
    theirs, mine = run(path, x_test), model.predict(x_test, verbose=0)
    np.testing.assert_allclose(theirs, mine, atol=1e-5)
    assert (theirs.argmax(1) == mine.argmax(1)).all() and len(mine) == 360
