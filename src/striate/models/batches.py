"""Checks of the data `fit`, `evaluate` and `predict` receive, arrays or batches, before
anything trains on them: inputs numeric, finite and of the model's shapes (one array per
input), targets through the loss of their output, sample weights one per sample, and
`class_weight` turned into sample weights as Keras does.

A batch from a generator or a dataset is checked as arrays are, and an error names the batch
(its index in the epoch) and the shapes of the batches before it.
"""

import numpy as np

from striate.models import data_adapters
from striate.tensor import Tensor, no_grad


def multi_input(model):
    return len(getattr(model, "inputs", None) or ()) > 1


def output_spec(model):
    return getattr(model, "_output_spec", None)


def check_targets(loss, output_shape, float_type, y, count, where, name="y"):
    """`y` as an ndarray checked against a loss and an output shape (batch first)."""
    from striate.models.arguments import check_finite

    if y is None:
        raise ValueError(
            f"{where}: {name} is required for training and evaluation. Received: {name}=None."
        )
    y = np.asarray(y)
    if y.dtype.kind not in "biuf":
        raise TypeError(f"{where}: {name} must be numeric. Received: {name} with dtype {y.dtype}.")
    if y.ndim == 0 or len(y) != count:
        raise ValueError(
            f"{where}: x and {name} must have the same number of samples. "
            f"Received: x with {count} samples, {name} with {len(y) if y.ndim else 0}."
        )
    sparse = getattr(loss, "registered_name", loss.name)
    if sparse != "sparse_categorical_crossentropy" and y.dtype.kind != "f":
        y = y.astype(float_type)
    # Let the loss validate every label once, up front, against uniform predictions.
    units = tuple(output_shape[1:])
    uniform = np.full((len(y),) + units, 1.0 / units[-1], dtype=float_type)
    with no_grad():
        loss(y, Tensor(uniform))
    check_finite(y, name, where)
    return y


def check_sample_weight(sample_weight, count, where):
    from striate.models.arguments import check_finite

    if sample_weight is None:
        return None
    weight = np.asarray(sample_weight)
    if weight.dtype.kind not in "biuf":
        raise TypeError(
            f"{where}: sample_weight must be numeric. Received: sample_weight with dtype "
            f"{weight.dtype}."
        )
    if weight.ndim > 1 and weight.shape[1:] == (1,) * (weight.ndim - 1):
        weight = weight.reshape(-1)
    if weight.ndim != 1 or len(weight) != count:
        raise ValueError(
            f"{where}: sample_weight must hold one weight per sample ({count}). "
            f"Received: sample_weight of shape {weight.shape}."
        )
    check_finite(weight, "sample_weight", where)
    return weight


def class_weights(model, class_weight, where):
    """`class_weight` checked against the classes of the model's output: {class: weight}."""
    if class_weight is None:
        return None
    if not isinstance(class_weight, dict):
        raise TypeError(
            f"{where}: class_weight must be a dict {{class index: weight}}. "
            f"Received: {class_weight!r}"
        )
    if output_spec(model) is not None and len(output_spec(model).names) > 1:
        raise ValueError(
            f"{where}: class_weight is only supported for models with a single output (as in "
            f"Keras); use sample_weight. Received: class_weight for a model with "
            f"{len(output_spec(model).names)} outputs."
        )
    units = model.output_shape[-1] if model.output_shape else None
    classes = 2 if units == 1 else units
    for key, value in class_weight.items():
        if (
            isinstance(key, bool)
            or not isinstance(key, (int, np.integer))
            or not (classes is None or 0 <= key < classes)
        ):
            raise ValueError(
                f"{where}: class_weight names class {key!r}, which the model's output does "
                f"not have: it has {classes} classes (0..{(classes or 1) - 1}). "
                f"Received: class_weight={class_weight!r}"
            )
        if not np.isfinite(float(value)):
            raise ValueError(
                f"{where}: class_weight for class {key} must be a finite number. "
                f"Received: {value!r}"
            )
    return {int(k): float(v) for k, v in class_weight.items()}


def weights_for_classes(y, class_weight, dtype):
    """Keras's `class_weight_to_sample_weights`: one weight per sample from its class."""
    labels = np.asarray(y)
    if labels.ndim > 1:
        labels = np.argmax(labels, -1) if labels.shape[-1] != 1 else labels[..., 0]
    labels = np.round(labels).astype("int64").reshape(len(labels), -1)[:, 0]
    table = np.ones(max(max(class_weight) + 1, int(labels.max(initial=0)) + 1), dtype)
    for key, value in class_weight.items():
        table[key] = value
    return table[labels]


