"""Keras's `models.clone_model`, `Model.to_json` / `models.model_from_json` and
`models.save_model`: the architecture as the model file writes it (`striate.saving`), rebuilt
with new weights. Classes are found by name only, as in model files: striate's own, those
registered with `@striate.saving.register_serializable()`, or `custom_objects`."""

import json


def model_from_config(section, custom_objects=None, where="model_from_config"):
    """A new model (new weights) from `{"class_name", "config"}` as `to_json` writes it."""
    from striate.models import graph_config
    from striate.models.model import Model
    from striate.saving.registry import class_resolver

    if not isinstance(section, dict) or not isinstance(section.get("config"), dict):
        raise ValueError(
            f"{where}: expected {{'class_name': ..., 'config': {{...}}}}. "
            f"Received: {section!r:.200}"
        )
    if "module" in section:
        raise ValueError(
            f"{where}: the config names the module {section['module']!r:.80}; striate finds "
            f"classes by name only and never imports a module a config names."
        )
    get_class = class_resolver(custom_objects, where)
    class_name = section.get("registered_name") or section.get("class_name")
    config = dict(section["config"])
    if class_name == "Sequential":
        return graph_config.sequential_from_config(config, get_class)
    if class_name in ("Functional", "Model"):
        return Model.from_config(config, get_class)
    cls = get_class(class_name)
    if not (isinstance(cls, type) and issubclass(cls, Model)):
        raise ValueError(f"{where}: {class_name!r} is not a Model class.")
    model = cls.from_config(config)
    shape = section.get("build_input_shape")
    if shape is not None:
        model.build((None,) + tuple(shape[1:]))
    return model


def to_json(model, **kwargs):
    """The model's architecture as JSON text (no weights)."""
    from striate.saving.architecture import architecture

    return json.dumps(architecture(model), **kwargs)


def model_from_json(json_string, custom_objects=None):
    """The model `to_json` describes, with new weights."""
    return model_from_config(json.loads(json_string), custom_objects, "model_from_json")


def clone_model(model, input_tensors=None, clone_function=None, custom_objects=None, **unused):
    """A new model of the same architecture with new weights (Keras: weights are not copied;
    use `clone.set_weights(model.get_weights())`)."""
    if input_tensors is not None or clone_function is not None:
        raise ValueError(
            "clone_model: input_tensors and clone_function are not supported by striate; it "
            "clones the architecture as it is. Received: "
            f"input_tensors={input_tensors!r:.60}, clone_function={clone_function!r:.60}"
        )
    return model_from_json(to_json(model), custom_objects)


def save_model(model, filepath, overwrite=True, **unused):
    """`model.save(filepath)` (Keras's function form)."""
    return model.save(filepath, overwrite=overwrite)
