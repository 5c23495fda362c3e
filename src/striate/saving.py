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

MODEL_FORMAT = "striate.model"
WEIGHTS_FORMAT = "striate.weights"
FORMAT_VERSION = 1
_DTYPES = ("float32", "float64")
_SAME_ARCHITECTURE = "Build the same architecture the weights were saved from."


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
            layer.name: layer._rng.bit_generator.state
            for layer in model.layers
            if isinstance(getattr(layer, "_rng", None), np.random.Generator)
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
        _check_format(filepath, document, MODEL_FORMAT)
        path = os.fspath(filepath)
        config = _field(path, document, "model", dict)
        if config.get("class_name") != "Sequential":
            raise crafted(
                path, f"the model class {config.get('class_name')!r} is not 'Sequential'."
            )
        config = _field(path, config, "config", dict)
        name = _field(path, config, "name", str)
        input_shape = _field(path, config, "input_shape", list)
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
        for index, entry in enumerate(_field(path, config, "layers", list)):
            layers.append(_layer_from_config(path, index, entry))
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
        model.set_weights(_read_weights(path, archive, document, model, exact_names=True))
        metadata = document.get("metadata") or {}
        try:
            check_metadata(metadata, model.input_shape[1:], model.output_shape[-1])
        except ValueError as error:
            raise crafted(path, str(error)) from None
        model.metadata = metadata
        section = document.get("compile")
        if compile and section is not None:
            _restore_compile(path, archive, document, model, section)
            _restore_rng(path, document, model)
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
        _check_format(filepath, document, WEIGHTS_FORMAT, MODEL_FORMAT)
        arrays = _read_weights(os.fspath(filepath), archive, document, model, exact_names=False)
    model.set_weights(arrays)


def _check_format(filepath, document, *formats):
    path = os.fspath(filepath)
    found = document.get("format")
    if found not in formats:
        raise ModelFileError(
            path,
            f"has format {found!r}; expected {' or '.join(formats)}.",
            "A weights file is read with model.load_weights(path); a model file "
            "with load_model(path) or load_weights.",
        )
    version = document.get("format_version")
    if type(version) is not int or version < 1:
        raise crafted(path, f"format_version {version!r} is not a positive int.")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            path,
            f"uses format version {version}, newer than this striate "
            f"reads (up to {FORMAT_VERSION}; it was written by striate "
            f"{document.get('striate_version')}).",
            "Upgrade striate (pip install -U striate).",
        )


def _field(path, mapping, key, kind):
    value = mapping.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise crafted(
            path, f"the field {key!r} should be a {kind.__name__}. Received: {value!r:.80}."
        )
    return value


def _layer_from_config(path, index, entry):
    if (
        not isinstance(entry, dict)
        or not isinstance(entry.get("class_name"), str)
        or not isinstance(entry.get("config"), dict)
    ):
        raise crafted(path, f"layer {index} should be {{'class_name': str, 'config': {{...}}}}.")
    class_name, config = entry["class_name"], entry["config"]
    try:
        cls = layers_module.get(class_name)
    except ValueError as error:
        raise crafted(path, f"layer {index}: {error}") from None
    if config.get("dtype", "float32") not in _DTYPES:
        raise crafted(
            path,
            f"layer {index} ({class_name}): dtype {config.get('dtype')!r} is not one of {_DTYPES}.",
        )
    try:
        return cls.from_config(config)
    except (TypeError, ValueError, KeyError, OverflowError, MemoryError) as error:
        raise crafted(path, f"layer {index} ({class_name}) has a bad config: {error}") from None


