"""Symbolic tensors: what `Input(...)` returns and what a layer called on one returns (Keras's
KerasTensor). They hold a shape (batch dimension None), a dtype and the node that made them;
a `Model(inputs, outputs)` walks the nodes back from its outputs to find its graph.

>>> from striate.layers import Dense, Input
>>> x = Input(shape=(4,), name="x")
>>> y = Dense(3, name="d")(x)
>>> y
<SymbolicTensor shape=(None, 3), dtype=float32, made by 'd'>
>>> y.node.layer.name, [t.node.layer.name for t in y.node.input_tensors]
('d', ['x'])
"""

from striate.layers import base  # (base imports this module too: use base.* at call time)


class Node:
    """One call of a layer on symbolic tensors: its inputs (as passed: a tensor, a list or a
    dict of tensors), its output tensors, and `training` when the call fixed it (Keras's
    `base(x, training=False)`: that call always runs in inference mode), else None."""

    def __init__(self, layer, inputs, output_shapes, dtype, training=None):
        self.layer = layer
        self.training = None if training is None else bool(training)
        self.inputs = inputs
        self.input_tensors = flatten(inputs)
        single = isinstance(output_shapes, tuple)
        shapes = [output_shapes] if single else list(output_shapes)
        self.outputs = [SymbolicTensor(shape, dtype, self, i) for i, shape in enumerate(shapes)]
        self.output = self.outputs[0] if single else list(self.outputs)


class SymbolicTensor:
    """A placeholder for the data that will flow through a model: shape, dtype, and the node
    (a layer's call) that made it (`node.layer`, `index` among that call's outputs)."""

    def __init__(self, shape, dtype, node, index=0):
        self.shape = tuple(shape)
        self.dtype = str(dtype)
        self.node = node
        self.index = index

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def name(self):
        return self.node.layer.name

    def __repr__(self):
        return (
            f"<SymbolicTensor shape={base.format_shape(self.shape)}, dtype={self.dtype}, "
            f"made by '{self.node.layer.name}'>"
        )

    @property
    def data(self):
        self.__array__()

    def __array__(self, *args, **kwargs):
        raise TypeError(
            f"A symbolic tensor (shape {base.format_shape(self.shape)}, made by "
            f"'{self.node.layer.name}') has no values: it stands for a model's data. Pass it "
            f"to layers and to Model(inputs, outputs), then call the model on arrays."
        )


def flatten(structure):
    """The tensors in a tensor, a list/tuple or a dict (in key order), as a flat list."""
    if isinstance(structure, dict):
        return [t for key in structure for t in flatten(structure[key])]
    if isinstance(structure, (list, tuple)):
        return [t for item in structure for t in flatten(item)]
    return [structure]


def map_structure(function, structure):
    """`structure` with `function` applied to every leaf (keeps lists, tuples and dicts)."""
    if isinstance(structure, dict):
        return {key: map_structure(function, value) for key, value in structure.items()}
    if isinstance(structure, (list, tuple)):
        return type(structure)(map_structure(function, item) for item in structure)
    return function(structure)


def is_symbolic(inputs):
    return any(isinstance(t, SymbolicTensor) for t in flatten(inputs))


def call_symbolic(layer, inputs, training=None):
    """Record `layer` called on symbolic `inputs` (with `training` fixed, or None to follow the
    model's mode): build it from their shapes (checking them, as `build_for` does) and return
    its symbolic output(s)."""
    tensors = flatten(inputs)
    for tensor in tensors:
        if not isinstance(tensor, SymbolicTensor):
            raise TypeError(
                f"{layer.describe()}: called on a mix of symbolic tensors and data; in a "
                f"functional model every input must come from Input(...) or a layer. "
                f"Received: {type(tensor).__name__}."
            )
    shapes = map_structure(lambda t: t.shape, inputs)
    if isinstance(shapes, list):
        shapes = list(shapes)
    output_shapes = layer.build_for(shapes)
    node = Node(layer, inputs, output_shapes, layer.dtype, training)
    layer.__dict__.setdefault("_inbound_nodes", []).append(node)
    return node.output
