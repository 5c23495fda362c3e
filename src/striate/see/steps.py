"""A model as the steps `inspect` and receptive fields walk: one per layer call, in order.

A Sequential model's steps are its layers, each reading the output of the one before. A
functional model's are its calls (`model._nodes`, each after the calls it reads), each reading
the tensors its call was given: a residual `add` reads two. Values are keyed by the symbolic
tensor they stand for (Sequential: by position), and the model's input is key `INPUT`.
"""

from dataclasses import dataclass

from striate.layers.symbolic import map_structure

INPUT = "input"


@dataclass
class Step:
    """One call: `layer` reading `reads` (a key, or a list/dict of keys as the call was given
    them) and making the value `writes`; `index` is the layer's position in `model.layers`;
    `training` is the mode the call fixed (None: the model's)."""

    layer: object
    reads: object
    writes: object
    index: int
    training: bool | None = None

    @property
    def read_keys(self):
        if isinstance(self.reads, dict):
            return list(self.reads.values())
        return list(self.reads) if isinstance(self.reads, (list, tuple)) else [self.reads]


def model_steps(model, where="inspect"):
    """The steps of `model` (one input, one output), in an order where every step's inputs are
    made before it."""
    if not hasattr(model, "_nodes"):
        if not getattr(model, "_is_a_stack", False):
            raise ValueError(
                f"{where}: {type(model).__name__} '{model.name}' is a subclassed model: its "
                f"calls are Python code, not a graph of layers to walk. Build it with the "
                f"Functional API or Sequential to see inside. Received: a "
                f"{type(model).__name__} model."
            )
        previous = [INPUT] + list(range(len(model.layers)))
        return [Step(layer, previous[i], i, i) for i, layer in enumerate(model.layers)]
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError(
            f"{where}: seeing inside takes a model with one input and one output. Received: "
            f"model '{model.name}' with {len(model.inputs)} inputs and {len(model.outputs)} "
            f"outputs."
        )
    position = {id(layer): i for i, layer in enumerate(model.layers)}
    source = model.inputs[0]
    steps = []
    for node in model._nodes:
        if len(node.outputs) != 1:
            raise ValueError(
                f"{where}: {node.layer.describe()} makes {len(node.outputs)} tensors; seeing "
                f"inside follows calls that make one. Received: model '{model.name}'."
            )
        reads = map_structure(lambda t: INPUT if t is source else id(t), node.inputs)
        steps.append(
            Step(node.layer, reads, id(node.outputs[0]), position[id(node.layer)], node.training)
        )
    return steps


def output_key(model, steps):
    return steps[-1].writes if not hasattr(model, "_nodes") else id(model.outputs[0])
