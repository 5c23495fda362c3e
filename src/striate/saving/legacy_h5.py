"""Legacy Keras `.h5` files (Keras 2, tf.keras, and Keras 3's `model.save("x.h5")`): a whole
model (root attribute `model_config`, weights under `model_weights/`) or a weights-only file
(`layer_names` on the root). Read only: striate does not write `.h5` models (save to `.keras`,
or `save_weights("x.weights.h5")` for weights Keras 3 reads).

Weights are matched as Keras's own legacy loader does: the layers that have weights, in order,
each group's `weight_names` attribute giving its arrays in order (`conv2d/kernel:0` in Keras 2,
`sequential/conv2d/kernel` in Keras 3), every shape checked against the layer's."""

import os

from striate.model_archive import MAX_JSON_BYTES, ModelFileError, _parse_json
from striate.saving.keras_config import model_from_keras
from striate.saving.keras_file import check_links, h5py_module, keras_ordered_weights, read_dataset

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
NOT_WRITTEN = (
    "striate does not write legacy .h5 model files (Keras itself calls them legacy). Save to "
    "'.keras' for Keras 3, '.striate' for striate, or save_weights('x.weights.h5')."
)


def is_hdf5(path):
    try:
        with open(path, "rb") as file:
            return file.read(8) == HDF5_MAGIC
    except OSError:
        return False


def open_h5(path):
    h5py = h5py_module()
    try:
        return h5py.File(path, "r")
    except (OSError, ValueError) as error:
        raise ModelFileError(
            path, f"is an HDF5 file (a Keras .h5 model?) that cannot be read ({error})."
        ) from None


def load_h5_model(filepath):
    """The model in a legacy whole-model `.h5` file."""
    path = os.fspath(filepath)
    with open_h5(path) as h5:
        check_links(path, h5)
        text = h5.attrs.get("model_config")
        if text is None:
            raise ModelFileError(
                path,
                "is an HDF5 file without a 'model_config' attribute: a weights file, not a model.",
                "Build the model in striate and call model.load_weights(path).",
            )
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        if not isinstance(text, str) or len(text) > MAX_JSON_BYTES:
            raise ModelFileError(path, "attribute 'model_config' is not a JSON text.")
        document = _parse_json(path, text.encode("utf-8"))
        model = model_from_keras(path, "model_config", document)
        if "model_weights" not in h5:
            raise ModelFileError(path, "group 'model_weights' is missing.")
        read_legacy_weights(path, h5["model_weights"], model)
    model.metadata = {}
    return model


def load_h5_weights(model, filepath):
    """`load_weights` of a legacy weights file (or the weights of a whole-model file)."""
    path = os.fspath(filepath)
    with open_h5(path) as h5:
        check_links(path, h5)
        group = h5["model_weights"] if "model_weights" in h5 else h5
        read_legacy_weights(path, group, model)


def _strings(path, group, name):
    values = group.attrs.get(name)
    if values is None:
        raise ModelFileError(path, f"{group.name!r} has no {name!r} attribute.")
    out = [v.decode("utf-8") if isinstance(v, bytes) else v for v in list(values)]
    if not all(isinstance(v, str) for v in out):
        raise ModelFileError(path, f"{group.name!r} attribute {name!r} is not a list of strings.")
    return out


def read_legacy_weights(path, group, model):
    h5py = h5py_module()
    stored = []
    for name in _strings(path, group, "layer_names"):
        layer_group = group.get(name)
        if not isinstance(layer_group, h5py.Group):
            raise ModelFileError(path, f"group {group.name}/{name} is missing.")
        weight_names = _strings(path, layer_group, "weight_names")
        if weight_names:
            stored.append((name, layer_group, weight_names))
    mine = [layer for layer in model.layers if layer.weights]
    for layer in mine:
        if layer.held_layers():
            raise ModelFileError(path, f"layer {layer.name!r} is a nested model; not supported.")
    if len(stored) != len(mine):
        raise ModelFileError(
            path,
            f"holds weights for {len(stored)} layers {[s[0] for s in stored]}, but the model "
            f"has {len(mine)} layers with weights {[layer.name for layer in mine]}.",
            "Build the same architecture the weights were saved from.",
        )
    arrays = []
    for layer, (name, layer_group, weight_names) in zip(mine, stored):
        expected = keras_ordered_weights(layer)
        if len(weight_names) != len(expected):
            raise ModelFileError(
                path,
                f"layer group {name!r} holds {len(weight_names)} arrays but layer "
                f"{layer.name!r} ({type(layer).__name__}) has {len(expected)}.",
            )
        for weight_name, weight in zip(weight_names, expected):
            arrays.append((weight, read_dataset(path, layer_group, weight_name, weight, layer, "")))
    for weight, array in arrays:
        weight.data[...] = array
