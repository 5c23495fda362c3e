"""Model files: one zip holding the architecture, the weights, the compile settings and the
training state, so a loaded model predicts identically and `fit` resumes where it stopped.

A file is a plain zip (it opens with `unzip`, or `np.load` as an .npz) with these members:

    model.json            what the arrays are, as JSON (below)
    weights/00000.npy     the weights in `model.get_weights()` order (kernel then bias, ...)
    optimizer/00000.npy   the optimizer state in `optimizer.state_arrays()` order (iterations first)

model.json: {"format": "striate.model" | "striate.weights", "format_version": 1,
"striate_version": "0.1.0", "weights": [{"layer": name, "class_name": ..., "arrays":
[{"name", "shape", "dtype"}]}, ...] (layers that have weights), and in model files also
"model": {"class_name": "Sequential", "config": {"name", "input_shape", "layers": [{"class_name",
"config"}]}}, "compile": {"optimizer", "loss", "metrics"} or null, "optimizer_state":
{"slot_names", "count"} or null, "rng": {"backend": bit generator state, "layers": {name: state}}}.

Nothing is pickled and nothing in a file is executed: layers come from `striate.layers.get`,
everything else from the registries by name, and every array is checked before it is read.
Reading is bounded by the file's size and named limits, checked before anything is inflated,
parsed or allocated (`model_archive.MAX_*`, `model_schema.MAX_INPUT_VALUES`, weights no bigger
than the file holds), and `metadata` follows the schema of `striate.model_schema`; any failure
is a ModelFileError naming the file and the member or field.
"""

import json
import os
import warnings

import numpy as np

from striate import backend, models
from striate import layers as layers_module
from striate import losses as losses_module
from striate import metrics as metrics_module
from striate import optimizers as optimizers_module
from striate.layers.base import weight_budget
from striate.model_archive import (  # noqa: F401 (ModelFileError is part of this API)
    JSON_MEMBER,
    ModelFileError,
    crafted,
    open_archive,
    read_array,
    write_archive,
)
from striate.model_schema import check_input_shape, check_metadata, check_name
from striate.saving.reading import (
    FORMAT_VERSION,
    MODEL_FORMAT,
    WEIGHTS_FORMAT,
    check_format,
    field,
    layer_from_config,
    read_weights,
    restore_compile,
    restore_rng,
)


# -- saving ----------------------------------------------------------------------------------
def save_model(model, filepath, overwrite=True):
    """Write `model` (architecture, weights, compile settings, optimizer and random state).

    Args:
        model: a built Sequential.
        filepath: where to write, e.g. "digits.striate"; replaced atomically.
        overwrite: when False, an existing file is an error.

    >>> from striate.layers import Dense
    >>> from striate.models import Sequential, load_model
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "tiny.striate")
    >>> Sequential([Dense(2, input_shape=(3,))]).save(path)
    >>> load_model(path).output_shape
    (None, 2)
    """
    _check_built(model, "save")
    document = _header(
        MODEL_FORMAT,
        model,
        {
            "class_name": "Sequential",
            "config": {
                "name": model.name,
                "input_shape": list(model.input_shape),
                "layers": [
                    {"class_name": type(layer).__name__, "config": layer.get_config()}
                    for layer in model.layers
                ],
            },
        },
    )
    document["compile"] = _compile_section(model)
    document["metadata"] = _json_safe_metadata(model)
    arrays = {f"weights/{i:05d}.npy": a for i, a in enumerate(model.get_weights())}
    document["optimizer_state"] = None
    if document["compile"] is not None:
        state = model.optimizer.state_arrays()
        document["optimizer_state"] = {
            "slot_names": list(model.optimizer.slot_names),
            "count": len(state),
        }
        arrays.update({f"optimizer/{i:05d}.npy": a for i, a in enumerate(state)})
    document["rng"] = {
        "backend": backend.rng().bit_generator.state,
        "layers": {
            layer.name: layer.generator.bit_generator.state
            for layer in model.layers
            if isinstance(getattr(layer, "generator", None), np.random.Generator)
        },
    }
    write_archive(filepath, document, arrays, overwrite)


def save_weights(model, filepath, overwrite=True):
    """Write only the weights, with each layer's name, class and shapes for checking on load."""
    _check_built(model, "save_weights")
    arrays = {f"weights/{i:05d}.npy": a for i, a in enumerate(model.get_weights())}
    write_archive(filepath, _header(WEIGHTS_FORMAT, model), arrays, overwrite)


def _check_built(model, where):
    if not model.layers or not model.built:
        raise ValueError(
            f"{where}: Sequential '{model.name}' is not built, so it has no weights to save. "
            f"Give the first layer input_shape=..., call model.build((None, ...)), or fit it "
            f"first."
        )


def _header(file_format, model, architecture=None):
    from striate import __version__

    document = {
        "format": file_format,
        "format_version": FORMAT_VERSION,
        "striate_version": __version__,
        "model": architecture,
    }
    if architecture is None:
        del document["model"]
    document["weights"] = [
        {
            "layer": layer.name,
            "class_name": type(layer).__name__,
            "arrays": [
                {"name": w.name, "shape": list(w.data.shape), "dtype": str(w.data.dtype)}
                for w in layer.weights
            ],
        }
        for layer in model.layers
        if layer.weights
    ]
    return document


