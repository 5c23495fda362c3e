"""How `Sequential.call` runs its layers: in order, with two exact rewrites.

1. ReLU commutes with max pooling: `max(relu(window)) == relu(max(window))` for every window,
   and the gradients agree as well. Where the window's maximum is positive, the first maximum
   is the same cell before and after the ReLU and its gradient passes the ReLU unchanged; where
   it is <= 0, no gradient gets through either way. So wherever a ReLU (an `Activation('relu')`
   layer, or a `Conv2D` with `activation='relu'`) is followed by a `MaxPooling2D`, the plan
   pools first and applies the ReLU to the pooled output, which is ph*pw times smaller: for the
   usual 2x2 pool, 4x less ReLU work forward and backward.
2. A `Conv2D` followed by a 2x2 `MaxPooling2D` (stride 2, 'valid'), with at most a ReLU between
   them (its own activation or an `Activation('relu')` layer), runs as one op,
   `striate.ops.conv_pool.conv2d_max_pool2d`, which also applies the ReLU after the pooling
   (by rule 1): the convolution's GEMM writes its pixels grouped by pooling window, so pooling
   needs no gather or scatter.
   The plan sets that Conv2D's `pixel_order` to 'blocks', the order the fused op sums the
   kernel gradient in, so that the layer run on its own gives the same numbers.

Both rewrites give bit-identical outputs and gradients (tests/test_plan.py). The plan is built
once per list of layers (and their activations) and cached by the model. Each layer's own
`call` gives its own output as before, so code that runs one layer at a time
(`striate.see.inspect`) sees every layer's output.

>>> from striate.layers import Activation, Conv2D, Flatten, MaxPool2D
>>> conv, pool = Conv2D(2, 3, activation="relu", name="conv"), MaxPool2D(2, name="pool")
>>> describe(execution_plan([conv, pool, Flatten(name="flat")]))
['conv + pool, relu', 'flat']
>>> describe(execution_plan([Activation("relu", name="relu"), MaxPool2D(3, name="pool3")]))
['pool3', 'relu']
"""

from striate.layers.conv import Conv2D
from striate.layers.core import Activation
from striate.layers.pooling import MaxPooling2D
from striate.ops import activations as activation_ops


def _layer_call(layers, x, training):
    return layers[0].call(x, training=training)


def _without_activation(layers, x, training):
    return layers[0].call_without_activation(x)


def _conv_max_pool(layers, x, training):
    return layers[0].call_max_pooled(x)


def _conv_max_pool_relu(layers, x, training):
    return layers[0].call_max_pooled(x, relu=True)


def _relu(layers, x, training):
    return activation_ops.relu(x)


def execution_plan(layers):
    """The steps that compute `layers` in sequence: a list of `(function, layers)`, each run as
    `x = function(layers, x, training)`. Sets `pixel_order` on the Conv2D layers it sees."""
    steps, index = [], 0
    while index < len(layers):
        layer = layers[index]
        following = layers[index + 1 : index + 3]
        if isinstance(layer, Conv2D):
            layer.pixel_order = "rows"
        fused = _fused_conv_pool(layer, following)
        if fused:
            layer.pixel_order = "blocks"
            relu = _ends_in_relu(layer) or fused == 2
            steps.append((_conv_max_pool_relu if relu else _conv_max_pool,
                          (layer, *following[:fused])))
            index += 1 + fused
        elif following and _is_max_pool(following[0]) and _ends_in_relu(layer):
            if not isinstance(layer, Activation):
                steps.append((_without_activation, (layer,)))
            steps += [(_layer_call, (following[0],)), (_relu, ())]
            index += 2
        else:
            steps.append((_layer_call, (layer,)))
            index += 1
    return steps


def plan_key(layers):
    """What the plan depends on: the layers and their activations (compared by identity)."""
    return tuple((id(layer), id(getattr(layer, "activation", None))) for layer in layers)


def describe(steps):
    """The plan in words, one entry per step."""
    suffix = {_without_activation: " (without activation)", _conv_max_pool_relu: ", relu"}
    return ["relu" if function is _relu else
            " + ".join(layer.name for layer in layers) + suffix.get(function, "")
            for function, layers in steps]


def _fused_conv_pool(layer, following):
    """How many of the `following` layers join `layer` in a fused conv + 2x2 max pool step:
    1 (the pool), 2 (a ReLU Activation, then the pool), or 0 (no fusion)."""
    if not (isinstance(layer, Conv2D) and type(layer).call is Conv2D.call
            and type(layer).call_without_activation is Conv2D.call_without_activation
            and layer.activation in (activation_ops.relu, activation_ops.linear)):
        return 0
    if following and _is_pool_2x2(following[0]):
        return 1
    if (layer.activation is activation_ops.linear and len(following) == 2
            and _is_relu_layer(following[0]) and _is_pool_2x2(following[1])):
        return 2
    return 0


def _is_max_pool(layer):
    return isinstance(layer, MaxPooling2D) and type(layer).call is MaxPooling2D.call


def _is_pool_2x2(layer):
    return (_is_max_pool(layer) and layer.pool_size == (2, 2) and layer.strides == (2, 2)
            and layer.padding == "valid")


def _is_relu_layer(layer):
    return (isinstance(layer, Activation) and type(layer).call is Activation.call
            and layer.activation is activation_ops.relu)


def _ends_in_relu(layer):
    if getattr(layer, "activation", None) is not activation_ops.relu:
        return False
    if isinstance(layer, Activation):
        return type(layer).call is Activation.call
    return isinstance(layer, Conv2D) and type(layer).call is Conv2D.call and (
        type(layer).call_without_activation is Conv2D.call_without_activation)