def _read_weights(path, archive, document, model, exact_names):
    """The file's weight arrays, after checking its manifest against the model's layers."""
    theirs = _field(path, document, "weights", list)
    mine = [layer for layer in model.layers if layer.weights]
    if not all(
        isinstance(e, dict)
        and isinstance(e.get("arrays"), list)
        and all(isinstance(a, dict) and isinstance(a.get("shape"), list) for a in e["arrays"])
        for e in theirs
    ):
        raise crafted(
            path,
            "'weights' should list {'layer', 'class_name', 'arrays': "
            "[{'name', 'shape', 'dtype'}]}.",
        )

    def describe(name, class_name, shapes):
        return f"{name!r} ({class_name}) with shapes {[tuple(s) for s in shapes]}"

    if len(theirs) != len(mine):
        raise ModelFileError(
            path,
            f"holds weights for {len(theirs)} layers "
            f"{[e.get('layer') for e in theirs]}, but the model has "
            f"{len(mine)} layers with weights "
            f"{[layer.name for layer in mine]}.",
            _SAME_ARCHITECTURE,
        )
    for position, (layer, entry) in enumerate(zip(mine, theirs)):
        shapes = [a["shape"] for a in entry["arrays"]]
        expected = [list(w.data.shape) for w in layer.weights]
        names_differ = exact_names and entry.get("layer") != layer.name
        if entry.get("class_name") != type(layer).__name__ or shapes != expected or names_differ:
            raise ModelFileError(
                path,
                f"layer {position} with weights in the file, "
                f"{describe(entry.get('layer'), entry.get('class_name'), shapes)}, does "
                f"not match the model's "
                f"{describe(layer.name, type(layer).__name__, expected)}.",
                _SAME_ARCHITECTURE,
            )
    shapes = [tuple(w.data.shape) for w in model.weights]
    return [
        read_array(path, archive, f"weights/{i:05d}.npy", shape, "f")
        for i, shape in enumerate(shapes)
    ]


def _restore_compile(path, archive, document, model, section):
    if (
        not isinstance(section, dict)
        or not isinstance(section.get("metrics"), list)
        or not all(isinstance(m, str) for m in section["metrics"])
    ):
        raise crafted(path, "'compile' should be {'optimizer', 'loss', 'metrics': [str]}.")
    optimizer, loss = _field(path, section, "optimizer", dict), _field(path, section, "loss", dict)
    try:  # by registered name only: an unknown class_name is an error, never an import
        optimizer, loss = optimizers_module.get(optimizer), losses_module.get(loss)
        model.compile(optimizer=optimizer, loss=loss, metrics=section["metrics"])
    except (TypeError, ValueError, KeyError, AttributeError) as error:
        raise crafted(path, f"its compile settings cannot be restored: {error}") from None
    state = _field(path, document, "optimizer_state", dict)
    count = _field(path, state, "count", int)
    if state.get("slot_names") != list(optimizer.slot_names):
        raise crafted(
            path,
            f"optimizer slots {state.get('slot_names')!r} are not {list(optimizer.slot_names)!r}.",
        )
    variables = model.trainable_weights
    if count not in (1, 1 + len(optimizer.slot_names) * len(variables)):
        raise crafted(
            path,
            f"the optimizer state has {count} arrays; expected 1 or "
            f"{1 + len(optimizer.slot_names) * len(variables)}.",
        )
    shapes = [()] + [w.data.shape for _ in optimizer.slot_names for w in variables][: count - 1]
    arrays = [
        read_array(path, archive, f"optimizer/{i:05d}.npy", shape, "iu" if i == 0 else "f")
        for i, shape in enumerate(shapes)
    ]
    if int(arrays[0]) < 0:
        raise crafted(path, f"the optimizer's iterations {int(arrays[0])} is negative.")
    optimizer.set_state(arrays)


def _restore_rng(path, document, model):
    """Put the shared generator (and seeded layers' own) back where they were at save time."""
    section = _field(path, document, "rng", dict)
    states = [(backend.rng(), section.get("backend"))]
    layer_states = _field(path, section, "layers", dict)
    for layer in model.layers:
        if layer.name in layer_states and isinstance(
            getattr(layer, "_rng", None), np.random.Generator
        ):
            states.append((layer._rng, layer_states[layer.name]))
    for generator, state in states:  # check every state on a scratch generator first
        kind = type(generator.bit_generator)
        if not isinstance(state, dict) or state.get("bit_generator") != kind.__name__:
            raise crafted(path, f"a random-generator state is not a {kind.__name__} state.")
        try:
            kind().state = state
        except (TypeError, ValueError, KeyError, OverflowError) as error:
            raise crafted(path, f"a random-generator state is invalid: {error}") from None
    for generator, state in states:
        generator.bit_generator.state = state


models.register_tool("save_model", save_model)
models.register_tool("save_weights", save_weights)
models.register_tool("load_weights", load_weights)
models.register_tool("load_model", load_model)
