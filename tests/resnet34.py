"""A subclassed ResNet-34 written once for striate and Keras (tests build it in both)."""

from functools import partial


def resnet34(lib, classes=10):
    """Géron's ResNet-34 ("Hands-On Machine Learning", ch. 14: 21,306,826 parameters with 10
    classes): a custom ResidualUnit layer that keeps its sub-layers in lists, here inside a
    subclassed model (stem in a list, units in a list, head in a dict). Built by calling it
    on zeros, as Keras 3 needs."""
    layers = lib.layers
    DefaultConv2D = partial(layers.Conv2D, kernel_size=3, strides=1, padding="same", use_bias=False)

    class ResidualUnit(layers.Layer):
        def __init__(self, filters, strides=1, activation="relu", **kwargs):
            super().__init__(**kwargs)
            self.activation = lib.activations.get(activation)
            self.main_layers = [
                DefaultConv2D(filters, strides=strides),
                layers.BatchNormalization(),
                layers.Activation(activation),
                DefaultConv2D(filters),
                layers.BatchNormalization(),
            ]
            self.skip_layers = []
            if strides > 1:
                self.skip_layers = [
                    DefaultConv2D(filters, kernel_size=1, strides=strides),
                    layers.BatchNormalization(),
                ]

        def call(self, inputs, training=None):
            Z = inputs
            for layer in self.main_layers:
                Z = layer(Z, training=training)
            skip_Z = inputs
            for layer in self.skip_layers:
                skip_Z = layer(skip_Z, training=training)
            return layers.Activation("relu")(layers.add([Z, skip_Z]))

    class ResNet34(lib.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.stem = [
                DefaultConv2D(64, kernel_size=7, strides=2),
                layers.BatchNormalization(),
                layers.Activation("relu"),
                layers.MaxPooling2D(pool_size=3, strides=2, padding="same"),
            ]
            self.units = []
            prev_filters = 64
            for filters in [64] * 3 + [128] * 4 + [256] * 6 + [512] * 3:
                strides = 1 if filters == prev_filters else 2
                self.units.append(ResidualUnit(filters, strides=strides))
                prev_filters = filters
            self.head = {
                "pool": layers.GlobalAveragePooling2D(),
                "out": layers.Dense(classes, activation="softmax"),
            }

        def call(self, inputs, training=None):
            x = inputs
            for layer in self.stem + self.units:
                x = layer(x, training=training)
            return self.head["out"](self.head["pool"](x))

    return ResNet34()
