"""Transfer learning and fine-tuning (keras.io's guide, on Fashion-MNIST): train a convolutional
base on five classes (tops, trousers, pullovers, dresses, coats), then reuse it, frozen, as the
feature extractor of a new model for the other five (sandals, shirts, sneakers, bags, boots):
train the new head, then unfreeze the base and fine-tune everything with a low learning rate.

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
keras.utils.set_random_seed(3)

(x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
x_train = np.expand_dims(x_train[:SAMPLES], -1).astype("float32") / 255
x_test = np.expand_dims(x_test[:TEST_SAMPLES], -1).astype("float32") / 255
y_train, y_test = y_train[:SAMPLES], y_test[:TEST_SAMPLES]
first, second = y_train < 5, y_train >= 5
test_second = y_test >= 5

# 1. A base trained on the first five classes.
base_model = keras.Sequential(
    [
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(32, 3, activation="relu"),
        layers.MaxPooling2D(),
        layers.Conv2D(64, 3, activation="relu"),
        layers.MaxPooling2D(),
        layers.BatchNormalization(momentum=0.9),
        layers.GlobalAveragePooling2D(),
    ],
    name="base",
)
pretraining = keras.Sequential([base_model, layers.Dense(5, activation="softmax")])
pretraining.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
pretraining.fit(x_train[first], y_train[first], batch_size=64, epochs=EPOCHS)

# 2. Freeze the base and put a new head on it for the other five classes.
base_model.trainable = False
inputs = keras.Input(shape=(28, 28, 1))
# Keras's guide passes training=False so that the base runs in inference mode; Keras 3
# records it but lets fit's training=True override it, so here, as in Keras 3, the frozen
# base's BatchNormalization keeps its statistics because it is frozen.
x = base_model(inputs, training=False)
x = layers.Dropout(0.2)(x)
outputs = layers.Dense(5)(x)
model = keras.Model(inputs, outputs)
model.summary(show_trainable=True)

loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
model.compile(optimizer=keras.optimizers.Adam(), loss=loss, metrics=["accuracy"])
model.fit(x_train[second], y_train[second] - 5, batch_size=64, epochs=EPOCHS)

# 3. Fine-tune the whole model with a low learning rate.
base_model.trainable = True
model.compile(optimizer=keras.optimizers.Adam(1e-4), loss=loss, metrics=["accuracy"])
model.fit(x_train[second], y_train[second] - 5, batch_size=64, epochs=1)

loss_value, accuracy = model.evaluate(x_test[test_second], y_test[test_second] - 5, verbose=0)
print(f"test accuracy: {accuracy:.4f}")
