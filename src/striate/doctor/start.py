"""The checks at the start of `fit` (free: a look at the data, the optimizer, the last layer and
the loss, and one forward pass of a few samples): inputs far outside the range the model
expects, labels of one class or badly imbalanced, a learning rate far outside the usual range
for the optimizer, a final activation that does not fit the loss."""

import numpy as np

from striate.doctor import walk
from striate.doctor.findings import Finding

# Beyond this, the first kernel layer reads inputs far outside the -1..1 (or 0..1) images and
# standardized features are scaled to: raw 0-255 pixels reach it.
INPUT_LIMIT = 20.0
# The largest class over the smallest: a note from NOTE_RATIO, a warning from IMBALANCE_RATIO.
IMBALANCE_RATIO, NOTE_RATIO = 20.0, 5.0
# Learning rates outside (low, high) are far from what the optimizer is used with.
ADAPTIVE_RANGE = (1e-7, 0.1)  # Adam, RMSprop, Adagrad, Nadam...: usually 1e-4 to 1e-2
SGD_RANGE = (1e-7, 5.0)  # SGD: usually 1e-3 to 1
CLASSIFICATION = (
    "sparse_categorical_crossentropy",
    "categorical_crossentropy",
    "binary_crossentropy",
)


def start_checks(model, x, y):
    """Findings about the data, the optimizer and the loss before the first step.

    Args:
        model: a compiled model. x: the training inputs (an array, or the first batch; a list
            for several inputs, of which the first is checked). y: the targets (None: skipped).

    Returns:
        list of Finding.
    """
    findings = []
    first = x[0] if isinstance(x, (list, tuple)) else x
    if first is not None:
        findings += input_range(model, np.asarray(first))
    if y is not None and not isinstance(y, (list, tuple, dict)):
        findings += labels(model, np.asarray(y))
    findings += learning_rate(model.optimizer)
    findings += activation_loss(model)
    return findings


def input_range(model, x):
    """Inputs reaching the first Conv/Dense layer far outside -INPUT_LIMIT..INPUT_LIMIT."""
    if x.dtype.kind not in "biuf" or x.size == 0:
        return []
    sample = x[:64]
    low, high = float(np.min(sample)), float(np.max(sample))
    reach = walk.first_kernel_input(model, sample)
    if reach is None:  # a model the walker cannot follow: the raw data, if nothing scales it
        if walk.has_scaling_layer(model):
            return []
        reach = (None, max(abs(low), abs(high)))
    layer, magnitude = reach
    if magnitude is None or magnitude <= INPUT_LIMIT:
        return []
    pixels = low >= 0 and high <= 255
    fix = (
        "divide by 255 (x = x / 255) or add Rescaling(1/255) as the model's first layer"
        if pixels
        else "standardize the inputs: add Normalization() first and call its adapt(x_train), "
        "or use (x - mean) / std"
    )
    where = "the first layer" if layer is None else layer.describe()
    return [
        Finding(
            "input_range",
            "" if layer is None else layer.name,
            f"Inputs range {low:g}..{high:g} ({x.dtype}) and reach {where} with magnitude "
            f"{magnitude:g}: no Rescaling or Normalization brings them near 0..1.",
            "large inputs make large pre-activations: the softmax saturates, most samples "
            "give (almost) no gradient, and training often gets stuck at a poor accuracy.",
            fix + ".",
        )
    ]


def _classes(loss_name, y, units):
    if loss_name == "sparse_categorical_crossentropy":
        return y.reshape(-1).astype(np.int64, copy=False), units
    if loss_name == "categorical_crossentropy" and y.ndim >= 2 and y.shape[-1] > 1:
        return np.argmax(y.reshape(-1, y.shape[-1]), axis=1), y.shape[-1]
    if loss_name == "binary_crossentropy" and (y.ndim == 1 or y.shape[-1] == 1):
        return (y.reshape(-1) > 0.5).astype(np.int64), 2
    return None, None


