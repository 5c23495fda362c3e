"""Core layers: Input, Dense, Activation, Dropout, Flatten, Reshape."""

import math

import numpy as np

from striate import activations, backend, initializers
from striate.layers import symbolic
from striate.layers.base import MAX_WEIGHT_VALUES, Layer, as_input_shape, check_channels_last
from striate.layers.weight_options import (
    add_weight_with_options,
    set_weight_options,
    weight_options_config,
)
from striate.ops import dense as dense_ops
from striate.ops import regularization
from striate.ops import shape as shape_ops

_ACTIVATION_FUSION = frozenset({"activation"})


class InputLayer(Layer):
    """Declares the per-sample input shape of a Sequential model (`Input(shape=(28, 28, 1))`)."""

    def __init__(
        self, shape=None, batch_size=None, input_shape=None, batch_input_shape=None, **kwargs
    ):
        if shape is None and input_shape is None and batch_input_shape is None:
            raise ValueError("Input: a shape is required, e.g. Input(shape=(28, 28, 1)).")
        if batch_input_shape is None:
            per_sample = as_input_shape(self, shape if shape is not None else input_shape)
            batch_input_shape = (batch_size,) + per_sample
        super().__init__(batch_input_shape=batch_input_shape, **kwargs)
        shape = tuple(self._declared_input_shape)
        self.input_shape = self.output_shape = shape
        self.built = True
        self.output = symbolic.Node(self, [], shape, self.dtype).output

    def get_config(self):
        return super().get_config()


def Input(shape=None, batch_size=None, name=None, dtype=None):
    """A symbolic tensor standing for a model's input (Keras's `keras.Input`): call layers on
    it and give it to `Model(inputs, outputs)`, or start a `Sequential` with it."""
    return InputLayer(shape=shape, batch_size=batch_size, name=name, dtype=dtype).output


class Dense(Layer):
    """Fully connected: `activation(x @ kernel + bias)` on the last axis of any-rank input.

    >>> Dense(10).compute_output_shape((None, 1014))
    (None, 10)
    """

    def __init__(
        self,
        units,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        set_weight_options(
            self, kernel_regularizer, bias_regularizer, kernel_constraint, bias_constraint
        )
        if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
            raise ValueError(
                f"{self.describe()}: units must be a positive int. Received: units={units!r}"
            )
        if units > MAX_WEIGHT_VALUES:
            raise ValueError(
                f"{self.describe()}: units must be at most {MAX_WEIGHT_VALUES} "
                f"(MAX_WEIGHT_VALUES). Received: units={units!r:.40}"
            )
        self.units = units
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def compute_output_shape(self, input_shape):
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(
                f"{self.describe()}: the last input dimension must be known. "
                f"Received: input shape {input_shape}."
            )
        return tuple(input_shape[:-1]) + (self.units,)

    def build(self, input_shape):
        self.kernel = add_weight_with_options(
            self, "kernel", (input_shape[-1], self.units), self.kernel_initializer
        )
        self.bias = (
            add_weight_with_options(self, "bias", (self.units,), self.bias_initializer)
            if self.use_bias
            else None
        )

    def call(self, inputs, training=False):
        return self.activation(dense_ops.dense(inputs, self.kernel, self.bias))

    def call_without_activation(self, inputs):
        """`inputs @ kernel + bias`, before the activation."""
        return dense_ops.dense(inputs, self.kernel, self.bias)

    @property
    def fusions(self):
        """'activation' (see `Layer.fusions`), unless a subclass overrides `call` or
        `call_without_activation`."""
        cls = type(self)
        if cls.call is Dense.call and cls.call_without_activation is Dense.call_without_activation:
            return _ACTIVATION_FUSION
        return frozenset()

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            **weight_options_config(self),
        }


class Activation(Layer):
    """Applies an activation by name: `Activation('relu')`, `Activation('softmax')`."""

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call(self, inputs, training=False):
        return self.activation(inputs)

    def call_without_activation(self, inputs):
        """The input itself (the plan drops this step)."""
        return inputs

    @property
    def fusions(self):
        """'activation' (see `Layer.fusions`), unless a subclass overrides `call`."""
        return _ACTIVATION_FUSION if type(self).call is Activation.call else frozenset()

    def get_config(self):
        return {**super().get_config(), "activation": activations.serialize(self.activation)}


class Dropout(Layer):
    """Inverted dropout: at training, zero a `rate` fraction and scale the rest by 1/(1-rate)."""

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
            raise ValueError(
                f"{self.describe()}: rate must be a number in [0, 1). Received: rate={rate!r}"
            )
        self.rate = float(rate)
        self.seed = seed
        # The layer's own random generator when seeded (else the shared one, backend.rng());
        # model files save and restore its state, so a resumed fit draws the same masks.
        self.generator = None if seed is None else np.random.default_rng(seed)

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        return regularization.dropout(inputs, self.rate, self.generator or backend.rng())

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


class Flatten(Layer):
    """(N, d1, d2, ...) -> (N, d1*d2*...), row-major like Keras (channels last)."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        check_channels_last(self, data_format)

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        return (input_shape[0], None if None in rest else math.prod(rest))

    def call(self, inputs, training=False):
        return shape_ops.flatten(inputs)


class Reshape(Layer):
    """Reshape each sample to `target_shape` (one dimension may be -1)."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(int(d) for d in target_shape)
        if sum(d == -1 for d in self.target_shape) > 1 or any(
            d == 0 or d < -1 for d in self.target_shape
        ):
            raise ValueError(
                f"{self.describe()}: target_shape must be positive ints with at most "
                f"one -1. Received: target_shape={target_shape!r}"
            )

    def compute_output_shape(self, input_shape):
        size = None if None in input_shape[1:] else math.prod(input_shape[1:])
        known = math.prod(d for d in self.target_shape if d != -1)
        if size is None:
            return (input_shape[0],) + tuple(None if d == -1 else d for d in self.target_shape)
        if (-1 in self.target_shape and size % known) or (
            -1 not in self.target_shape and size != known
        ):
            raise ValueError(
                f"{self.describe()}: cannot reshape {size} values per sample "
                f"(input shape {input_shape}) to {self.target_shape}. "
                f"Received: target_shape={self.target_shape}."
            )
        return (input_shape[0],) + tuple(size // known if d == -1 else d for d in self.target_shape)

    def call(self, inputs, training=False):
        return shape_ops.reshape(inputs, self.output_shape[1:])

    def get_config(self):
        return {**super().get_config(), "target_shape": list(self.target_shape)}
