"""The Functional API: `Model(inputs, outputs)` over any graph of layers called on symbolic
tensors (`striate.layers.symbolic`): several inputs and outputs, shared layers, nested models.

The model keeps the graph's nodes in topological order and runs them with each layer's `call`
on Tensors, except runs of layers where each feeds only the next (a chain, as in a
`Sequential`): those go through the execution plan (`striate.models.plan`), fused as in
`Sequential` (conv + ReLU + 2x2 max pool as one op; a final softmax (sigmoid) with a (binary)
cross-entropy loss as one op), so a functional chain computes exactly what its Sequential twin
does.

>>> from striate.layers import Dense, Input, add
>>> x = Input(shape=(4,), name="x")
>>> h = Dense(4, name="h")(x)
>>> model = Model(x, Dense(2, name="out")(add([x, h], name="plus")), name="skip")
>>> [layer.name for layer in model.layers], model.count_params()
(['x', 'h', 'plus', 'out'], 30)
"""

from striate.layers import tracking
from striate.layers.base import default_name, format_shape
from striate.layers.core import InputLayer
from striate.layers.symbolic import (
    SymbolicTensor,
    call_symbolic,
    flatten,
    is_symbolic,
    map_structure,
)
from striate.models import graph_config
from striate.models import training as training_loop
from striate.models.model import Model
from striate.models.plan import execution_plan, plan_key
from striate.tensor import Tensor


