"""LayerNormalization with Keras's defaults (axis -1, epsilon 1e-3, gamma then beta)."""

from striate.layers.normalization import ScaleAndCenter
from striate.ops import layer_norm as layer_norm_ops


class LayerNormalization(ScaleAndCenter):
    """Normalises each sample over `axis` (an int or a list of them) to mean 0 and variance 1,
    then scales by gamma and shifts by beta (weights shaped like those axes).

    >>> LayerNormalization().compute_output_shape((None, 5, 3))
    (None, 5, 3)
    """

    def __init__(
        self,
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
        axes = axis if isinstance(axis, (list, tuple)) else [axis]
        if not axes or not all(isinstance(a, int) and not isinstance(a, bool) for a in axes):
            raise ValueError(
                f"{self.describe()}: axis must be an int or a list of ints. Received: axis={axis!r}"
            )
        if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or epsilon <= 0:
            raise ValueError(
                f"{self.describe()}: epsilon must be a number > 0. Received: epsilon={epsilon!r}"
            )
        self.axis = list(axis) if isinstance(axis, (list, tuple)) else axis
        self.epsilon = float(epsilon)
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

    def axes(self, rank):
        """The normalised axes as non-negative ints for an input of `rank` dims, or the error."""
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        if any(not -rank <= a < rank for a in axes) or any(a % rank == 0 for a in axes):
            raise ValueError(
                f"{self.describe()}: axis {self.axis} is out of bounds for input of {rank} dims "
                f"(axis 0, the batch, cannot be normalised). Received: axis={self.axis}"
            )
        return tuple(sorted({a % rank for a in axes}))

    def compute_output_shape(self, input_shape):
        self.axes(len(input_shape))
        return tuple(input_shape)

    def build(self, input_shape):
        self.build_scale_and_center(tuple(input_shape[a] for a in self.axes(len(input_shape))))

    def call(self, inputs, training=False):
        axes = self.axes(inputs.data.ndim)
        return layer_norm_ops.layer_norm(inputs, self.gamma, self.beta, axes, self.epsilon)

    def get_config(self):
        return {
            **super().get_config(),
            "axis": self.axis,
            "epsilon": self.epsilon,
            **self.scale_and_center_config(),
        }
