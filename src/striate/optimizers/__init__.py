"""Optimizers with Keras 3's names, defaults and update rules, updating weights in place, and
their learning-rate schedules (`striate.optimizers.schedules`).

The base (`striate.optimizers.base`) packs the weights into one buffer and applies, around
each rule, what Keras 3's BaseOptimizer does: schedules, gradient clipping (`clipnorm`,
`global_clipnorm`, `clipvalue`), `weight_decay` and the moving average of the weights
(`use_ema`).
"""

from striate._registry import lookup
from striate.optimizers import schedules
from striate.optimizers.adaptive import Adadelta, Adagrad, Adamax, AdamW, Ftrl, Lion, Nadam
from striate.optimizers.base import Optimizer
from striate.optimizers.classic import SGD, Adam, RMSprop
from striate.optimizers.per_variable import Adafactor, Lamb

__all__ = [
    "SGD",
    "Adadelta",
    "Adafactor",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "Ftrl",
    "Lamb",
    "Lion",
    "Nadam",
    "Optimizer",
    "RMSprop",
    "get",
    "schedules",
    "serialize",
]

_CLASSES = (
    SGD,
    Adam,
    RMSprop,
    AdamW,
    Adadelta,
    Adagrad,
    Adamax,
    Nadam,
    Lion,
    Ftrl,
    Adafactor,
    Lamb,
)
_BY_NAME = {cls.__name__.lower(): cls for cls in _CLASSES}


def get(identifier):
    """An optimizer from a name ('adam', case-insensitive), a config dict or an instance.

    >>> get("Adam")
    Adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-07)
    """
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        return lookup("optimizer", identifier["class_name"], _BY_NAME).from_config(
            identifier["config"]
        )
    return lookup("optimizer", identifier, _BY_NAME)()


def serialize(optimizer):
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}
