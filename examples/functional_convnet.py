"""A convnet built with the Functional API (keras.io's "Simple MNIST convnet"), on Fashion-MNIST.

A Keras program with only its imports changed: `import keras` -> `import striate as keras`.
Run it with `python examples/functional_convnet.py`. EXAMPLE_SAMPLES, EXAMPLE_TEST_SAMPLES and
EXAMPLE_EPOCHS shrink the run (the test suite runs it on a subset, beside Keras itself).
"""

import os

import numpy as np

import striate as keras
from striate import layers

SAMPLES = int(os.environ.get("EXAMPLE_SAMPLES", "60000"))
TEST_SAMPLES = int(os.environ.get("EXAMPLE_TEST_SAMPLES", "10000"))
EPOCHS = int(os.environ.get("EXAMPLE_EPOCHS", "5"))
keras.utils.set_random_seed(1)

num_classes = 10
input_shape = (28, 28, 1)

(x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
x_train, y_train = x_train[:SAMPLES], y_train[:SAMPLES]
x_test, y_test = x_test[:TEST_SAMPLES], y_test[:TEST_SAMPLES]

# Scale images to the [0, 1] range and make sure they have shape (28, 28, 1)
x_train = np.expand_dims(x_train.astype("float32") / 255, -1)
x_test = np.expand_dims(x_test.astype("float32") / 255, -1)
print("x_train shape:", x_train.shape)

# convert class vectors to binary class matrices
y_train = keras.utils.to_categorical(y_train, num_classes)
y_test = keras.utils.to_categorical(y_test, num_classes)

inputs = keras.Input(shape=input_shape)
x = layers.Conv2D(32, kernel_size=(3, 3), activation="relu")(inputs)
x = layers.MaxPooling2D(pool_size=(2, 2))(x)
x = layers.Conv2D(64, kernel_size=(3, 3), activation="relu")(x)
x = layers.MaxPooling2D(pool_size=(2, 2))(x)
x = layers.Flatten()(x)
x = layers.Dropout(0.5)(x)
outputs = layers.Dense(num_classes, activation="softmax")(x)
model = keras.Model(inputs, outputs, name="fashion_convnet")
model.summary()

model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
model.fit(x_train, y_train, batch_size=128, epochs=EPOCHS, validation_split=0.1)

score = model.evaluate(x_test, y_test, verbose=0)
print("Test loss:", score[0])
print(f"test accuracy: {score[1]:.4f}")
