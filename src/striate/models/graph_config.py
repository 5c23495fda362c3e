"""Model configs in Keras 3's shape, for nesting and for the model file: a functional model's
`{"name", "trainable", "layers": [{"class_name", "config", "name", "inbound_nodes"}],
"input_layers", "output_layers"}`, where each inbound node is `{"args": [...], "kwargs": {}}`
and each tensor in it `{"class_name": "__keras_tensor__", "config": {"shape", "dtype",
"keras_history": [layer name, node index, tensor index]}}`; a Sequential's `{"name",
"trainable", "input_shape", "layers": [{"class_name", "config"}]}`. A class is found by name
only (`get_class`), never imported.

>>> from striate.layers import Dense, Input, add
>>> from striate.models import Model
>>> x = Input(shape=(3,), name="x")
>>> model = Model(x, add([x, Dense(3, name="d")(x)], name="plus"), name="m")
>>> config = model.get_config()
>>> config["layers"][2]["inbound_nodes"][0]["args"][0][1]["config"]["keras_history"]
['d', 0, 0]
>>> [layer.name for layer in Model.from_config(config).layers]
['x', 'd', 'plus']
"""

from striate.layers.core import InputLayer
from striate.layers.symbolic import map_structure


def default_get_class(class_name):
    """A class by its name in a config: striate's models and layers, then the classes the user
    registered (`striate.saving.register_serializable`); never an import."""
    from striate.saving.registry import class_resolver

    return class_resolver()(class_name)


def layer_config(layer):
    """`{"class_name", "config"}`, and "registered_name" for a user's class ("Custom>Name")."""
    from striate.saving.registry import builtin_class, check_get_config, get_registered_name

    cls = type(layer)
    check_get_config(layer)
    entry = {"class_name": cls.__name__, "config": layer.get_config()}
    if builtin_class(cls.__name__) is not cls:
        entry["registered_name"] = get_registered_name(cls)
    return entry


def layer_from_config(entry, get_class):
    if not isinstance(entry, dict) or not isinstance(entry.get("config"), dict):
        raise ValueError(
            f"Model config: a layer entry should be {{'class_name': str, 'config': {{...}}}}. "
            f"Received: {entry!r:.120}"
        )
    if "module" in entry:  # Keras names the module to import; striate never imports one
        from striate.saving.registry import ClassNotFoundError

        raise ClassNotFoundError(
            f"Model config: the entry of {entry.get('class_name')!r} names the module "
            f"{entry['module']!r:.80}; striate finds classes by name only and never imports "
            f"a module a config names. Register the class with "
            f"@striate.saving.register_serializable() or pass custom_objects=. Received: an "
            f"entry with a 'module' key."
        )
    cls = get_class(entry.get("registered_name") or entry.get("class_name"))
    from striate.models.model import Model

    if isinstance(cls, type) and issubclass(cls, Model) and cls._config_kind:
        return cls.from_config(entry["config"], get_class=get_class)
    return cls.from_config(dict(entry["config"]))


def functional_config(model):
    node_index = {}  # id(node) -> its index among the model's calls of that layer
    for layer in model.layers:
        if isinstance(layer, InputLayer):
            node_index[id(layer.output.node)] = 0
    counts = {}
    for node in model._nodes:
        node_index[id(node)] = counts.get(id(node.layer), 0)
        counts[id(node.layer)] = node_index[id(node)] + 1

    def tensor(t):
        return {
            "class_name": "__keras_tensor__",
            "config": {
                "shape": list(t.shape),
                "dtype": t.dtype,
                "keras_history": [t.node.layer.name, node_index[id(t.node)], t.index],
            },
        }

    entries = []
    for layer in model.layers:
        nodes = [n for n in model._nodes if n.layer is layer]
        entry = layer_config(layer)
        entry["name"] = layer.name
        entry["inbound_nodes"] = [
            {
                "args": [map_structure(tensor, node.inputs)],
                "kwargs": {} if node.training is None else {"training": node.training},
            }
            for node in nodes
        ]
        entries.append(entry)

    def history(t):
        return [t.node.layer.name, node_index[id(t.node)], t.index]

    return {
        "name": model.name,
        "trainable": model.trainable,
        "layers": entries,
        "input_layers": [history(t) for t in model.inputs],
        "output_layers": [history(t) for t in model.outputs],
    }


def functional_from_config(config, get_class=None):
    """Rebuild the model: make each layer, then replay its calls once their inputs exist."""
    from striate.models.functional import Functional

    get_class = get_class or default_get_class
    made = {}  # (layer name, node index) -> that call's output tensors
    layers, pending = {}, []
    for entry in config["layers"]:
        layer = layer_from_config(entry, get_class)
        layers[entry["name"]] = layer
        if isinstance(layer, InputLayer):
            made[(entry["name"], 0)] = [layer.output]
        else:
            pending.append((layer, entry["name"], list(entry["inbound_nodes"]), 0))

    def find(value):
        if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
            name, index, tensor_index = value["config"]["keras_history"]
            return made[(name, index)][tensor_index]
        if isinstance(value, list):
            return [find(v) for v in value]
        if isinstance(value, dict):
            return {k: find(v) for k, v in value.items()}
        return value

    while pending:
        progress, waiting = False, []
        for layer, name, nodes, done in pending:
            while done < len(nodes):
                try:
                    arguments = find(nodes[done]["args"][0])
                except KeyError:
                    break  # an input it needs is not made yet
                training = nodes[done].get("kwargs", {}).get("training")
                if training not in (None, True, False):
                    raise ValueError(
                        f"Model config '{config.get('name')}': a call of '{name}' has "
                        f"training={training!r}; expected true, false or none. Received: "
                        f"kwargs {nodes[done].get('kwargs')!r}."
                    )
                outputs = layer(arguments, training=training)
                made[(name, done)] = outputs if isinstance(outputs, list) else [outputs]
                done, progress = done + 1, True
            if done < len(nodes):
                waiting.append((layer, name, nodes, done))
        if not progress:
            names = ", ".join(name for _, name, _, _ in waiting)
            raise ValueError(
                f"Model config '{config.get('name')}': the calls of {names} need tensors no "
                f"layer makes. Received: a config whose graph cannot be rebuilt."
            )
        pending = waiting

    def tensors(histories):
        return [made[(name, index)][tensor_index] for name, index, tensor_index in histories]

    inputs, outputs = tensors(config["input_layers"]), tensors(config["output_layers"])
    model = Functional(
        inputs[0] if len(inputs) == 1 else inputs,
        outputs[0] if len(outputs) == 1 else outputs,
        name=config.get("name"),
    )
    if not config.get("trainable", True):  # (True would unfreeze layers frozen one by one)
        model.trainable = False
    return model


def sequential_config(model):
    return {
        "name": model.name,
        "trainable": model.trainable,
        "input_shape": None if model.input_shape is None else list(model.input_shape),
        "layers": [layer_config(layer) for layer in model.layers],
    }


def sequential_from_config(config, get_class=None):
    from striate.models.sequential import Sequential

    get_class = get_class or default_get_class
    layers = [layer_from_config(entry, get_class) for entry in config["layers"]]
    if config.get("input_shape") is not None:
        shape = tuple(config["input_shape"])
        layers.insert(0, InputLayer(batch_input_shape=shape, name=f"{config['name']}_input"))
    model = Sequential(layers, name=config.get("name"))
    if not config.get("trainable", True):
        model.trainable = False
    return model
