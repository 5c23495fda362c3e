"""Losses by name and as objects, with Keras's names; the math lives in `striate.ops.losses`."""

from striate._registry import lookup
from striate.ops import losses as ops


class Loss:
    """A named loss: `loss(y_true, y_pred_tensor)` returns the batch-mean loss as a Tensor."""

    def __init__(self, function, name, **options):
        self.function = function
        self.name = name
        self.options = options

    def __call__(self, y_true, y_pred):
        return self.function(y_true, y_pred, **self.options)

    @property
    def fuses_softmax(self):
        """True when `softmax_crossentropy(y_true, logits)` computes this loss of
        `softmax(logits)` as one op, which the execution plan then runs for a model that ends
        in a softmax (`striate.plan`): the cross-entropies on probabilities, unless a subclass
        overrides `__call__`."""
        return False

    def get_config(self):
        return {"name": self.name, **self.options}

    def __repr__(self):
        return f"{type(self).__name__}({self.get_config()})"


class _SoftmaxCrossentropy(Loss):
    """A cross-entropy that can be computed together with the softmax before it."""

    sparse = True

    @property
    def fuses_softmax(self):
        return not self.options["from_logits"] and type(self).__call__ is Loss.__call__

    def softmax_crossentropy(self, y_true, logits):
        """`(loss, probabilities)` of `softmax(logits)`, as one op (the rule and its gradient:
        `striate.ops.losses.softmax_crossentropy`)."""
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
