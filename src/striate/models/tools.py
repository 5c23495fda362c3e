"""The tools a model offers that live above it (its files, seeing inside), registered by the
modules that provide them when they are imported (`import striate` imports them all):
striate.saving registers "save_model", "save_weights", "load_weights" and "load_model",
striate.see.inspect registers "inspect". So the imports point one way: those modules import
this package, never the reverse."""

_TOOLS = {}
_TOOL_MODULES = {
    "save_model": "striate.saving",
    "save_weights": "striate.saving",
    "load_weights": "striate.saving",
    "load_model": "striate.saving",
    "inspect": "striate.see.inspect",
}


def register_tool(name, function):
    """Make `function` the implementation of the model tool `name` (one of `_TOOL_MODULES`).

    >>> register_tool("inspect", _TOOLS["inspect"])  # what striate.see.inspect does
    """
    if name not in _TOOL_MODULES:
        raise ValueError(
            f"register_tool: unknown tool {name!r}; expected one of "
            f"{', '.join(sorted(_TOOL_MODULES))}. Received: name={name!r}"
        )
    _TOOLS[name] = function


def tool(name, where):
    function = _TOOLS.get(name)
    if function is None:
        raise RuntimeError(
            f"{where}: no implementation of {name!r} is registered; it is "
            f"registered by importing {_TOOL_MODULES[name]} (which `import "
            f"striate` does). Received: registered tools "
            f"{sorted(_TOOLS) or 'none'}."
        )
    return function


def load_model(filepath, custom_objects=None, compile=True):
    """Read a model written by `model.save(filepath)`, ready to predict or to continue `fit`.

    With `compile=True` it also restores the compile settings, the optimizer state and the
    shared random generator's state, so the next `fit` continues exactly as an unbroken run.
    """
    return tool("load_model", "load_model")(
        filepath, custom_objects=custom_objects, compile=compile
    )
