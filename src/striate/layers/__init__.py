"""Keras-compatible layers."""

from striate.layers.base import Layer
from striate.layers.conv import Conv2D, ZeroPadding2D
from striate.layers.core import Activation, Dense, Dropout, Flatten, Input, InputLayer, Reshape
from striate.layers.normalization import BatchNormalization
from striate.layers.pooling import (
    AveragePooling2D,
    AvgPool2D,
    GlobalAveragePooling2D,
    GlobalAvgPool2D,
    MaxPool2D,
    MaxPooling2D,
)

Convolution2D = Conv2D

__all__ = [
    "Activation", "AveragePooling2D", "AvgPool2D", "BatchNormalization", "Conv2D",
    "Convolution2D", "Dense", "Dropout", "Flatten", "GlobalAveragePooling2D", "GlobalAvgPool2D",
    "Input", "InputLayer", "Layer", "MaxPool2D", "MaxPooling2D", "Reshape", "ZeroPadding2D",
]


def get(class_name):
    """The layer class for a config's class_name (used when loading model files)."""
    table = {name: globals()[name] for name in __all__ if name not in ("Input", "Layer")}
    if class_name not in table:
        raise ValueError(f"Unknown layer class {class_name!r}. Known: {', '.join(sorted(table))}.")
    return table[class_name]
