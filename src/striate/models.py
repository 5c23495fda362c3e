"""`Sequential`: a stack of layers with Keras's API (add, summary, compile, fit, predict...)."""

import numpy as np

from striate import losses as losses_module
from striate import metrics as metrics_module
from striate import optimizers as optimizers_module
from striate import training as training_loop
from striate.layers.base import Layer
from striate.layers.core import InputLayer
from striate.layers.lookup import layer_index
from striate.plan import execution_plan, plan_key
from striate.summary import summary_text
from striate.tensor import Tensor

# The tools a model offers that live above it (its files, seeing inside), registered by the
# modules that provide them when they are imported (`import striate` imports them all):
# striate.saving registers "save_model", "save_weights", "load_weights" and "load_model",
# striate.see.inspect registers "inspect". So the imports point one way: those modules import
# this one, never the reverse.
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


def _tool(name, where):
    function = _TOOLS.get(name)
    if function is None:
        raise RuntimeError(
            f"{where}: no implementation of {name!r} is registered; it is "
            f"registered by importing {_TOOL_MODULES[name]} (which `import "
            f"striate` does). Received: registered tools "
            f"{sorted(_TOOLS) or 'none'}."
        )
    return function


class _SummaryMethod:
    """`model.summary()` prints the table; `model.summary` alone (as the article writes it, in a
    notebook or the REPL) shows the same table instead of `<bound method ...>`."""

    def __init__(self, model):
        self.model = model

    def __call__(self, line_length=None, print_fn=None):
        text = summary_text(self.model, line_length)
        (print_fn or print)(text)

    def __repr__(self):
        return summary_text(self.model)


