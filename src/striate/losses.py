"""Losses as functions and classes with Keras 3's names, arguments and defaults.

The functions (`sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ...)`) return
one value per sample, as Keras's do; the classes (`SparseCategoricalCrossentropy(from_logits,
ignore_class, reduction, name)`) reduce them, by default to the mean over the batch
('sum_over_batch_size'; also 'sum', 'mean_with_sample_weight' and None/'none'), with an optional
`sample_weight`. The math lives in `striate.ops.loss_functions` and, for the batch means `fit`
uses (no sample weight, no smoothing), in `striate.ops.losses`.
"""

from striate._registry import lookup
from striate.ops import activations
from striate.ops import loss_functions as per_sample
from striate.ops import losses as ops
from striate.ops.loss_functions import (
    binary_crossentropy,
    binary_focal_crossentropy,
    categorical_crossentropy,
    categorical_hinge,
    huber,
    kl_divergence,
    mean_absolute_error,
    mean_squared_error,
    sparse_categorical_crossentropy,
)
from striate.ops.loss_functions_more import (
    cosine_similarity,
    hinge,
    log_cosh,
    mean_absolute_percentage_error,
    mean_squared_logarithmic_error,
    poisson,
    squared_hinge,
)

_MEAN = ("sum_over_batch_size", "mean")

__all__ = [
    "binary_crossentropy",
    "binary_focal_crossentropy",
    "categorical_crossentropy",
    "categorical_hinge",
    "huber",
    "kl_divergence",
    "mean_absolute_error",
    "mean_squared_error",
    "sparse_categorical_crossentropy",
    "cosine_similarity",
    "hinge",
    "log_cosh",
    "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error",
    "poisson",
    "squared_hinge",
]


class Loss:
    """A named loss: `loss(y_true, y_pred, sample_weight=None)` returns the reduced loss as a
    Tensor (by default the batch mean).

    Called so, on probabilities, a cross-entropy is Keras 3's clipped formula whatever
    `striate.backend.crossentropy_rule()` says (there are no logits to use); `fit` and
    `evaluate` compute it after a final softmax (sigmoid) by the rule, from the logits by
    default (`fused_activation`)."""

    registered_name = None  # the key `get` finds the class by (`serialize` writes it)

    def __init__(self, function, name, reduction="sum_over_batch_size", **options):
        self.function = function
        self.name = name
        self.reduction = per_sample.check_reduction(type(self).__name__, reduction)
        self.options = options

    def __call__(self, y_true, y_pred, sample_weight=None):
        if sample_weight is None and self.reduction in _MEAN:
            fast = self._batch_mean(y_true, y_pred)
            if fast is not None:
                return fast
        values, mask = self._values(y_true, y_pred)
        return per_sample.reduce_losses(values, sample_weight, mask, self.reduction)

    def _values(self, y_true, y_pred):
        """(per-sample losses Tensor, mask or None)."""
        return self.function(y_true, y_pred, **self.options), None

    def _batch_mean(self, y_true, y_pred):
        """The batch mean by the one-op path of `striate.ops.losses`, or None if none fits."""
        return None

    @property
    def _plain(self):
        """True when the options leave the loss the one-op cross-entropy (no smoothing...)."""
        return (
            self.reduction in _MEAN
            and not self.options.get("label_smoothing")
            and self.options.get("ignore_class") is None
        )

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
        return {"name": self.name, "reduction": self.reduction, **self.options}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"{type(self).__name__}({self.get_config()})"


class _SoftmaxCrossentropy(Loss):
    """A cross-entropy that can be computed together with the softmax before it."""

    sparse = True

    @property
    def fused_activation(self):
        if self.options["from_logits"] or type(self).__call__ is not Loss.__call__:
            return None
        return activations.softmax if self._plain else None

    def softmax_crossentropy(self, y_true, logits):
        """`(loss, probabilities)` of `softmax(logits)`, as one op (the rules and their
        gradients: `striate.ops.losses.softmax_crossentropy`)."""
        return ops.softmax_crossentropy(y_true, logits, sparse=self.sparse)


class SparseCategoricalCrossentropy(_SoftmaxCrossentropy):
    registered_name = "sparse_categorical_crossentropy"

    def __init__(
        self,
        from_logits=False,
        ignore_class=None,
        reduction="sum_over_batch_size",
        name="sparse_categorical_crossentropy",
    ):
        options = {"from_logits": from_logits, "ignore_class": ignore_class}
        super().__init__(sparse_categorical_crossentropy, name, reduction, **options)

    def _values(self, y_true, y_pred):
        return per_sample.sparse_crossentropy_and_mask(y_true, y_pred, **self.options)

    def _batch_mean(self, y_true, y_pred):
        if self.options["ignore_class"] is None:
            return ops.sparse_categorical_crossentropy(y_true, y_pred, self.options["from_logits"])
        return None


class CategoricalCrossentropy(_SoftmaxCrossentropy):
    sparse = False
    registered_name = "categorical_crossentropy"

    def __init__(
        self,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction="sum_over_batch_size",
        name="categorical_crossentropy",
    ):
        options = {"from_logits": from_logits, "label_smoothing": label_smoothing, "axis": axis}
        super().__init__(categorical_crossentropy, name, reduction, **options)

    def _batch_mean(self, y_true, y_pred):
        if not self.options["label_smoothing"]:
            return ops.categorical_crossentropy(y_true, y_pred, self.options["from_logits"])
        return None


