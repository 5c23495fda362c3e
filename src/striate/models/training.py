"""The training loop behind `fit`, `evaluate` and `predict` (their arguments' checks are in
`striate.models.arguments`).

One step: gather a batch, cast it to the model's float type, run the layers and the loss (by
the model's training plan, `striate.models.plan`), stop if the loss is not finite (before the
update, so the weights stay good), backpropagate, update.

A step does little besides its math: the batch is gathered and cast into two buffers reused
every step (a step's graph, which may hold views of its input, is released by its backward pass
before the next batch is read), the running loss and metric sums stay plain numbers, and the
per-step logs dict is only built when a callback or a live progress bar will read it.
"""

import math
import warnings

import numpy as np

from striate import backend, parallel
from striate.callbacks import CallbackList, Doctor, History
from striate.distribute import loop as distributed
from striate.distribute import mpi as distribute
from striate.models import batches, data_adapters, outputs, sources
from striate.models import penalties as penalties_module
from striate.models.arguments import batch_size_of as _batch_size
from striate.models.arguments import check_array, check_finite, prepare_inputs  # noqa: F401
from striate.models.arguments import check_compiled as _check_compiled
from striate.models.arguments import resolve_verbose as _resolve_verbose
from striate.models.progress import Progbar
from striate.tensor import Tensor, no_grad


def _prepare_targets(model, x, y, where):
    return batches.check_targets(
        model.loss, model.output_shape, model.float_type(), y, len(x), where
    )


_BatchReader = data_adapters.BatchReader


def _averages(model):
    return outputs.Averages(model, batches.output_spec(model))


def _loss_step(model, x, y, weight, training, penalties=None):
    """`(loss Tensor, outputs, per-output loss values or None)` for one batch: one output
    without sample weights by the model's fused `call_with_loss`, else output by output;
    plus the regularizers' penalties when the model has any (`striate.models.penalties`)."""
    if penalties is None:
        return _compiled_loss_step(model, x, y, weight, training)
    with penalties.collecting() as activity:
        loss, out, per_output = _compiled_loss_step(model, x, y, weight, training)
    return penalties.total(loss, activity), out, per_output


def _compiled_loss_step(model, x, y, weight, training):
    spec = batches.output_spec(model)
    if spec is not None:
        xs = x if isinstance(x, list) else [x]
        return outputs.loss_and_outputs(model, spec, xs, y, weight, training)
    inputs = [Tensor(a) for a in x] if isinstance(x, list) else Tensor(x)
    if weight is None:
        loss, out = model.call_with_loss(inputs, y, training=training)
        return loss, out, None
    out = model(inputs, training=training)
    return model.loss(y, out, weight), out.data, None