def _compile_section(model):
    """The compile settings by registered name, or None (with a warning) if any is custom."""
    if not model.compiled:
        return None
    metrics, custom = [], None
    for module, part in ((optimizers_module, model.optimizer), (losses_module, model.loss)):
        try:
            if type(module.get(module.serialize(part))) is not type(part):
                custom = custom or part
        except (TypeError, ValueError, KeyError):
            custom = custom or part
    for identifier in getattr(model, "_metric_identifiers", []):
        if callable(identifier):
            names = [k for k, f in metrics_module._BY_NAME.items() if f is identifier]
            custom = custom or (None if names else identifier)
            identifier = names[0] if names else None
        metrics.append(identifier)
    if custom is not None:
        warnings.warn(
            f"save: {custom!r} is not a registered name, so the file keeps the "
            f"architecture and weights but not the compile settings and optimizer "
            f"state. Call compile() again after loading.",
            UserWarning,
            stacklevel=4,
        )
        return None
    return {
        "optimizer": optimizers_module.serialize(model.optimizer),
        "loss": losses_module.serialize(model.loss),
        "metrics": metrics,
    }


# -- loading ---------------------------------------------------------------------------------
def load_model(filepath, compile=True):
    """The Sequential written by `model.save(filepath)`: same layers and weights and, with
    `compile=True`, the compile settings, the optimizer state and the random generators' state
    (the shared one included), so `fit` continues exactly where it stopped."""
    with open_archive(filepath) as (archive, document):
        check_format(filepath, document, MODEL_FORMAT)
        path = os.fspath(filepath)
        config = field(path, document, "model", dict)
        if config.get("class_name") != "Sequential":
            raise crafted(
                path, f"the model class {config.get('class_name')!r} is not 'Sequential'."
            )
        config = field(path, config, "config", dict)
        name = field(path, config, "name", str)
        input_shape = field(path, config, "input_shape", list)
        batch = input_shape[0] if input_shape else 0
        if (
            len(input_shape) < 2
            or any(type(d) is not int or d <= 0 for d in input_shape[1:])
            or not (batch is None or (type(batch) is int and batch > 0))
        ):
            raise crafted(
                path,
                f"input_shape {input_shape!r:.80} is not a list of positive ints "
                f"after the batch axis (null).",
            )
        try:
            check_input_shape(input_shape[1:], "the model")
        except ValueError as error:
            raise crafted(path, str(error)) from None
        layers = []
        for index, entry in enumerate(field(path, config, "layers", list)):
            layers.append(layer_from_config(path, index, entry))
        if len({layer.dtype for layer in layers}) > 1:
            raise crafted(
                path,
                f"its layers mix dtypes {sorted({x.dtype for x in layers})}; a "
                f"model computes in one.",
            )
        stored = sum(i.file_size for i in archive.infolist() if i.filename.startswith("weights/"))
        try:  # never allocate more weights than the file can hold (2 bytes a value at least)
            with weight_budget(stored // 2, f"the {stored} bytes of weights its file holds"):
                model = models.Sequential(
                    [
                        layers_module.InputLayer(
                            batch_input_shape=tuple(input_shape), name="input_layer"
                        )
                    ]
                    + layers,
                    name=name,
                )
                model.build()
        except (TypeError, ValueError, OverflowError, MemoryError) as error:
            raise crafted(path, f"its layers cannot be assembled: {error}") from None
        try:
            for index, layer in enumerate(model.layers):
                check_name(layer.name, f"the name of layer {index}")
            check_name(model.name, "the model's name")
        except ValueError as error:
            raise crafted(path, str(error)) from None
        model.set_weights(read_weights(path, archive, document, model, exact_names=True))
        metadata = document.get("metadata") or {}
        try:
            check_metadata(metadata, model.input_shape[1:], model.output_shape[-1])
        except ValueError as error:
            raise crafted(path, str(error)) from None
        model.metadata = metadata
        section = document.get("compile")
        if compile and section is not None:
            restore_compile(path, archive, document, model, section)
            restore_rng(path, document, model)
    return model


def _json_safe_metadata(model):
    """`model.metadata` (what the model was trained on: dataset, class names, preprocessing)."""
    metadata = getattr(model, "metadata", None) or {}
    try:
        json.dumps(metadata, allow_nan=False)
    except (TypeError, ValueError):
        raise ValueError(
            f"save: model.metadata must hold only JSON values (str, finite number, "
            f"list, dict). Received: {metadata!r:.200}"
        ) from None
    try:
        check_metadata(metadata, model.input_shape[1:], model.output_shape[-1])
    except ValueError as error:
        raise ValueError(f"save: {error}") from None
    return metadata


def load_weights(model, filepath):
    """Set `model`'s weights from a file of `save_weights` or `save`. The file's layers that
    have weights must match the model's, in order, by class and shapes."""
    _check_built(model, "load_weights")
    with open_archive(filepath) as (archive, document):
        check_format(filepath, document, WEIGHTS_FORMAT, MODEL_FORMAT)
        arrays = read_weights(os.fspath(filepath), archive, document, model, exact_names=False)
    model.set_weights(arrays)


models.register_tool("save_model", save_model)
models.register_tool("save_weights", save_weights)
models.register_tool("load_weights", load_weights)
models.register_tool("load_model", load_model)

# Keras's own files (.keras, .weights.h5, legacy .h5) by suffix on write, by content on read.
from striate.saving import formats  # noqa: E402

save_model, save_weights, load_weights, load_model = formats.install(
    save_model, save_weights, load_weights, load_model
)