class BinaryCrossentropy(Loss):
    registered_name = "binary_crossentropy"

    def __init__(
        self,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction="sum_over_batch_size",
        name="binary_crossentropy",
    ):
        options = {"from_logits": from_logits, "label_smoothing": label_smoothing, "axis": axis}
        super().__init__(binary_crossentropy, name, reduction, **options)

    def _batch_mean(self, y_true, y_pred):
        if not self.options["label_smoothing"]:
            return ops.binary_crossentropy(y_true, y_pred, self.options["from_logits"])
        return None

    @property
    def fused_activation(self):
        if self.options["from_logits"] or type(self).__call__ is not Loss.__call__:
            return None
        return activations.sigmoid if self._plain else None

    def sigmoid_crossentropy(self, y_true, logits):
        """`(loss, probabilities)` of `sigmoid(logits)`, as one op (the rules and their
        gradients: `striate.ops.losses.sigmoid_crossentropy`)."""
        return ops.sigmoid_crossentropy(y_true, logits)


class BinaryFocalCrossentropy(Loss):
    registered_name = "binary_focal_crossentropy"

    def __init__(
        self,
        apply_class_balancing=False,
        alpha=0.25,
        gamma=2.0,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction="sum_over_batch_size",
        name="binary_focal_crossentropy",
    ):
        options = {
            "apply_class_balancing": apply_class_balancing,
            "alpha": alpha,
            "gamma": gamma,
            "from_logits": from_logits,
            "label_smoothing": label_smoothing,
            "axis": axis,
        }
        super().__init__(binary_focal_crossentropy, name, reduction, **options)


class MeanSquaredError(Loss):
    registered_name = "mean_squared_error"

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error"):
        super().__init__(mean_squared_error, name, reduction)

    def _batch_mean(self, y_true, y_pred):
        return ops.mean_squared_error(y_true, y_pred)


class MeanAbsoluteError(Loss):
    registered_name = "mean_absolute_error"

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error"):
        super().__init__(mean_absolute_error, name, reduction)


class Huber(Loss):
    registered_name = "huber"

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss"):
        super().__init__(huber, name, reduction, delta=delta)


class KLDivergence(Loss):
    registered_name = "kl_divergence"

    def __init__(self, reduction="sum_over_batch_size", name="kl_divergence"):
        super().__init__(kl_divergence, name, reduction)


class CategoricalHinge(Loss):
    registered_name = "categorical_hinge"

    def __init__(self, reduction="sum_over_batch_size", name="categorical_hinge"):
        super().__init__(categorical_hinge, name, reduction)


def _simple_loss(class_name, registered, function, default_name=None):
    """A Loss class for a per-sample function with no options (Keras's signature)."""

    def __init__(self, reduction="sum_over_batch_size", name=default_name or registered):
        Loss.__init__(self, function, name, reduction)

    return type(class_name, (Loss,), {"registered_name": registered, "__init__": __init__})


Hinge = _simple_loss("Hinge", "hinge", hinge)
SquaredHinge = _simple_loss("SquaredHinge", "squared_hinge", squared_hinge)
LogCosh = _simple_loss("LogCosh", "log_cosh", log_cosh)
Poisson = _simple_loss("Poisson", "poisson", poisson)
MeanSquaredLogarithmicError = _simple_loss(
    "MeanSquaredLogarithmicError", "mean_squared_logarithmic_error", mean_squared_logarithmic_error
)
MeanAbsolutePercentageError = _simple_loss(
    "MeanAbsolutePercentageError", "mean_absolute_percentage_error", mean_absolute_percentage_error
)


class CosineSimilarity(Loss):
    registered_name = "cosine_similarity"

    def __init__(self, axis=-1, reduction="sum_over_batch_size", name="cosine_similarity"):
        super().__init__(cosine_similarity, name, reduction, axis=axis)


_CLASSES = (
    SparseCategoricalCrossentropy,
    CategoricalCrossentropy,
    BinaryCrossentropy,
    BinaryFocalCrossentropy,
    MeanSquaredError,
    MeanAbsoluteError,
    Huber,
    KLDivergence,
    CategoricalHinge,
    Hinge,
    SquaredHinge,
    LogCosh,
    Poisson,
    MeanSquaredLogarithmicError,
    MeanAbsolutePercentageError,
    CosineSimilarity,
)
_BY_NAME = {cls.registered_name: cls for cls in _CLASSES}
_BY_NAME.update({cls.__name__.lower(): cls for cls in _CLASSES})
_BY_NAME.update({"mse": MeanSquaredError, "mae": MeanAbsoluteError, "kld": KLDivergence})
_BY_NAME.update({"msle": MeanSquaredLogarithmicError, "mape": MeanAbsolutePercentageError})
_BY_NAME.update({"logcosh": LogCosh})
_BY_NAME.update({"huber_loss": Huber, "kullback_leibler_divergence": KLDivergence})


def get(identifier):
    """A Loss from a name ('sparse_categorical_crossentropy', 'mse', 'Huber'), a dict
    (`serialize`'s), or a Loss instance.

    >>> get("mse").name
    'mean_squared_error'
    """
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, dict):
        return lookup("loss", identifier["class_name"], _BY_NAME).from_config(
            dict(identifier["config"])
        )
    return lookup("loss", identifier, _BY_NAME)()


def serialize(loss):
    return {"class_name": loss.registered_name or loss.name, "config": loss.get_config()}
