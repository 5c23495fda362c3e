"""Crafted Keras files: each is a ModelFileError naming the member and the field, and nothing in
the file is imported or run (every payload would create a marker file if it ran). The base file
is written by striate itself, so these tests need h5py but not Keras."""

import base64
import io
import json
import marshal
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from optional import require  # noqa: E402

h5py = require("h5py", "'striate[keras]'")

import striate  # noqa: E402
from striate.layers import Conv2D, Dense, Flatten, Input  # noqa: E402
from striate.models import load_model  # noqa: E402
from striate.saving import ModelFileError  # noqa: E402


def small_model():
    return striate.Sequential(
        [
            Input((6, 6, 1)),
            Conv2D(2, 3, name="conv2d"),
            Flatten(name="flatten"),
            Dense(3, name="dense"),
        ]
    )


@pytest.fixture
def base(tmp_path):
    model = small_model()
    model.save(tmp_path / "base.keras")
    with zipfile.ZipFile(tmp_path / "base.keras") as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    return model, members, tmp_path


def write_zip(path, members, method=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def with_config(base, change):
    _, members, tmp_path = base
    config = json.loads(members["config.json"])
    change(config)
    members = dict(members, **{"config.json": json.dumps(config)})
    return write_zip(tmp_path / "crafted.keras", members)


def marker_payload(tmp_path):
    marker = tmp_path / "MARKER"
    code = compile(f"open({str(marker)!r}, 'w').close()", "<payload>", "exec")
    return marker, f"__import__('os').system('touch {marker}')", code


def refuse(path, *words):
    with pytest.raises(ModelFileError) as caught:
        load_model(path)
    for word in words:
        assert word in str(caught.value), str(caught.value)
    return str(caught.value)


def test_a_module_named_in_the_config_is_never_imported(base):
    marker, command, _ = marker_payload(base[2])

    def change(config):
        config["config"]["layers"][1] = {
            "module": "os",
            "class_name": "system",
            "config": command,
            "registered_name": None,
        }

    refuse(with_config(base, change), "'config.json'", "module", "'os'")
    assert not marker.exists()


def test_a_lambda_layer_with_bytecode_is_refused(base):
    marker, _, code = marker_payload(base[2])
    blob = base64.b64encode(marshal.dumps(code)).decode()

    def change(config):
        config["config"]["layers"][1] = {
            "module": "keras.layers",
            "class_name": "Lambda",
            "config": {
                "name": "lambda",
                "function": {"class_name": "__lambda__", "config": {"code": blob}},
            },
            "registered_name": None,
        }

    refuse(with_config(base, change), "'Lambda'", "code")
    assert not marker.exists()


def test_enable_unsafe_deserialization_and_safe_mode_are_refused(base):
    def unsafe(config):
        config["config"]["layers"][1]["config"]["kernel_initializer"] = {
            "module": "keras.config",
            "class_name": "function",
            "config": "enable_unsafe_deserialization",
            "registered_name": "function",
        }

    refuse(with_config(base, unsafe), "kernel_initializer")

    def safe_mode(config):
        config["config"]["safe_mode"] = False

    refuse(with_config(base, safe_mode), "safe_mode")


def test_custom_objects_unknown_classes_and_subclassed_models(base):
    def custom(config):
        config["config"]["layers"][2]["registered_name"] = "MyPackage>MyFlatten"

    refuse(with_config(base, custom), "registered_name", "MyPackage>MyFlatten")

    def conv3d(config):
        config["config"]["layers"][1]["class_name"] = "Conv3D"
        config["config"]["layers"][1]["config"]["name"] = "conv3d"

    message = refuse(with_config(base, conv3d), "Keras layer 'Conv3D' (layer 'conv3d') is not")
    assert "supported: " in message and "Conv2D" in message

    def subclassed(config):
        config["class_name"] = "MyModel"

    refuse(with_config(base, subclassed), "'MyModel'")


def test_a_keras_field_without_counterpart_is_refused_not_dropped(base):
    def regularized(config):
        config["config"]["layers"][3]["config"]["kernel_regularizer"] = {
            "module": "keras.regularizers",
            "class_name": "L2",
            "config": {"l2": 0.01},
        }

    refuse(with_config(base, regularized), "layer 'dense'", "'kernel_regularizer'")

    def bfloat(config):
        config["config"]["layers"][1]["config"]["dtype"] = "bfloat16"

    refuse(with_config(base, bfloat), "'dtype'", "bfloat16")


def test_path_traversal_and_zip_bombs_are_refused_before_extracting(base):
    _, members, tmp_path = base
    (tmp_path / "inner").mkdir()
    path = write_zip(tmp_path / "inner" / "t.keras", dict(members, **{"../evil.txt": b"x"}))
    refuse(path, "'../evil.txt'")
    assert not (tmp_path / "evil.txt").exists()
    bomb = dict(members, **{"model.weights.h5": b"\0" * (64 * 2**20)})
    refuse(write_zip(tmp_path / "bomb.keras", bomb, zipfile.ZIP_DEFLATED), "zip bomb")


def weights_file(members):
    return h5py.File(io.BytesIO(members["model.weights.h5"]), "r")


def with_weights(base, change):
    _, members, tmp_path = base
    buffer = io.BytesIO(members["model.weights.h5"])
    with h5py.File(buffer, "a") as h5:
        change(h5, tmp_path)
    members = dict(members, **{"model.weights.h5": buffer.getvalue()})
    return write_zip(tmp_path / "crafted.keras", members)


def test_hdf5_links_shapes_and_dtypes_are_checked(base):
    def external(h5, tmp_path):
        del h5["layers/conv2d/vars/0"]
        h5["layers/conv2d/vars/0"] = h5py.ExternalLink(str(tmp_path / "other.h5"), "/data")

    refuse(with_weights(base, external), "/layers/conv2d/vars/0", "ExternalLink")

    def reshaped(h5, tmp_path):
        del h5["layers/dense/vars/0"]
        h5["layers/dense/vars/0"] = np.zeros((7, 3), np.float32)

    refuse(with_weights(base, reshaped), "layer 'dense'", "(7, 3)", "(32, 3)")

    def bfloat(h5, tmp_path):
        h5["layers/dense/vars/1"].attrs["dtype"] = "bfloat16"

    refuse(with_weights(base, bfloat), "bfloat16")


def test_a_legacy_h5_with_a_lambda_is_refused(tmp_path):
    marker, _, code = marker_payload(tmp_path)
    config = {
        "class_name": "Sequential",
        "config": {
            "name": "s",
            "layers": [
                {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 3]}},
                {
                    "class_name": "Lambda",
                    "config": {
                        "name": "l",
                        "function": base64.b64encode(marshal.dumps(code)).decode(),
                    },
                },
            ],
        },
    }
    with h5py.File(tmp_path / "l.h5", "w") as h5:
        h5.attrs["model_config"] = json.dumps(config)
        h5.create_group("model_weights").attrs["layer_names"] = []
    refuse(tmp_path / "l.h5", "'Lambda'")
    assert not marker.exists()


