"""Callbacks that watch a logged value or the learning rate: EarlyStopping, ReduceLROnPlateau,
LearningRateScheduler, TerminateOnNaN, and their shared rule (`MonitorCallback`)."""

import inspect
import math
import warnings

import numpy as np

from striate.callbacks.base import Callback


class MonitorCallback(Callback):
    """Watches one logged value: `mode` picks the direction ('auto': 'max' for names with 'acc',
    else 'min'); a change smaller than `min_delta` is no improvement."""

    def __init__(self, monitor="val_loss", mode="auto", min_delta=0.0, baseline=None):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            raise ValueError(
                f"{type(self).__name__}: mode must be 'auto', 'min' or 'max'. "
                f"Received: mode={mode!r}"
            )
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
            warnings.warn(
                f"{type(self).__name__}: {what} is conditioned on `{self.monitor}`, "
                f"which is not available. Available metrics are: "
                f"{', '.join(logs) or 'none'}.{hint}",
                UserWarning,
                stacklevel=3,
            )
        return value


class EarlyStopping(MonitorCallback):
    """Stop training when `monitor` has not improved for `patience` epochs (Keras's rule).

    With `restore_best_weights=True` the model ends with the weights of its best epoch.
    `baseline`: keep counting towards `patience` until the value beats it. Epochs before
    `start_from_epoch` are not watched.

    >>> stopper = EarlyStopping(monitor="val_loss", patience=2)
    >>> stopper.monitor_op.__name__
    'less'
    """

    def __init__(
        self,
        monitor="val_loss",
        min_delta=0,
        patience=0,
        verbose=0,
        mode="auto",
        baseline=None,
        restore_best_weights=False,
        start_from_epoch=0,
    ):
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
                print(
                    f"Restoring model weights from the end of the best epoch: "
                    f"{self.best_epoch + 1}."
                )
            self.model.set_weights(self.best_weights)


class ReduceLROnPlateau(MonitorCallback):
    """Multiply the learning rate by `factor` when `monitor` has not improved for `patience`
    epochs; wait `cooldown` epochs after a reduction; never go below `min_lr`. Logs
    `learning_rate` each epoch, as Keras 3 does."""

    def __init__(
        self,
        monitor="val_loss",
        factor=0.1,
        patience=10,
        verbose=0,
        mode="auto",
        min_delta=1e-4,
        cooldown=0,
        min_lr=0.0,
    ):
        super().__init__(monitor, mode, min_delta)
        if not 0 <= factor < 1:
            raise ValueError(
                f"ReduceLROnPlateau: factor must be in [0, 1). Received: factor={factor!r}"
            )
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
                    print(
                        f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to "
                        f"{optimizer.learning_rate}."
                    )
                self.cooldown_counter, self.wait = self.cooldown, 0


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of each epoch to `schedule(epoch, lr)` (or
    `schedule(epoch)`); logs `learning_rate` each epoch, as Keras 3 does.

    >>> halve = LearningRateScheduler(lambda epoch, lr: lr if epoch < 10 else lr / 2)
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(
                f"LearningRateScheduler: schedule must be a function "
                f"schedule(epoch, lr) -> lr. Received: schedule={schedule!r}"
            )
        self.schedule, self.verbose = schedule, verbose
        self._takes_lr = _accepts_two_arguments(schedule)

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        lr = float(optimizer.learning_rate)
        new = self.schedule(epoch, lr) if self._takes_lr else self.schedule(epoch)
        if (
            isinstance(new, bool)
            or not isinstance(new, (int, float, np.integer, np.floating))
            or not math.isfinite(new)
            or new < 0
        ):
            raise ValueError(
                f"LearningRateScheduler: the schedule must return a finite number "
                f">= 0. Received: {new!r} for epoch {epoch}."
            )
        optimizer.learning_rate = float(new)
        if self.verbose > 0:
            print(
                f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to "
                f"{optimizer.learning_rate}."
            )

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
