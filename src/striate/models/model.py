"""`Model`: what every model shares (weights, compile, fit, evaluate, predict, files), and
`Model(inputs, outputs)`, which makes a functional model (`striate.models.functional`).

A model is also a layer: it can be called on a symbolic tensor inside another model (a
`Sequential` feature extractor under a new head), and `model.trainable = False` freezes every
layer in it from the next `compile` on.
"""

import warnings

import numpy as np

from striate import losses as losses_module
from striate import metrics as metrics_module
from striate import optimizers as optimizers_module
from striate.distribute import mpi as distribute
from striate.layers import tracking
from striate.layers.base import Layer, default_name
from striate.layers.core import InputLayer
from striate.layers.lookup import layer_index
from striate.layers.symbolic import call_symbolic, is_symbolic
from striate.models import on_batch
from striate.models import outputs as outputs_module
from striate.models import training as training_loop
from striate.models.summary import summary_text
from striate.models.tools import tool
from striate.tensor import Tensor


class _SummaryMethod:
    """`model.summary()` prints the table; `model.summary` alone (as the article writes it, in a
    notebook or the REPL) shows the same table instead of `<bound method ...>`."""

    def __init__(self, model):
        self.model = model

    def __call__(
        self,
        line_length=None,
        positions=None,
        print_fn=None,
        expand_nested=False,
        show_trainable=False,
        layer_range=None,
    ):
        text = summary_text(
            self.model, line_length, positions, expand_nested, show_trainable, layer_range
        )
        (print_fn or print)(text)

    def __repr__(self):
        return summary_text(self.model)