class Sequential:
    """A linear stack of layers.

    >>> from striate.layers import Conv2D, Dense, Flatten
    >>> model = Sequential([Conv2D(6, 2, input_shape=(28, 28, 1)), Flatten(), Dense(10)])
    >>> model.count_params()
    43780
    """

    def __init__(self, layers=None, name=None):
        self.name = name or "sequential"
        self.layers = []
        self.input_shape = None
        self.compiled = False
        self.optimizer = self.loss = None
        self.metrics = []
        # Written by `fit` (striate.training) and callbacks, as in Keras: the History of the
        # last fit; True to stop at the end of the current batch; and why fit stopped on its
        # own (a loss that became NaN or infinite), or None.
        self.history = None
        self.stop_training = False
        self.stop_reason = None
        self.metadata = {}  # JSON-able facts saved with the model (dataset, class names...)
        self._metric_identifiers = []  # what compile received, for saving
        # How `call` and `call_with_loss` run the layers (striate.plan), cached per kind:
        # {False: (key, inference steps), True: (key, training steps ending in the loss)}.
        self._plans = {}
        for layer in layers or []:
            self.add(layer)

    def __repr__(self):
        return f"<Sequential name={self.name!r}, layers={len(self.layers)}, built={self.built}>"

    @property
    def summary(self):
        return _SummaryMethod(self)

    # -- structure -------------------------------------------------------------------------------
    def add(self, layer):
        """Append a layer; when the input shape is known, build it now so a layer that does not
        fit its input fails here, naming the layer and showing the arithmetic."""
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

    def get_layer(self, name=None, index=None):
        """A layer by name or by index (`striate.layers.lookup.layer_index`)."""
        key = name if index is None else index
        return self.layers[layer_index(self.layers, key, "get_layer")]

    # -- weights -------------------------------------------------------------------------------
    @property
    def weights(self):
        return [w for layer in self.layers for w in layer.weights]

    @property
    def trainable_weights(self):
        return [w for layer in self.layers for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self):
        return [w for layer in self.layers for w in layer.non_trainable_weights]

    def get_weights(self):
        """Copies of every weight array, layer by layer (kernel then bias), as Keras orders them."""
        return [w.data.copy() for w in self.weights]

    def set_weights(self, arrays):
        arrays = list(arrays)
        expected = sum(len(layer.weights) for layer in self.layers)
        if len(arrays) != expected:
            raise ValueError(
                f"set_weights: the model has {expected} weight arrays. "
                f"Received: {len(arrays)} arrays."
            )
        start = 0
        for layer in self.layers:
            count = len(layer.weights)
            layer.set_weights(arrays[start : start + count])
            start += count

    def count_params(self):
        return sum(layer.count_params() for layer in self.layers)

    def float_type(self):
        """The float dtype the model computes in (its first layer's, float32 by default)."""
        return np.dtype(self.layers[0].dtype if self.layers else "float32")

    # -- computing -------------------------------------------------------------------------------
    def call(self, inputs, training=False):
        """Run the layers on a float Tensor whose shape was already checked, by the execution
        plan (`striate.plan`: the layers in order, a ReLU before a max pooling moved after it)."""
        out = inputs
        for function, layers in self._execution_plan():
            out = function(layers, out, training)
        return out

    def call_with_loss(self, inputs, y_true, training=False):
        """`(loss, outputs)` for a batch: the compiled loss as a Tensor, ready for `backward`,
        and the model's outputs as an ndarray, by the training plan (`striate.plan`: when the
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

    def __call__(self, inputs, training=False):
        array = inputs.data if isinstance(inputs, Tensor) else np.asarray(inputs)
        if self.input_shape is None:
            self.build((None,) + array.shape[1:])
        if isinstance(inputs, Tensor):
            return self.call(inputs, training=training)
        array = training_loop.prepare_inputs(self, array, "call")
        return self.call(Tensor(array), training=training)

    # -- training --------------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None):
        """Choose the optimizer, the loss and the metrics (names or objects)."""
        if loss is None:
            raise ValueError(
                "compile: a loss is required, e.g. loss='sparse_categorical_crossentropy'."
            )
        self.optimizer = optimizers_module.get(optimizer)
        self.loss = losses_module.get(loss)
        if metrics is not None and not isinstance(metrics, (list, tuple)):
            metrics = [metrics]
        loss_name = getattr(self.loss, "registered_name", None) or self.loss.name
        self.metrics = [metrics_module.get(m, loss_name) for m in metrics or []]
        self._metric_identifiers = [metrics_module.saving_identifier(m) for m in metrics or []]
        self.compiled = True

    def fit(
        self,
        x=None,
        y=None,
        batch_size=None,
        epochs=1,
        verbose="auto",
        callbacks=None,
        validation_split=0.0,
        validation_data=None,
        shuffle=True,
        initial_epoch=0,
    ):
        """Train for `epochs` epochs; returns a History (`history.history['val_acc']`...)."""
        return training_loop.fit(
            self,
            x,
            y,
            batch_size=batch_size,
            epochs=epochs,
            verbose=verbose,
            callbacks=callbacks,
            validation_split=validation_split,
            validation_data=validation_data,
            shuffle=shuffle,
            initial_epoch=initial_epoch,
        )

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", return_dict=False):
        """Loss and metrics on (x, y): `[loss, acc]`, or a dict with `return_dict=True`."""
        return training_loop.evaluate(
            self, x, y, batch_size=batch_size, verbose=verbose, return_dict=return_dict
        )

    def predict(self, x, batch_size=None, verbose="auto"):
        """The model's outputs for `x`, computed in batches (default 32) without training."""
        return training_loop.predict(self, x, batch_size=batch_size, verbose=verbose)

    # -- files -----------------------------------------------------------------------------------
    def save(self, filepath, overwrite=True):
        """Write one file with the architecture, weights, compile settings and training state
        (see `striate.saving`); `load_model(filepath)` reads it back."""
        _tool("save_model", "Sequential.save")(self, filepath, overwrite=overwrite)

    def save_weights(self, filepath, overwrite=True):
        """Write only the weights (with layer names and shapes, checked by `load_weights`)."""
        _tool("save_weights", "Sequential.save_weights")(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath):
        """Set the weights from a `save_weights` or `save` file of the same architecture."""
        _tool("load_weights", "Sequential.load_weights")(self, filepath)

    # -- seeing inside ---------------------------------------------------------------------------
    def inspect(self, x, class_index=None):
        """Every layer's output for ONE input x ((H, W, C) or (1, H, W, C)), with pre-activations,
        and, for `class_index` (an int or 'predicted'), the gradient of that class's score
        (before softmax) with respect to every layer's output and the input. See `striate.see`.
        """
        return _tool("inspect", "Sequential.inspect")(self, x, class_index)


def load_model(filepath, compile=True):
    """Read a model written by `model.save(filepath)`, ready to predict or to continue `fit`.

    With `compile=True` it also restores the compile settings, the optimizer state and the
    shared random generator's state, so the next `fit` continues exactly as an unbroken run.
    """
    return _tool("load_model", "load_model")(filepath, compile=compile)
