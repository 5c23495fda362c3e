"""The model walked layer call by layer call on a few samples, with `striate.see`'s walker
(`see.steps.model_steps` and the step runner `inspect` uses), in inference mode and without a
tape: it reads the weights and changes nothing (no generator is drawn, no statistic moves)."""

import numpy as np

from striate.layers.activation import ReLU, Softmax
from striate.layers.core import Activation
from striate.layers.normalization import BatchNormalization
from striate.layers.preprocessing import Normalization, Rescaling
from striate.see.inspect import _run_step, activation_name
from striate.see.steps import INPUT, model_steps
from striate.tensor import no_grad

_SCALING = (Rescaling, Normalization, BatchNormalization)


def steps_or_none(model):
    """The model's steps, or None for a model the walker cannot follow (a subclassed model,
    several inputs or outputs)."""
    try:
        return model_steps(model, "doctor")
    except ValueError:
        return None


def run(model, x, steps=None):
    """Yield `(step, input, pre_activation, output)` arrays per call for the batch `x` (input:
    None for a call that reads several values). Nothing if the model cannot be walked."""
    steps = steps if steps is not None else steps_or_none(model)
    if not steps:
        return
    values = {INPUT: np.asarray(x, dtype=model.float_type())}
    with no_grad():
        for step in steps:
            _, out, pre = _run_step(step, values)
            single = not isinstance(step.reads, (list, tuple, dict))
            read = values[step.reads] if single else None
            yield step, read, None if pre is None else pre.data, out.data
            values[step.writes] = out.data


def has_kernel(layer):
    return hasattr(layer, "kernel") or hasattr(layer, "depthwise_kernel")


def has_scaling_layer(model):
    return any(isinstance(layer, _SCALING) for layer in getattr(model, "layers", []))


def first_kernel_input(model, sample):
    """`(layer, largest |input|)` of the first Conv/Dense call on `sample`; None
    when the model cannot be walked; (layer, None) when a normalization comes first."""
    steps = steps_or_none(model)
    if steps is None:
        return None
    for step, read, _, _ in run(model, sample, steps):
        layer = step.layer
        if isinstance(layer, (BatchNormalization,)) or type(layer).__name__.endswith(
            "Normalization"
        ):
            return layer, None
        if has_kernel(layer) and read is not None:
            return layer, float(np.max(np.abs(read)))
    return None


def kind(layer):
    """'relu', 'sigmoid', 'tanh', 'softmax' for a layer ending in one, else None."""
    if isinstance(layer, Softmax):
        return "softmax"
    if isinstance(layer, ReLU):
        plain = layer.negative_slope == 0 and layer.threshold == 0
        return "relu" if plain else None
    name = activation_name(layer)
    return name if name in ("relu", "sigmoid", "tanh", "softmax") else None


def final_activation(model):
    """`(layer, activation name, units)` of the model's last call, None when its
    activation is unknown (a layer with none of its own, e.g. a user's layer)."""
    steps = steps_or_none(model)
    layer = steps[-1].layer if steps else None
    if layer is None:
        return None
    units = (layer.output_shape or (None,))[-1] if layer.built else None
    if isinstance(layer, Activation):
        return layer, kind(layer) or activation_name(layer), units
    if getattr(layer, "activation", None) is None or not has_kernel(layer):
        return None
    return layer, activation_name(layer), units
