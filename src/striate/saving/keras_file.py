"""Keras 3's own files: `.keras` models (a zip of `metadata.json`, `config.json` and
`model.weights.h5`) and `.weights.h5` weights, read and written in Keras 3.15's layout so either
program opens the other's files. Needs h5py (`pip install 'striate[keras]'`).

In `model.weights.h5` a layer's arrays are `layers/<group>/vars/<i>`, where `<group>` is the
snake_case of the layer's *class* with a counter per class in `model.layers` order (never its
name: `conv2d_1` may live in `layers/conv2d`), and `<i>` counts the layer's trainable then
non-trainable variables ("10" sorts before "2" as text: the index is read as an int). Striate's
kernels are Keras's (HWIO, (in, out), NHWC flatten order), so no array is transposed.

Reading is defensive: members are checked before they are inflated, links other than plain
ones (external, soft), external or virtual storage, a non-float dtype (bfloat16 included) and
a shape that disagrees with its layer are each a ModelFileError naming the path inside the file.
"""

import contextlib
import datetime
import io
import json
import os
import re
import tempfile
import zipfile

import numpy as np

from striate.model_archive import (
    MAX_COMPRESSION_RATIO,
    MAX_JSON_BYTES,
    ModelFileError,
    _parse_json,
    read_member,
)
from striate.model_schema import check_metadata
from striate.saving import keras_compile
from striate.saving.keras_config import keras_class_key, keras_model_config, model_from_keras

KERAS_FORMAT_VERSION = "3.15.1"  # the Keras whose layout these files follow (verified)
CONFIG, METADATA, WEIGHTS = "config.json", "metadata.json", "model.weights.h5"
MAX_WEIGHTS_BYTES = 8 * 2**30
_MEMBER = re.compile(r"(config\.json|metadata\.json|model\.weights\.h5|assets/[\w.\-/]+)$")


def h5py_module():
    try:
        import h5py
    except ImportError:
        raise ImportError(
            "Keras .keras and .h5 files need h5py: pip install 'striate[keras]'"
        ) from None
    return h5py


def is_keras_zip(path):
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except Exception:  # any damage is for the loader that claims the file to describe
        return False
    return CONFIG in names and WEIGHTS in names


# -- the .keras zip ----------------------------------------------------------------------------
def load_keras(filepath, compile=True):
    """The striate model in a `.keras` file Keras 3 (or striate) wrote; with `compile=True`
    compiled as the file says, with the optimizer's state (`keras_compile`)."""
    path = os.fspath(filepath)
    h5py_module()
    try:
        with zipfile.ZipFile(path) as archive:
            _check_members(path, archive)
            document = _parse_json(
                path, read_member(path, archive, CONFIG, MAX_JSON_BYTES, "MAX_JSON_BYTES")
            )
            model = model_from_keras(path, CONFIG, document)
            data = read_member(path, archive, WEIGHTS, MAX_WEIGHTS_BYTES, "MAX_WEIGHTS_BYTES")
            facts = {}
            if METADATA in archive.namelist():
                text = read_member(path, archive, METADATA, MAX_JSON_BYTES, "MAX_JSON_BYTES")
                facts = _parse_json(path, text).get("striate_metadata") or {}
    except (zipfile.BadZipFile, EOFError, OSError) as error:
        raise ModelFileError(path, f"is not a readable .keras zip ({error}).") from None
    read_weights_h5(path, io.BytesIO(data), model, WEIGHTS)
    if compile:
        with h5py_module().File(io.BytesIO(data), "r") as h5:
            keras_compile.restore_compile(path, model, document, h5)
    try:  # what a striate model was trained on (class names...), kept beside Keras's facts
        if not isinstance(facts, dict):
            raise TypeError(f"expected a dict. Received: {type(facts).__name__}")
        check_metadata(facts, model.input_shape[1:], model.output_shape[-1])
    except (ValueError, TypeError) as error:
        raise ModelFileError(
            path, f"member {METADATA!r}, field 'striate_metadata': {error}"
        ) from None
    model.metadata = facts
    return model


