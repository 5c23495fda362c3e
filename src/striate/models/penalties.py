"""What regularizers and constraints add to a training step, as in Keras 3: the loss that `fit`
minimizes and logs (and `evaluate` reports) is the compiled loss plus every layer's activity
penalty of its outputs (divided by the batch size) plus every trained weight's penalty, in
that order; after each optimizer step each constrained weight is set to its constraint's
projection. A model without any of them gets `None` from `of` and its step does nothing more.

>>> from striate.layers import Dense
>>> from striate.models import Sequential
>>> of(Sequential([Dense(2, input_shape=(3,))])) is None
True
>>> model = Sequential([Dense(2, input_shape=(3,), kernel_regularizer="l2")])
>>> [weight.data.shape for weight in of(model).regularized]
[(3, 2)]
"""

import contextlib

import numpy as np

from striate.layers import tracking
from striate.ops.loss_terms import add_scalars


class Penalties:
    def __init__(self, regularized, activity, constrained):
        self.regularized = regularized  # weights with a regularizer, in trained order
        self.activity = activity  # True when some layer has an activity regularizer
        self.constrained = constrained  # weights with a constraint

    def collecting(self):
        """A context in which the activity penalties of the layers run are collected (into
        the list it gives)."""
        return tracking.collect_activity() if self.activity else contextlib.nullcontext([])

    def total(self, loss, activity):
        """The compiled loss, plus the activity penalties, plus the weights' penalties."""
        terms = list(activity) + [weight.regularizer(weight) for weight in self.regularized]
        return add_scalars([loss] + terms) if terms else loss

    def constrain(self):
        """Each constrained weight set to its projection (after the optimizer's step)."""
        for weight in self.constrained:
            np.copyto(weight.data, weight.constraint(weight.data), casting="unsafe")


def of(model, variables=None):
    """The model's Penalties for training `variables` (default its trainable weights), or None
    when no layer has a regularizer or a constraint."""
    variables = model.trainable_weights if variables is None else variables
    regularized = [w for w in variables if w.regularizer is not None]
    constrained = [w for w in variables if w.constraint is not None]
    activity = any(layer.activity_regularizer is not None for layer in _layers(model))
    if not (regularized or constrained or activity):
        return None
    return Penalties(regularized, activity, constrained)


def _layers(model):
    found, stack, seen = [], [model], set()
    while stack:
        layer = stack.pop()
        if id(layer) not in seen:
            seen.add(id(layer))
            found.append(layer)
            stack.extend(layer.held_layers())
    return found
