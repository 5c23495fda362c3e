"""The checks while training, on sampled steps: each reads what the step already made (the
gradients before the update, the weights before and after it, the batch's probabilities) and
walks a few samples of the batch through the layers (`striate.doctor.walk`). Nothing here
writes to the model.

Per layer: the share of dead ReLU units (zero for every sample), the share of saturated
sigmoid/tanh/softmax outputs, the gradient norm, the update/weight ratio. Per step: the share of
samples whose cross-entropy is clipped with the true class under `epsilon` (no gradient under
Keras 3's rule). On a non-finite loss: where the NaN or inf first appeared.
"""

import math

import numpy as np

from striate import backend
from striate.doctor import walk
from striate.doctor.findings import Finding

DEAD_SURE, DEAD_NOTE = 0.5, 0.25  # share of a ReLU layer's units that never fire
CLIPPED_SURE = 0.5  # share of samples clipped at the wrong end under the 'keras3' rule
SATURATED_NOTE = 0.5
EXPLODING_RATIO = 1.0  # a step that moves a layer's weights by more than their own size
VANISHING_RATIO = 1e-4  # first kernel layer's relative gradient over the last one's
_PROBABILITY_LOSSES = ("sparse_categorical_crossentropy", "categorical_crossentropy")


def owners(model):
    """`{id(variable): layer name}` for every weight, nested models' layers included, and the
    layer names in model order."""
    owner, order = {}, []

    def visit(layers):
        for layer in layers:
            if hasattr(layer, "layers") and layer.layers and not walk.has_kernel(layer):
                visit(layer.layers)
                continue
            for variable in layer.weights:
                owner.setdefault(id(variable), layer.name)
            if layer.weights and layer.name not in order:
                order.append(layer.name)

    visit(getattr(model, "layers", []))
    return owner, order


def _by_layer(variables, owner, values):
    sums = {}
    for variable, value in zip(variables, values):
        if value is None:
            continue
        name = owner.get(id(variable)) or variable.name.split("/")[0]
        sums[name] = sums.get(name, 0.0) + float(np.vdot(value, value))
    return sums


def gradient_norms(variables, owner):
    """`{layer: (gradient norm, weight norm)}` from the gradients `backward` left."""
    grads = _by_layer(variables, owner, [v.grad for v in variables])
    weights = _by_layer(variables, owner, [v.data for v in variables])
    return {name: (math.sqrt(g), math.sqrt(weights.get(name, 0.0))) for name, g in grads.items()}


def update_ratios(variables, owner, before):
    """`{layer: |update| / |weights before|}` for layers whose weights are not all zero."""
    moved = _by_layer(variables, owner, [v.data - b for v, b in zip(variables, before)])
    sizes = _by_layer(variables, owner, before)
    return {
        name: math.sqrt(moved[name]) / math.sqrt(size) for name, size in sizes.items() if size > 0
    }


def activation_stats(model, x, steps):
    """`{layer: {"kind", "dead", "saturated"}}` over the batch `x` for layers ending in ReLU,
    sigmoid, tanh or softmax."""
    stats = {}
    for step, _, _, out in walk.run(model, x, steps):
        kind = walk.kind(step.layer)
        if kind is None or out.ndim < 2:
            continue
        entry = {"kind": kind, "dead": None, "saturated": None}
        if kind == "relu":
            fired = np.max(out.reshape(-1, out.shape[-1]), axis=0) > 0
            entry["dead"] = float(1.0 - np.mean(fired))
        elif kind == "sigmoid":
            entry["saturated"] = float(np.mean((out < 0.01) | (out > 0.99)))
        elif kind == "tanh":
            entry["saturated"] = float(np.mean(np.abs(out) > 0.99))
        else:  # softmax: samples whose largest probability is 1 within epsilon
            top = np.max(out.reshape(-1, out.shape[-1]), axis=1)
            entry["saturated"] = float(np.mean(top >= 1 - backend.epsilon()))
        stats[step.layer.name] = entry
    return stats


def clipped_share(model, outputs, y):
    """The share of samples whose true-class probability is under `epsilon` (clipped: no
    gradient under the 'keras3' rule, a saturated softmax under 'logits'); None when the loss
    is not a probability cross-entropy or the outputs are not one array."""
    loss = model.loss
    name = getattr(loss, "registered_name", None)
    if name not in _PROBABILITY_LOSSES or getattr(loss, "options", {}).get("from_logits"):
        return None
    if not isinstance(outputs, np.ndarray) or not isinstance(y, np.ndarray) or outputs.ndim != 2:
        return None
    if name == "sparse_categorical_crossentropy":
        labels = y.reshape(-1).astype(np.int64, copy=False)
        if len(labels) != len(outputs) or labels.min() < 0 or labels.max() >= outputs.shape[1]:
            return None
        p_true = outputs[np.arange(len(labels)), labels]
    else:
        if y.shape != outputs.shape:
            return None
        p_true = np.sum(outputs * y, axis=1) / np.maximum(np.sum(y, axis=1), 1e-12)
    return float(np.mean(p_true < backend.epsilon()))