class Functional(Model):
    """A model defined by its input and output symbolic tensors (made by `Model(...)`)."""

    def __init__(self, inputs, outputs, name=None, trainable=True):
        self.layers = []
        self._init_model(name or default_name(Functional), trainable)
        self._input_structure, self._output_structure = inputs, outputs
        self.inputs, self.outputs = flatten(inputs), flatten(outputs)
        for role, tensors in (("inputs", self.inputs), ("outputs", self.outputs)):
            for tensor in tensors:
                if not isinstance(tensor, SymbolicTensor):
                    raise TypeError(
                        f"Model '{self.name}': {role} must be symbolic tensors made by "
                        f"Input(...) and layers called on them. Received: {tensor!r} of type "
                        f"{type(tensor).__name__}."
                    )
        for tensor in self.inputs:
            if not isinstance(tensor.node.layer, InputLayer):
                raise ValueError(
                    f"Model '{self.name}': inputs must come straight from Input(...). "
                    f"Received: a tensor made by {tensor.node.layer.describe()}."
                )
        self._nodes = self._sort_nodes()
        self.layers = self._layers_in_keras_order()
        self._chains, self._in_chain = self._find_chains()
        self._plans = {}
        self.input_shape = self.inputs[0].shape if len(self.inputs) == 1 else None
        self._single_input = len(self.inputs) == 1 and isinstance(inputs, SymbolicTensor)

    @property
    def input(self):
        """The input tensor (a list when there are several), as Keras's `model.input`."""
        return self.inputs[0] if len(self.inputs) == 1 else list(self.inputs)

    @property
    def output(self):
        """The output tensor (a list when there are several), as Keras's `model.output`."""
        return self.outputs[0] if len(self.outputs) == 1 else list(self.outputs)

    def _sort_nodes(self):
        """The nodes between the inputs and the outputs, each after the nodes it reads."""
        known = {id(t) for t in self.inputs}
        order, done = [], set()
        for output in self.outputs:
            stack = [(output, None)]
            while stack:
                tensor, path = stack.pop()
                node = tensor.node
                if id(tensor) in known or id(node) in done:
                    continue
                if not node.input_tensors:  # an Input that is not among the model's inputs
                    names = ", ".join(repr(t.name) for t in self.inputs)
                    raise ValueError(
                        f"Model '{self.name}': the graph is disconnected: output "
                        f"'{output.name}' depends on Input '{tensor.name}' "
                        f"{format_shape(tensor.shape)}, which is not one of the model's inputs "
                        f"({names}). Every output must be computed from the inputs given. "
                        f"Received: inputs={names}."
                    )
                pending = [t for t in node.input_tensors if id(t) not in known]
                pending = [t for t in pending if id(t.node) not in done]
                if pending:
                    stack.append((tensor, path))
                    stack.extend((t, node) for t in reversed(pending))
                    continue
                done.add(id(node))
                order.append(node)
                known.update(id(t) for t in node.outputs)
        return order

    def _layers_in_keras_order(self):
        """Keras's `model.layers` order (`keras.src.ops.function.map_graph`): by depth (the
        longest path to an output) decreasing, ties in first-visit order from the outputs."""
        post_order, first_visit, done = [], {}, set()

        def visit(tensor):
            node = tensor.node
            if id(node) in done:
                return
            first_visit.setdefault(id(node.layer), (len(first_visit), node.layer))
            for parent in node.input_tensors:
                visit(parent)
            done.add(id(node))
            post_order.append(node)

        for output in self.outputs:
            visit(output)
        node_depth, layer_depth = {}, {}
        for node in reversed(post_order):
            depth = max(node_depth.setdefault(id(node), 0), layer_depth.get(id(node.layer), 0))
            layer_depth[id(node.layer)] = node_depth[id(node)] = depth
            for parent in node.input_tensors:
                key = id(parent.node)
                node_depth[key] = max(depth + 1, node_depth.get(key, 0))
        for tensor in self.inputs:  # an input no output uses: depth 0, first of those
            if id(tensor.node.layer) not in layer_depth:
                first_visit[id(tensor.node.layer)] = (-1, tensor.node.layer)
                layer_depth[id(tensor.node.layer)] = 0
        ranked = sorted(first_visit.items(), key=lambda kv: (-layer_depth[kv[0]], kv[1][0]))
        return [layer for _, (_, layer) in ranked]

    def _find_chains(self):
        """Runs of calls that each take one tensor, the output of the call before, used by
        nothing else: `{id(first node): [nodes]}`, and the ids of the nodes after the first.
        Each run goes through the execution plan (`striate.models.plan`), fused as in
        Sequential (a conv + ReLU + 2x2 max pool as one op; the final softmax with the loss)."""
        users = {}
        for node in self._nodes:
            for tensor in node.input_tensors:
                users.setdefault(id(tensor), []).append(node)
        outputs = {id(t) for t in self.outputs}

        def chainable(node):
            return (
                len(node.outputs) == 1
                and isinstance(node.inputs, SymbolicTensor)
                and not isinstance(node.layer, Model)
                and node.training is None
            )

        following = {}
        for node in self._nodes:
            readers = users.get(id(node.outputs[0]), [])
            if chainable(node) and id(node.outputs[0]) not in outputs and len(readers) == 1:
                if chainable(readers[0]):
                    following[id(node)] = readers[0]
        later = {id(node) for node in following.values()}
        chains = {}
        for node in self._nodes:
            if id(node) in following and id(node) not in later:
                chain = [node]
                while id(chain[-1]) in following:
                    chain.append(following[id(chain[-1])])
                chains[id(node)] = chain
        return chains, later

    def _chain_plan(self, chain, loss=None):
        layers = [node.layer for node in chain]
        key = plan_key(layers, loss)
        cached = self._plans.get((id(chain[0]), loss is not None))
        if cached is None or cached[0] != key:
            cached = (key, execution_plan(layers, loss))
            self._plans[(id(chain[0]), loss is not None)] = cached
        return cached[1]

    def __repr__(self):
        return f"<Functional name={self.name!r}, layers={len(self.layers)}>"

    # -- shapes ---------------------------------------------------------------------------------
    @property
    def built(self):
        return True

    @built.setter
    def built(self, value):
        pass  # always built: the graph fixed every shape

    @property
    def output_shape(self):
        shapes = [t.shape for t in self.outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @output_shape.setter
    def output_shape(self, value):
        pass

    def build(self, input_shape=None):
        return self.output_shape

    def build_for(self, input_shape):
        """Check `input_shape` (as a layer of another model); returns the output shape(s)."""
        shapes = [input_shape] if self._single_input else flatten_shapes(input_shape)
        for tensor, shape in zip(self.inputs, shapes):
            tensor.node.layer.check_input_shape(tuple(shape))
        return self.output_shape

    # -- computing ------------------------------------------------------------------------------
    def _run(self, inputs, training, skip=None):
        """Every tensor's value by id: the inputs, then each node's (or chain's) outputs in
        order; `skip`: a node (the first of a chain) left for the loss step.

        `training` None (a direct `model(x)` with no mode anywhere) runs each call in the mode
        it was recorded with (`base(x, training=False)`), else inference; a given mode
        overrides the recorded ones, as in Keras 3 (so `fit` trains every layer's mode,
        whatever the graph recorded: a frozen BatchNormalization still runs in inference
        mode because it is frozen)."""
        given = [inputs] if self._single_input else flatten_given(self, inputs)
        values = {id(t): v for t, v in zip(self.inputs, given)}
        for node in self._nodes:
            if node is skip or id(node) in self._in_chain:
                continue
            chain = self._chains.get(id(node))
            if chain is not None:
                x = values[id(node.inputs)]
                with tracking.training_scope(bool(training)):
                    for function, layers in self._chain_plan(chain):
                        x = function(layers, x, bool(training))
                values[id(chain[-1].outputs[0])] = x
                continue
            arguments = map_structure(lambda t: values[id(t)], node.inputs)
            mode = training if training is not None else bool(node.training)
            result = tracking.invoke(node.layer, arguments, mode)
            results = [result] if len(node.outputs) == 1 else flatten(result)
            values.update((id(t), v) for t, v in zip(node.outputs, results))
        return values

    def call(self, inputs, training=False):
        values = self._run(inputs, training)
        return map_structure(lambda t: values[id(t)], self._output_structure)

    def call_with_loss(self, inputs, y_true, training=False):
        """`(loss, outputs)` for a batch, as `Sequential.call_with_loss` (one output; several
        go output by output: `striate.models.outputs`)."""
        output = self.outputs[0]
        node = output.node
        fusable = (
            node in self._nodes
            and len(node.outputs) == 1
            and not any(output in n.input_tensors for n in self._nodes)
            and not isinstance(node.layer, Model)
        )
        if not fusable:
            outputs = self._run(inputs, training)[id(output)]
            return self.loss(y_true, outputs), outputs.data
        chain = next((c for c in self._chains.values() if c[-1] is node), [node])
        values = self._run(inputs, training, skip=chain[0])
        x = map_structure(lambda t: values[id(t)], chain[0].inputs)
        steps = self._chain_plan(chain, self.loss)
        for function, layers in steps[:-1]:
            with tracking.training_scope(training):
                x = function(layers, x, training)
        finish, operands = steps[-1]
        return finish(operands, x, y_true)

    def __call__(self, inputs, training=None):
        if is_symbolic(inputs):  # used as a layer of another functional model
            return call_symbolic(self, inputs, training)
        if training is None and tracking.inside_a_call():
            training = tracking.current_training()
        arrays = [inputs] if self._single_input else flatten_given(self, inputs)
        tensors = []
        for array, tensor in zip(arrays, self.inputs):
            if not isinstance(array, Tensor):  # arrays are cast to the model's float type
                array = training_loop.check_array(tensor.shape, array, self, "call")
                array = Tensor(array.astype(self.float_type(), copy=False))
            tensors.append(array)
        structure = tensors[0] if self._single_input else tensors
        return self.call(structure, training=training)

    _config_kind = "functional"

    def get_config(self):
        """Keras 3's functional config (`striate.models.graph_config`)."""
        return graph_config.functional_config(self)

    @classmethod
    def from_config(cls, config, get_class=None):
        """The model a `get_config()` describes, with new weights; classes by name only."""
        return graph_config.functional_from_config(config, get_class)


def flatten_shapes(shapes):
    if isinstance(shapes, dict):
        return [shape for key in shapes for shape in flatten_shapes(shapes[key])]
    if isinstance(shapes, (list, tuple)) and shapes and isinstance(shapes[0], (list, tuple)):
        return [tuple(shape) for shape in shapes]
    return [tuple(shapes)]


def flatten_given(model, inputs):
    """The model's inputs given as a list, a tuple or a dict by input name, in input order."""
    if isinstance(inputs, dict):
        missing = [t.name for t in model.inputs if t.name not in inputs]
        if missing:
            raise ValueError(
                f"Model '{model.name}': no data for input(s) {missing}. "
                f"Received: a dict with keys {sorted(inputs)}."
            )
        return [inputs[t.name] for t in model.inputs]
    given = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    if len(given) != len(model.inputs):
        raise ValueError(
            f"Model '{model.name}': expected {len(model.inputs)} inputs "
            f"({', '.join(t.name for t in model.inputs)}). Received: {len(given)}."
        )
    return given
