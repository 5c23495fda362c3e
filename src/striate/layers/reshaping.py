"""Reshaping layers for images: UpSampling2D, Cropping2D, Permute (Keras 3's arguments)."""

from striate.layers.base import Layer, check_channels_last, normalize_tuple
from striate.layers.conv import check_image_input
from striate.ops import reshaping as reshaping_ops
from striate.ops.geometry import pad_spec


class UpSampling2D(Layer):
    """Repeats rows and columns `size` times ('nearest') or resizes bilinearly ('bilinear').

    >>> UpSampling2D((2, 3)).compute_output_shape((None, 4, 5, 2))
    (None, 8, 15, 2)
    """

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        check_channels_last(self, data_format)
        self.size = normalize_tuple(self.describe(), "size", size)
        mode = interpolation.lower() if isinstance(interpolation, str) else interpolation
        if mode not in ("nearest", "bilinear"):
            raise ValueError(
                f"{self.describe()}: interpolation must be 'nearest' or 'bilinear'. "
                f"Received: interpolation={interpolation!r}"
            )
        self.interpolation = mode

    def compute_output_shape(self, input_shape):
        check_image_input(self, input_shape)
        grown = [None if n is None else n * f for n, f in zip(input_shape[1:3], self.size)]
        return (input_shape[0], *grown, input_shape[3])

    def call(self, inputs, training=False):
        return reshaping_ops.upsampling2d(inputs, self.size, self.interpolation)

    def get_config(self):
        return {
            **super().get_config(),
            "size": list(self.size),
            "interpolation": self.interpolation,
        }


class Cropping2D(Layer):
    """Cuts rows and columns off the edges: `cropping` is an int, (rows, cols) or
    ((top, bottom), (left, right)).

    >>> Cropping2D(((1, 2), (0, 3))).compute_output_shape((None, 8, 8, 3))
    (None, 5, 5, 3)
    """

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(**kwargs)
        check_channels_last(self, data_format)
        self.cropping = pad_spec(cropping, self.describe(), "cropping")

    def compute_output_shape(self, input_shape):
        check_image_input(self, input_shape)
        sizes = []
        for axis, n, (before, after) in zip(("height", "width"), input_shape[1:3], self.cropping):
            if n is not None and before + after >= n:
                raise ValueError(
                    f"{self.describe()}: cropping {before} + {after} rows/columns leaves nothing "
                    f"of the input's {axis} {n}. Received: cropping="
                    f"{tuple(self.cropping)}, input shape {tuple(input_shape)}"
                )
            sizes.append(None if n is None else n - before - after)
        return (input_shape[0], *sizes, input_shape[3])

    def call(self, inputs, training=False):
        return reshaping_ops.cropping2d(inputs, self.cropping)

    def get_config(self):
        return {**super().get_config(), "cropping": [list(c) for c in self.cropping]}


class Permute(Layer):
    """Reorders the axes of each sample: `dims` is a permutation of 1..rank (batch not counted).

    >>> Permute((3, 1, 2)).compute_output_shape((None, 4, 5, 6))
    (None, 6, 4, 5)
    """

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        try:
            self.dims = tuple(int(d) for d in dims)
        except (TypeError, ValueError):
            self.dims = None
        if self.dims is None or sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ValueError(
                f"{self.describe()}: dims must be a permutation of 1..n (axis 0, the batch, "
                f"is not counted). Received: dims={dims!r}"
            )

    def compute_output_shape(self, input_shape):
        if len(input_shape) != len(self.dims) + 1:
            raise ValueError(
                f"{self.describe()}: expected input with {len(self.dims) + 1} dims (batch and "
                f"the {len(self.dims)} that dims orders). Received: input shape "
                f"{tuple(input_shape)}, dims={self.dims}"
            )
        return (input_shape[0], *(input_shape[d] for d in self.dims))

    def call(self, inputs, training=False):
        return reshaping_ops.permute(inputs, self.dims)

    def get_config(self):
        return {**super().get_config(), "dims": list(self.dims)}
