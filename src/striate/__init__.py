"""striate: a fast convolutional-neural-network framework on NumPy that you can see inside.

>>> import striate
>>> from striate.layers import Conv2D, Dense, Flatten
>>> model = striate.models.Sequential([Conv2D(2, 3, input_shape=(8, 8, 1)), Flatten(), Dense(3)])
>>> model.output_shape
(None, 3)
"""

from striate import (
    activations,
    backend,
    callbacks,
    constraints,
    datasets,
    distribute,
    export,
    initializers,
    layers,
    losses,
    metrics,
    models,
    optimizers,
    parallel,
    regularizers,
    saving,  # registers model.save, save_weights, load_weights and load_model
    see,  # registers model.inspect
    utils,
)
from striate.layers import Input
from striate.models import Model, Sequential
from striate.parallel import num_threads, set_num_threads
from striate.tensor import Tensor, no_grad

__version__ = "0.1.0"

__all__ = [
    "Input",
    "Model",
    "Sequential",
    "Tensor",
    "activations",
    "backend",
    "callbacks",
    "constraints",
    "datasets",
    "distribute",
    "export",
    "initializers",
    "layers",
    "losses",
    "metrics",
    "models",
    "no_grad",
    "num_threads",
    "optimizers",
    "parallel",
    "regularizers",
    "saving",
    "see",
    "set_num_threads",
    "utils",
]
