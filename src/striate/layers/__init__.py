"""Keras-compatible layers."""

from striate.layers.activation import ELU, LeakyReLU, PReLU, ReLU, Softmax
from striate.layers.augmentation import (
    RandomBrightness,
    RandomContrast,
    RandomCrop,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
)
from striate.layers.base import Layer
from striate.layers.conv import Conv2D, ZeroPadding2D
from striate.layers.core import Activation, Dense, Dropout, Flatten, Input, InputLayer, Reshape
from striate.layers.merging import (
    Add,
    Average,
    Concatenate,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
    add,
    average,
    concatenate,
    maximum,
    minimum,
    multiply,
    subtract,
)
from striate.layers.normalization import BatchNormalization
from striate.layers.pooling import (
    AveragePooling2D,
    AvgPool2D,
    GlobalAveragePooling2D,
    GlobalAvgPool2D,
    MaxPool2D,
    MaxPooling2D,
)
from striate.layers.preprocessing import CenterCrop, Normalization, Rescaling, Resizing

Convolution2D = Conv2D

__all__ = [
    "Activation",
    "Add",
    "Average",
    "Concatenate",
    "Maximum",
    "Minimum",
    "Multiply",
    "Subtract",
    "add",
    "average",
    "concatenate",
    "maximum",
    "minimum",
    "multiply",
    "subtract",
    "AveragePooling2D",
    "AvgPool2D",
    "BatchNormalization",
    "Conv2D",
    "Convolution2D",
    "Dense",
    "Dropout",
    "ELU",
    "Flatten",
    "GlobalAveragePooling2D",
    "GlobalAvgPool2D",
    "Input",
    "InputLayer",
    "Layer",
    "LeakyReLU",
    "MaxPool2D",
    "MaxPooling2D",
    "PReLU",
    "ReLU",
    "Reshape",
    "Softmax",
    "ZeroPadding2D",
    "CenterCrop",
    "Normalization",
    "RandomBrightness",
    "RandomContrast",
    "RandomCrop",
    "RandomFlip",
    "RandomRotation",
    "RandomTranslation",
    "RandomZoom",
    "Rescaling",
    "Resizing",
]


# The classes a model file may name, under their Keras names and aliases.
_CLASSES = {
    cls.__name__: cls
    for cls in (
        Activation,
        Add,
        Average,
        Concatenate,
        Maximum,
        Minimum,
        Multiply,
        Subtract,
        AveragePooling2D,
        BatchNormalization,
        Conv2D,
        Dense,
        Dropout,
        ELU,
        Flatten,
        GlobalAveragePooling2D,
        InputLayer,
        LeakyReLU,
        MaxPooling2D,
        PReLU,
        ReLU,
        Reshape,
        Softmax,
        ZeroPadding2D,
        CenterCrop,
        Normalization,
        RandomBrightness,
        RandomContrast,
        RandomCrop,
        RandomFlip,
        RandomRotation,
        RandomTranslation,
        RandomZoom,
        Rescaling,
        Resizing,
    )
}
_CLASSES.update(
    AvgPool2D=AvgPool2D,
    Convolution2D=Convolution2D,
    GlobalAvgPool2D=GlobalAvgPool2D,
    MaxPool2D=MaxPool2D,
)


def get(class_name):
    """The layer class for a config's class_name (used when loading model files)."""
    if class_name not in _CLASSES:
        raise ValueError(
            f"Unknown layer class {class_name!r}. Known: {', '.join(sorted(_CLASSES))}."
        )
    return _CLASSES[class_name]
