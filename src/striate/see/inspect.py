"""Inside a model, as data: every layer's output for one input, and how a class score depends on it.

`inspect_model(model, x, class_index)` runs the layers one by one on one input and keeps what each
one made: its output, its pre-activation (for Conv2D and Dense with an activation), and, when a
class is named, the gradient of that class's score with respect to the output and to the input.

The score is the unit *before* softmax when the model ends in softmax (as saliency maps and
Grad-CAM use it: the logit, not the probability), else the output unit itself. Gradients come from
the tape: each layer reads a fresh leaf holding the previous output, so after one backward pass per
layer every intermediate gradient is still there to keep (the tape frees inner gradients).
"""

from dataclasses import dataclass, field

import numpy as np

from striate import models
from striate.layers.conv import Conv2D
from striate.layers.conv_more import DepthwiseConv2D, SeparableConv2D
from striate.layers.conv_transpose import Conv2DTranspose
from striate.layers.core import Activation, Dense
from striate.layers.lookup import layer_index
from striate.layers.symbolic import map_structure
from striate.layers.tracking import invoke
from striate.models import training
from striate.ops import activations as activation_ops
from striate.ops import dense as dense_ops
from striate.see.steps import INPUT, model_steps
from striate.tensor import Tensor, no_grad


@dataclass
class LayerRecord:
    """What one layer made for the input. Arrays have no batch axis.

    Attributes:
        index: position in `model.layers`. name, type: the layer's name and class name.
        output: the layer's output, e.g. (27, 27, 6). shape: `output.shape`.
        activation: the layer's activation name (Conv2D, Dense, Activation), else None.
        pre_activation: the output before the activation (Conv2D/Dense with one), else None.
        gradient: d score / d output when a class was given, else None (None too for the final
            softmax itself when the score is read before it).
        input: the value the layer read (None for a call that reads several, as a merge).
    """

    index: int
    name: str
    type: str
    output: np.ndarray
    activation: str | None = None
    pre_activation: np.ndarray | None = None
    gradient: np.ndarray | None = None
    input: np.ndarray | None = field(default=None, repr=False)

    @property
    def shape(self):
        return self.output.shape

    @property
    def spatial(self):
        """True for (height, width, channels) outputs: these have feature maps."""
        return self.output.ndim == 3

    def __repr__(self):
        extra = " +pre" if self.pre_activation is not None else ""
        extra += " +grad" if self.gradient is not None else ""
        return f"<LayerRecord {self.index} {self.name!r} ({self.type}) {self.shape}{extra}>"


@dataclass
class Inspection:
    """The result of `model.inspect(x)`: the input, one `LayerRecord` per layer, the gradients.

    Attributes:
        input: the input as the model saw it, float, (height, width, channels).
        layers: one LayerRecord per layer of the model, in order.
        class_index: the class whose score was differentiated, or None.
        score: that class's score (the logit when the model ends in softmax), or None.
        input_gradient: d score / d input, shape of `input`, or None.
        ends_in_softmax: True when the last op is a softmax (then `output` are probabilities).
    """

    input: np.ndarray
    layers: list = field(default_factory=list)
    class_index: int | None = None
    score: float | None = None
    input_gradient: np.ndarray | None = None
    ends_in_softmax: bool = False

    @property
    def output(self):
        return self.layers[-1].output if self.layers else self.input

    @property
    def predicted(self):
        """The index of the largest output (the predicted class)."""
        return int(np.argmax(self.output))

    def layer(self, key):
        """A record by layer name or index."""
        return self.layers[layer_index(self.layers, key, "Inspection")]

    def __repr__(self):
        cls = "" if self.class_index is None else f", class_index={self.class_index}"
        return (
            f"<Inspection input={self.input.shape}, layers={len(self.layers)}, "
            f"predicted={self.predicted}{cls}>"
        )


