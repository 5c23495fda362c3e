"""Reading a model file's parts, each checked before it is used: its format, its layers' configs,
its weights against the model's layers, the compile settings and optimizer state, the random
generators' states. Any failure is a ModelFileError naming the file and the member or field."""

import os

from striate import backend
from striate import losses as losses_module
from striate import optimizers as optimizers_module
from striate.model_archive import ModelFileError, crafted, read_array
from striate.models import graph_config
from striate.saving.architecture import REGISTER, generators
from striate.saving.registry import ClassNotFoundError

MODEL_FORMAT = "striate.model"
WEIGHTS_FORMAT = "striate.weights"
FORMAT_VERSION = 1
DTYPES = ("float32", "float64")
SAME_ARCHITECTURE = "Build the same architecture the weights were saved from."


def check_format(filepath, document, *formats):
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


def field(path, mapping, key, kind):
    value = mapping.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise crafted(
            path, f"the field {key!r} should be a {kind.__name__}. Received: {value!r:.80}."
        )
    return value


def layer_from_config(path, index, entry, get_class):
    if (
        not isinstance(entry, dict)
        or not isinstance(entry.get("class_name"), str)
        or not isinstance(entry.get("config"), dict)
    ):
        raise crafted(path, f"layer {index} should be {{'class_name': str, 'config': {{...}}}}.")
    class_name, config = entry["class_name"], entry["config"]
    if "module" in entry:
        raise ModelFileError(
            path,
            f"layer {index} ({class_name}) names the module {entry['module']!r:.80}; striate "
            f"finds classes by name only and never imports a module a file names.",
            REGISTER,
        )
    try:
        get_class(entry.get("registered_name") or class_name)  # known, or how to register it
    except ClassNotFoundError as error:
        raise ModelFileError(path, f"cannot be loaded: layer {index}: {error}") from None
    if config.get("dtype", "float32") not in DTYPES:
        raise crafted(
            path,
            f"layer {index} ({class_name}): dtype {config.get('dtype')!r} is not one of {DTYPES}.",
        )
    try:
        return graph_config.layer_from_config(entry, get_class)
    except ClassNotFoundError as error:  # inside a nested model
        raise ModelFileError(path, f"cannot be loaded: layer {index}: {error}") from None
    except (TypeError, ValueError, KeyError, OverflowError, MemoryError) as error:
        raise crafted(path, f"layer {index} ({class_name}) has a bad config: {error}") from None


def read_weights(path, archive, document, model, exact_names):
    """The file's weight arrays, after checking its manifest against the model's layers."""
    theirs = field(path, document, "weights", list)
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
            SAME_ARCHITECTURE,
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
                SAME_ARCHITECTURE,
            )
    shapes = [tuple(w.data.shape) for w in model.weights]
    return [
        read_array(path, archive, f"weights/{i:05d}.npy", shape, "f")
        for i, shape in enumerate(shapes)
    ]


def restore_compile(path, archive, document, model, section):
    def metric(entry):  # a name, or a configured Metric object (by registered class only)
        return isinstance(entry, str) or (
            isinstance(entry, dict)
            and set(entry) == {"class_name", "config"}
            and isinstance(entry["config"], dict)
        )

    if (
        not isinstance(section, dict)
        or not isinstance(section.get("metrics"), list)
        or not all(metric(m) for m in section["metrics"])
    ):
        raise crafted(
            path,
            "'compile' should be {'optimizer', 'loss', 'metrics': [str] (or a metric's "
            "{'class_name', 'config'})}.",
        )
    optimizer, loss = field(path, section, "optimizer", dict), field(path, section, "loss", dict)
    try:  # by registered name only: an unknown class_name is an error, never an import
        optimizer, loss = optimizers_module.get(optimizer), losses_module.get(loss)
        model.compile(optimizer=optimizer, loss=loss, metrics=section["metrics"])
    except (TypeError, ValueError, KeyError, AttributeError) as error:
        raise crafted(path, f"its compile settings cannot be restored: {error}") from None
    state = field(path, document, "optimizer_state", dict)
    count = field(path, state, "count", int)
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


def restore_rng(path, document, model):
    """Put the shared generator (and seeded layers' own) back where they were at save time."""
    section = field(path, document, "rng", dict)
    states = [(backend.rng(), section.get("backend"))]
    layer_states = field(path, section, "layers", dict)
    holders = generators(model)  # every layer inside with its own generator, in order
    if not all(layer.name in layer_states for layer in holders) and len(holders) == len(
        layer_states
    ):  # a subclassed model's layers get new names when it is made again: pair them in order
        layer_states = dict(zip([layer.name for layer in holders], layer_states.values()))
    for layer in holders:
        if layer.name in layer_states:
            states.append((layer.generator, layer_states[layer.name]))
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
