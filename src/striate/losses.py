"""Losses by name and as objects, with Keras's names; the math lives in `striate.ops.losses`."""

from striate._registry import lookup
from striate.ops import activations
from striate.ops import losses as ops


class Loss:
    """A named loss: `loss(y_true, y_pred_tensor)` returns the batch-mean loss as a Tensor.

    Called so, on probabilities, a cross-entropy is Keras 3's clipped formula whatever
    `striate.backend.crossentropy_rule()` says (there are no logits to use); `fit` and
    `evaluate` compute it after a final softmax (sigmoid) by the rule, from the logits by
    default (`fused_activation`)."""

    def __init__(self, function, name, **options):
        self.function = function
        self.name = name
        self.options = options

    def __call__(self, y_true, y_pred):
        return self.function(y_true, y_pred, **self.options)

    @property
    def fused_activation(self):
        """The activation (`striate.ops.activations.softmax` or `sigmoid`) this loss can be
        computed together with, or None: a model that ends in it is then trained and evaluated
        with the activation and the loss as one op (`striate.models.plan`), by the loss's
        `softmax_crossentropy(y_true, logits)` or `sigmoid_crossentropy(y_true, logits)`: the
        cross-entropies on probabilities, unless a subclass overrides `__call__`."""
        return None

    @property
    def fuses_softmax(self):
        """True when the loss is computed together with a final softmax (`fused_activation`)."""
        return self.fused_activation is activations.softmax

    def get_config(self):
        return {"name": self.name, **self.options}

    def __repr__(self):
        return f"{type(self).__name__}({self.get_config()})"


class _SoftmaxCrossentropy(Loss):
    """A cross-entropy that can be computed together with the softmax before it."""

    sparse = True

    @property
    def fused_activation(self):
        if self.options["from_logits"] or type(self).__call__ is not Loss.__call__:
            return None
        return activations.softmax

    def softmax_crossentropy(self, y_true, logits):
        """`(loss, probabilities)` of `softmax(logits)`, as one op (the rules and their
        gradients: `striate.ops.losses.softmax_crossentropy`)."""
        return ops.softmax_crossentropy(y_true, logits, sparse=self.sparse)


class SparseCategoricalCrossentropy(_SoftmaxCrossentropy):
    def __init__(self, from_logits=False, name="sparse_categorical_crossentropy"):
        super().__init__(ops.sparse_categorical_crossentropy, name, from_logits=from_logits)


class CategoricalCrossentropy(_SoftmaxCrossentropy):
    sparse = False

    def __init__(self, from_logits=False, name="categorical_crossentropy"):
        super().__init__(ops.categorical_crossentropy, name, from_logits=from_logits)


class BinaryCrossentropy(Loss):
    def __init__(self, from_logits=False, name="binary_crossentropy"):
        super().__init__(ops.binary_crossentropy, name, from_logits=from_logits)

    @property
    def fused_activation(self):
        if self.options["from_logits"] or type(self).__call__ is not Loss.__call__:
            return None
        return activations.sigmoid

    def sigmoid_crossentropy(self, y_true, logits):
        """`(loss, probabilities)` of `sigmoid(logits)`, as one op (the rules and their
        gradients: `striate.ops.losses.sigmoid_crossentropy`)."""
        return ops.sigmoid_crossentropy(y_true, logits)


class MeanSquaredError(Loss):
    def __init__(self, name="mean_squared_error"):
        super().__init__(ops.mean_squared_error, name)


_BY_NAME = {
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
}


def get(identifier):
    """A Loss from a name ('sparse_categorical_crossentropy'), a dict, or a Loss instance.

    >>> get("mse").name
    'mean_squared_error'
    """
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, dict):
        options = dict(identifier["config"])
        options.pop("name", None)
        return lookup("loss", identifier["class_name"], _BY_NAME)(**options)
    return lookup("loss", identifier, _BY_NAME)()


def serialize(loss):
    return {"class_name": loss.name, "config": loss.get_config()}
