"""Keras 3 model configs (the `config.json` of a `.keras` file, the `model_config` of a legacy
`.h5`) to striate models and back. Read defensively: a config is data, never code. Only the
classes striate has (`striate.layers.get`) and the layer classes the user registered in
striate under the file's registered name (`@striate.saving.register_serializable(package=
"Custom")` for Keras's "Custom>Name": the file's `module` for them is never imported) are made;
a `module` outside Keras's own, a `Lambda`, a function, any other custom object, a `safe_mode`
or `enable_unsafe_deserialization` field, or a Keras field striate has no counterpart for is a
ModelFileError naming the member, the layer and the field, and nothing in the file is imported
or run.

>>> keras_class_key("BatchNormalization"), keras_class_key("PReLU"), keras_class_key("Conv2D")
('batch_normalization', 'p_re_lu', 'conv2d')
"""

import re

from striate import layers as layers_module
from striate.layers.core import InputLayer
from striate.model_archive import ModelFileError
from striate.models import graph_config

# What a `module` field may name: Keras's own packages (an import of anything else is how the
# known code-execution payloads start, CVE-2025-1550 and CVE-2025-9906).
_KERAS_PACKAGES = "layers|initializers|models|optimizers|losses|metrics|regularizers|constraints"
SAFE_MODULES = re.compile(rf"keras(\.src(\.[a-z_0-9]+)*|\.({_KERAS_PACKAGES}))?$")
FORBIDDEN_CLASSES = ("Lambda", "TFOpLambda", "SlicingOpLambda", "function", "__lambda__")
FORBIDDEN_WORDS = ("enable_unsafe_deserialization", "safe_mode")
MODEL_CLASSES = ("Sequential", "Functional", "Model")
DTYPES = ("float32", "float64")

# Keras fields striate has no counterpart for, with the values that mean "not used": anything
# else is refused (naming the field) rather than dropped.
_UNUSED = {
    "data_format": ("channels_last", None),
    "quantization_config": (None,),
    "noise_shape": (None,),
    "renorm": (False,),
    "renorm_clipping": (None,),
    "rms_scaling": (False,),
    "sparse": (False,),
    "ragged": (False,),
    "optional": (False,),
}
_IGNORED = ("renorm_momentum", "synchronized")  # no effect unless renorm / several devices
_NOT_IN_KERAS = {"SpatialDropout2D": ("trainable",)}  # striate's fields Keras's class refuses
_NONE_SUFFIXES = ("_regularizer", "_constraint")
_INITIALIZER_EXTRAS = ("seed", "input_axes", "output_axes")  # must be None


