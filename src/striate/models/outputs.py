"""Compile settings per output, for a functional model with several outputs (or a loss given
per output): a loss, a loss weight and metrics for each output, named as Keras 3 names them.

`compile(loss=..., loss_weights=..., metrics=...)` takes one loss for every output, a list in
output order or a dict by output name; metrics as a list per output (Keras 3's structure: one
entry, a metric or a list, per output), a dict by output name, or a flat list of another length,
given to every output. The total loss is `sum(loss_weight * loss)` over the outputs with a loss;
logs hold `loss`, then `<output>_loss` for each, then `<output>_<metric>` (Keras 3's names and
`evaluate`'s order).
"""

import copy

import numpy as np

from striate import losses as losses_module
from striate import metrics as metrics_module
from striate.tensor import Tensor


class OutputSpec:
    """Per output (in `model.outputs` order): `names`, `losses` (a Loss or None), `weights`;
    and `metrics`: `(log name, output index, Metric, weighted)`."""

    def __init__(self, model, loss, loss_weights, metrics, weighted_metrics=None):
        self.names = output_names(model)
        count = len(self.names)
        self.losses = [
            None if item is None else losses_module.get(item)
            for item in _per_output(model, "loss", loss, count, self.names, broadcast=True)
        ]
        weights = _per_output(model, "loss_weights", loss_weights, count, self.names, True)
        self.weights = [1.0 if w is None else float(w) for w in weights]
        found = []  # (metric name, output index, Metric, weighted)
        for weighted, given in ((False, metrics), (True, weighted_metrics)):
            for index, items in enumerate(self._metrics_per_output(model, given)):
                for item in items:
                    name, metric = metrics_module.get(item, _loss_name(self.losses[index]))
                    found.append((name, index, copy.deepcopy(metric), weighted))
        names = keras_metric_names([(n, self.names[i], w) for n, i, _, w in found])
        self.metrics = [(name, i, m, w) for name, (_, i, m, w) in zip(names, found)]

    def _metrics_per_output(self, model, metrics):
        count = len(self.names)
        if metrics is None:
            return [[] for _ in range(count)]
        if isinstance(metrics, dict) or (
            isinstance(metrics, (list, tuple)) and len(metrics) == count and count > 1
        ):
            per = _per_output(model, "metrics", metrics, count, self.names, broadcast=False)
            return [
                [] if m is None else list(m) if isinstance(m, (list, tuple)) else [m] for m in per
            ]
        flat = list(metrics) if isinstance(metrics, (list, tuple)) else [metrics]
        return [flat for _ in range(count)]

    def log_names(self):
        names = ["loss"] + [f"{n}_loss" for n, loss in zip(self.names, self.losses) if loss]
        return names + [entry[0] for entry in self.metrics]


def output_names(model):
    structure = getattr(model, "_output_structure", None)
    if isinstance(structure, dict) and all(
        not isinstance(v, (list, tuple, dict)) for v in structure.values()
    ):
        return [str(key) for key in structure]
    return [tensor.node.layer.name for tensor in model.outputs]


def _per_output(model, what, given, count, names, broadcast):
    """`given` as a list with one entry per output: a dict by output name, a list in output
    order, or (broadcast) one value for every output."""
    if isinstance(given, dict):
        unknown = [key for key in given if key not in names]
        if unknown:
            raise ValueError(
                f"compile: {what} names output(s) {unknown} that model '{model.name}' does not "
                f"have; its outputs are {names}. Received: {what} with keys {list(given)}."
            )
        return [given.get(name) for name in names]
    if isinstance(given, (list, tuple)):
        if len(given) != count:
            raise ValueError(
                f"compile: {what} must have one entry per output of model '{model.name}' "
                f"({count}: {names}). Received: {what} with {len(given)} entries."
            )
        return list(given)
    if given is None or broadcast:
        return [given] * count
    return [given] * count


def _weighted_sum(tensors, weights):
    """`sum(w * t)` of 0-d loss Tensors, as one op."""
    dtype = tensors[0].data.dtype
    total = np.asarray(0.0, dtype)
    for tensor, weight in zip(tensors, weights):
        total = np.asarray(total + dtype.type(weight) * tensor.data, dtype)

    def backward(g):
        return tuple(np.asarray(g * dtype.type(w), dtype) for w in weights)

    return Tensor.from_op(total, tuple(tensors), backward, "weighted_sum")


def run_outputs(model, xs, training):
    """The model's output Tensors for a batch, in `model.outputs` order."""
    inputs = xs if len(model.inputs) > 1 else xs[0]
    values = model._run(inputs, training)
    return [values[id(t)] for t in model.outputs]


