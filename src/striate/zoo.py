"""Ready-made architectures: the article's model and Keras's simple MNIST convnet."""

from striate.layers import Activation, Conv2D, Dense, Dropout, Flatten, Input, MaxPool2D
from striate.models import Sequential


def article(input_shape=(28, 28, 1), classes=10):
    """The article's CNN: Conv2D(6, 2) -> ReLU -> MaxPool2D(2) -> Flatten -> Dense -> softmax.

    >>> article().count_params()
    10180
    """
    return Sequential([
        Conv2D(6, 2, input_shape=input_shape),
        Activation("relu"),
        MaxPool2D(2),
        Flatten(),
        Dense(classes),
        Activation("softmax"),
    ], name="article")


def convnet(input_shape=(28, 28, 1), classes=10):
    """Keras's "simple MNIST convnet" (BENCHMARKS.md): two conv/pool blocks, dropout, softmax.

    >>> convnet().count_params()
    34826
    """
    return Sequential([
        Input(shape=input_shape),
        Conv2D(32, 3, activation="relu"),
        MaxPool2D(2),
        Conv2D(64, 3, activation="relu"),
        MaxPool2D(2),
        Flatten(),
        Dropout(0.5),
        Dense(classes, activation="softmax"),
    ], name="convnet")


MODELS = {"article": article, "convnet": convnet}