def prepare_arrays(model, x, y, sample_weight, where, need_y=True):
    """`(x, y, sample_weight)` checked: `x` an array, or a list (one per input) for a model
    with several inputs; `y` an array, or a list (one per output) when the model is compiled
    per output; None when not `need_y`."""
    from striate.models.functional import flatten_given
    from striate.models.training import check_array, prepare_inputs

    if x is None:
        raise ValueError(f"{where}: x is required. Received: x=None.")
    if multi_input(model):
        given = flatten_given(model, x)
        xs = [check_array(t.shape, a, model, where) for t, a in zip(model.inputs, given)]
        counts = {len(a) for a in xs}
        if len(counts) > 1:
            raise ValueError(
                f"{where}: every input must have the same number of samples. Received: "
                f"inputs with {[len(a) for a in xs]} samples."
            )
        x, count = xs, len(xs[0])
    else:
        x = prepare_inputs(model, x, where)
        count = len(x)
    if not need_y:
        return x, None, None
    spec = output_spec(model)
    float_type = model.float_type()
    if spec is None:
        y = check_targets(model.loss, model.output_shape, float_type, y, count, where)
    else:
        names = spec.names
        if isinstance(y, dict):
            missing = [n for n, loss in zip(names, spec.losses) if loss and n not in y]
            if missing:
                raise ValueError(
                    f"{where}: no targets for output(s) {missing}. Received: y with keys "
                    f"{sorted(y)}."
                )
            given = [y.get(n) for n in names]
        elif isinstance(y, (list, tuple)) and len(y) == len(names):
            given = list(y)
        elif len(names) == 1:
            given = [y]
        else:
            raise ValueError(
                f"{where}: y must hold one array per output ({names}), as a list or a dict "
                f"by output name. Received: {type(y).__name__}"
                f"{f' of {len(y)} items' if isinstance(y, (list, tuple)) else ''}."
            )
        y = [
            None
            if loss is None
            else check_targets(loss, t.shape, float_type, v, count, where, f"y['{n}']")
            for loss, t, v, n in zip(spec.losses, model.outputs, given, names)
        ]
    if spec is not None and (
        isinstance(sample_weight, dict)
        or isinstance(sample_weight, (list, tuple))
        and all(w is None or np.ndim(w) >= 1 for w in sample_weight)
    ):
        per = sample_weight  # one array (or None) per output, as Keras
        if isinstance(per, dict):
            unknown = [key for key in per if key not in spec.names]
            if unknown:
                raise ValueError(
                    f"{where}: sample_weight names output(s) {unknown} that the model does not "
                    f"have; its outputs are {spec.names}. Received: keys {list(per)}."
                )
            per = [per.get(name) for name in spec.names]
        if len(per) != len(spec.names):
            raise ValueError(
                f"{where}: sample_weight must hold one array per output ({spec.names}). "
                f"Received: {len(per)} arrays."
            )
        return x, y, [check_sample_weight(w, count, where) for w in per]
    return x, y, check_sample_weight(sample_weight, count, where)


def _shapes(x):
    return [tuple(a.shape) for a in x] if isinstance(x, list) else tuple(np.shape(x))


class LazyBatches:
    """Checks each batch of an adapter (`data_adapters`) as arrays are checked, casts the
    inputs to the model's float type and adds class weights."""

    def __init__(self, model, adapter, where, need_y=True, class_weight=None):
        self.model, self.adapter, self.where = model, adapter, where
        self.need_y, self.class_weight = need_y, class_weight
        self.first_shape = None

    def standardize(self, batch, index):
        where = f"{self.where} (batch {index} of the {self.adapter.kind})"
        if isinstance(batch, list):
            batch = tuple(batch)  # as Keras (a torch DataLoader's batches are lists)
        if isinstance(batch, tuple) and len(batch) in (1, 2, 3):
            parts = batch + (None,) * (3 - len(batch))
        elif self.need_y:
            raise ValueError(
                f"{where}: a batch must be a tuple (x, y) or (x, y, sample_weight). "
                f"Received: {type(batch).__name__}"
                f"{f' of {len(batch)} items' if isinstance(batch, (list, tuple)) else ''}."
            )
        else:
            parts = (batch, None, None)
        x, y, weight = parts
        if data_adapters.is_lazy(x):
            raise TypeError(f"{where}: x must be arrays. Received: {type(x).__name__}.")
        try:
            x, y, weight = prepare_arrays(self.model, x, y, weight, where, self.need_y)
        except (ValueError, TypeError) as error:
            text = str(error)
            if not text.startswith(where):  # e.g. a loss refusing a label: name the batch
                text = f"{where}: {text}"
            if self.first_shape is not None:
                text += f" The batches before had x of shape {self.first_shape}."
            raise type(error)(text) from None
        if self.first_shape is None:
            self.first_shape = _shapes(x)
        float_type = self.model.float_type()
        if isinstance(x, list):
            x = [a.astype(float_type, copy=False) for a in x]
        else:
            x = x.astype(float_type, copy=False)
        if self.class_weight is not None and self.need_y:
            if weight is not None:
                raise ValueError(
                    f"{where}: class_weight and sample_weight cannot be used together (as in "
                    f"Keras). Received: a batch with sample weights and class_weight."
                )
            labels = y[0] if isinstance(y, list) else y
            weight = weights_for_classes(labels, self.class_weight, float_type)
        return x, y, weight
