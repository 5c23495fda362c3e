"""The options of a layer's kernel and bias that Keras's `Dense`, `Conv2D` and the other
kernel layers share: `kernel_regularizer`, `bias_regularizer` (`striate.regularizers`),
`kernel_constraint`, `bias_constraint` (`striate.constraints`). A layer stores them with
`set_weight_options`, passes them to `add_weight(..., regularizer=, constraint=)` and writes
them in its config with `weight_options_config` (only those set, as names' configs).

>>> from striate.layers import Dense
>>> Dense(2, kernel_regularizer="l2").get_config()["kernel_regularizer"]
{'class_name': 'L2', 'config': {'l2': 0.01}}
"""

from striate import constraints, regularizers

OPTIONS = ("kernel_regularizer", "bias_regularizer", "kernel_constraint", "bias_constraint")


def set_weight_options(
    layer,
    kernel_regularizer=None,
    bias_regularizer=None,
    kernel_constraint=None,
    bias_constraint=None,
):
    """Check each option (a name, a config dict or an object; a bad name names the option) and
    store it on `layer` under its Keras name."""
    set_named_options(
        layer,
        kernel_regularizer=kernel_regularizer,
        bias_regularizer=bias_regularizer,
        kernel_constraint=kernel_constraint,
        bias_constraint=bias_constraint,
    )


def set_named_options(layer, **options):
    """The same for any weight's options by Keras's names (`depthwise_regularizer`,
    `gamma_constraint`...): a name ending in `_regularizer` is a regularizer, else a
    constraint."""
    for name, value in options.items():
        module = regularizers if name.endswith("_regularizer") else constraints
        try:
            setattr(layer, name, module.get(value))
        except (TypeError, ValueError) as error:
            raise ValueError(f"{layer.describe()}: {name}: {error}") from None


def weight_options_config(layer, names=OPTIONS):
    """The options that are set, serialized (`{'class_name', 'config'}`)."""
    config = {}
    for name in names:
        value = getattr(layer, name, None)
        if value is not None:
            module = regularizers if name.endswith("_regularizer") else constraints
            config[name] = module.serialize(value)
    return config


def add_weight_with_options(layer, name, shape, initializer, options=None):
    """`layer.add_weight(name, shape, initializer)` with the regularizer and constraint the
    layer holds for it: `<options>_regularizer` and `<options>_constraint` (`options` defaults
    to `name`: "kernel", "bias", "depthwise", "gamma"...)."""
    options = options or name
    return layer.add_weight(
        name,
        shape,
        initializer,
        regularizer=getattr(layer, f"{options}_regularizer", None),
        constraint=getattr(layer, f"{options}_constraint", None),
    )