def keras_class_key(class_name):
    """Keras's snake_case of a class name (`naming.to_snake_case`): its weights-file group."""
    name = re.sub(r"\W+", "", class_name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def check_safe(path, member, value, where="config"):
    """Walk the whole config: no foreign module, no code-bearing class, no unsafe switch."""
    if isinstance(value, dict):
        name = value.get("class_name")
        registered = value.get("registered_name")
        user_class = registered not in (None, name, *MODEL_CLASSES) and registered_class(registered)
        module = value.get("module")
        if module is not None and not (isinstance(module, str) and SAFE_MODULES.match(module)):
            if not user_class:  # (a class the user registered: its module is never imported)
                raise _refuse(path, member, f"{where}.module", f"names module {module!r:.80}")
        if name in FORBIDDEN_CLASSES:
            raise _refuse(path, member, f"{where}.class_name", f"is {name!r} (code)")
        if registered is not None and registered not in (name, *MODEL_CLASSES) and not user_class:
            raise _refuse(
                path,
                member,
                f"{where}.registered_name",
                f"names a custom object {registered!r:.80}",
            )
        for key, item in value.items():
            if key in FORBIDDEN_WORDS:
                raise _refuse(path, member, f"{where}.{key}", "asks for unsafe deserialization")
            check_safe(path, member, item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_safe(path, member, item, f"{where}[{index}]")
    elif isinstance(value, str) and any(word in value for word in FORBIDDEN_WORDS):
        raise _refuse(path, member, where, f"holds {value!r:.80}")


def _refuse(path, member, field, problem):
    return ModelFileError(
        path,
        f"member {member!r}, field {field!r} {problem}; striate never imports or runs code "
        f"from a model file.",
        "Rebuild the model from striate's layers and load only its weights.",
    )


def model_from_keras(path, member, document):
    """The striate model a Keras model config describes (layers checked one by one)."""
    check_safe(path, member, document)
    if not isinstance(document, dict) or not isinstance(document.get("config"), dict):
        raise ModelFileError(path, f"member {member!r} is not a Keras model config.")
    kind = document.get("class_name")
    if kind not in MODEL_CLASSES:
        raise ModelFileError(
            path,
            f"member {member!r}: the model class {kind!r:.80} is not one striate reads "
            f"(Sequential or Functional; subclassed models carry code).",
        )
    config = dict(document["config"])
    entries = config.get("layers")
    if not isinstance(entries, list) or not entries:
        raise ModelFileError(path, f"member {member!r}: field 'config.layers' is not a list.")
    axes = {}
    layers = [_layer_entry(path, member, entry, index, axes) for index, entry in enumerate(entries)]
    try:
        if kind == "Sequential":
            model = _sequential(config, layers)
        else:
            config["layers"] = layers
            for key in ("input_layers", "output_layers"):
                value = config.get(key)
                if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str):
                    config[key] = [value]  # one input or output: Keras writes it unnested
            model = graph_config.functional_from_config(config, get_class=_get_class)
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as error:
        if isinstance(error, ModelFileError):
            raise
        raise ModelFileError(
            path, f"member {member!r}: the model cannot be built: {error}"
        ) from None
    for layer in model.layers:
        if layer.name in axes and axes[layer.name] != len(layer.input_shape) - 1:
            raise ModelFileError(
                path,
                f"member {member!r}: layer {layer.name!r} normalizes axis "
                f"{axes[layer.name]}; striate normalizes the last axis only. Received: input "
                f"shape {layer.input_shape}.",
            )
    return model


def _sequential(config, layers):
    from striate.models.sequential import Sequential

    made = [graph_config.layer_from_config(entry, _get_class) for entry in layers]
    model = Sequential(made, name=config.get("name"))
    shape = config.get("build_input_shape")
    if model.input_shape is None and not isinstance(shape, list):
        raise ValueError(
            "the Sequential has no InputLayer, no input shape on its first layer and no "
            "build_input_shape, so its weights' shapes are unknown"
        )
    model.build(None if model.input_shape is not None else tuple(shape))
    return model


def registered_class(registered_name):
    """The layer class the user registered in striate under Keras's registered name (e.g.
    'Custom>MyLayer', `@striate.saving.register_serializable(package='Custom')`), or None:
    the only classes besides striate's own that a Keras file may name."""
    from striate.layers.base import Layer
    from striate.saving.registry import get_registered_object

    found = get_registered_object(registered_name) if isinstance(registered_name, str) else None
    return found if isinstance(found, type) and issubclass(found, Layer) else None


def _get_class(class_name):
    return registered_class(class_name) or layers_module.get(class_name)


def _layer_entry(path, member, entry, index, axes):
    """One layer's Keras entry as striate's {"class_name", "config", ...}."""
    if not isinstance(entry, dict) or not isinstance(entry.get("config"), dict):
        raise ModelFileError(
            path, f"member {member!r}: layer {index} is not {{class_name, config}}."
        )
    class_name, config = entry.get("class_name"), dict(entry["config"])
    name = config.get("name", entry.get("name", f"layer {index}"))
    if registered_class(entry.get("registered_name")):  # the user's own class: its config
        config["dtype"] = _dtype(
            config.get("dtype", "float32"),
            lambda f, v: _refuse(
                path, member, f"layer {name!r}.{f}", f"is {v!r:.40}, not float32 or float64"
            ),
        )
        result = {"class_name": entry["registered_name"], "config": config}
        if "inbound_nodes" in entry:
            result["name"] = entry.get("name", name)
            result["inbound_nodes"] = [_node(node) for node in entry["inbound_nodes"]]
        return result
    try:
        layers_module.get(class_name)
        if class_name in MODEL_CLASSES:
            raise ValueError(class_name)
    except (ValueError, TypeError):
        supported = ", ".join(sorted(layers_module._CLASSES))
        raise ModelFileError(
            path,
            f"Keras layer {class_name!r:.80} (layer {name!r:.80}) is not supported by "
            f"striate; supported: {supported}.",
        ) from None

    def refuse(field, value):
        return ModelFileError(
            path,
            f"member {member!r}: layer {name!r} ({class_name}) field {field!r} has no "
            f"striate counterpart. Received: {field}={value!r:.80}.",
            "Rebuild the model without it in Keras, or load the weights into a striate model.",
        )

    for key, value in list(config.items()):
        if key in _UNUSED:
            if value not in _UNUSED[key]:
                raise refuse(key, value)
            del config[key]
        elif key in _IGNORED:
            del config[key]
        elif key.endswith(_NONE_SUFFIXES):
            if value is not None:
                raise refuse(key, value)
            del config[key]
        elif key.endswith("_initializer"):
            config[key] = _initializer(value, refuse, key)
        elif key == "dtype":
            config[key] = _dtype(value, refuse)
        elif key == "activation" and not isinstance(value, str):
            raise refuse(key, value)
    if class_name == "InputLayer":
        shape = config.pop("batch_shape", None) or config.pop("batch_input_shape", None)
        config.pop("input_shape", None)
        config["batch_input_shape"] = shape
    if class_name in ("BatchNormalization", "LayerNormalization"):
        axis = config.get("axis", -1)
        axis = axis[0] if isinstance(axis, list) and len(axis) == 1 else axis
        if isinstance(axis, int) and axis > 0:
            axes[name] = axis  # checked against the input's rank once the model is built
            axis = -1
        config["axis"] = axis
    result = {"class_name": class_name, "config": config}
    if "inbound_nodes" in entry:
        result["name"] = entry.get("name", name)
        result["inbound_nodes"] = [_node(node) for node in entry["inbound_nodes"]]
    return result


def _node(node):
    """A Keras 2 inbound node `[[name, node_index, tensor_index, kwargs], ...]` in Keras 3's
    `{"args": [tensor or [tensors]], "kwargs": {...}}` shape (Keras 3's pass unchanged)."""
    if not isinstance(node, list) or not all(isinstance(t, list) and len(t) >= 3 for t in node):
        return node
    tensors = [
        {"class_name": "__keras_tensor__", "config": {"keras_history": list(t[:3])}} for t in node
    ]
    kwargs = node[0][3] if len(node[0]) > 3 and isinstance(node[0][3], dict) else {}
    return {"args": [tensors[0] if len(tensors) == 1 else tensors], "kwargs": kwargs}


def _dtype(value, refuse):
    if isinstance(value, dict):
        value = (value.get("config") or {}).get("name")
    if value not in DTYPES:
        raise refuse("dtype", value)
    return value


def _initializer(value, refuse, key):
    if value is None or isinstance(value, str):
        return value
    if not isinstance(value, dict) or not isinstance(value.get("class_name"), str):
        raise refuse(key, value)
    config = dict(value.get("config") or {})
    for extra in _INITIALIZER_EXTRAS:
        if config.get(extra) is not None:
            raise refuse(f"{key}.{extra}", config[extra])
        config.pop(extra, None)
    name = keras_class_key(value["class_name"])
    return name if not config else {"class_name": name, "config": config}


# -- writing -----------------------------------------------------------------------------------
def keras_layer_entry(layer):
    """A striate layer's entry in Keras 3's shape."""
    config = layer.get_config()
    if isinstance(layer, InputLayer):
        config = {
            "batch_shape": list(layer.output_shape),
            "dtype": config.get("dtype", "float32"),
            "sparse": False,
            "ragged": False,
            "name": layer.name,
        }
    for field in _NOT_IN_KERAS.get(type(layer).__name__, ()):
        config.pop(field, None)
    entry = {
        "module": "keras.layers",
        "class_name": type(layer).__name__,
        "config": config,
        "registered_name": None,
    }
    if not isinstance(layer, InputLayer) and getattr(layer, "input_shape", None) is not None:
        shape = layer.input_shape
        entry["build_config"] = {
            "input_shape": [list(s) for s in shape] if isinstance(shape, list) else list(shape)
        }
    return entry


def keras_model_config(model):
    """The `config.json` document of a `.keras` file for a striate Sequential or Functional."""
    from striate.models.functional import Functional
    from striate.models.sequential import Sequential

    for layer in model.layers:
        if type(layer) not in layers_module._CLASSES.values():
            raise ValueError(
                f"save: layer {layer.name!r} is a {type(layer).__name__}, not one of Keras's "
                f"layers, so a .keras file cannot hold it. Save to .striate instead. Received: "
                f"{type(layer).__name__}."
            )
    if isinstance(model, Sequential):
        inputs = InputLayer(batch_input_shape=tuple(model.input_shape), name="input_layer")
        return {
            "module": "keras",
            "class_name": "Sequential",
            "config": {
                "name": model.name,
                "trainable": model.trainable,
                "dtype": model.layers[0].dtype if model.layers else "float32",
                "layers": [keras_layer_entry(inputs)]
                + [keras_layer_entry(layer) for layer in model.layers],
            },
            "registered_name": None,
            "build_config": {"input_shape": list(model.input_shape)},
        }
    if not isinstance(model, Functional):
        raise ValueError(
            f"save: a .keras file holds a Sequential or functional Model; "
            f"{type(model).__name__} '{model.name}' is a subclass (its code is not in the "
            f"file). Save to .striate instead. Received: {type(model).__name__}."
        )
    config = graph_config.functional_config(model)
    for layer, entry in zip(model.layers, config["layers"]):
        entry.update(keras_layer_entry(layer))
        entry["name"] = layer.name
    return {
        "module": "keras.src.models.functional",
        "class_name": "Functional",
        "config": config,
        "registered_name": "Functional",
        "build_config": {"input_shape": None},
    }
