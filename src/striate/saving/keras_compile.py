"""The compile settings and optimizer state of a `.keras` file, both ways, so training resumes
in either program: `compile_config` in `config.json`, and `optimizer/vars/<i>` in
`model.weights.h5`: iterations, the learning rate, then each trainable variable's slots in
turn (Adam: its momentum then its velocity), where striate keeps each slot for all variables.

What striate cannot take (an optimizer, loss or metric it does not have, a state laid out
otherwise) is a warning, and the model is returned uncompiled: its weights are all there."""

import warnings

import numpy as np

from striate import losses as losses_module
from striate import optimizers as optimizers_module

_UNUSED = ("loss_scale_factor", "gradient_accumulation_steps")


def _plain(value):
    """A Keras object config without its `module`/`registered_name` (already checked)."""
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k not in ("module", "registered_name")}
    return value


def restore_compile(path, model, document, h5):
    """Compile `model` as the file's `compile_config` says and restore the optimizer's state
    from `h5` (an open weights file), or warn and leave it uncompiled."""
    section = document.get("compile_config")
    if not isinstance(section, dict) or section.get("optimizer") is None:
        return  # (Keras writes this for a model never compiled)
    try:
        optimizer = _plain(section.get("optimizer"))
        if isinstance(optimizer, dict) and isinstance(optimizer.get("config"), dict):
            config = optimizer["config"]  # Keras's options striate lacks, when unused
            config = {k: v for k, v in config.items() if not (k in _UNUSED and v is None)}
            optimizer = dict(optimizer, config=config)
        optimizer = optimizers_module.get(optimizer)
        loss = section.get("loss")
        loss = losses_module.get(_plain(loss)) if isinstance(loss, dict) else loss
        metrics = section.get("metrics") or []
        if not isinstance(loss, (str, losses_module.Loss)) or not all(
            isinstance(m, str) for m in metrics
        ):
            raise ValueError(f"loss {loss!r:.80} or metrics {metrics!r:.80} are not names")
        model.compile(optimizer=optimizer, loss=loss, metrics=list(metrics))
    except (TypeError, ValueError, KeyError, AttributeError) as error:
        warnings.warn(
            f"load_model({path!r}): its compile settings cannot be restored ({error}); the "
            f"model is returned uncompiled with all its weights. Call compile() again.",
            UserWarning,
            stacklevel=5,
        )
        return
    group = h5.get("optimizer/vars")
    if group is None:
        return
    arrays = [np.asarray(group[k][()]) for k in sorted(group, key=lambda n: int(n))]
    slots, variables = list(optimizer.slot_names), model.trainable_weights
    shapes = [w.data.shape for w in variables for _ in slots]
    if (
        len(arrays) < 2
        or np.ndim(arrays[0]) != 0
        or arrays[0].dtype.kind not in "iu"
        or int(arrays[0]) < 0
        or [a.shape for a in arrays[2:]] not in ([], shapes)
    ):
        warnings.warn(
            f"load_model({path!r}): the optimizer state in the file ({len(arrays)} arrays) is "
            f"not laid out as striate's {type(optimizer).__name__} keeps it (iterations, "
            f"learning rate, {slots} per variable); training starts it afresh.",
            UserWarning,
            stacklevel=4,
        )
        return
    per_variable = arrays[2:]
    state = [arrays[0].astype(np.int64)]
    for s in range(len(slots) if per_variable else 0):
        state += [
            per_variable[v * len(slots) + s].astype(w.data.dtype) for v, w in enumerate(variables)
        ]
    optimizer.set_state(state)


def compile_config(model):
    """A compiled model's `compile_config` in Keras's shape, or None."""
    if not model.compiled:
        return None
    optimizer, loss = model.optimizer, model.loss
    try:
        found = losses_module.serialize(loss)
        name = found["class_name"] if isinstance(found, dict) else found
        if isinstance(found, dict) and found != losses_module.serialize(losses_module.get(name)):
            loss = {
                "module": "keras.losses",
                "class_name": type(loss).__name__,
                "config": found["config"],
                "registered_name": None,
            }
        else:
            loss = name  # Keras's name of the loss with its defaults
        config = optimizers_module.serialize(optimizer)["config"]
    except (TypeError, ValueError, KeyError):
        return None
    if isinstance(config.get("learning_rate"), dict):
        return None  # a schedule: Keras names its classes otherwise
    metrics = [m for m in getattr(model, "_metric_identifiers", []) if isinstance(m, str)]
    return {
        "optimizer": {
            "module": "keras.optimizers",
            "class_name": type(optimizer).__name__,
            "config": config,
            "registered_name": None,
        },
        "loss": loss,
        "loss_weights": None,
        "metrics": metrics or None,
        "weighted_metrics": None,
        "run_eagerly": False,
        "steps_per_execution": 1,
        "jit_compile": False,
    }


def write_optimizer(h5, model):
    """`optimizer/vars/<i>` as Keras lays them out (nothing before the first step)."""
    optimizer = model.optimizer
    state = optimizer.state_arrays()
    group = h5.create_group("optimizer/vars")
    group.attrs["name"] = optimizer.name
    rate = optimizer.learning_rate
    arrays = [np.asarray(state[0], np.int64), np.asarray(float(rate), np.float32)]
    slots, count = list(optimizer.slot_names), len(model.trainable_weights)
    if len(state) == 1 + len(slots) * count:
        arrays += [state[1 + s * count + v] for v in range(count) for s in range(len(slots))]
    for index, array in enumerate(arrays):
        group.create_dataset(str(index), data=array)