class Model(Layer):
    """The base of `Sequential` and of functional models; `Model(inputs, outputs, name=None)`
    builds a functional model (Keras's `keras.Model`)."""

    def __new__(cls, *args, **kwargs):
        if cls is Model:
            from striate.models.functional import Functional  # the subclass Model(...) makes

            return super().__new__(Functional)
        return super().__new__(cls)

    _is_a_stack = False  # `see` (inspect) takes Sequential only
    _config_kind = None  # "sequential" or "functional": from_config takes get_class

    def __init__(self, *args, name=None, trainable=True, dtype=None, **kwargs):
        """A user's subclass: `super().__init__()` in its `__init__`, layers as attributes."""
        if args or kwargs:
            raise TypeError(
                f"{type(self).__name__}: Model.__init__ takes name=, trainable= and dtype= in "
                f"a subclass (a functional model is Model(inputs, outputs)). Received: "
                f"{len(args)} positional argument(s) and {sorted(kwargs)}."
            )
        self._layer_list = None  # the layers are the ones its attributes hold
        self._init_model(name or default_name(type(self)), trainable)
        self.dtype = dtype
        self.input_shape = self.output_shape = None
        self.built = False

    @classmethod
    def from_config(cls, config, get_class=None):
        """`Model.from_config(functional_model.get_config())` rebuilds it, as in Keras; a
        subclass is made as `cls(**config)`."""
        if cls is Model and "input_layers" in config:
            from striate.models import graph_config

            return graph_config.functional_from_config(config, get_class)
        return cls(**config)

    def _init_model(self, name, trainable=True):
        self.name = name
        self._trainable = bool(trainable)
        self.dtype = None
        self._weights = []
        self._declared_input_shape = None
        self.compiled = False
        self.optimizer = self.loss = None
        self.metrics = []
        self._output_spec = None  # per-output losses and metrics (striate.models.outputs)
        # Written by `fit` (striate.models.training) and callbacks, as in Keras: the History of
        # the last fit; True to stop at the end of the current batch; and why fit stopped on its
        # own (a loss that became NaN or infinite), or None.
        self.history = None
        self.stop_training = False
        self.stop_reason = None
        self.metadata = {}  # JSON-able facts saved with the model (dataset, class names...)
        self._metric_identifiers = []  # what compile received, for saving
        self._compiled_trainable_state = None
        self._trained_weights = None  # the weights fit updates, fixed at the first fit

    @property
    def summary(self):
        return _SummaryMethod(self)

    @property
    def layers(self):
        """The model's layers (a subclassed model's: those its attributes hold, in order)."""
        if self._layer_list is None:
            return tracking.sublayers(self)
        return self._layer_list

    @layers.setter
    def layers(self, value):
        self._layer_list = value

    # -- freezing ----------------------------------------------------------------------------
    def held_layers(self):
        """Its `layers`: setting `trainable` sets every one (it takes effect at `compile`, as
        in Keras), and the weights are theirs."""
        return self.layers

    def _flat_layers(self):
        """Every layer inside, nested models' layers included (and the nested models)."""
        found = []
        for layer in self.layers:
            found.append(layer)
            if isinstance(layer, Model):
                found.extend(layer._flat_layers())
        return found

    def _trainable_state(self):
        return {id(layer): (layer.name, layer.trainable) for layer in self._flat_layers()}

    def trained_weights(self, where):
        """The weights `fit` updates: those trainable at the first fit after `compile`, as
        Keras's optimizer is built then. A change of `trainable` since `compile` warns with
        Keras's message and takes effect only at the next `compile`."""
        state = self._trainable_state()
        if self._compiled_trainable_state is not None and state != self._compiled_trainable_state:
            changed = sorted(
                name
                for key, (name, trainable) in state.items()
                if self._compiled_trainable_state.get(key, (name, None))[1] != trainable
            )
            warnings.warn(
                "A layer's `trainable` state has changed since the model was compiled. This "
                "can result in unexpected behavior, as the compiled optimizer and loss "
                "functions may not track the correct variables. Please recompile your model "
                "(e.g. `model.compile(...)`) before calling `fit()` or `evaluate()` so the "
                f"change takes effect. Changed layers: {changed}",
                stacklevel=4,
            )
            self._compiled_trainable_state = state  # warn once per compile, as Keras
        if where == "fit" and self._trained_weights is None:
            self._trained_weights = list(self.trainable_weights)
        trained = self._trained_weights or []
        ids = {id(w) for w in trained}
        for weight in self.weights:  # frozen weights get no gradient at all
            weight.requires_grad = id(weight) in ids
        return trained

    # -- structure and weights ----------------------------------------------------------------
    def get_layer(self, name=None, index=None):
        """A layer by name or by index (`striate.layers.lookup.layer_index`)."""
        key = name if index is None else index
        return self.layers[layer_index(self.layers, key, "get_layer")]

    def set_weights(self, arrays):
        arrays = list(arrays)
        if self._layer_list is None:  # a subclassed model: its weights in `weights` order
            return Layer.set_weights(self, arrays)
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
        return int(sum(w.data.size for w in self.weights))

    def float_type(self):
        """The float dtype the model computes in (its first layer's, float32 by default)."""
        for layer in self.layers:
            if isinstance(layer, Model):
                return layer.float_type()
            if not isinstance(layer, InputLayer):
                return np.dtype(layer.dtype)
        return np.dtype(self.layers[0].dtype if self.layers else "float32")

    # -- training --------------------------------------------------------------------------------
    def compile(
        self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None, weighted_metrics=None
    ):
        """Choose the optimizer, the loss and the metrics (names or objects); for several
        outputs, per output (a list or a dict by output name: `striate.models.outputs`)."""
        if loss is None:
            raise ValueError(
                "compile: a loss is required, e.g. loss='sparse_categorical_crossentropy'."
            )
        self._check_compilable(loss)
        self.optimizer = optimizers_module.get(optimizer)
        self._output_spec = output_spec = outputs_module.configure(
            self, loss, loss_weights, metrics, weighted_metrics
        )
        if output_spec is not None:
            self.loss = next((item for item in output_spec.losses if item), None)
            self.metrics = [(entry[0], entry[2]) for entry in output_spec.metrics]
            self._metric_identifiers = []
            self.compiled = True
            self._compiled_trainable_state = self._trainable_state()
            self._trained_weights = None
            return
        self.loss = losses_module.get(loss)
        if metrics is not None and not isinstance(metrics, (list, tuple)):
            metrics = [metrics]
        loss_name = getattr(self.loss, "registered_name", None) or self.loss.name
        self.metrics = [metrics_module.get(m, loss_name) for m in metrics or []]
        self._weighted_metrics = outputs_module.weighted_metrics(self, weighted_metrics, self.loss)
        self._metric_identifiers = [metrics_module.saving_identifier(m) for m in metrics or []]
        self.compiled = True
        self._compiled_trainable_state = self._trainable_state()
        self._trained_weights = None

    def _check_compilable(self, loss):
        """Raise if this model cannot be trained with `loss` (Functional: one output only)."""

    # -- a user's subclass ------------------------------------------------------------------------
    def build(self, input_shape):
        """Build a subclassed model for `input_shape` (batch first) by running its `call` on a
        symbolic tensor (which builds every layer it calls); returns the output shape."""
        shape = (None,) + tuple(input_shape)[1:]
        self.output_shape = tracking.infer_output_shape(self, shape)
        self.input_shape, self.built = shape, True
        return self.output_shape

    def build_for(self, input_shape):
        if self.built:
            return self.output_shape
        return self.build(input_shape)

    def __call__(self, inputs, training=None):
        if is_symbolic(inputs):  # used as a layer of a functional model
            return call_symbolic(self, inputs, training)
        training = tracking.current_training() if training is None else training
        if not isinstance(inputs, Tensor):
            array = training_loop.prepare_inputs(self, inputs, "call")
            inputs = Tensor(array.astype(self.float_type(), copy=False))
        elif not self.built:
            self.build((None,) + inputs.data.shape[1:])
        return tracking.invoke(self, inputs, training)

    def call_with_loss(self, inputs, y_true, training=False):
        """`(loss, outputs)` for a batch of a subclassed model: its call, then the loss."""
        outputs = tracking.invoke(self, inputs, training)
        return self.loss(y_true, outputs), outputs.data

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
        class_weight=None,
        sample_weight=None,
        initial_epoch=0,
        steps_per_epoch=None,
        validation_steps=None,
        validation_batch_size=None,
        validation_freq=1,
        doctor=True,
    ):
        """Train for `epochs` epochs; returns a History (`history.history['val_acc']`...).
        `x`: arrays, or a generator, a `striate.utils.PyDataset` or any iterable of batches
        (`striate.models.data_adapters`). `doctor=False` turns off the training doctor
        (`striate.callbacks.Doctor`: its findings in `history.health`)."""
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
            class_weight=class_weight,
            sample_weight=sample_weight,
            steps_per_epoch=steps_per_epoch,
            validation_steps=validation_steps,
            validation_batch_size=validation_batch_size,
            validation_freq=validation_freq,
            doctor=doctor,
        )

    def evaluate(
        self,
        x=None,
        y=None,
        batch_size=None,
        verbose="auto",
        sample_weight=None,
        steps=None,
        return_dict=False,
    ):
        """Loss and metrics on (x, y): `[loss, acc]`, or a dict with `return_dict=True`."""
        return training_loop.evaluate(
            self, x, y, batch_size, verbose, return_dict, sample_weight=sample_weight, steps=steps
        )

    def predict(self, x, batch_size=None, verbose="auto", steps=None):
        """The model's outputs for `x`, computed in batches (default 32) without training."""
        return training_loop.predict(self, x, batch_size=batch_size, verbose=verbose, steps=steps)

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        """One training step on the batch (x, y): its loss (and metrics). See `on_batch`."""
        return on_batch.train_on_batch(self, x, y, sample_weight, class_weight, return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """The loss (and metrics) of the batch (x, y), without training."""
        return on_batch.test_on_batch(self, x, y, sample_weight, return_dict)

    def predict_on_batch(self, x):
        """The model's outputs for the batch x."""
        return on_batch.predict_on_batch(self, x)

    def to_json(self, **kwargs):
        """The architecture as JSON text (`striate.models.model_from_json` reads it back)."""
        from striate.models.cloning import to_json

        return to_json(self, **kwargs)

    def reset_metrics(self):
        """Keras's reset of the metrics' state: striate's metrics start afresh at every call of
        fit, evaluate and the *_on_batch methods, so there is nothing to reset."""

    # -- files -----------------------------------------------------------------------------------
    def save(self, filepath, overwrite=True):
        """Write one file with the architecture, weights, compile settings and training state
        (see `striate.saving`); `load_model(filepath)` reads it back. A name ending in `.keras`
        writes Keras 3's own file. Under an `MPIStrategy` only rank 0 writes."""
        if distribute.is_worker():
            return None
        tool("save_model", f"{type(self).__name__}.save")(self, filepath, overwrite=overwrite)

    def save_weights(self, filepath, overwrite=True):
        """Write only the weights (with layer names and shapes, checked by `load_weights`)."""
        if distribute.is_worker():
            return None
        where = f"{type(self).__name__}.save_weights"
        tool("save_weights", where)(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath):
        """Set the weights from a `save_weights` or `save` file of the same architecture."""
        tool("load_weights", f"{type(self).__name__}.load_weights")(self, filepath)

    # -- seeing inside ---------------------------------------------------------------------------
    def inspect(self, x, class_index=None):
        """Every layer's output for ONE input x ((H, W, C) or (1, H, W, C)), with pre-activations,
        and, for `class_index` (an int or 'predicted'), the gradient of that class's score
        (before softmax) with respect to every layer's output and the input. See `striate.see`.
        """
        return tool("inspect", f"{type(self).__name__}.inspect")(self, x, class_index)
