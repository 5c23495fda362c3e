"""How `Sequential` runs its layers: in order, with three exact rewrites.

1. ReLU commutes with max pooling: `max(relu(window)) == relu(max(window))` for every window,
   and the gradients agree as well. Where the window's maximum is positive, the first maximum
   is the same cell before and after the ReLU and its gradient passes the ReLU unchanged; where
   it is <= 0, no gradient gets through either way. So wherever a ReLU (an `Activation('relu')`
   layer, or a layer with `activation='relu'`) is followed by a `MaxPooling2D`, the plan
   pools first and applies the ReLU to the pooled output, which is ph*pw times smaller: for the
   usual 2x2 pool, 4x less ReLU work forward and backward.
2. A `Conv2D` followed by a 2x2 `MaxPooling2D` (stride 2, 'valid'), with at most a ReLU between
   them (its own activation or an `Activation('relu')` layer), runs as one op,
   `striate.ops.conv_pool.conv2d_max_pool2d`, which also applies the ReLU after the pooling
   (by rule 1): the convolution's GEMM writes its pixels grouped by pooling window, so pooling
   needs no gather or scatter. Its kernel gradient is summed in that block order: the Conv2D
   run alone gives the same numbers with `call(x, pixel_order='blocks')`
   (`layers_in_block_order` names the layers fused so).
3. Training and evaluation (a plan given the model's `loss`): when a cross-entropy on
   probabilities follows a final softmax (an `Activation('softmax')` layer, a `Softmax` layer,
   or a layer with `activation='softmax'`: any layer whose `fusions` promise 'activation' with
   `striate.ops.activations.softmax`), or a binary cross-entropy follows a final sigmoid, the
   last layer runs without its activation and the loss step computes the activation and the
   loss as one op (`striate.ops.losses.softmax_crossentropy` or `sigmoid_crossentropy`),
   returning the probabilities as well, for the metrics.

Rewrite 1 is exact; rewrite 2 gives the outputs and gradients of the layers one by one within
float rounding (its GEMMs have other heights: docs/NUMERICS.md, tests/test_plan.py). Rewrite 3
gives the same probabilities; its loss step follows `striate.backend.crossentropy_rule()`,
read when the step runs: 'logits' (default) computes the loss from the logits, exactly, so a
saturated softmax still has a gradient; 'keras3' gives Keras 3's clipped loss of the
probabilities, the loss of the layers one by one. The plan is a pure function of the layers
(what their `fusions` promise, their activations and pooling settings) and of the loss: it
changes none of them. The model builds it once per list of layers and loss, and caches it.
Each layer's own `call` gives its own output as before, so code that runs one layer at a time
(`striate.see.inspect`) sees every layer's output.

>>> from striate.layers import Activation, Conv2D, Dense, Flatten, MaxPool2D
>>> from striate.losses import SparseCategoricalCrossentropy
>>> conv, pool = Conv2D(2, 3, activation="relu", name="conv"), MaxPool2D(2, name="pool")
>>> describe(execution_plan([conv, pool, Flatten(name="flat")]))
['conv + pool, relu', 'flat']
>>> describe(execution_plan([Activation("relu", name="relu"), MaxPool2D(3, name="pool3")]))
['pool3', 'relu']
>>> dense = Dense(3, activation="softmax", name="dense")
>>> describe(execution_plan([Flatten(name="flat"), dense], SparseCategoricalCrossentropy()))
['flat', 'dense (without activation)', 'dense (softmax) + sparse_categorical_crossentropy']
>>> from striate.losses import BinaryCrossentropy
>>> steps = execution_plan([dense, Activation("sigmoid", name="sig")], BinaryCrossentropy())
>>> describe(steps)
['dense', 'sig (sigmoid) + binary_crossentropy']
"""

from striate.layers import tracking
from striate.layers.core import Activation
from striate.ops import activations as activation_ops


# Layer steps, each run as `x = function(layers, x, training)`.
def _layer_call(layers, x, training):
    return tracking.invoke(layers[0], x, training)  # a user's layer may not take `training`


def _without_activation(layers, x, training):
    return layers[0].call_without_activation(x)


def _conv_max_pool(layers, x, training):
    return layers[0].call_max_pooled(x)


def _conv_max_pool_relu(layers, x, training):
    return layers[0].call_max_pooled(x, relu=True)


def _relu(layers, x, training):
    return activation_ops.relu(x)


# Loss steps, each run as `loss, outputs = function(operands, x, y_true)`.
def _loss(operands, outputs, y_true):
    return operands[0](y_true, outputs), outputs.data


def _softmax_crossentropy(operands, logits, y_true):
    return operands[0].softmax_crossentropy(y_true, logits)


def _sigmoid_crossentropy(operands, logits, y_true):
    return operands[0].sigmoid_crossentropy(y_true, logits)