def residual_model():
    from striate.layers import add

    x = Input((6, 6, 1), name="input_1")
    y = Conv2D(1, 3, padding="same", name="conv2d")(x)
    z = Dense(3, name="dense")(Flatten(name="flatten")(add([y, x], name="add")))
    return striate.Model(x, z, name="model")


def keras2_layer(layer):
    config = layer.get_config()
    config["dtype"] = "float32"
    if "kernel_initializer" in config:
        config["kernel_initializer"] = {"class_name": "GlorotUniform", "config": {"seed": None}}
    if type(layer).__name__ == "InputLayer":
        config = {
            "batch_input_shape": [None, 6, 6, 1],
            "dtype": "float32",
            "sparse": False,
            "ragged": False,
            "name": layer.name,
        }
    return {"class_name": type(layer).__name__, "config": config, "name": layer.name}


def keras2_file(path, model, functional):
    """Keras 2 / tf.keras's layout (`model_weights/conv2d/conv2d/kernel:0`, inbound nodes as
    `[[name, node, tensor, kwargs]]`), written with h5py as Keras 2's legacy_h5_format.py did."""
    layers = [keras2_layer(layer) for layer in model.layers]
    if functional:
        config = model.get_config()
        for entry, mine in zip(layers, config["layers"]):
            entry["inbound_nodes"] = []
            for node in mine["inbound_nodes"]:
                args = node["args"][0]
                args = args if isinstance(args, list) else [args]
                entry["inbound_nodes"].append([t["config"]["keras_history"] + [{}] for t in args])
        model_config = {
            "name": "model",
            "layers": layers,
            "input_layers": [["input_1", 0, 0]],
            "output_layers": [["dense", 0, 0]],
        }
        document = {"class_name": "Functional", "config": model_config}
    else:
        layers.insert(0, keras2_layer(Input((6, 6, 1), name="input_1").node.layer))
        document = {"class_name": "Sequential", "config": {"name": "sequential", "layers": layers}}
    with h5py.File(path, "w") as h5:
        h5.attrs["keras_version"] = "2.13.1"
        h5.attrs["backend"] = "tensorflow"
        h5.attrs["model_config"] = json.dumps(document)
        weights = h5.create_group("model_weights")
        weights.attrs["layer_names"] = [layer.name.encode() for layer in model.layers]
        for layer in model.layers:
            group = weights.create_group(layer.name)
            names = [f"{layer.name}/{w.name.split('/')[-1]}:0" for w in layer.weights]
            group.attrs["weight_names"] = [n.encode() for n in names]
            for name, w in zip(names, layer.weights):
                group.create_dataset(name, data=w.data)


