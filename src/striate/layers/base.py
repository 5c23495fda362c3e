"""The layer life cycle, as in Keras: `__init__` stores config, `build` makes weights,
`call` computes, `compute_output_shape` is pure arithmetic, `get_config` round-trips.
"""

import contextlib
import contextvars
import math
import re

import numpy as np

from striate import backend, constraints, initializers, regularizers
from striate.layers import symbolic, tracking
from striate.ops.geometry import padding_mode, pair
from striate.tensor import Tensor, Variable

MAX_WEIGHT_VALUES = 2**31  # values in one weight array (8 GiB of float32)
_BUDGET = contextvars.ContextVar("striate_weight_budget", default=None)


@contextlib.contextmanager
def weight_budget(values, why):
    """While inside, layers refuse to make more than `values` weight values in all; `why` ends
    the error (e.g. "the 1200 values its file holds"). Bounds what a file's claims allocate."""
    token = _BUDGET.set([values, why])
    try:
        yield
    finally:
        _BUDGET.reset(token)


def reset_names():
    """Start default layer names again from `conv2d`, `dense`... (`backend.clear_session`)."""
    backend.clear_session(free_memory=False)


def default_name(cls):
    """Keras's name for a class's next instance: its snake-case name, then `_1`, `_2`...
    (`ReLU` gives `re_lu`, `MaxPooling2D` `max_pooling2d`)."""
    base = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", re.sub(r"\W+", "", cls.__name__))
    base = re.sub(r"([a-z])([A-Z])", r"\1_\2", base).lower()
    uid = backend.get_uid(base)
    return base if uid == 1 else f"{base}_{uid - 1}"


def format_shape(shape):
    """(None, 27, 27, 6) as Keras prints it."""
    return (
        "("
        + ", ".join("None" if d is None else str(d) for d in shape)
        + (",)" if len(shape) == 1 else ")")
    )


