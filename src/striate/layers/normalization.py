"""BatchNormalization with Keras's defaults (momentum 0.99, epsilon 1e-3)."""

import numpy as np

from striate import initializers
from striate.layers.base import Layer
from striate.layers.weight_options import (
    add_weight_with_options,
    set_named_options,
    weight_options_config,
)
from striate.ops import normalization as norm_ops

# the options of gamma and beta, by Keras's names (BatchNormalization, LayerNormalization)
NORMALIZATION_OPTIONS = (
    "beta_regularizer",
    "gamma_regularizer",
    "beta_constraint",
    "gamma_constraint",
)


class ScaleAndCenter(Layer):
    """What the normalization layers share: `scale` (a learned gamma) and `center` (a learned
    beta) over the normalized axes, their initializers, regularizers and constraints (Keras's
    names), the weights made in `build` and their part of the config."""

    def init_scale_and_center(self, center, scale, beta_initializer, gamma_initializer, **options):
        """Store the settings; `options`: beta/gamma regularizers and constraints."""
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        set_named_options(self, **options)

    def build_scale_and_center(self, shape):
        """gamma then beta (Keras's order), each only when asked for."""
        gamma, beta = self.gamma_initializer, self.beta_initializer
        self.gamma = add_weight_with_options(self, "gamma", shape, gamma) if self.scale else None
        self.beta = add_weight_with_options(self, "beta", shape, beta) if self.center else None

    def scale_and_center_config(self):
        return {
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            **weight_options_config(self, NORMALIZATION_OPTIONS),
        }


class BatchNormalization(ScaleAndCenter):
    """Normalizes the last axis: batch statistics in training (updating the moving ones with
    `moving = moving * momentum + batch * (1 - momentum)`), moving statistics at inference.

    Weights, in Keras's order: gamma, beta, moving_mean, moving_variance.
    """

    def __init__(
        self,
        axis=-1,
        momentum=0.99,
        epsilon=1e-3,
        center=True,
        scale=True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        moving_mean_initializer="zeros",
        moving_variance_initializer="ones",
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
        numbers = all(
            isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
            for v in (momentum, epsilon)
        )
        if (
            not numbers
            or not 0 <= momentum < 1
            or not 0 < epsilon < float(np.finfo(self.dtype).max)
        ):  # finite in the layer's dtype, not only in Python
            raise ValueError(
                f"{self.describe()}: need 0 <= momentum < 1 and a finite "
                f"epsilon > 0. Received: momentum={momentum!r}, epsilon={epsilon!r}"
            )
        self.axis, self.momentum, self.epsilon = axis, float(momentum), float(epsilon)
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
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)

    def build(self, input_shape):
        channels = (input_shape[-1],)
        self.build_scale_and_center(channels)
        self.moving_mean = self.add_weight(
            "moving_mean", channels, self.moving_mean_initializer, trainable=False
        )
        self.moving_variance = self.add_weight(
            "moving_variance", channels, self.moving_variance_initializer, trainable=False
        )

    def call(self, inputs, training=False):
        return norm_ops.batch_norm(
            inputs,
            self.gamma,
            self.beta,
            self.moving_mean.data,
            self.moving_variance.data,
            momentum=self.momentum,
            epsilon=self.epsilon,
            training=training and self.trainable,
        )

    def get_config(self):
        return {
            **super().get_config(),
            "axis": self.axis,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            **self.scale_and_center_config(),
            "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
            "moving_variance_initializer": initializers.serialize(self.moving_variance_initializer),
        }