def findings_of(check):
    """The findings one sampled check's numbers show (`check`: the dict the callback records)."""
    found = []
    for name, entry in check["layers"].items():
        dead = entry.get("dead")
        if dead is not None and dead >= DEAD_NOTE:
            found.append(
                Finding(
                    "dead_units",
                    name,
                    f"{dead:.0%} of the units of layer '{name}' are dead: their ReLU gives 0 "
                    f"for every sample seen.",
                    "a dead unit passes no gradient, so it never learns again: the layer has "
                    "lost that share of its capacity.",
                    "check the layer's bias and initializer, lower the learning rate, scale "
                    "the inputs, or use LeakyReLU / BatchNormalization before the ReLU.",
                    sure=dead >= DEAD_SURE,
                )
            )
        saturated = entry.get("saturated")
        if saturated is not None and saturated >= SATURATED_NOTE and entry["kind"] != "softmax":
            found.append(
                Finding(
                    "saturated",
                    name,
                    f"{saturated:.0%} of the {entry['kind']} outputs of layer '{name}' are "
                    f"saturated (within 0.01 of their limits).",
                    "a saturated unit's gradient is almost zero.",
                    "scale the inputs, use a smaller initializer, or switch to ReLU.",
                    sure=False,
                )
            )
    found += _gradient_findings(check)
    clipped = check.get("clipped")
    if clipped is not None and clipped >= CLIPPED_SURE:
        keras3 = backend.crossentropy_rule() == "keras3"
        found.append(
            Finding(
                "clipped",
                "",
                f"{clipped:.0%} of the batch's samples give the true class a probability "
                f"under {backend.epsilon():g}: the softmax is saturated"
                + (" and their cross-entropy is clipped." if keras3 else "."),
                "a clipped sample contributes no gradient (Keras 3's rule): the model cannot "
                "learn from the samples it gets most wrong."
                if keras3
                else "confident wrong answers: the logits are far too large.",
                "scale the inputs (x / 255), lower the learning rate, or end the model "
                "without softmax and use the loss with from_logits=True.",
                sure=keras3,
            )
        )
    return found


def _gradient_findings(check):
    found = []
    ratios = check.get("update_ratio", {})
    worst = max(ratios, key=ratios.get, default=None)
    if worst is not None and ratios[worst] > EXPLODING_RATIO:
        found.append(
            Finding(
                "exploding",
                worst,
                f"One step changed the weights of layer '{worst}' by {ratios[worst]:.3g} "
                f"times their size (healthy: about 1e-3).",
                "steps larger than the weights themselves throw away what was learned: the "
                "loss jumps and soon turns NaN.",
                "lower the learning rate (10x or more), or clip gradients "
                "(optimizer clipnorm=1.0).",
            )
        )
    norms = check.get("grad_norm", {})
    if any(not math.isfinite(g) for g, _ in norms.values()):
        bad = next(name for name, (g, _) in norms.items() if not math.isfinite(g))
        found.append(
            Finding(
                "exploding",
                bad,
                f"The gradient of layer '{bad}' is NaN or infinite.",
                "the next update makes the weights NaN.",
                "lower the learning rate, scale the inputs, or clip gradients (clipnorm=1.0).",
            )
        )
    relative = [
        (name, g / w) for name, (g, w) in norms.items() if w > 0 and math.isfinite(g) and g > 0
    ]
    if len(relative) >= 3 and relative[-1][1] > 0:
        (first, rel_first), (last, rel_last) = relative[0], relative[-1]
        if rel_first / rel_last < VANISHING_RATIO:
            found.append(
                Finding(
                    "vanishing",
                    first,
                    f"The gradients vanish on their way back: layer '{first}' gets "
                    f"{rel_first / rel_last:.2g} times the relative gradient of layer "
                    f"'{last}'.",
                    "the first layers barely learn: the network trains as if it were shallow.",
                    "use ReLU instead of sigmoid/tanh in hidden layers, add "
                    "BatchNormalization, or use residual connections.",
                )
            )
    return found


def locate_nonfinite(model, x, variables, owner):
    """A Finding saying where a NaN or inf first appears for the batch `x` (the whole batch:
    the sample that overflows may be any of them)."""
    for variable in variables:
        if not np.isfinite(variable.data).all():
            name = owner.get(id(variable)) or variable.name
            return _nonfinite(name, f"the weights of layer '{name}' hold NaN or inf", "update")
    steps = walk.steps_or_none(model)
    for step, read, pre, out in walk.run(model, x, steps):
        if np.isfinite(out).all():
            continue
        layer = step.layer
        if pre is not None and np.isfinite(pre).all():
            op = f"its activation '{walk.activation_name(layer)}'"
        else:
            op = f"its {type(layer).__name__} op"
        where = "" if read is None or np.isfinite(read).all() else " (its input was not finite)"
        return _nonfinite(
            layer.name, f"layer '{layer.name}' first outputs NaN or inf, in {op}{where}", "layer"
        )
    if steps is None:
        return _nonfinite("", "the loss is NaN or inf (this model cannot be walked)", "loss")
    return _nonfinite("", "every layer's output is finite: the loss itself is NaN or inf", "loss")


def _nonfinite(layer, seen, where):
    why = {
        "update": "the last update made them so: the step was too large.",
        "layer": "values too large for float32 reach this layer: the steps before it were "
        "too large, or the inputs are.",
        "loss": "a probability of 0 for the true class (log 0) or a huge logit.",
    }[where]
    return Finding(
        "nonfinite",
        layer,
        f"The loss became NaN or inf: {seen}.",
        why,
        "lower the learning rate, scale the inputs (x / 255), or clip gradients (clipnorm=1.0).",
    )
