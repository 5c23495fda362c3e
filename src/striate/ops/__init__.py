"""Pure math on ndarrays, each op with its forward and its hand-written backward side by side.

An op takes Tensors, computes its output with NumPy, and returns
`Tensor.from_op(out, parents, backward, name)`, where `backward(g)` maps the gradient of the
output to a tuple of gradients, one per parent (None where a parent needs none).

The package is also Keras's `ops` namespace for a user's own layers (`from striate import ops;
ops.matmul(x, w)`): the functions below, by Keras 3's names (`striate.ops.arithmetic`, and the
activations of `striate.ops.activations`). `ops.shape` and `ops.conv` are submodules here, not
Keras's functions: use `x.shape` and the Conv2D layer.
"""

from striate.ops.activations import (
    elu,
    gelu,
    leaky_relu,
    log_softmax,
    relu,
    selu,
    sigmoid,
    softmax,
    softplus,
    softsign,
    tanh,
)
from striate.ops.activations import swish as silu
from striate.ops.arithmetic import (
    abs,
    add,
    cast,
    clip,
    concatenate,
    convert_to_numpy,
    convert_to_tensor,
    divide,
    exp,
    expand_dims,
    log,
    matmul,
    max,
    maximum,
    mean,
    minimum,
    multiply,
    negative,
    power,
    reshape,
    sqrt,
    square,
    squeeze,
    subtract,
    sum,
    transpose,
)
from striate.ops.piecewise import relu6

swish = silu
true_divide = divide

__all__ = [
    "abs", "add", "cast", "clip", "concatenate", "convert_to_numpy", "convert_to_tensor",
    "divide", "elu", "exp", "expand_dims", "gelu", "leaky_relu", "log", "log_softmax",
    "matmul", "max", "maximum", "mean", "minimum", "multiply", "negative", "power", "relu",
    "relu6", "reshape", "selu", "sigmoid", "silu", "softmax", "softplus", "softsign", "sqrt",
    "square", "squeeze", "subtract", "sum", "swish", "tanh", "transpose", "true_divide",
]  # fmt: skip