def inspect_model(model, x, class_index=None):
    """Run `model` on one input and keep every layer's output (and gradients for a class).

    Args:
        model: a Sequential or functional model with one input and one output (built or not,
            trained or not). A functional model gives one record per layer call, in the order
            they run (`record.index` is the layer's position in `model.layers`).
        x: one input, (height, width, channels) or (1, height, width, channels); for a model
            with one channel, (height, width) is accepted too. Any numeric dtype.
        class_index: None (no gradients), an int, or 'predicted' (the model's top class).

    Returns:
        Inspection.

    >>> from striate.layers import Activation, Conv2D, Dense, Flatten
    >>> from striate.models import Sequential
    >>> model = Sequential([Conv2D(2, 3, input_shape=(5, 5, 1), activation="relu"),
    ...                     Flatten(), Dense(3), Activation("softmax")])
    >>> result = inspect_model(model, np.ones((5, 5, 1)), class_index="predicted")
    >>> [r.shape for r in result.layers], result.input_gradient.shape
    ([(3, 3, 2), (18,), (3,), (3,)], (5, 5, 1))
    """
    steps = model_steps(model)  # a model inspect cannot walk fails here, before any work
    array = _one_input(model, x)
    dtype = model.float_type()
    inputs = array.astype(dtype, copy=False)
    if not model.layers:
        raise ValueError(f"inspect: Sequential '{model.name}' has no layers.")
    if class_index is None:
        return _forward_only(model, steps, inputs)
    return _forward_backward(model, steps, inputs, class_index)


def _one_input(model, x):
    array = np.asarray(x)
    if model.input_shape is not None:
        expected = tuple(model.input_shape[1:])
        if array.ndim == len(expected) - 1 and expected[-1] == 1 and array.ndim >= 2:
            array = array[..., None]
        if array.ndim == len(expected):
            array = array[None]
    elif array.ndim in (2, 3):
        array = array[None] if array.ndim == 3 else array[None, ..., None]
    if array.ndim < 2 or array.shape[0] != 1:
        raise ValueError(
            f"inspect: expected ONE input, (height, width, channels) or "
            f"(1, height, width, channels). Received: x of shape {array.shape}."
        )
    return training.prepare_inputs(model, array, "inspect")


def _run_step(step, values, leaf=False):
    """(leaves, output, pre-activation) of one step: its inputs read from `values` (as fresh
    leaves that collect gradients, when `leaf`)."""
    leaves = {}

    def read(key):
        if not leaf:
            return Tensor(values[key])
        leaves[key] = leaves.get(key) or Tensor(values[key], requires_grad=True)
        return leaves[key]

    arguments = map_structure(read, step.reads)
    pre = _pre_activation(step.layer, arguments) if isinstance(arguments, Tensor) else None
    out = invoke(step.layer, arguments, False if step.training is None else step.training)
    if not isinstance(out, Tensor):
        raise ValueError(
            f"inspect: {step.layer.describe()} returns several tensors; seeing inside follows "
            f"layers that return one. Received: {type(out).__name__}."
        )
    return leaves, out, pre


def _forward_only(model, steps, inputs):
    records, values = [], {INPUT: inputs}
    with no_grad():
        for step in steps:
            _, out, pre = _run_step(step, values)
            records.append(_record(step, values, out, pre))
            values[step.writes] = out.data
    return Inspection(input=inputs[0], layers=records, ends_in_softmax=_ends_in_softmax(steps))


