"""Activation layers with settings, as Keras 3 has them: Softmax, ReLU, LeakyReLU, ELU, PReLU.

Softmax, ReLU, LeakyReLU and ELU are `Activation` layers whose activation is the op with their
settings bound, so the execution plan treats them as it treats `Activation(...)`: `Softmax()`
at the end of a model runs fused with a cross-entropy loss, a plain `ReLU()` before a max
pooling is applied after it (`striate.models.plan`). PReLU has a weight, `alpha`.
"""

import functools
import numbers
import warnings

from striate import initializers
from striate.layers.base import Layer
from striate.layers.core import Activation
from striate.ops import activations as activation_ops
from striate.ops import piecewise


def _bind(op, **settings):
    """`op` with `settings` bound, named after `op` (as `see` prints activation names)."""
    bound = functools.partial(op, **settings)
    bound.__name__ = op.__name__
    return bound


def _number(layer, name, value, allow_none=False):
    """`value` as a float >= 0 (or None when allowed), else an error naming the layer."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0:
        allowed = "a number >= 0" + (" or None" if allow_none else "")
        raise ValueError(
            f"{layer.describe()}: {name} must be {allowed}. Received: {name}={value!r}"
        )
    return value


class Softmax(Activation):
    """softmax along `axis` (an int, or a list of ints to normalise over together).

    >>> import numpy as np
    >>> Softmax()(np.array([[1.0, 2.0, 1.0]])).data.round(6)
    array([[0.211942, 0.576117, 0.211942]])
    """

    def __init__(self, axis=-1, **kwargs):
        Layer.__init__(self, **kwargs)
        items = axis if isinstance(axis, (list, tuple)) else [axis]
        if not items or any(isinstance(a, bool) or not isinstance(a, int) for a in items):
            raise TypeError(
                f"{self.describe()}: axis must be an int or a list of ints. Received: axis={axis!r}"
            )
        self.axis = list(axis) if isinstance(axis, (list, tuple)) else axis
        if axis == -1:
            self.activation = activation_ops.softmax  # the op the plan fuses with a loss
        else:
            op_axis = tuple(items) if len(items) > 1 else items[0]
            self.activation = _bind(activation_ops.softmax, axis=op_axis)

    def build(self, input_shape):
        items = self.axis if isinstance(self.axis, list) else [self.axis]
        if any(a == 0 or not -len(input_shape) < a < len(input_shape) for a in items):
            raise ValueError(
                f"{self.describe()}: axis {self.axis} is out of range for input shape "
                f"{tuple(input_shape)} (the batch axis cannot be normalised). "
                f"Received: axis={self.axis!r}"
            )

    def get_config(self):
        return {**Layer.get_config(self), "axis": self.axis}


class ReLU(Activation):
    """`min(x, max_value)` where `x > threshold`, else `negative_slope * (x - threshold)`.

    >>> import numpy as np
    >>> ReLU(max_value=6.0)(np.array([[-1.0, 3.0, 8.0]])).data
    array([[0., 3., 6.]])
    """

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        Layer.__init__(self, **kwargs)
        self.max_value = _number(self, "max_value", max_value, allow_none=True)
        self.negative_slope = _number(self, "negative_slope", negative_slope)
        self.threshold = _number(self, "threshold", threshold)
        if self.negative_slope == 0 and self.threshold == 0 and self.max_value is None:
            self.activation = activation_ops.relu  # the op the plan moves after a max pooling
        elif self.negative_slope == 0 and self.threshold == 0 and self.max_value == 6:
            self.activation = piecewise.relu6
        else:
            self.activation = _bind(
                piecewise.relu_general,
                negative_slope=self.negative_slope,
                max_value=self.max_value,
                threshold=self.threshold,
            )

    def get_config(self):
        return {
            **Layer.get_config(self),
            "max_value": self.max_value,
            "negative_slope": self.negative_slope,
            "threshold": self.threshold,
        }


class LeakyReLU(Activation):
    """x where x > 0, else `negative_slope * x` (Keras 3 default 0.3; Keras 2's `alpha=` still
    works, with Keras's deprecation warning).

    >>> import numpy as np
    >>> LeakyReLU()(np.array([[-1.0, 2.0]])).data
    array([[-0.3,  2. ]])
    """

    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:
            negative_slope = kwargs.pop("alpha")
            warnings.warn(
                "Argument `alpha` is deprecated. Use `negative_slope` instead.", stacklevel=2
            )
        Layer.__init__(self, **kwargs)
        self.negative_slope = _number(self, "negative_slope", negative_slope)
        self.activation = _bind(activation_ops.leaky_relu, negative_slope=self.negative_slope)

    def get_config(self):
        return {**Layer.get_config(self), "negative_slope": self.negative_slope}


class ELU(Activation):
    """x where x > 0, else `alpha * (exp(x) - 1)`.

    >>> import numpy as np
    >>> ELU(alpha=2.0)(np.array([[0.0, 1.0]])).data
    array([[0., 1.]])
    """

    def __init__(self, alpha=1.0, **kwargs):
        Layer.__init__(self, **kwargs)
        if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
            raise TypeError(f"{self.describe()}: alpha must be a number. Received: alpha={alpha!r}")
        self.alpha = alpha
        self.activation = _bind(activation_ops.elu, alpha=alpha)

    def get_config(self):
        return {**Layer.get_config(self), "alpha": self.alpha}


class PReLU(Layer):
    """x where x > 0, else `alpha * x`, with `alpha` a weight per unit (the input shape without
    the batch axis), shared (size 1) over `shared_axes`: `shared_axes=[1, 2]` after a Conv2D
    gives one slope per channel.

    >>> PReLU(shared_axes=[1, 2]).build_for((None, 5, 5, 3)), PReLU().count_params()
    ((None, 5, 5, 3), 0)
    """

    def __init__(
        self,
        alpha_initializer="zeros",
        alpha_regularizer=None,
        alpha_constraint=None,
        shared_axes=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for name, value in (
            ("alpha_regularizer", alpha_regularizer),
            ("alpha_constraint", alpha_constraint),
        ):
            if value is not None:
                raise ValueError(
                    f"{self.describe()}: {name} is not supported: striate does not apply weight "
                    f"regularizers or constraints in training yet. Received: {name}={value!r}"
                )
        self.alpha_initializer = initializers.get(alpha_initializer)
        axes = shared_axes if isinstance(shared_axes, (list, tuple)) else [shared_axes]
        if shared_axes is not None and any(
            isinstance(a, bool) or not isinstance(a, int) or a < 1 for a in axes
        ):
            raise ValueError(
                f"{self.describe()}: shared_axes must be None or positive ints (axis 0 is the "
                f"batch). Received: shared_axes={shared_axes!r}"
            )
        self.shared_axes = None if shared_axes is None else list(axes)

    def compute_output_shape(self, input_shape):
        if any(a >= len(input_shape) for a in self.shared_axes or ()):
            raise ValueError(
                f"{self.describe()}: shared_axes {self.shared_axes} must be axes of the input "
                f"shape {tuple(input_shape)}. Received: shared_axes={self.shared_axes!r}"
            )
        shape = self._alpha_shape(input_shape)
        if None in shape:
            raise ValueError(
                f"{self.describe()}: the input dimensions that are not shared must be known. "
                f"Received: input shape {tuple(input_shape)}, shared_axes={self.shared_axes!r}"
            )
        return tuple(input_shape)

    def _alpha_shape(self, input_shape):
        shared = set(self.shared_axes or ())
        return tuple(1 if i in shared else d for i, d in enumerate(input_shape) if i > 0)

    def build(self, input_shape):
        self.alpha = self.add_weight(
            "alpha", self._alpha_shape(input_shape), self.alpha_initializer
        )

    def call(self, inputs, training=False):
        return piecewise.prelu(inputs, self.alpha)

    def get_config(self):
        return {
            **super().get_config(),
            "alpha_initializer": initializers.serialize(self.alpha_initializer),
            "alpha_regularizer": None,
            "alpha_constraint": None,
            "shared_axes": self.shared_axes,
        }
