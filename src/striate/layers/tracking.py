"""What a user's own layers and models need from the base classes, as in Keras:

- sub-layers held in attributes, lists, tuples and dicts are found (`sublayers`), so their
  weights count and train;
- `training` flows from the outer call to every layer called inside it (`training_scope`),
  and `training` is passed only to a `call` that accepts it (`invoke`); `mask` never is: no
  striate layer makes a mask (Keras passes one only when the inputs carry it);
- a layer that does not say its output shape gets it by running its `call` on symbolic
  tensors (or, when its `call` needs real numbers, on one sample of zeros: `infer_output_shape`).
"""

import contextlib
import functools
import inspect

import numpy as np

from striate.layers import symbolic
from striate.tensor import Tensor, no_grad

_TRAINING = [False]  # the `training` flag of the call being run (innermost last)
_ACTIVITY = []  # lists collecting activity penalties (`collect_activity`), innermost last
_NOT_TRACKED = frozenset({"_inbound_nodes", "_layer_list", "_trained_weights"})


def sublayers(owner):
    """The layers held by `owner` in its attributes (also inside lists, tuples and dicts), in
    the order they were assigned, each once."""
    from striate.layers.base import Layer

    found, seen = [], {id(owner)}

    def scan(value):
        if isinstance(value, Layer):
            if id(value) not in seen:
                seen.add(id(value))
                found.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                scan(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                scan(item)

    for key, value in vars(owner).items():
        if key not in _NOT_TRACKED:
            scan(value)
    return found


def current_training():
    return _TRAINING[-1]


def inside_a_call():
    """True while some layer's or model's call is running (its mode is then the context's)."""
    return len(_TRAINING) > 1


@contextlib.contextmanager
def training_scope(training):
    _TRAINING.append(bool(training))
    try:
        yield
    finally:
        _TRAINING.pop()


@functools.cache
def _accepts(call, name):
    parameters = inspect.signature(call).parameters
    return name in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )


def invoke(layer, inputs, training):
    """`layer.call(inputs, training=...)` with `training` the flag of every layer inside it; the
    argument is passed only when `call` takes it."""
    call = type(layer).call
    with training_scope(training):
        if _accepts(call, "training"):
            outputs = layer.call(inputs, training=bool(training))
        else:
            outputs = layer.call(inputs)
    if layer.activity_regularizer is not None and _ACTIVITY:
        _ACTIVITY[-1].extend(activity_penalties(layer, outputs))
    return outputs


@contextlib.contextmanager
def collect_activity():
    """Within this block, the activity penalties of the layers called go to the list given
    (`striate.models.penalties`); outside it, none is computed."""
    terms = []
    _ACTIVITY.append(terms)
    try:
        yield terms
    finally:
        _ACTIVITY.pop()


def activity_penalties(layer, outputs):
    """Keras 3: the regularizer of each output tensor, divided by its batch size."""
    from striate.ops.loss_terms import divide

    found = []
    for output in outputs if isinstance(outputs, (list, tuple)) else [outputs]:
        if isinstance(output, Tensor):
            penalty = layer.activity_regularizer(output)
            found.append(divide(penalty, output.data.shape[0]) if output.data.ndim else penalty)
    return found


def is_custom(layer):
    """A user's layer whose `call` is its own and which does not give `compute_output_shape`."""
    from striate.layers.base import Layer

    cls = type(layer)
    return (
        not cls.__module__.startswith("striate.")
        and cls.compute_output_shape is Layer.compute_output_shape
        and cls.call is not Layer.call
    )


class _Placeholder:
    """The maker of the symbolic tensors a custom layer's `call` is run on to find shapes."""

    name = "placeholder"

    def describe(self):
        return "a placeholder"


def infer_output_shape(layer, input_shape):
    """The output shape(s) of `layer.call` for `input_shape` (one shape, or a list of them):
    run on symbolic tensors (which also builds the layers it calls), or on one sample of zeros
    when `call` needs numbers."""
    single = all(isinstance(d, (int, type(None))) for d in input_shape)
    shapes = [tuple(input_shape)] if single else [tuple(s) for s in input_shape]
    placeholder = _Placeholder()
    made = [symbolic.Node(placeholder, [], s, layer.dtype).output for s in shapes]
    try:
        out = invoke(layer, made[0] if single else made, False)
        return _shapes(out, lambda t: t.shape)
    except (TypeError, AttributeError):  # call needs numbers (NumPy, .data): run it on zeros
        pass
    dtype = np.dtype(layer.dtype or "float32")
    zeros = [Tensor(np.zeros((1,) + tuple(d or 1 for d in s[1:]), dtype)) for s in shapes]
    with no_grad():
        out = invoke(layer, zeros[0] if single else zeros, False)
    return _shapes(out, lambda t: (None,) + tuple(t.data.shape[1:]))


def _shapes(out, shape_of):
    if isinstance(out, (list, tuple)):
        return [tuple(shape_of(t)) for t in out]
    return tuple(shape_of(out))