class Layer:
    """Base class. Subclasses override `build`, `call`, `compute_output_shape`, `get_config`."""

    activity_regularizer = None  # a Regularizer of the outputs (`striate.models.penalties`)

    def __init__(
        self,
        name=None,
        trainable=True,
        dtype=None,
        input_shape=None,
        batch_input_shape=None,
        activity_regularizer=None,
        **unknown,
    ):
        if unknown:
            raise TypeError(
                f"{type(self).__name__}: unexpected keyword argument(s) "
                f"{', '.join(sorted(unknown))}. Received: {unknown!r}"
            )
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(
                f"{type(self).__name__}: name must be a non-empty string. Received: name={name!r}"
            )
        self.name = name or default_name(type(self))
        self.trainable = bool(trainable)
        self.dtype = dtype or backend.floatx()
        self.built = False
        self.input_shape = None
        self.output_shape = None
        self._weights = []
        self._declared_input_shape = None
        if batch_input_shape is not None:
            self._declared_input_shape = tuple(batch_input_shape)
        elif input_shape is not None:
            self._declared_input_shape = (None,) + as_input_shape(self, input_shape)
        if activity_regularizer is not None:  # its penalty of the outputs joins the loss
            self.activity_regularizer = regularizers.get(activity_regularizer)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}, built={self.built}>"

    def describe(self):
        """`Conv2D 'conv2d'`: how errors name this layer."""
        return f"{type(self).__name__} '{self.name}'"

    # -- weights ---------------------------------------------------------------------------
    def add_weight(
        self,
        name=None,
        shape=None,
        initializer=None,
        trainable=True,
        dtype=None,
        regularizer=None,
        constraint=None,
        **unknown,
    ):
        """A new weight of this layer. Keras 3's keyword form (`add_weight(shape=...,
        initializer=..., trainable=..., name=...)`) and its positional order (shape first)
        work too; the initializer defaults to Keras's 'glorot_uniform'. A `regularizer`'s
        penalty of the weight joins the training loss; a `constraint` is applied to it after
        every optimizer step (`striate.models.penalties`), as in Keras."""
        if unknown:
            raise TypeError(
                f"{self.describe()}.add_weight: unexpected keyword argument(s) "
                f"{', '.join(sorted(unknown))}. Received: {unknown!r}"
            )
        if name is not None and not isinstance(name, str):  # Keras 3: add_weight(shape, init)
            name, shape, initializer = None, name, initializer or shape
        if isinstance(shape, (int, np.integer)):
            shape = (int(shape),)
        if name is None:
            name = f"variable_{len(self._weights)}" if self._weights else "variable"
        size, budget = math.prod(int(d) for d in shape), _BUDGET.get()
        limit, why = (
            MAX_WEIGHT_VALUES,
            f"the limit of {MAX_WEIGHT_VALUES} values in one weight (MAX_WEIGHT_VALUES)",
        )
        if budget is not None and budget[0] < limit:
            limit, why = budget
        if size > limit:
            raise ValueError(
                f"{self.describe()}: weight '{name}' of shape {tuple(shape)} would "
                f"have {size} values, more than {why}."
            )
        if budget is not None:
            budget[0] -= size
        values = initializers.get(initializer or "glorot_uniform")(
            tuple(shape), np.dtype(dtype or self.dtype)
        )
        weight = Variable(
            values,
            trainable=trainable,
            name=f"{self.name}/{name}",
            regularizer=regularizers.get(regularizer),
            constraint=constraints.get(constraint),
        )
        weight.requires_grad = trainable and self.trainable
        self._weights.append(weight)
        return weight

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        """As in Keras, setting it sets every layer this one holds."""
        self._trainable = bool(value)
        for layer in self.held_layers():
            layer.trainable = value

    def held_layers(self):
        """The layers this one holds (found in its attributes, lists and dicts); a model's are
        its `layers`. Weights and freezing go through them."""
        return tracking.sublayers(self)

    @property
    def weights(self):
        """Own weights, then those of the layers it holds (each once)."""
        found, seen = [], set()
        for weight in self._weights + [w for s in self.held_layers() for w in s.weights]:
            if id(weight) not in seen:
                seen.add(id(weight))
                found.append(weight)
        return found

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        own = [w for w in self._weights if w.trainable]
        ids = {id(w) for w in own + [w for s in self.held_layers() for w in s.trainable_weights]}
        return [w for w in self.weights if id(w) in ids]

    @property
    def non_trainable_weights(self):
        ids = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in ids]

    def get_weights(self):
        """Copies of every weight array (a model's: layer by layer, kernel then bias, as Keras
        orders them)."""
        return [w.data.copy() for w in self.weights]

    def set_weights(self, arrays):
        arrays = list(arrays)
        weights = self.weights
        if len(arrays) != len(weights):
            raise ValueError(
                f"{self.describe()}: expected {len(weights)} weight arrays "
                f"{[w.data.shape for w in weights]}. Received: {len(arrays)} arrays."
            )
        for weight, array in zip(weights, arrays):
            array = np.asarray(array)
            if array.shape != weight.data.shape:
                raise ValueError(
                    f"{self.describe()}: weight '{weight.name}' has shape {weight.data.shape}. "
                    f"Received: an array of shape {array.shape}."
                )
            np.copyto(weight.data, array, casting="unsafe")

    def count_params(self):
        return int(sum(w.data.size for w in self.weights))

    # -- life cycle ---------------------------------------------------------------------------
    def build(self, input_shape):
        """Make the weights for `input_shape` (batch dimension None)."""

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def call(self, inputs, training=False):
        return inputs

    @property
    def fusions(self):
        """What the execution plan (`striate.models.plan`) may run in place of `call`, as a
        frozenset of these promises (none by default: the plan then only calls `call`):

        - 'activation': `call(x)` is `self.activation(self.call_without_activation(x))`, so the
          plan may apply the activation itself: after a max pooling (a ReLU) or inside the
          loss (a softmax). (For an `Activation` layer `call_without_activation` is the
          identity, so the plan drops that step.)
        - 'max_pool': `call(x)` is `max_pool2d(x, self.pool_size, self.strides, self.padding)`.
        - 'conv_max_pool': `call_max_pooled(x, relu)` is `call_without_activation(x)` followed
          by a 2x2 max pooling (and a ReLU), as one op, with the numbers of
          `call_without_activation(x, pixel_order='blocks')` (`striate.ops.conv_pool`).

        A layer that overrides the methods a promise names declares none of it.
        """
        return frozenset()

    def build_for(self, input_shape):
        """Check, build and record shapes; returns the output shape. Idempotent."""
        input_shape = tuple(input_shape)
        if self.built and self.output_shape is not None:
            self.check_input_shape(input_shape)
            return self.output_shape
        if tracking.is_custom(self):  # a user's layer: build, then run call to find shapes
            if not self.built:
                self.build(input_shape)
            self.input_shape, self.built = input_shape, True
            self.output_shape = tracking.infer_output_shape(self, input_shape)
            return self.output_shape
        output_shape = tuple(self.compute_output_shape(input_shape))
        self.build(input_shape)
        self.input_shape, self.output_shape, self.built = input_shape, output_shape, True
        return output_shape

    def check_input_shape(self, shape):
        expected = self.input_shape
        if not all(isinstance(d, (int, type(None))) for d in tuple(expected) + tuple(shape)):
            return  # several inputs (a user's layer): its own call checks them
        if len(shape) != len(expected) or any(
            e is not None and s is not None and e != s for e, s in zip(expected, shape)
        ):
            raise ValueError(
                f"{self.describe()}: expected input shape {format_shape(expected)}. "
                f"Received: input shape {format_shape(shape)}."
            )

    def __call__(self, inputs, training=None):
        """Run the layer (building it for the input's shape first). Inside another layer's or
        model's call, `training` defaults to that call's (as in Keras); `training` is passed
        only to a `call` that takes it."""
        if symbolic.is_symbolic(inputs):  # a functional model being defined
            return symbolic.call_symbolic(self, inputs, training)
        training = tracking.current_training() if training is None else training
        if isinstance(inputs, (list, tuple)):
            tensors = [t if isinstance(t, Tensor) else Tensor(np.asarray(t)) for t in inputs]
            self.build_for([(None,) + t.data.shape[1:] for t in tensors])
            return tracking.invoke(self, type(inputs)(tensors), training)
        tensor = inputs if isinstance(inputs, Tensor) else Tensor(np.asarray(inputs))
        self.build_for((None,) + tensor.data.shape[1:])
        return tracking.invoke(self, tensor, training)

    @property
    def output(self):
        """The symbolic output of this layer's first call in a functional graph (Keras's
        `layer.output`, e.g. `model.get_layer("conv").output` for a feature extractor)."""
        if "_output" in self.__dict__:
            return self.__dict__["_output"]
        return self._first_call("output").output

    @output.setter
    def output(self, value):  # an InputLayer's output is its own symbolic tensor
        self.__dict__["_output"] = value

    @property
    def input(self):
        """The symbolic input(s) of this layer's first call in a functional graph."""
        return self._first_call("input").inputs

    def _first_call(self, what):
        nodes = self.__dict__.get("_inbound_nodes")
        if not nodes:
            raise AttributeError(
                f"{self.describe()} has never been called and thus has no defined {what}. "
                f"Call it on the output of Input(...) or of another layer first."
            )
        return nodes[0]

    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}
        if self._declared_input_shape is not None:
            config["batch_input_shape"] = list(self._declared_input_shape)
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        return config

    @property
    def losses(self):
        """The penalties of this layer's weights and those it holds (Keras's weight
        regularization losses), as scalar Tensors; `fit` adds them to the loss."""
        return [w.regularizer(w) for w in self.trainable_weights if w.regularizer is not None]

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def as_input_shape(layer, shape):
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    try:
        shape = tuple(None if d is None else int(d) for d in shape)
    except (TypeError, ValueError):
        raise TypeError(
            f"{type(layer).__name__}: input_shape must be a tuple of ints, without "
            f"the batch size. Received: input_shape={shape!r}"
        ) from None
    if any(d is not None and d <= 0 for d in shape):
        raise ValueError(
            f"{type(layer).__name__}: input_shape dimensions must be positive. "
            f"Received: input_shape={shape!r}"
        )
    return shape


def normalize_tuple(layer, name, value):
    """`2` -> (2, 2): two positive ints (`striate.ops.geometry.pair`, the one home of this
    rule). Errors name the layer (or function) and the argument."""
    return pair(value, name, layer)


def check_channels_last(layer, data_format):
    """Raise unless data_format is None or 'channels_last' (NHWC, the only layout striate runs)."""
    if data_format not in (None, "channels_last"):
        raise ValueError(
            f"{layer.describe()}: striate runs images channels_last only: only "
            f"data_format='channels_last' (NHWC) is supported. Received: "
            f"data_format={data_format!r}"
        )


def normalize_padding(layer, value):
    """'valid' or 'same', case-insensitive (`striate.ops.geometry.padding_mode`)."""
    return padding_mode(value, layer)
