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
from striate.layers.conv_more import DepthwiseConv2D, SeparableConv2D
from striate.layers.conv_transpose import Conv2DTranspose
from striate.layers.core import Activation, Dense, Dropout, Flatten, Input, InputLayer, Reshape
from striate.layers.extras import (
    ActivityRegularization,
    GaussianDropout,
    GaussianNoise,
    GroupNormalization,
    Identity,
    Lambda,
    UnitNormalization,
)
from striate.layers.layer_norm import LayerNormalization
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
    GlobalMaxPool2D,
    GlobalMaxPooling2D,
    MaxPool2D,
    MaxPooling2D,
)
from striate.layers.preprocessing import CenterCrop, Normalization, Rescaling, Resizing
from striate.layers.regularization import SpatialDropout2D
from striate.layers.reshaping import Cropping2D, Permute, UpSampling2D

Convolution2D = Conv2D
Convolution2DTranspose = Conv2DTranspose
SeparableConvolution2D = SeparableConv2D

__all__ = [
    "ActivityRegularization",
    "GaussianDropout",
    "GaussianNoise",
    "GroupNormalization",
    "Identity",
    "Lambda",
    "UnitNormalization",
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
    "Conv2DTranspose",
    "Convolution2D",
    "Convolution2DTranspose",
    "Cropping2D",
    "DepthwiseConv2D",
    "Dense",
    "Dropout",
    "ELU",
    "Flatten",
    "GlobalAveragePooling2D",
    "GlobalAvgPool2D",
    "GlobalMaxPool2D",
    "GlobalMaxPooling2D",
    "Input",
    "InputLayer",
    "Layer",
    "LayerNormalization",
    "LeakyReLU",
    "MaxPool2D",
    "MaxPooling2D",
    "Permute",
    "PReLU",
    "ReLU",
    "Reshape",
    "SeparableConv2D",
    "SeparableConvolution2D",
    "Softmax",
    "SpatialDropout2D",
    "UpSampling2D",
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
        Conv2DTranspose,
        Cropping2D,
        Dense,
        DepthwiseConv2D,
        Dropout,
        ELU,
        Flatten,
        GlobalAveragePooling2D,
        GlobalMaxPooling2D,
        InputLayer,
        LayerNormalization,
        LeakyReLU,
        MaxPooling2D,
        Permute,
        PReLU,
        ReLU,
        Reshape,
        SeparableConv2D,
        Softmax,
        SpatialDropout2D,
        UpSampling2D,
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
        ActivityRegularization,
        GaussianDropout,
        GaussianNoise,
        GroupNormalization,
        Identity,
        UnitNormalization,
    )  # (not Lambda: a model file never holds code)
}
_CLASSES.update(
    AvgPool2D=AvgPool2D,
    Convolution2D=Convolution2D,
    GlobalAvgPool2D=GlobalAvgPool2D,
    MaxPool2D=MaxPool2D,
    Convolution2DTranspose=Convolution2DTranspose,
    GlobalMaxPool2D=GlobalMaxPool2D,
    SeparableConvolution2D=SeparableConvolution2D,
)


def get(class_name):
    """The layer class for a config's class_name (used when loading model files)."""
    if class_name not in _CLASSES:
        raise ValueError(
            f"Unknown layer class {class_name!r}. Known: {', '.join(sorted(_CLASSES))}."
        )
    return _CLASSES[class_name]