def _check_members(path, archive):
    infos = archive.infolist()
    if len(infos) > 1000:
        raise ModelFileError(path, f"has {len(infos)} members; a .keras file has a few.")
    for info in infos:
        name = info.filename
        if not _MEMBER.match(name) or ".." in name.split("/"):
            raise ModelFileError(
                path,
                f"member {name!r:.120} is not one a .keras file holds ({CONFIG}, {METADATA}, "
                f"{WEIGHTS}, assets/...); nothing was extracted.",
            )
        if info.flag_bits & 0x1 or info.compress_type not in (
            zipfile.ZIP_STORED,
            zipfile.ZIP_DEFLATED,
        ):
            raise ModelFileError(path, f"member {name!r} is encrypted or oddly compressed.")
        if info.file_size > info.compress_size * MAX_COMPRESSION_RATIO + 2**16:
            raise ModelFileError(
                path,
                f"member {name!r} says it inflates from {info.compress_size} to "
                f"{info.file_size} bytes, over {MAX_COMPRESSION_RATIO} times (a zip bomb?).",
            )


def save_keras(model, filepath, overwrite=True):
    """Write `model` as a `.keras` file that Keras 3's `keras.models.load_model` opens."""
    from striate import __version__

    h5py_module()
    document = keras_model_config(model)
    compiled = keras_compile.compile_config(model)
    if compiled is not None:
        document["compile_config"] = compiled
    metadata = {
        "keras_version": KERAS_FORMAT_VERSION,
        "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
        "written_by": f"striate {__version__}",
        "striate_metadata": getattr(model, "metadata", None) or {},
    }
    buffer = io.BytesIO()
    write_weights_h5(buffer, model, optimizer=compiled is not None)

    def write(file):
        with zipfile.ZipFile(file, "w", zipfile.ZIP_STORED) as archive:
            archive.writestr(METADATA, json.dumps(metadata, allow_nan=False))
            archive.writestr(CONFIG, json.dumps(document, allow_nan=False))
            archive.writestr(WEIGHTS, buffer.getvalue())

    atomic_write(filepath, write, overwrite)


def atomic_write(filepath, write, overwrite):
    """Call `write(file)` on a temporary file beside `filepath`, then os.replace it."""
    path = os.fspath(filepath)
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path) or not os.path.isdir(folder):
        problem = "is a folder." if os.path.isdir(path) else f"{folder!r} does not exist."
        raise ModelFileError(path, problem, "Give a file in an existing folder (os.makedirs).")
    if not overwrite and os.path.exists(path):
        raise ModelFileError(path, "already exists.", "Pass overwrite=True to replace it.")
    handle, temporary = tempfile.mkstemp(
        dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp"
    )
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise


# -- model.weights.h5 --------------------------------------------------------------------------
def keras_ordered_weights(layer):
    """A layer's variables in the order Keras stores them: trainable, then non-trainable."""
    own = list(layer._weights)
    return [w for w in own if w.trainable] + [w for w in own if not w.trainable]


def layer_groups(model):
    """(group name, layer) in `model.layers` order, with Keras's per-class counters."""
    for layer in model.layers:
        if layer.held_layers():
            raise ValueError(
                f"Keras weights files: layer {layer.name!r} holds other layers (a nested "
                f"model); striate reads and writes plain Sequential and functional models "
                f"only. Received: {type(layer).__name__}."
            )
    counts, groups = {}, []
    for layer in model.layers:
        key = keras_class_key(type(layer).__name__)
        groups.append((key if key not in counts else f"{key}_{counts[key]}", layer))
        counts[key] = counts.get(key, 0) + 1
    return groups


def write_weights_h5(file, model, optimizer=False):
    h5py = h5py_module()
    with h5py.File(file, "w") as h5:
        h5.create_group("layers")
        for key, layer in layer_groups(model):
            variables = h5.create_group(f"layers/{key}/vars")
            variables.attrs["name"] = layer.name
            for index, weight in enumerate(keras_ordered_weights(layer)):
                variables.create_dataset(str(index), data=np.asarray(weight.data))
        h5.create_group("vars").attrs["name"] = model.name
        if optimizer:
            keras_compile.write_optimizer(h5, model)


