"""`Sequential`: a stack of layers with Keras's API (add, summary, compile, fit, predict...)."""

import numpy as np

from striate.layers import tracking
from striate.layers.base import Layer
from striate.layers.core import InputLayer
from striate.layers.symbolic import SymbolicTensor, call_symbolic, is_symbolic
from striate.models import graph_config
from striate.models import training as training_loop
from striate.models.model import Model
from striate.models.plan import execution_plan, plan_key
from striate.tensor import Tensor


class Sequential(Model):
    """A linear stack of layers.

    >>> from striate.layers import Conv2D, Dense, Flatten
    >>> model = Sequential([Conv2D(6, 2, input_shape=(28, 28, 1)), Flatten(), Dense(10)])
    >>> model.count_params()
    43780
    """

    _is_a_stack = True
    _config_kind = "sequential"

    def __init__(self, layers=None, name=None, trainable=True):
        self.layers = []
        self._init_model(name or "sequential", trainable)
        self.input_shape = None
        # How `call` and `call_with_loss` run the layers (striate.models.plan), cached per kind:
        # {False: (key, inference steps), True: (key, training steps ending in the loss)}.
        self._plans = {}
        for layer in layers or []:
            self.add(layer)

    def __repr__(self):
        return f"<Sequential name={self.name!r}, layers={len(self.layers)}, built={self.built}>"

    # -- structure -------------------------------------------------------------------------------
    def add(self, layer):
        """Append a layer; when the input shape is known, build it now so a layer that does not
        fit its input fails here, naming the layer and showing the arithmetic."""
        if isinstance(layer, SymbolicTensor) and isinstance(layer.node.layer, InputLayer):
            layer = layer.node.layer  # Sequential([Input(shape), ...]), as in Keras 3
        if not isinstance(layer, Layer):
            raise TypeError(
                f"Sequential.add: expected a striate layer. Received: {layer!r} "
                f"of type {type(layer).__name__}."
            )
        if any(existing.name == layer.name for existing in self.layers):
            raise ValueError(
                f"Sequential.add: a layer named {layer.name!r} is already in the "
                f"model. Layer names must be unique."
            )
        if isinstance(layer, InputLayer):
            if self.layers or self.input_shape is not None:
                raise ValueError("Sequential.add: Input must be the first layer.")
            self.input_shape = layer._declared_input_shape
            return
        if self.input_shape is None and not self.layers and layer._declared_input_shape:
            self.input_shape = layer._declared_input_shape
        self.layers.append(layer)
        if self.input_shape is not None:
            shape = self.input_shape if len(self.layers) == 1 else self.layers[-2].output_shape
            layer.build_for(shape)

    def pop(self):
        """Remove the last layer."""
        if not self.layers:
            raise ValueError("Sequential.pop: the model has no layers.")
        return self.layers.pop()

    @property
    def built(self):
        return self.input_shape is not None and all(layer.built for layer in self.layers)

    def build(self, input_shape=None):
        """Build every layer for `input_shape` (with the batch dimension: (None, 28, 28, 1))."""
        if input_shape is not None:
            input_shape = (None,) + tuple(input_shape)[1:]
            if self.input_shape is not None and len(self.input_shape) == len(input_shape):
                layer = self.layers[0] if self.layers else None
                if layer is not None and layer.built:
                    layer.check_input_shape(input_shape)
            self.input_shape = input_shape
        if self.input_shape is None:
            raise ValueError(
                f"Sequential '{self.name}': the input shape is unknown. Give the "
                f"first layer input_shape=..., start with Input(shape=...), or call "
                f"build((None, ...)) or fit."
            )
        shape = self.input_shape
        for layer in self.layers:
            shape = layer.build_for(shape)
        return shape

    @property
    def output_shape(self):
        return self.layers[-1].output_shape if self.layers and self.built else None

    def build_for(self, input_shape):
        """Build for `input_shape` (as a layer of another model); returns the output shape."""
        input_shape = tuple(input_shape)
        if self.built and self.layers:
            self.layers[0].check_input_shape(input_shape)
            return self.output_shape
        return self.build(input_shape)

    # -- computing -------------------------------------------------------------------------------
    def call(self, inputs, training=False):
        """Run the layers on a float Tensor whose shape was already checked, by the execution
        plan (`striate.models.plan`: the layers in order, a ReLU before a max pooling moved
        after it)."""
        out = inputs
        for function, layers in self._execution_plan():
            out = function(layers, out, training)
        return out

    def call_with_loss(self, inputs, y_true, training=False):
        """`(loss, outputs)` for a batch: the compiled loss as a Tensor, ready for `backward`,
        and the model's outputs as an ndarray, by the training plan (`striate.models.plan`: when the
        model ends in a softmax (sigmoid) and the loss is a (binary) cross-entropy, the two run as
        one op, by `striate.backend.crossentropy_rule()`).
        `inputs` is a float Tensor whose shape was already checked."""
        if self.loss is None:
            raise ValueError(
                f"call_with_loss: Sequential '{self.name}' has no loss; call "
                f"compile(loss=...) first. Received: loss=None."
            )
        steps = self._execution_plan(self.loss)
        out = inputs
        for function, layers in steps[:-1]:
            out = function(layers, out, training)
        finish, operands = steps[-1]
        return finish(operands, out, y_true)

    def _execution_plan(self, loss=None):
        key = plan_key(self.layers, loss)
        cached = self._plans.get(loss is not None)
        if cached is None or cached[0] != key:
            cached = self._plans[loss is not None] = (key, execution_plan(self.layers, loss))
        return cached[1]

    def __call__(self, inputs, training=None):
        if is_symbolic(inputs):  # used as a layer of a functional model
            return call_symbolic(self, inputs, training)
        training = tracking.current_training() if training is None else training
        array = inputs.data if isinstance(inputs, Tensor) else np.asarray(inputs)
        if self.input_shape is None:
            self.build((None,) + array.shape[1:])
        if isinstance(inputs, Tensor):
            return self.call(inputs, training=training)
        array = training_loop.prepare_inputs(self, array, "call")
        return self.call(Tensor(array), training=training)

    def get_config(self):
        """The name, input shape and each layer's class and config (as a layer of a model)."""
        return graph_config.sequential_config(self)

    @classmethod
    def from_config(cls, config, get_class=None):
        return graph_config.sequential_from_config(config, get_class)