_FUSED_LOSS_STEPS = {
    activation_ops.softmax: (_softmax_crossentropy, "softmax"),
    activation_ops.sigmoid: (_sigmoid_crossentropy, "sigmoid"),
}


def execution_plan(layers, loss=None):
    """The steps that compute `layers` in sequence: a list of `(function, layers)`, each run as
    `x = function(layers, x, training)`. With a `loss` (a `striate.losses.Loss`), one more
    step at the end, `(function, operands)` run as `loss, outputs = function(operands, x,
    y_true)`, where `outputs` is the model's output as an ndarray. Changes nothing it reads."""
    layers = list(layers)
    activation = _fused_activation(loss)
    final = None
    if activation in _FUSED_LOSS_STEPS and layers and _ends_in(layers[-1], activation):
        final = layers.pop()
    steps = _layer_steps(layers)
    if loss is None:
        return steps
    if final is None:
        return steps + [(_loss, (loss,))]
    if not isinstance(final, Activation):
        steps.append((_without_activation, (final,)))
    return steps + [(_FUSED_LOSS_STEPS[activation][0], (loss, final))]


def _fused_activation(loss):
    """The activation `loss` computes together with (`Loss.fused_activation`), or None."""
    return None if loss is None else getattr(loss, "fused_activation", None)


def _layer_steps(layers):
    steps, index = [], 0
    while index < len(layers):
        layer = layers[index]
        following = layers[index + 1 : index + 3]
        fused = _fused_conv_pool(layer, following)
        if fused:
            relu = _ends_in(layer, activation_ops.relu) or fused == 2
            steps.append(
                (_conv_max_pool_relu if relu else _conv_max_pool, (layer, *following[:fused]))
            )
            index += 1 + fused
        elif following and _is_max_pool(following[0]) and _ends_in(layer, activation_ops.relu):
            if not isinstance(layer, Activation):
                steps.append((_without_activation, (layer,)))
            steps += [(_layer_call, (following[0],)), (_relu, ())]
            index += 2
        else:
            steps.append((_layer_call, (layer,)))
            index += 1
    return steps


def plan_key(layers, loss=None):
    """What the plan depends on besides the layers' classes and settings: the layers and their
    activations (compared by identity), and the loss and the activation it fuses."""
    key = tuple((id(layer), id(getattr(layer, "activation", None))) for layer in layers)
    if loss is None:
        return key
    return key, id(loss), id(_fused_activation(loss))


def describe(steps):
    """The plan in words, one entry per step.

    The loss step reads `<loss name>`, or `<layer> (softmax) + <loss name>` when it computes
    the final softmax as well (`(sigmoid)` for a final sigmoid)."""
    fused = dict(_FUSED_LOSS_STEPS.values())
    suffix = {_without_activation: " (without activation)", _conv_max_pool_relu: ", relu"}
    words = []
    for function, operands in steps:
        if function is _relu:
            words.append("relu")
        elif function is _loss:
            words.append(operands[0].name)
        elif function in fused:
            words.append(f"{operands[1].name} ({fused[function]}) + {operands[0].name}")
        else:
            words.append(" + ".join(layer.name for layer in operands) + suffix.get(function, ""))
    return words


def layers_in_block_order(steps):
    """The Conv2D layers that `steps` run fused with a max pooling: their kernel gradient is
    summed in 2x2-block pixel order, which `layer.call(x, pixel_order='blocks')` reproduces
    when such a layer is run alone."""
    return [
        layers[0] for function, layers in steps if function in (_conv_max_pool, _conv_max_pool_relu)
    ]


def _fused_conv_pool(layer, following):
    """How many of the `following` layers join `layer` in a fused conv + 2x2 max pool step:
    1 (the pool), 2 (a ReLU Activation, then the pool), or 0 (no fusion)."""
    if "conv_max_pool" not in _fusions(layer) or layer.activation not in (
        activation_ops.relu,
        activation_ops.linear,
    ):
        return 0
    if following and _is_pool_2x2(following[0]):
        return 1
    if (
        layer.activation is activation_ops.linear
        and len(following) == 2
        and isinstance(following[0], Activation)
        and _ends_in(following[0], activation_ops.relu)
        and _is_pool_2x2(following[1])
    ):
        return 2
    return 0


def _is_max_pool(layer):
    return "max_pool" in _fusions(layer)


def _is_pool_2x2(layer):
    return (
        _is_max_pool(layer)
        and layer.pool_size == (2, 2)
        and layer.strides == (2, 2)
        and layer.padding == "valid"
    )


def _ends_in(layer, activation):
    """True when the layer's output is `activation` of what `call_without_activation` gives
    (or, for an `Activation` layer, of its input)."""
    return "activation" in _fusions(layer) and layer.activation is activation


def _fusions(layer):
    """What the plan may fuse of `layer`: nothing when it has an activity regularizer, whose
    penalty needs its output as its `call` gives it (`tracking.invoke`)."""
    return frozenset() if layer.activity_regularizer is not None else layer.fusions