def fit(
    model,
    x,
    y,
    batch_size,
    epochs,
    verbose,
    callbacks,
    validation_split,
    validation_data,
    shuffle,
    initial_epoch,
    class_weight=None,
    sample_weight=None,
    steps_per_epoch=None,
    validation_steps=None,
    validation_freq=1,
    validation_batch_size=None,
    doctor=True,
):
    _check_compiled(model, "fit")
    batch_size, verbose = _batch_size(batch_size), _resolve_verbose(verbose)
    val_batch_size = _batch_size(validation_batch_size or batch_size)
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"fit: epochs must be a non-negative int. Received: epochs={epochs!r}")
    steps_per_epoch = sources.count(steps_per_epoch, "steps_per_epoch", "fit")
    validation_steps = sources.count(validation_steps, "validation_steps", "fit")
    sources.check_validation_freq(validation_freq)
    cw = batches.class_weights(model, class_weight, "fit")
    lazy_cw = cw if data_adapters.is_lazy(x) else None  # arrays: after validation_split
    train = sources.source(
        model, x, y, sample_weight, batch_size, steps_per_epoch, "fit", cw=lazy_cw
    )
    if isinstance(train[0], data_adapters.Epochs):
        if validation_split and validation_data is None:
            raise ValueError(
                f"fit: validation_split needs arrays; give a {train[0].adapter.kind} of "
                f"validation batches as validation_data. Received: validation_split="
                f"{validation_split!r}"
            )
        train, checker = train
    else:
        x, y, weight = train
        n = len(x[0]) if isinstance(x, list) else len(x)
        if validation_data is None and validation_split:
            if not 0 < validation_split < 1:
                raise ValueError(
                    f"fit: validation_split must be in (0, 1). "
                    f"Received: validation_split={validation_split!r}"
                )
            cut = int(n * (1 - validation_split))  # Keras takes the last samples, unshuffled
            if cut == 0 or cut == n:
                raise ValueError(
                    f"fit: validation_split={validation_split} leaves an empty split "
                    f"of {n} samples."
                )
            (x, x_val), (y, y_val), (weight, w_val) = (
                sources.split(v, cut) for v in (x, y, weight)
            )
            validation_data = (x_val, y_val, w_val)
        if cw is not None:  # the training samples only, as Keras
            weight = sources.class_sample_weights(model, y, weight, cw, "fit")
        multi_in, multi_out = isinstance(x, list), isinstance(y, list)
        xs, ys = (x if multi_in else [x]), (y if multi_out else [y])
        adapter = data_adapters.ArrayAdapter(
            xs, ys, weight, batch_size, shuffle, model.float_type(), multi_in, multi_out
        )
        train, checker = data_adapters.Epochs(adapter, steps_per_epoch), None
    if validation_data is not None:
        validation_data = sources.validation(
            model, validation_data, val_batch_size, validation_steps
        )
    run_epoch, val_logs = _train_epoch, lambda averages: averages.logs("val_")
    if distribute.active() is not None:  # an MPIStrategy was made: data parallel
        train, validation_data, verbose, callbacks, run_epoch, val_logs = distributed.prepare(
            distribute.active(), train, validation_data, verbose, callbacks, batch_size
        )
    history = History()
    steps = train.steps
    params = {"epochs": epochs, "steps": steps, "verbose": verbose, "batch_size": batch_size}
    doctor = False if doctor is True and distribute.is_worker() else doctor  # MPI: rank 0's
    doctor, callbacks = Doctor.attach(callbacks, doctor, model, None if checker else (x, y))
    # History goes last, as in Keras, so it records what callbacks add (e.g. learning_rate)
    callback_list = CallbackList(list(callbacks or []) + [history], model, params)
    model.history, model.stop_training, model.stop_reason = history, False, None
    # the weights trainable at the first fit after compile; packs them: see Optimizer.build
    model.optimizer.build(model.trained_weights("fit"))
    backend.keep_freed_memory()
    with parallel.parallel_region():  # every core on the big ops (striate.parallel)
        callback_list.call("on_train_begin", {})
        for epoch in range(initial_epoch, epochs):
            if verbose:
                print(f"Epoch {epoch + 1}/{epochs}", flush=True)
            callback_list.call("on_epoch_begin", epoch, {})
            progbar = Progbar(train.steps, verbose)
            logs = run_epoch(model, train, checker, progbar, callback_list, epoch, epochs, doctor)
            if logs is None:
                break
            if validation_data is not None and sources.should_validate(epoch, validation_freq):
                logs.update(val_logs(_evaluation(model, validation_data, val_batch_size)))
            logs = {key: float(value) for key, value in logs.items()}
            if verbose:
                progbar.finish(logs)
            callback_list.call("on_epoch_end", epoch, logs)
            if model.stop_training or (train.exhausted and steps_per_epoch):
                break
    train.close()
    if epochs > initial_epoch:  # with use_ema, the weights become their average (Keras)
        model.optimizer.finalize_variable_values(model.trainable_weights)
    callback_list.call("on_train_end", {})
    return history


def _train_epoch(model, train, checker, progbar, callback_list, epoch, epochs, doctor):
    variables = model.trained_weights("fit")
    optimizer = model.optimizer
    averages = _averages(model)
    batch_hooks = callback_list.has_batch_hooks()
    live_logs = batch_hooks or progbar.dynamic
    penalties = penalties_module.of(model, variables)  # None without regularizers/constraints
    done = 0
    for step, batch in train.epoch():
        x_batch, y_batch, weight = batch if checker is None else checker.standardize(batch, step)
        if batch_hooks:
            callback_list.call("on_train_batch_begin", step, {})
        loss, outputs_, per_output = _loss_step(model, x_batch, y_batch, weight, True, penalties)
        loss_value = float(loss.data)
        if not math.isfinite(loss_value):
            doctor.on_bad_loss(x_batch, variables)  # where the NaN appeared (the doctor)
            _stop_on_bad_loss(model, loss_value, epoch, epochs, step, train.steps)
            return None
        loss.backward()
        optimizer.apply(variables)
        if penalties is not None:
            penalties.constrain()  # after the optimizer's step, as Keras's optimizer does
        doctor.after_step(step, x_batch, y_batch, outputs_, loss_value, variables)  # reads only
        for variable in variables:
            variable.grad = None
        averages.add(loss_value, y_batch, outputs_, weight, per_output)
        done += 1
        if live_logs:
            logs = averages.logs()
            if batch_hooks:
                callback_list.call("on_train_batch_end", step, logs)
            progbar.update(step + 1, logs)
        if model.stop_training:
            break
    if done == 0:  # the data ran dry (warned): nothing left to train on
        return None
    progbar.target = progbar.target or done
    return averages.logs()


def _stop_on_bad_loss(model, loss_value, epoch, epochs, step, steps):
    model.stop_training = True
    model.stop_reason = (
        f"Epoch {epoch + 1}/{epochs}, batch {step + 1}/{steps or '?'}: the loss became "
        f"{loss_value}. Training stopped before this batch's update, so the weights are those "
        f"after batch {step}. Try a lower learning rate or scaled inputs (e.g. x / 255)."
    )
    print(flush=True)  # end the progress line before the warning
    warnings.warn(model.stop_reason, RuntimeWarning, stacklevel=4)


