"""A small residual network (keras.io's functional-API "toy ResNet", with BatchNormalization),
on Fashion-MNIST: Conv/BN/ReLU blocks joined by `add` skips, global average pooling, a head.

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
keras.utils.set_random_seed(2)

(x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
x_train = x_train[:SAMPLES, :, :, np.newaxis].astype("float32") / 255.0
x_test = x_test[:TEST_SAMPLES, :, :, np.newaxis].astype("float32") / 255.0
y_train, y_test = y_train[:SAMPLES], y_test[:TEST_SAMPLES]


def conv_bn_relu(x, filters, **kwargs):
    x = layers.Conv2D(filters, 3, use_bias=False, **kwargs)(x)
    x = layers.BatchNormalization(momentum=0.9)(x)
    return layers.Activation("relu")(x)


def residual_block(x, filters):
    shortcut = x
    x = conv_bn_relu(x, filters, padding="same")
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization(momentum=0.9)(x)
    x = layers.add([x, shortcut])
    return layers.Activation("relu")(x)


inputs = keras.Input(shape=(28, 28, 1), name="img")
x = conv_bn_relu(inputs, 32)
x = conv_bn_relu(x, 32)
x = layers.MaxPooling2D(2)(x)
x = residual_block(x, 32)
x = residual_block(x, 32)
x = conv_bn_relu(x, 64, strides=2)
x = residual_block(x, 64)
x = layers.GlobalAveragePooling2D()(x)
x = layers.Dense(64, activation="relu")(x)
x = layers.Dropout(0.3)(x)
outputs = layers.Dense(10)(x)
model = keras.Model(inputs, outputs, name="toy_resnet")
model.summary()

model.compile(
    optimizer=keras.optimizers.Adam(1e-3),
    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    metrics=["acc"],
)
model.fit(x_train, y_train, batch_size=64, epochs=EPOCHS, validation_split=0.1)
loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
print(f"test accuracy: {accuracy:.4f}")
