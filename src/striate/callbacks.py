"""Callbacks with Keras's names, arguments and behaviour. `History` is attached to every `fit`.

Those that watch a logged value (`EarlyStopping`, `ReduceLROnPlateau`, `ModelCheckpoint`) share
Keras's rule: an improvement is `value + min_delta < best` ('min') or `value - min_delta > best`
('max'); a missing key warns and lists the keys that are there.
"""

import csv
import inspect
import math
import os
import warnings

import numpy as np


class Callback:
    """Base class: override any hook. `self.model` is set before training starts."""

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None):
        """Called once before the first epoch."""

    def on_train_end(self, logs=None):
        """Called once after the last epoch (or when training stops early)."""

    def on_epoch_begin(self, epoch, logs=None):
        """Called at the start of each epoch (0-based)."""

    def on_epoch_end(self, epoch, logs=None):
        """Called after each epoch with the epoch's logs, validation included."""

    def on_train_batch_begin(self, batch, logs=None):
        """Called before each training batch (calls `on_batch_begin`)."""
        self.on_batch_begin(batch, logs)

    def on_batch_begin(self, batch, logs=None):
        """Keras's older name for `on_train_batch_begin`."""

    def on_train_batch_end(self, batch, logs=None):
        """Called after each training batch with the running logs (calls `on_batch_end`)."""
        self.on_batch_end(batch, logs)

    def on_batch_end(self, batch, logs=None):
        """Keras's older name for `on_train_batch_end`."""


class History(Callback):
    """Records each epoch's logs: `history.history['val_acc']` is a list, one value per epoch."""

    def __init__(self):
        super().__init__()
        self.epoch = []
        self.history = {}

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)

    def __repr__(self):
        return f"History(epochs={len(self.epoch)}, keys={sorted(self.history)})"


class CallbackList:
    """Calls a hook on every callback in order."""

    def __init__(self, callbacks, model, params):
        self.callbacks = list(callbacks)
        for callback in self.callbacks:
            if not isinstance(callback, Callback):
                raise TypeError(f"fit: callbacks must be striate.callbacks.Callback instances. "
                                f"Received: {callback!r}")
            callback.set_model(model)
            callback.set_params(params)

    def call(self, hook, *args):
        for callback in self.callbacks:
            getattr(callback, hook)(*args)

    def has_batch_hooks(self):
        """True if some callback overrides a per-batch hook (so `fit` must build batch logs)."""
        hooks = ("on_train_batch_begin", "on_batch_begin", "on_train_batch_end", "on_batch_end")
        return any(getattr(getattr(callback, hook), "__func__", None) is not getattr(Callback, hook)
                   for callback in self.callbacks for hook in hooks)


class _MonitorCallback(Callback):
    """Watches one logged value: `mode` picks the direction ('auto': 'max' for names with 'acc',
    else 'min'); a change smaller than `min_delta` is no improvement."""

    def __init__(self, monitor="val_loss", mode="auto", min_delta=0.0, baseline=None):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"{type(self).__name__}: mode must be 'auto', 'min' or 'max'. "
                             f"Received: mode={mode!r}")
        self.monitor, self.mode, self.best = monitor, mode, baseline
        maximize = mode == "max" or (mode == "auto" and "acc" in monitor)
        self.monitor_op = np.greater if maximize else np.less
        self.min_delta = abs(min_delta) if maximize else -abs(min_delta)

    def _is_improvement(self, value, reference):
        return reference is None or bool(self.monitor_op(value - self.min_delta, reference))

    def _monitor_value(self, logs, what):
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            hint = ""
            if self.monitor.startswith("val_") and not any(k.startswith("val_") for k in logs):
                hint = " Pass validation_data=(x_val, y_val) or validation_split=0.2 to fit."
            warnings.warn(f"{type(self).__name__}: {what} is conditioned on `{self.monitor}`, "
                          f"which is not available. Available metrics are: "
                          f"{', '.join(logs) or 'none'}.{hint}", UserWarning, stacklevel=3)
        return value


