"""Keras's small layers that image programs use: Lambda, Identity, ActivityRegularization,
GaussianNoise, GaussianDropout, UnitNormalization, GroupNormalization (Keras 3's arguments and
defaults).

Their math is written with `striate.ops` (Keras's ops, each with its hand-written backward), so
their gradients come from those ops. A `Lambda` runs a Python function: it works in a model,
but a model file never holds code, so saving a model with one is refused with a clear error.
"""

import numpy as np

from striate import backend, ops, regularizers
from striate.layers.base import Layer
from striate.layers.normalization import ScaleAndCenter
from striate.tensor import Tensor


class Lambda(Layer):
    """`function(inputs)` as a layer (Keras's Lambda); the output shape is found by running it
    (or given as `output_shape`). Not saved in model files: they never hold code."""

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if not callable(function):
            raise TypeError(f"{self.describe()}: function must be callable. Received: {function!r}")
        if mask is not None:
            raise ValueError(f"{self.describe()}: striate layers make no masks; use mask=None.")
        self.function, self.arguments = function, dict(arguments or {})
        self._output_shape = None if output_shape is None else tuple(output_shape)

    def compute_output_shape(self, input_shape):
        if self._output_shape is not None:
            return (input_shape[0],) + self._output_shape
        zeros = Tensor(np.zeros((1,) + tuple(d or 1 for d in input_shape[1:]), self.dtype))
        return (input_shape[0],) + tuple(self.call(zeros).shape[1:])

    def call(self, inputs):
        out = self.function(inputs, **self.arguments)
        return out if isinstance(out, Tensor) else Tensor(np.asarray(out, self.dtype))

    def get_config(self):
        raise ValueError(
            f"{self.describe()}: a Lambda layer holds Python code, and a striate model file "
            f"never holds or runs code. Write the function as a custom Layer subclass and "
            f"register it (@striate.saving.register_serializable()), or save the weights "
            f"with save_weights. Received: function {self.function!r}."
        )


class Identity(Layer):
    """Returns its input unchanged."""

    def call(self, inputs):
        return inputs


class ActivityRegularization(Layer):
    """Adds `l1 * sum|x| + l2 * sum x^2` of its input (per sample, Keras's activity rule) to
    the training loss; returns the input unchanged."""

    def __init__(self, l1=0.0, l2=0.0, **kwargs):
        super().__init__(activity_regularizer=regularizers.L1L2(l1, l2), **kwargs)
        self.l1, self.l2 = float(l1), float(l2)

    def call(self, inputs):
        return inputs

    def get_config(self):
        config = {**super().get_config(), "l1": self.l1, "l2": self.l2}
        config.pop("activity_regularizer", None)
        return config


class _Noise(Layer):
    def __init__(self, rate_name, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate < 0:
            raise ValueError(
                f"{self.describe()}: {rate_name} must be a number >= 0. "
                f"Received: {rate_name}={rate!r}"
            )
        self.seed = seed
        # its own generator when seeded (saved with the model, as Dropout's), else the shared one
        self.generator = None if seed is None else np.random.default_rng(seed)

    def _rng(self):
        return self.generator or backend.rng()


class GaussianNoise(_Noise):
    """At training, adds zero-mean Gaussian noise of standard deviation `stddev`."""

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__("stddev", stddev, seed, **kwargs)
        self.stddev = float(stddev)

    def call(self, inputs, training=False):
        if not training or self.stddev == 0:
            return inputs
        noise = self._rng().normal(0.0, self.stddev, inputs.shape).astype(inputs.dtype)
        return inputs + noise

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


class GaussianDropout(_Noise):
    """At training, multiplies by Gaussian noise of mean 1 and standard deviation
    sqrt(rate / (1 - rate))."""

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__("rate", rate, seed, **kwargs)
        if rate >= 1:
            raise ValueError(f"{self.describe()}: rate must be < 1. Received: rate={rate!r}")
        self.rate = float(rate)

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        stddev = np.sqrt(self.rate / (1.0 - self.rate))
        noise = self._rng().normal(1.0, stddev, inputs.shape).astype(inputs.dtype)
        return inputs * noise

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


class UnitNormalization(Layer):
    """Scales each sample to unit L2 norm over `axis`: x / sqrt(max(sum x^2, 1e-12))."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = list(axis) if isinstance(axis, (list, tuple)) else int(axis)

    def call(self, inputs):
        squares = ops.sum(ops.square(inputs), axis=self.axis, keepdims=True)
        return inputs / ops.sqrt(ops.maximum(squares, 1e-12))

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class GroupNormalization(ScaleAndCenter):
    """Normalizes each sample over groups of channels (`groups` of them, channels last): each
    group to mean 0 and variance 1 (`epsilon` added), then `gamma` and `beta` per channel."""

    def __init__(
        self,
        groups=32,
        axis=-1,
        epsilon=1e-3,
        center=True,
        scale=True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        beta_regularizer=None,
        gamma_regularizer=None,
        beta_constraint=None,
        gamma_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if axis not in (-1,):
            raise ValueError(
                f"{self.describe()}: only axis=-1 (channels last) is supported. "
                f"Received: axis={axis!r}"
            )
        if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
            raise ValueError(
                f"{self.describe()}: groups must be a positive int. Received: groups={groups!r}"
            )
        self.groups, self.axis, self.epsilon = groups, axis, float(epsilon)
        self.init_scale_and_center(
            center,
            scale,
            beta_initializer,
            gamma_initializer,
            beta_regularizer=beta_regularizer,
            gamma_regularizer=gamma_regularizer,
            beta_constraint=beta_constraint,
            gamma_constraint=gamma_constraint,
        )

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels % self.groups:
            raise ValueError(
                f"{self.describe()}: the number of channels must be divisible by groups. "
                f"Received: groups={self.groups}, input shape {tuple(input_shape)}."
            )
        self.build_scale_and_center((channels,))

    def call(self, inputs):
        shape = inputs.shape
        grouped = ops.reshape(inputs, shape[:-1] + (self.groups, shape[-1] // self.groups))
        axes = tuple(range(1, len(shape) - 1)) + (len(shape),)  # all but batch and group
        mean = ops.mean(grouped, axis=axes, keepdims=True)
        centered = grouped - mean
        variance = ops.mean(ops.square(centered), axis=axes, keepdims=True)
        out = ops.reshape(centered / ops.sqrt(variance + self.epsilon), shape)
        if self.gamma is not None:
            out = out * self.gamma
        if self.beta is not None:
            out = out + self.beta
        return out

    def get_config(self):
        return {
            **super().get_config(),
            "groups": self.groups,
            "axis": self.axis,
            "epsilon": self.epsilon,
            **self.scale_and_center_config(),
        }