@pytest.mark.parametrize("make", [small_model, residual_model])
def test_a_keras2_h5_file_is_read_in_its_own_layout(tmp_path, make):
    model = make()
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(size=w.shape).astype("float32") for w in model.get_weights()])
    keras2_file(tmp_path / "k2.h5", model, functional=make is residual_model)
    loaded = load_model(tmp_path / "k2.h5")
    x = rng.uniform(size=(4, 6, 6, 1)).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    fresh = make()
    fresh.load_weights(tmp_path / "k2.h5")
    np.testing.assert_allclose(fresh.predict(x, verbose=0), model.predict(x, verbose=0))


def test_writing_legacy_h5_is_refused_clearly(tmp_path):
    with pytest.raises(ValueError, match="does not write legacy .h5"):
        small_model().save(tmp_path / "m.h5")
    assert not (tmp_path / "m.h5").exists()


def test_keras_files_round_trip_in_striate(base):
    model, _, tmp_path = base
    x = np.random.default_rng(1).uniform(size=(3, 6, 6, 1)).astype("float32")
    np.testing.assert_allclose(
        load_model(tmp_path / "base.keras").predict(x, verbose=0), model.predict(x, verbose=0)
    )
    model.save_weights(tmp_path / "w.weights.h5")
    fresh = small_model()
    fresh.load_weights(tmp_path / "w.weights.h5")
    np.testing.assert_allclose(fresh.predict(x, verbose=0), model.predict(x, verbose=0))


def test_import_striate_never_imports_h5py_or_onnx():
    code = "import sys, striate; print(sorted({'h5py', 'onnx'} & set(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)),
    )
    assert out.stdout.strip() == "[]", out.stderr


def test_missing_extras_name_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "h5py", None)
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r"pip install 'striate\[keras\]'"):
        small_model().save(tmp_path / "m.keras")
    with pytest.raises(ImportError, match=r"pip install 'striate\[onnx\]'"):
        striate.export.onnx(small_model(), tmp_path / "m.onnx")


def test_striate_metadata_travels_in_metadata_json_and_is_checked(base):
    model, members, tmp_path = base
    model.metadata = {"class_names": ["a", "b", "c"]}
    model.save(tmp_path / "meta.keras")
    assert load_model(tmp_path / "meta.keras").metadata == {"class_names": ["a", "b", "c"]}
    bad = json.loads(members["metadata.json"])
    bad["striate_metadata"] = {"class_names": ["only one"]}
    path = write_zip(tmp_path / "bad.keras", dict(members, **{"metadata.json": json.dumps(bad)}))
    refuse(path, "'metadata.json'", "striate_metadata")
