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
"config"}]}} (a functional model: "Functional" and Keras 3's config; a subclass: its class and
"registered_name", its `get_config()` and "build_input_shape"), "compile": {"optimizer", "loss",
"metrics": [name or {"class_name", "config"}]} or null, "optimizer_state": {"slot_names",
"count"} or null, "rng": {"backend": bit generator state, "layers": {name: state}}}.

Nothing is pickled and nothing in a file is executed: classes come by name from striate's own,
the user's registrations or `custom_objects` (`striate.saving.registry`), never from a module a
file names; everything else from the registries by name, and every array is checked before it
is read.
Reading is bounded by the file's size and named limits, checked before anything is inflated,
parsed or allocated (`model_archive.MAX_*`, `model_schema.MAX_INPUT_VALUES`, weights no bigger
than the file holds), and `metadata` follows the schema of `striate.model_schema`; any failure
is a ModelFileError naming the file and the member or field.
"""

import json
import os
import warnings

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
from striate.saving.architecture import (
    architecture,
    check_float_layers,
    flat_layers,
    generators,
    load_graph,
    unknown_class,
)
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
from striate.saving.registry import (  # noqa: F401 (the public API of striate.saving)
    ClassNotFoundError,
    class_resolver,
    deserialize_keras_object,
    get_registered_name,
    get_registered_object,
    register_serializable,
    serialize_keras_object,
)


# -- saving ----------------------------------------------------------------------------------
def save_model(model, filepath, overwrite=True):
    """Write `model` (architecture, weights, compile settings, optimizer and random state).

    Args:
        model: a built model: Sequential, functional, or a subclass of Model (made again on
            load from its registered class and `get_config()`).
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
    document = _header(MODEL_FORMAT, model, architecture(model))
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
        "layers": {layer.name: layer.generator.bit_generator.state for layer in generators(model)},
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
            f"{where}: {type(model).__name__} '{model.name}' is not built, so it has no "
            f"weights to save. "
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
            again = module.get(module.serialize(part))
            differs = module is losses_module and _config(again) != _config(part)
            if type(again) is not type(part) or differs:  # a loss keeps its arguments
                custom = custom or part
        except (TypeError, ValueError, KeyError):
            custom = custom or part
    for identifier in getattr(model, "_metric_identifiers", []):
        if isinstance(identifier, metrics_module.Metric):  # a configured one: its config
            metrics.append(_metric_config(identifier))
            custom = custom or (identifier if metrics[-1] is None else None)
            continue
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


def _config(thing):
    return thing.get_config() if hasattr(thing, "get_config") else None


def _metric_config(metric):
    """`{"class_name", "config"}` of a striate Metric that reads back the same, else None."""
    try:
        entry = metrics_module.serialize(metric)
        _, again = metrics_module.get(entry)
    except (TypeError, ValueError, KeyError):
        return None
    same = type(again) is type(metric) and again.get_config() == metric.get_config()
    return entry if same else None


# -- loading ---------------------------------------------------------------------------------
def load_model(filepath, custom_objects=None, compile=True):
    """The model written by `model.save(filepath)` (Sequential, functional or a registered
    subclass): same layers and weights and, with `compile=True`, the compile settings, the
    optimizer state and the random generators' state (the shared one included), so `fit`
    continues exactly where it stopped. `custom_objects` ({name: class}) adds classes to the
    ones a file may name (striate's, and those registered with `register_serializable`)."""
    get_class = class_resolver(custom_objects, "load_model")
    with open_archive(filepath) as (archive, document):
        check_format(filepath, document, MODEL_FORMAT)
        path = os.fspath(filepath)
        config = field(path, document, "model", dict)
        stack = config.get("class_name") == "Sequential" and "registered_name" not in config
        if stack:
            model = _load_sequential(path, archive, config, get_class)
        else:
            model = _load_graph(path, archive, config, get_class)
        try:
            for index, layer in enumerate(flat_layers(model)):
                check_name(layer.name, f"the name of layer {index}")
            check_name(model.name, "the model's name")
        except ValueError as error:
            raise crafted(path, str(error)) from None
        exact = stack or type(model) is models.Functional  # a subclass names its layers anew
        model.set_weights(read_weights(path, archive, document, model, exact_names=exact))
        metadata = document.get("metadata") or {}
        try:
            check_metadata(metadata, *_ends(model))
        except ValueError as error:
            raise crafted(path, str(error)) from None
        model.metadata = metadata
        section = document.get("compile")
        if compile and section is not None:
            restore_compile(path, archive, document, model, section)
            restore_rng(path, document, model)
    return model


def _load_sequential(path, archive, config, get_class):
    """The Sequential of a file's "model" section, its input shape and layers checked."""
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
        layers.append(layer_from_config(path, index, entry, get_class))
    dtypes = {layer.dtype for layer in layers if layer.dtype is not None}  # (a model's: None)
    if len(dtypes) > 1:
        raise crafted(path, f"its layers mix dtypes {sorted(dtypes)}; a model computes in one.")
    stored = sum(i.file_size for i in archive.infolist() if i.filename.startswith("weights/"))
    try:  # never allocate more weights than the file can hold (2 bytes a value at least)
        with weight_budget(stored // 2, f"the {stored} bytes of weights its file holds"):
            model = models.Sequential(
                [layers_module.InputLayer(batch_input_shape=tuple(input_shape), name="input_layer")]
                + layers,
                name=name,
            )
            model.build()
    except (TypeError, ValueError, OverflowError, MemoryError) as error:
        raise crafted(path, f"its layers cannot be assembled: {error}") from None
    return check_float_layers(path, model)


def _load_graph(path, archive, config, get_class):
    """A functional or subclassed model, within the weight budget of the file's size."""
    stored = sum(i.file_size for i in archive.infolist() if i.filename.startswith("weights/"))
    try:
        with weight_budget(stored // 2, f"the {stored} bytes of weights its file holds"):
            return load_graph(path, config, get_class)
    except ClassNotFoundError as error:
        raise unknown_class(path, error) from None
    except ModelFileError:
        raise
    except (TypeError, ValueError, KeyError, OverflowError, MemoryError) as error:
        raise crafted(path, f"its model cannot be assembled: {error}") from None


def _ends(model):
    """(input shape without the batch axis, output units) that `metadata` is checked against;
    a model with several inputs or outputs has none to check class names or images against."""
    inputs, outputs = model.input_shape, model.output_shape
    single = isinstance(inputs, tuple) and all(isinstance(d, (int, type(None))) for d in inputs)
    one_output = isinstance(outputs, tuple) and all(
        isinstance(d, (int, type(None))) for d in outputs
    )
    return (inputs[1:] if single else ()), (outputs[-1] if one_output else 0)


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
        check_metadata(metadata, *_ends(model))
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
