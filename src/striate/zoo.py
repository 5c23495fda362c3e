"""Ready-made architectures: the article's model, Keras's simple MNIST convnet and LeNet-5."""

from striate.layers import (
    Activation,
    AveragePooling2D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Input,
    MaxPool2D,
)
from striate.models import Sequential


def article(input_shape=(28, 28, 1), classes=10):
    """The article's CNN: Conv2D(6, 2) -> ReLU -> MaxPool2D(2) -> Flatten -> Dense -> softmax.

    >>> article().count_params()
    10180
    """
    return Sequential(
        [
            Conv2D(6, 2, input_shape=input_shape),
            Activation("relu"),
            MaxPool2D(2),
            Flatten(),
            Dense(classes),
            Activation("softmax"),
        ],
        name="article",
    )


def convnet(input_shape=(28, 28, 1), classes=10):
    """Keras's "simple MNIST convnet" (BENCHMARKS.md): two conv/pool blocks, dropout, softmax.

    >>> convnet().count_params()
    34826
    """
    return Sequential(
        [
            Input(shape=input_shape),
            Conv2D(32, 3, activation="relu"),
            MaxPool2D(2),
            Conv2D(64, 3, activation="relu"),
            MaxPool2D(2),
            Flatten(),
            Dropout(0.5),
            Dense(classes, activation="softmax"),
        ],
        name="convnet",
    )


def lenet5(input_shape=(28, 28, 1), classes=10):
    """A LeNet-5-style network (LeCun et al. 1998, with ReLU and softmax): two conv/average-pool
    blocks and three dense layers. Takes images of at least 12x12 (28x28 MNIST, 32x32 CIFAR-10).

    >>> lenet5().count_params()
    61706
    >>> lenet5((32, 32, 3)).output_shape
    (None, 10)
    """
    height, width = input_shape[:2]
    if min(height, width) < 12:
        raise ValueError(
            f"lenet5: images must be at least 12x12 for its 5x5 convolution "
            f"between two 2x2 poolings. Received: input_shape={tuple(input_shape)}. "
            f"For the 8x8 digits use the article's model."
        )
    return Sequential(
        [
            Input(shape=input_shape),
            Conv2D(6, 5, padding="same", activation="relu"),
            AveragePooling2D(2),
            Conv2D(16, 5, activation="relu"),
            AveragePooling2D(2),
            Flatten(),
            Dense(120, activation="relu"),
            Dense(84, activation="relu"),
            Dense(classes, activation="softmax"),
        ],
        name="lenet5",
    )


MODELS = {"article": article, "convnet": convnet, "lenet5": lenet5}