# Inference splits a batch so that no pass holds more than this in one layer's activations (or
# one convolution's patch matrix): passes that fit in cache run faster per sample
# (benchmarks/README.md).
_INFERENCE_BYTES = 16 << 20


def _inference_chunk(model, batch_size):
    """Samples per forward pass in predict/evaluate: batch_size, split into equal chunks when
    a pass would exceed _INFERENCE_BYTES (outputs do not depend on it beyond rounding)."""
    per_sample = 1
    for layer in model.layers:
        if not all(isinstance(d, int) or d is None for d in layer.output_shape or ()):
            continue  # several outputs (a nested model): counted by its own layers' shapes
        size = math.prod(d or 1 for d in layer.output_shape[1:])
        window = getattr(layer, "kernel_size", None)
        if window is not None and len(layer.input_shape) == 4:  # a convolution's patches
            size = max(
                size, size // layer.output_shape[-1] * math.prod(window) * layer.input_shape[-1]
            )
        per_sample = max(per_sample, size)
    rows = max(1, _INFERENCE_BYTES // (per_sample * model.float_type().itemsize))
    chunks = math.ceil(batch_size / rows)
    return math.ceil(batch_size / chunks)


def _evaluation(model, data, batch_size, progbar=None):
    averages = _averages(model)
    penalties = penalties_module.of(model)  # reported in the loss, as Keras does
    with no_grad():
        for step, x_batch, y_batch, weight in sources.inference_batches(model, data, batch_size):
            loss, outputs_, per_output = _loss_step(
                model, x_batch, y_batch, weight, False, penalties
            )
            averages.add(float(loss.data), y_batch, outputs_, weight, per_output)
            if progbar is not None:
                progbar.seen = step
            if progbar is not None and progbar.dynamic:
                progbar.update(step, averages.logs())
    return averages


def evaluate(model, x, y, batch_size, verbose, return_dict, sample_weight=None, steps=None):
    _check_compiled(model, "evaluate")
    batch_size, verbose = _batch_size(batch_size), _resolve_verbose(verbose)
    verbose = 0 if distribute.is_worker() else verbose  # only rank 0 shows progress
    steps = sources.count(steps, "steps", "evaluate")
    data = sources.source(model, x, y, sample_weight, batch_size, steps, "evaluate")
    data = data if isinstance(data[0], data_adapters.Epochs) else data + (steps,)
    backend.keep_freed_memory()
    progbar = Progbar(sources.total_steps(data, batch_size), verbose)
    with parallel.parallel_region():
        logs = _evaluation(model, data, batch_size, progbar).logs()
    progbar.finish(logs)
    if return_dict:
        return logs
    values = list(logs.values())
    return values[0] if len(values) == 1 else values


def _predict_batch(model, x_batch):
    """The outputs of one batch as a list of arrays (one per output)."""
    if len(getattr(model, "outputs", None) or ()) > 1:
        xs = x_batch if isinstance(x_batch, list) else [x_batch]
        return [t.data for t in outputs.run_outputs(model, [Tensor(a) for a in xs], False)]
    inputs = [Tensor(a) for a in x_batch] if isinstance(x_batch, list) else Tensor(x_batch)
    return [model.call(inputs, training=False).data]


def predict(model, x, batch_size, verbose, steps=None):
    batch_size, verbose = _batch_size(batch_size), _resolve_verbose(verbose)
    verbose = 0 if distribute.is_worker() else verbose
    steps = sources.count(steps, "steps", "predict")
    data = sources.source(model, x, None, None, batch_size, steps, "predict", need_y=False)
    lazy = isinstance(data[0], data_adapters.Epochs)
    data = data if lazy else data + (steps,)
    backend.keep_freed_memory()
    progbar = Progbar(sources.total_steps(data, batch_size), verbose)
    results, pieces, offset = None, [], 0
    with no_grad(), parallel.parallel_region():
        for step, x_batch, _, _ in sources.inference_batches(model, data, batch_size):
            batch_out = _predict_batch(model, x_batch)
            if lazy:
                pieces.append(batch_out)
            else:
                if results is None:
                    x = data[0][0] if isinstance(data[0], list) else data[0]
                    total = min(len(x), batch_size * (steps or len(x)))
                    results = [np.empty((total,) + o.shape[1:], dtype=o.dtype) for o in batch_out]
                for result, out in zip(results, batch_out):
                    result[offset : offset + len(out)] = out
                offset += len(batch_out[0])
            progbar.update(step, {})
    progbar.finish({})
    if lazy:
        if not pieces:
            raise ValueError(f"predict: the {data[0].adapter.kind} gave no batch. Received: {x!r}")
        results = [np.concatenate(parts) for parts in zip(*pieces)]
    return outputs.as_structure(model, results)