class EarlyStopping(_MonitorCallback):
    """Stop training when `monitor` has not improved for `patience` epochs (Keras's rule).

    With `restore_best_weights=True` the model ends with the weights of its best epoch.
    `baseline`: keep counting towards `patience` until the value beats it. Epochs before
    `start_from_epoch` are not watched.

    >>> stopper = EarlyStopping(monitor="val_loss", patience=2)
    >>> stopper.monitor_op.__name__
    'less'
    """

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        super().__init__(monitor, mode, min_delta)
        self.patience, self.verbose, self.baseline = patience, verbose, baseline
        self.restore_best_weights, self.start_from_epoch = restore_best_weights, start_from_epoch
        self.wait = self.stopped_epoch = self.best_epoch = 0
        self.best_weights = None

    def on_train_begin(self, logs=None):
        self.wait = self.stopped_epoch = self.best_epoch = 0
        self.best, self.best_weights = None, None

    def on_epoch_end(self, epoch, logs=None):
        current = self._monitor_value(logs, "early stopping")
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights, self.best_epoch = self.model.get_weights(), epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: "
                      f"{self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class ReduceLROnPlateau(_MonitorCallback):
    """Multiply the learning rate by `factor` when `monitor` has not improved for `patience`
    epochs; wait `cooldown` epochs after a reduction; never go below `min_lr`. Logs
    `learning_rate` each epoch, as Keras 3 does."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0):
        super().__init__(monitor, mode, min_delta)
        if not 0 <= factor < 1:
            raise ValueError(f"ReduceLROnPlateau: factor must be in [0, 1). "
                             f"Received: factor={factor!r}")
        self.factor, self.patience, self.verbose = factor, patience, verbose
        self.cooldown, self.min_lr = cooldown, min_lr
        self.wait = self.cooldown_counter = 0

    def on_train_begin(self, logs=None):
        self.best, self.wait, self.cooldown_counter = None, 0, 0

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        optimizer = self.model.optimizer
        logs["learning_rate"] = float(optimizer.learning_rate)
        current = self._monitor_value(logs, "learning-rate reduction")
        if current is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best, self.wait = current, 0
        elif self.cooldown_counter == 0:
            self.wait += 1
            old = float(optimizer.learning_rate)
            if self.wait >= self.patience and old > np.float32(self.min_lr):
                optimizer.learning_rate = max(old * self.factor, self.min_lr)
                if self.verbose > 0:
                    print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to "
                          f"{optimizer.learning_rate}.")
                self.cooldown_counter, self.wait = self.cooldown, 0


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of each epoch to `schedule(epoch, lr)` (or
    `schedule(epoch)`); logs `learning_rate` each epoch, as Keras 3 does.

    >>> halve = LearningRateScheduler(lambda epoch, lr: lr if epoch < 10 else lr / 2)
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"LearningRateScheduler: schedule must be a function "
                            f"schedule(epoch, lr) -> lr. Received: schedule={schedule!r}")
        self.schedule, self.verbose = schedule, verbose
        self._takes_lr = _accepts_two_arguments(schedule)

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        lr = float(optimizer.learning_rate)
        new = self.schedule(epoch, lr) if self._takes_lr else self.schedule(epoch)
        if isinstance(new, bool) or not isinstance(new, (int, float, np.integer, np.floating)) \
                or not math.isfinite(new) or new < 0:
            raise ValueError(f"LearningRateScheduler: the schedule must return a finite number "
                             f">= 0. Received: {new!r} for epoch {epoch}.")
        optimizer.learning_rate = float(new)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to "
                  f"{optimizer.learning_rate}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


def _accepts_two_arguments(function):
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return True
    if any(p.kind is p.VAR_POSITIONAL for p in parameters):
        return True
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in parameters) >= 2


class TerminateOnNaN(Callback):
    """Stop training when a logged value (the loss or a metric) becomes NaN or infinite at the
    end of a batch. (fit already stops, before the update, on a non-finite batch loss.)"""

    def __init__(self, raise_error=False):
        super().__init__()
        self.raise_error = raise_error

    def on_batch_end(self, batch, logs=None):
        for key, value in (logs or {}).items():
            if isinstance(value, (int, float, np.number)) and not math.isfinite(value):
                message = f"Batch {batch}: invalid {key} ({value}), terminating training"
                if self.raise_error:
                    raise RuntimeError(message)
                print(message)
                self.model.stop_training = True
                return


class ModelCheckpoint(_MonitorCallback):
    """Save the model (`model.save`) or its weights (`save_weights_only=True`) after every epoch,
    or every `save_freq` batches. `filepath` may hold format fields filled from the epoch
    (1-based) and the logs: "ckpt-{epoch:02d}-{val_loss:.2f}.striate". With
    `save_best_only=True` a file is written only when `monitor` improves.

    >>> ModelCheckpoint("ckpt-{epoch:02d}.striate").filepath
    'ckpt-{epoch:02d}.striate'
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_freq="epoch",
                 initial_value_threshold=None):
        super().__init__(monitor, mode, 0.0, initial_value_threshold)
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(
                save_freq, int) or save_freq <= 0):
            raise ValueError(f"ModelCheckpoint: save_freq must be 'epoch' or a positive number of "
                             f"batches. Received: save_freq={save_freq!r}")
        self.filepath = os.fspath(filepath)
        self.verbose, self.save_freq = verbose, save_freq
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
        self._epoch = 0
        self._batches_since_save = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        self._batches_since_save += 1
        if self._batches_since_save >= self.save_freq:
            self._batches_since_save = 0
            self._save(self._epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, None, logs)

    def _save(self, epoch, batch, logs):
        logs = logs or {}
        fields = {**logs, "epoch": epoch + 1, **({} if batch is None else {"batch": batch + 1})}
        try:
            filepath = self.filepath.format(**fields)
        except (KeyError, IndexError, ValueError) as error:
            raise ValueError(f"ModelCheckpoint: cannot fill in the file name {self.filepath!r} "
                             f"({type(error).__name__}: {error}). Available fields: "
                             f"{', '.join(fields)}.") from None
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                warnings.warn(f"ModelCheckpoint: can save the best model only with "
                              f"`{self.monitor}` available; saving every time. Available metrics "
                              f"are: {', '.join(logs) or 'none'}.", UserWarning, stacklevel=3)
            elif not self._is_improvement(current, self.best):
                if self.verbose > 0:
                    print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from "
                          f"{self.best:.5f}")
                return
            else:
                if self.verbose > 0:
                    best = "None" if self.best is None else f"{self.best:.5f}"
                    print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {best} to "
                          f"{current:.5f}, saving model to {filepath}")
                self.best = current
        elif self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: saving model to {filepath}")
        folder = os.path.dirname(filepath)
        if folder:
            os.makedirs(folder, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(filepath, overwrite=True)
        else:
            self.model.save(filepath, overwrite=True)


class CSVLogger(Callback):
    """Write one row per epoch to a CSV file: a header `epoch` + the sorted log keys, then the
    values. `append=True` continues an existing file (no second header).

    >>> CSVLogger("training.csv", separator=";").separator
    ';'
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename, self.separator, self.append = os.fspath(filename), separator, append
        self.keys = self.writer = self._file = None

    def on_train_begin(self, logs=None):
        header = not (self.append and os.path.exists(self.filename)
                      and os.path.getsize(self.filename) > 0)
        if self._file is not None and not self._file.closed:
            self._file.close()
        self._file = open(self.filename, "a" if self.append else "w", newline="",  # noqa: SIM115
                          encoding="utf-8")
        self._write_header, self.keys, self.writer = header, None, None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.writer is None:
            self.keys = sorted(logs)
            self.writer = csv.writer(self._file, delimiter=self.separator, lineterminator="\n")
            if self._write_header:
                self.writer.writerow(["epoch"] + self.keys)
        self.writer.writerow([epoch] + [logs.get(key, "NA") for key in self.keys])
        self._file.flush()

    def on_train_end(self, logs=None):
        if self._file is not None and not self._file.closed:
            self._file.close()
        self.writer = None