def _forward_backward(model, steps, inputs, class_index):
    weights = model.weights
    saved = [(w.requires_grad, w.grad) for w in weights]
    for w in weights:  # gradients for the input only: the weights' .grad stay as they were
        w.requires_grad = False
    try:
        values, ran, records = {INPUT: inputs}, [], []
        for step in steps:
            leaves, out, pre = _run_step(step, values, leaf=True)
            records.append(_record(step, values, out, pre))
            values[step.writes] = out.data
            ran.append((leaves, out, pre))
        softmax_end = _ends_in_softmax(steps)
        last = len(steps) - 1
        last_leaves, last_out, last_pre = ran[last]
        # Where the score is read: the last output, or before the final softmax.
        if softmax_end and isinstance(steps[last].layer, Activation):
            (read_key,) = steps[last].read_keys
            logits, first = values[read_key][0], last - 1
        elif softmax_end:
            logits, first = last_pre.data[0], last - 1
        else:
            logits, first = last_out.data[0], last
        if logits.ndim != 1:
            raise ValueError(
                f"inspect: class_index needs a model whose output is a vector of "
                f"class scores. Received: output shape {logits.shape}."
            )
        index = _class_index(class_index, records[-1].output, logits.shape[0])
        seed = np.zeros((1,) + logits.shape, logits.dtype)
        seed[0, index] = 1
        grads = {}
        if softmax_end and isinstance(steps[last].layer, Activation):
            grads[read_key] = seed
        elif softmax_end:  # score = pre-activation of the last layer
            last_pre.backward(seed)
            _collect(grads, last_leaves)
        else:
            grads[steps[last].writes] = seed
        for i in range(first, -1, -1):
            step, (leaves, out, _) = steps[i], ran[i]
            grad = grads.get(step.writes)
            if grad is None:  # the score does not depend on this output
                grad = np.zeros_like(out.data)
            records[i].gradient = grad[0]
            if out.requires_grad:
                out.backward(grad)
            _collect(grads, leaves)
        input_gradient = grads.get(INPUT, np.zeros_like(inputs))
    finally:
        for w, (requires_grad, grad_before) in zip(weights, saved):
            w.requires_grad, w.grad = requires_grad, grad_before
    return Inspection(
        input=inputs[0],
        layers=records,
        class_index=index,
        score=float(logits[index]),
        input_gradient=input_gradient[0],
        ends_in_softmax=softmax_end,
    )


def _collect(grads, leaves):
    """Add each leaf's gradient to the gradient of the value it holds (a value read by several
    steps, as a residual's input, gets the sum)."""
    for key, leaf in leaves.items():
        grad = leaf.grad if leaf.grad is not None else np.zeros_like(leaf.data)
        grads[key] = grad if key not in grads else grads[key] + grad


def _class_index(class_index, output, classes):
    if isinstance(class_index, str):
        if class_index != "predicted":
            raise ValueError(
                f"inspect: class_index must be an int or 'predicted'. "
                f"Received: class_index={class_index!r}"
            )
        return int(np.argmax(output))
    if (
        isinstance(class_index, bool)
        or not isinstance(class_index, (int, np.integer))
        or not 0 <= class_index < classes
    ):
        raise ValueError(
            f"inspect: class_index must be an int in 0..{classes - 1} or "
            f"'predicted'. Received: class_index={class_index!r}"
        )
    return int(class_index)


def _pre_activation(layer, inputs):
    """The layer's output without its activation (Conv2D/Dense with one), else None."""
    activation = getattr(layer, "activation", None)
    if activation is None or activation is activation_ops.linear:
        return None
    if isinstance(layer, Conv2D):  # the plain op, or the dilated/grouped path
        return Conv2D.call_without_activation(layer, inputs)
    if isinstance(layer, (Conv2DTranspose, DepthwiseConv2D, SeparableConv2D)):
        return type(layer).call_without_activation(layer, inputs)
    if isinstance(layer, Dense):
        return dense_ops.dense(inputs, layer.kernel, layer.bias)
    return None


def _record(step, values, out, pre):
    layer = step.layer
    single = not isinstance(step.reads, (list, tuple, dict))
    return LayerRecord(
        index=step.index,
        name=layer.name,
        type=type(layer).__name__,
        output=out.data[0],
        activation=activation_name(layer),
        pre_activation=None if pre is None else pre.data[0],
        input=values[step.reads][0] if single else None,
    )


def activation_name(layer):
    """'relu', 'softmax'... for layers with an activation, else None."""
    function = getattr(layer, "activation", None)
    if function is None:
        return None
    return getattr(function, "__name__", type(function).__name__)


def _ends_in_softmax(steps):
    return bool(steps) and getattr(steps[-1].layer, "activation", None) is activation_ops.softmax


models.register_tool("inspect", inspect_model)
