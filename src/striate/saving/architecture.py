"""The "model" section of a model file, for every kind of model: a Sequential's stack, a
functional model's graph (Keras 3's config, `striate.models.graph_config`), and a subclassed
model's own `get_config()` with the input shape it was built for. Classes are found by name
only (`striate.saving.registry`); a file never names a module and never causes an import."""

import numpy as np

from striate.model_archive import ModelFileError, crafted
from striate.model_schema import check_input_shape
from striate.models import graph_config
from striate.saving.registry import check_get_config, get_registered_name

REGISTER = (
    "Register the class with @striate.saving.register_serializable() where it is defined, or "
    "pass load_model(path, custom_objects={'Name': Name})."
)


def architecture(model):
    """`{"class_name", "config"}` of `model` (and "registered_name", "build_input_shape" for a
    user's subclass)."""
    kind = type(model)._config_kind
    if kind == "sequential" and type(model).__name__ == "Sequential":
        return {
            "class_name": "Sequential",
            "config": {
                "name": model.name,
                "input_shape": list(model.input_shape),
                "layers": [graph_config.layer_config(layer) for layer in model.layers],
            },
        }
    if kind == "functional" and type(model).__name__ == "Functional":
        return {"class_name": "Functional", "config": model.get_config()}
    check_get_config(model)
    shape = model.input_shape
    if not all(isinstance(d, (int, type(None))) for d in shape):
        raise ValueError(
            f"save: the subclassed model '{model.name}' takes several inputs; the model file "
            f"keeps a subclassed model with one input. Save its weights with "
            f"save_weights(filepath). Received: input shapes {shape}."
        )
    return {
        "class_name": type(model).__name__,
        "registered_name": get_registered_name(type(model)),
        "config": model.get_config(),
        "build_input_shape": list(shape),
    }


def flat_layers(model):
    """Every layer inside `model`, depth first (nested models and a layer's sub-layers too)."""
    found, seen = [], {id(model)}

    def visit(layer):
        for inner in layer.held_layers():
            if id(inner) not in seen:
                seen.add(id(inner))
                found.append(inner)
                visit(inner)

    visit(model)
    return found


def generators(model):
    """The layers that hold their own random generator (seeded Dropout...), in order."""
    return [
        layer
        for layer in flat_layers(model)
        if isinstance(getattr(layer, "generator", None), np.random.Generator)
    ]


def load_graph(path, section, get_class):
    """A functional model, or a user's subclassed model built for its saved input shape."""
    from striate.models.model import Model

    class_name = section.get("registered_name") or section.get("class_name")
    config = section.get("config")
    if not isinstance(class_name, str) or not isinstance(config, dict):
        raise crafted(path, "'model' should be {'class_name': str, 'config': {...}}.")
    if "module" in section:
        raise ModelFileError(
            path,
            f"names the module {section['module']!r:.80} for its model class; striate finds "
            f"classes by name only and never imports a module a file names.",
            REGISTER,
        )
    if class_name in ("Functional", "Model"):
        if not isinstance(config.get("layers"), list) or "input_layers" not in config:
            raise crafted(path, f"the {class_name!r} config has no 'layers' and 'input_layers'.")
        return check_float_layers(path, Model.from_config(config, get_class))
    cls = get_class(class_name)
    if not (isinstance(cls, type) and issubclass(cls, Model)):
        raise crafted(path, f"the model class {class_name!r} is not a Model.")
    shape = section.get("build_input_shape")
    if not isinstance(shape, list) or len(shape) < 2:
        raise crafted(path, f"build_input_shape {shape!r:.80} is not a list of the input's axes.")
    try:
        check_input_shape(shape[1:], "the model")
    except ValueError as error:
        raise crafted(path, str(error)) from None
    model = cls.from_config(dict(config))
    model.build((None,) + tuple(shape[1:]))
    return check_float_layers(path, model)


def check_float_layers(path, model):
    """`model`, after checking that every layer inside computes in float32 or float64."""
    for layer in flat_layers(model):
        if layer.dtype is not None and str(layer.dtype) not in ("float32", "float64"):
            raise crafted(
                path, f"layer {layer.name!r:.80}: dtype {layer.dtype!r:.40} is not a float type."
            )
    return model


def unknown_class(path, error):
    """A class the file names that is neither striate's nor registered: how to register it."""
    return ModelFileError(path, f"cannot be loaded: {error}")