def save_weights_h5(model, filepath, overwrite=True):
    """`model.save_weights("x.weights.h5")`: Keras 3's weights file."""
    atomic_write(filepath, lambda file: write_weights_h5(file, model), overwrite)


def read_weights_h5(path, file, model, member=None):
    """Set `model`'s weights from a Keras 3 weights file (a path or file object)."""
    h5py = h5py_module()
    where = f"member {member!r}, " if member else ""
    try:
        h5 = h5py.File(file, "r")
    except (OSError, ValueError) as error:
        raise ModelFileError(path, f"{where}is not a readable HDF5 file ({error}).") from None
    with h5:
        check_links(path, h5, where)
        root = "layers" if "layers" in h5 else "_layer_checkpoint_dependencies"
        arrays = []
        for key, layer in layer_groups(model):
            expected = keras_ordered_weights(layer)
            name = f"{root}/{key}/vars"
            found = h5.get(name)
            if found is None and not expected:
                continue
            if not isinstance(found, h5py.Group):
                raise ModelFileError(
                    path,
                    f"{where}group {name!r} for layer {layer.name!r} "
                    f"({type(layer).__name__}) is missing.",
                    "Build the same architecture the weights were saved from.",
                )
            names = sorted(found, key=lambda n: int(n) if n.isdigit() else -1)
            if len(names) != len(expected) or any(not n.isdigit() for n in names):
                raise ModelFileError(
                    path,
                    f"{where}{name!r} holds {sorted(found)} but layer {layer.name!r} "
                    f"({type(layer).__name__}) has {len(expected)} variables.",
                    "Build the same architecture the weights were saved from.",
                )
            for index, weight in zip(names, expected):
                arrays.append((weight, read_dataset(path, found, index, weight, layer, where)))
    for weight, array in arrays:
        weight.data[...] = array


def read_dataset(path, group, key, weight, layer, where):
    """One dataset, checked: a plain float array of the weight's shape."""
    h5py = h5py_module()
    dataset = group.get(key)
    name = f"{group.name}/{key}"
    if not isinstance(dataset, h5py.Dataset):
        raise ModelFileError(path, f"{where}{name!r} is not a dataset.")
    dtype_attr = dataset.attrs.get("dtype")
    if dtype_attr is not None or dataset.dtype.kind not in "fiu":  # (Keras's counts are ints)
        raise ModelFileError(
            path,
            f"{where}{name!r} has dtype {dtype_attr or dataset.dtype}; striate reads "
            f"weights of float or int numbers only.",
        )
    if dataset.is_virtual or dataset.external:
        raise ModelFileError(path, f"{where}{name!r} keeps its data outside the file; refused.")
    if tuple(dataset.shape) != tuple(weight.data.shape):
        raise ModelFileError(
            path,
            f"{where}{name!r} has shape {tuple(dataset.shape)} but layer {layer.name!r} "
            f"({type(layer).__name__}) expects {tuple(weight.data.shape)} for {weight.name}.",
            "Build the same architecture the weights were saved from.",
        )
    return np.asarray(dataset[()], dtype=weight.data.dtype)


def check_links(path, h5, where=""):
    """Every link in the file is a plain (hard) one: no external file, no soft redirection."""
    h5py = h5py_module()

    count = [0]

    def visit(group, depth=0):
        if depth > 32 or count[0] > 100_000:
            raise ModelFileError(path, f"{where}its groups nest too deep or too many (a cycle?).")
        for key in group:
            count[0] += 1
            link = group.get(key, getlink=True)
            if not isinstance(link, h5py.HardLink):
                raise ModelFileError(
                    path,
                    f"{where}{group.name.rstrip('/')}/{key} is a {type(link).__name__} "
                    f"(to another file or place); striate reads self-contained files only.",
                )
            item = group.get(key)
            if isinstance(item, h5py.Group):
                visit(item, depth + 1)

    visit(h5)