def labels(model, y):
    """Labels all of one class, or the largest class many times the smallest."""
    name = getattr(model.loss, "registered_name", None) or getattr(model.loss, "name", "")
    if name not in CLASSIFICATION or y.size == 0 or y.dtype.kind not in "biuf":
        return []
    units = (model.output_shape or (None,))[-1] if isinstance(model.output_shape, tuple) else None
    classes, expected = _classes(name, y, units)
    if classes is None or classes.min() < 0:
        return []
    counts = np.bincount(classes)
    present = np.flatnonzero(counts)
    if len(present) == 1:
        return [
            Finding(
                "labels",
                "",
                f"All {len(classes)} labels are class {present[0]}.",
                "the model can only learn to answer that class: the loss falls to zero "
                "and nothing else is learned.",
                "check how the labels were loaded, sliced or shuffled (x and y together).",
            )
        ]
    ratio = counts[present].max() / counts[present].min()
    if ratio < NOTE_RATIO:
        return []
    big, small = int(np.argmax(counts)), int(present[np.argmin(counts[present])])
    return [
        Finding(
            "labels",
            "",
            f"The labels are imbalanced: class {big} has {counts[big]} samples, class "
            f"{small} only {counts[small]} ({ratio:.0f}x fewer).",
            "the loss is dominated by the large classes: a model that ignores the small "
            "ones still scores a high accuracy.",
            "pass class_weight={class: weight} to fit (e.g. total / (classes * count)), or "
            "resample the data; watch per-class recall rather than accuracy.",
            sure=ratio >= IMBALANCE_RATIO,
        )
    ]


def learning_rate(optimizer):
    """A learning rate far outside the usual range for the optimizer's family."""
    try:
        rate = float(optimizer.learning_rate)
    except (TypeError, ValueError):
        return []
    name = type(optimizer).__name__
    low, high = SGD_RANGE if name == "SGD" else ADAPTIVE_RANGE
    if low <= rate <= high:
        return []
    usual = "1e-3 to 1" if name == "SGD" else "1e-4 to 1e-2"
    if rate > high:
        seen = f"The learning rate {rate:g} for {name} is far above its usual {usual}."
        why = (
            "each step moves the weights further than the gradient can be trusted: the loss "
            "jumps, the weights explode and the loss turns NaN."
        )
    else:
        seen = f"The learning rate {rate:g} for {name} is far below its usual {usual}."
        why = "the weights barely move: the loss will not go down in any usable time."
    default = 0.01 if name == "SGD" else 0.001
    return [
        Finding("learning_rate", "", seen, why, f"start from {name}(learning_rate={default:g}).")
    ]


def activation_loss(model):
    """A final activation that does not fit the loss."""
    loss = model.loss
    name = getattr(loss, "registered_name", None) or getattr(loss, "name", "")
    if name not in CLASSIFICATION:
        return []
    last = walk.final_activation(model)
    if last is None:
        return []
    layer, activation, units = last
    name_of, layer = layer.name, layer.describe()
    from_logits = bool(getattr(loss, "options", {}).get("from_logits", False))
    class_name = type(loss).__name__
    probabilities = activation in ("softmax", "sigmoid")
    if from_logits and probabilities:
        seen = f"{layer} ends in {activation}, and the loss {class_name} has from_logits=True."
        why = (
            f"the loss applies a second {activation} to probabilities: its gradients are "
            "squashed and the model learns slowly or not at all."
        )
        fix = f"remove the final {activation} (keep from_logits=True), or set from_logits=False."
    elif not from_logits and activation == "linear":
        seen = f"{layer} has no activation, and the loss {name} expects probabilities."
        why = "raw scores read as probabilities give a wrong loss and wrong gradients."
        fix = (
            "add activation='softmax' (sigmoid for binary_crossentropy), or use the loss "
            "with from_logits=True."
        )
    elif name == "binary_crossentropy" and activation == "softmax":
        seen = f"{layer} ends in softmax, and the loss is binary_crossentropy."
        why = (
            "a softmax over one unit is always 1 (nothing to learn); over several it makes "
            "the labels compete, which binary (multi-label) targets do not."
        )
        fix = (
            "use activation='sigmoid' with binary_crossentropy, or softmax with a categorical loss."
        )
    elif name != "binary_crossentropy" and activation == "sigmoid" and units != 1:
        seen = f"{layer} ends in sigmoid, and the loss is {name}."
        why = "sigmoid outputs do not sum to 1, so they are not one distribution over the classes."
        fix = "use activation='softmax' with a categorical loss."
    else:
        return []
    return [Finding("activation_loss", name_of, seen, why, fix)]
