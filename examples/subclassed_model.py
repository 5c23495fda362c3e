"""A subclassed model (TensorFlow's "TensorFlow 2 quickstart for experts" style), on
Fashion-MNIST: layers made in `__init__`, the forward pass written in `call`, trained with
compile/fit.

A Keras program with only its imports changed: `import keras` -> `import striate as keras`.
EXAMPLE_SAMPLES, EXAMPLE_TEST_SAMPLES and EXAMPLE_EPOCHS shrink the run.
"""

import os

import numpy as np

import striate as keras
from striate import layers

SAMPLES = int(os.environ.get("EXAMPLE_SAMPLES", "60000"))
TEST_SAMPLES = int(os.environ.get("EXAMPLE_TEST_SAMPLES", "10000"))
EPOCHS = int(os.environ.get("EXAMPLE_EPOCHS", "3"))
keras.utils.set_random_seed(5)


class FashionNet(keras.Model):
    def __init__(self, num_classes=10, **kwargs):
        super().__init__(**kwargs)
        self.conv1 = layers.Conv2D(32, 3, activation="relu")
        self.pool1 = layers.MaxPooling2D()
        self.conv2 = layers.Conv2D(64, 3, activation="relu")
        self.pool2 = layers.MaxPooling2D()
        self.flatten = layers.Flatten()
        self.d1 = layers.Dense(128, activation="relu")
        self.dropout = layers.Dropout(0.3)
        self.d2 = layers.Dense(num_classes)

    def call(self, x, training=None):
        x = self.pool1(self.conv1(x))
        x = self.pool2(self.conv2(x))
        x = self.d1(self.flatten(x))
        x = self.dropout(x, training=training)
        return self.d2(x)


(x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
x_train = x_train[:SAMPLES, ..., np.newaxis].astype("float32") / 255.0
x_test = x_test[:TEST_SAMPLES, ..., np.newaxis].astype("float32") / 255.0
y_train, y_test = y_train[:SAMPLES], y_test[:TEST_SAMPLES]

model = FashionNet()
model.compile(
    optimizer=keras.optimizers.Adam(learning_rate=1e-3),
    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
)
model.fit(x_train, y_train, batch_size=64, epochs=EPOCHS)
model.summary()
loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
print(f"test accuracy: {accuracy:.4f}")
