"""SpatialDropout2D: dropout of whole channels (Keras 3's arguments)."""

import numpy as np

from striate import backend
from striate.layers.base import Layer, check_channels_last
from striate.layers.conv import check_image_input
from striate.ops import regularization


class SpatialDropout2D(Layer):
    """At training, zero whole channels of each sample with probability `rate` and scale the
    rest by 1 / (1 - rate); the identity at inference.

    >>> SpatialDropout2D(0.5).compute_output_shape((None, 8, 8, 3))
    (None, 8, 8, 3)
    """

    def __init__(self, rate, data_format=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        check_channels_last(self, data_format)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
            raise ValueError(
                f"{self.describe()}: rate must be a number in [0, 1). Received: rate={rate!r}"
            )
        self.rate = float(rate)
        self.seed = seed
        # Its own generator when seeded (saved with the model, as Dropout's), else backend.rng().
        self.generator = None if seed is None else np.random.default_rng(seed)

    def compute_output_shape(self, input_shape):
        check_image_input(self, input_shape)
        return tuple(input_shape)

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        return regularization.spatial_dropout2d(inputs, self.rate, self.generator or backend.rng())

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}
