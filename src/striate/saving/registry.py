"""Classes a config or a model file may name: striate's own (a fixed list), the ones the user
registered (`@register_serializable`, Keras 3's `register_keras_serializable`) and the ones
passed as `custom_objects=`. A name is only ever looked up in these, so a config never makes
Python import a module: an unknown name is an error that says how to register the class.

>>> import striate
>>> @register_serializable(package="Docs")
... class Twice(striate.layers.Layer):
...     def call(self, x):
...         return x * 2
>>> get_registered_name(Twice), get_registered_object("Docs>Twice") is Twice
('Docs>Twice', True)
"""

import inspect


class ClassNotFoundError(ValueError):
    """A config names a class that is neither striate's nor registered (or names a module)."""


_REGISTERED = {}  # "package>Name" -> class or function
_NAMES = {}  # id(class or function) -> "package>Name"


def register_serializable(package="Custom", name=None):
    """A decorator that lets `load_model` and `Model.from_config` make `cls` from a config by
    its registered name "package>Name" (`name` defaults to the class's own)."""
    if not isinstance(package, str) or ">" in package or not package:
        raise ValueError(
            f"register_serializable: package must be a non-empty string without '>'. "
            f"Received: package={package!r}"
        )

    def decorator(arg):
        key = f"{package}>{name or arg.__name__}"
        if inspect.isclass(arg) and not hasattr(arg, "get_config"):
            raise ValueError(
                f"register_serializable: cannot register {arg.__name__} ({key}): a class "
                f"must have a get_config() method."
            )
        if key in _REGISTERED and _REGISTERED[key] is not arg:
            previous = _REGISTERED.pop(key)
            _NAMES.pop(id(previous), None)
        _REGISTERED[key] = arg
        _NAMES[id(arg)] = key
        return arg

    return decorator


def get_registered_name(obj):
    """The name `obj` (a class or function) is saved under: its registered "package>Name", or
    its own name."""
    return _NAMES.get(id(obj), getattr(obj, "__name__", None))


def get_registered_object(name, custom_objects=None, module_objects=None):
    """What `name` stands for in `custom_objects`, then the registry, then `module_objects`;
    None when none of them has it."""
    for table in (custom_objects or {}, _REGISTERED, module_objects or {}):
        if name in table:
            return table[name]
    return None


def builtin_class(class_name):
    """striate's own model and layer classes, by the names a config uses (None if not one)."""
    from striate import layers as layers_module
    from striate.models.functional import Functional
    from striate.models.sequential import Sequential

    if class_name in ("Functional", "Model"):
        return Functional
    if class_name == "Sequential":
        return Sequential
    return layers_module._CLASSES.get(class_name)


def class_resolver(custom_objects=None, where="Model.from_config"):
    """`get_class(name)` for `from_config`: a user's class (by its registered name, or by the
    name given in `custom_objects`) or striate's own; anything else is a ValueError."""
    custom = dict(custom_objects or {})
    if not all(isinstance(key, str) for key in custom):
        raise TypeError(
            f"{where}: custom_objects must map class names (str) to classes. "
            f"Received: keys {sorted(map(repr, custom))}"
        )

    def get_class(class_name):
        if not isinstance(class_name, str):
            raise ValueError(f"{where}: a class name must be a string. Received: {class_name!r}")
        short = class_name.rsplit(">", 1)[-1]
        found = get_registered_object(class_name, custom)
        if found is None and short in custom:
            found = custom[short]
        if found is None and class_name == short:
            found = builtin_class(class_name)
        if found is None:
            raise ClassNotFoundError(
                f"{where}: Unknown layer class {class_name!r}. A config names classes only, "
                f"never modules: striate's own, or a class you register with "
                f"@striate.saving.register_serializable(package='Custom') above its "
                f"definition (then named 'Custom>{short}'), or pass "
                f"custom_objects={{'{short}': {short}}}. Received: class_name={class_name!r}"
            )
        return found

    return get_class


_BASE_ARGUMENTS = {
    "self",
    "name",
    "trainable",
    "dtype",
    "input_shape",
    "batch_input_shape",
    "activity_regularizer",
}


def check_get_config(layer):
    """Keras's rule: a user's layer or model whose `__init__` takes arguments of its own must
    override `get_config()` to return them, or it cannot be rebuilt from its config."""
    from striate.layers.base import Layer
    from striate.models.model import Model

    cls = type(layer)
    if cls.__module__.startswith("striate.") or cls.get_config not in (
        Layer.get_config,
        Model.get_config,
    ):
        return
    parameters = inspect.signature(cls.__init__).parameters.values()
    own = [
        p.name
        for p in parameters
        if p.name not in _BASE_ARGUMENTS
        and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]
    if own:
        kind = "Model" if isinstance(layer, Model) else "Layer"
        raise NotImplementedError(
            f"{kind} {cls.__name__} has arguments {own} in `__init__()` and therefore must "
            f"override `get_config()` in order to be serializable. Please implement "
            f"`get_config()`, e.g. `return {{**super().get_config(), "
            f"{', '.join(f'{n!r}: self.{n}' for n in own)}}}`. Received: {cls.__name__} "
            f"without its own get_config."
        )


def serialize_keras_object(obj):
    """`{"class_name", "config", "registered_name"}` of a layer or model (Keras 3's form, without
    the "module" striate never writes)."""
    if obj is None:
        return None
    check_get_config(obj)
    cls = type(obj)
    return {
        "class_name": cls.__name__,
        "config": obj.get_config(),
        "registered_name": get_registered_name(cls),
    }


def deserialize_keras_object(config, custom_objects=None):
    """The layer or model `serialize_keras_object` described, its class found by name only."""
    from striate.models import graph_config

    if config is None:
        return None
    get_class = class_resolver(custom_objects, "deserialize_keras_object")
    return graph_config.layer_from_config(config, get_class)
