"""Custom layers (keras.io's "Making new layers and models via subclassing"), on Fashion-MNIST:
a `Linear` layer that makes its own weights in `build`, and a convolutional block layer that
holds its sub-layers in a list; both used in a Sequential model like built-in layers.

A Keras program with only its imports changed: `import keras` -> `import striate as keras`.
EXAMPLE_SAMPLES, EXAMPLE_TEST_SAMPLES and EXAMPLE_EPOCHS shrink the run.
"""

import os

import numpy as np

import striate as keras
from striate import layers, ops

SAMPLES = int(os.environ.get("EXAMPLE_SAMPLES", "60000"))
TEST_SAMPLES = int(os.environ.get("EXAMPLE_TEST_SAMPLES", "10000"))
EPOCHS = int(os.environ.get("EXAMPLE_EPOCHS", "3"))
keras.utils.set_random_seed(4)


class Linear(keras.layers.Layer):
    """y = x w + b, with weights made once the input size is known."""

    def __init__(self, units=32, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(
            shape=(input_shape[-1], self.units), initializer="glorot_uniform", trainable=True
        )
        self.b = self.add_weight(shape=(self.units,), initializer="zeros", trainable=True)

    def call(self, inputs):
        return ops.matmul(inputs, self.w) + self.b

    def get_config(self):
        return {**super().get_config(), "units": self.units}


class ConvBlock(keras.layers.Layer):
    """`depth` 3x3 convolutions with BatchNormalization and ReLU, then 2x2 max pooling."""

    def __init__(self, filters, depth=2, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.depth = filters, depth
        self.convs = [layers.Conv2D(filters, 3, padding="same") for _ in range(depth)]
        self.norms = [layers.BatchNormalization(momentum=0.9) for _ in range(depth)]
        self.pool = layers.MaxPooling2D()

    def call(self, inputs, training=None):
        x = inputs
        for conv, norm in zip(self.convs, self.norms):
            x = ops.relu(norm(conv(x), training=training))
        return self.pool(x)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "depth": self.depth}


(x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
x_train = np.expand_dims(x_train[:SAMPLES], -1).astype("float32") / 255
x_test = np.expand_dims(x_test[:TEST_SAMPLES], -1).astype("float32") / 255
y_train, y_test = y_train[:SAMPLES], y_test[:TEST_SAMPLES]

model = keras.Sequential(
    [
        keras.Input(shape=(28, 28, 1)),
        ConvBlock(16),
        ConvBlock(32),
        layers.Flatten(),
        Linear(64),
        layers.Activation("relu"),
        Linear(10),
        layers.Softmax(),
    ]
)
model.summary()
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x_train, y_train, batch_size=64, epochs=EPOCHS, validation_split=0.1)
loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
print(f"test accuracy: {accuracy:.4f}")