def loss_and_outputs(model, spec, xs, ys, sample_weight, training):
    """`(total loss Tensor, output arrays, per-output loss values)` for one batch."""
    tensors = run_outputs(model, [Tensor(x) for x in xs], training)
    terms, weights, values = [], [], []
    for index, (loss, weight, y, output) in enumerate(zip(spec.losses, spec.weights, ys, tensors)):
        if loss is None:
            continue
        term = loss(y, output, for_output(sample_weight, index))
        terms.append(term)
        weights.append(weight)
        values.append(float(term.data))
    return _weighted_sum(terms, weights), [t.data for t in tensors], values


class Averages:
    """Running means (by samples) of the total loss, each output's loss (a model compiled per
    output) and each metric: `metrics` unweighted, `weighted_metrics` weighted by the batch's
    sample weights, as Keras 3."""

    def __init__(self, model, spec=None):
        self.spec = spec
        self.count = 0
        self.loss = 0.0
        if spec is None:
            entries = [(n, 0, m, False) for n, m in model.metrics]
            entries += [(n, 0, m, True) for n, m in getattr(model, "_weighted_metrics", ())]
            self.losses = []
        else:
            entries = spec.metrics
            self.losses = [0.0] * sum(1 for loss in spec.losses if loss)
        # A fresh copy of each compiled metric, updated batch by batch.
        self.metrics = [(name, i, copy.deepcopy(m), w) for name, i, m, w in entries]
        for _, _, metric, _ in self.metrics:
            metric.reset_state()

    def add(self, loss_value, ys, predictions, sample_weight=None, per_output=None):
        single = self.spec is None
        n = len(ys if single else predictions[0])
        self.count += n
        self.loss += loss_value * n
        for i, value in enumerate(per_output or ()):
            self.losses[i] += value * n
        for _, index, metric, weighted in self.metrics:
            y, p = (ys, predictions) if single else (ys[index], predictions[index])
            weight = sample_weight if single else for_output(sample_weight, index)
            if weighted and weight is not None:
                metric.update_state(y, p, sample_weight=weight)
            else:
                metric.update_state(y, p)

    def logs(self, prefix=""):
        count = max(self.count, 1)
        logs = {prefix + "loss": self.loss / count}
        if self.spec is not None:
            named = [n for n, loss in zip(self.spec.names, self.spec.losses) if loss]
            for name, total in zip(named, self.losses):
                logs[f"{prefix}{name}_loss"] = total / count
        logs.update({prefix + name: metric.result() for name, _, metric, _ in self.metrics})
        return logs


def for_output(sample_weight, index):
    """One output's sample weights: the same for all, or its entry of a list per output."""
    return sample_weight[index] if isinstance(sample_weight, list) else sample_weight


def keras_metric_names(entries):
    """Log names of `(metric name, output name or None, weighted)`, the unweighted first, by
    Keras 3's rule (`CompileMetrics.result`): `<output>_<name>`; a repeated name gets `_1`,
    `_2`...; a weighted metric whose name is taken becomes `weighted_<name>`."""
    taken, names = {}, []
    for base, output, weighted in entries:
        name = f"{output}_{base}" if output else base
        if name in taken and weighted:
            name = f"{output}_weighted_{base}" if output else f"weighted_{base}"
        if name in taken:
            index = taken[name]
            taken[name] += 1
            name = f"{name}_{index}"
        else:
            taken[name] = 1
        names.append(name)
    return names


def weighted_metrics(model, given, loss):
    """`[(log name, Metric)]` of `compile(weighted_metrics=...)` for a model with one output."""
    if given is None:
        return []
    items = list(given) if isinstance(given, (list, tuple)) else [given]
    found = [metrics_module.get(item, _loss_name(loss)) for item in items]
    entries = [(n, None, False) for n, _ in model.metrics] + [(n, None, True) for n, _ in found]
    names = keras_metric_names(entries)[len(model.metrics) :]
    return [(name, copy.deepcopy(metric)) for name, (_, metric) in zip(names, found)]


def _loss_name(loss):
    return None if loss is None else getattr(loss, "registered_name", None) or loss.name


def as_structure(model, arrays):
    """`predict`'s result: the one array, or the arrays in the model's output structure (a
    list, or a dict by output name), as Keras returns them."""
    if len(getattr(model, "outputs", None) or ()) <= 1:
        return arrays[0]
    from striate.layers.symbolic import map_structure

    remaining = iter(arrays)
    result = map_structure(lambda _: next(remaining), model._output_structure)
    return list(result) if isinstance(result, tuple) else result


def configure(model, loss, loss_weights, metrics, weighted=None):
    """The `OutputSpec` for `compile`, or None for a model compiled as one output (the fused
    fast path: one loss, no loss weights)."""
    several = len(getattr(model, "outputs", None) or ()) > 1
    if not several and loss_weights is None and not isinstance(loss, (list, tuple, dict)):
        return None
    if getattr(model, "outputs", None) is None:
        raise ValueError(
            f"compile: a loss per output needs a functional model; {type(model).__name__} "
            f"'{model.name}' has one output. Received: loss={loss!r}, "
            f"loss_weights={loss_weights!r}."
        )
    return OutputSpec(model, loss, loss_weights, metrics, weighted)
