"""Callbacks that write files: ModelCheckpoint and CSVLogger (atomic where a file is replaced)."""

import csv
import os
import warnings

from striate.callbacks.base import Callback
from striate.callbacks.monitor import MonitorCallback


class ModelCheckpoint(MonitorCallback):
    """Save the model (`model.save`) or its weights (`save_weights_only=True`) after every epoch,
    or every `save_freq` batches. `filepath` may hold format fields filled from the epoch
    (1-based) and the logs: "ckpt-{epoch:02d}-{val_loss:.2f}.striate". With
    `save_best_only=True` a file is written only when `monitor` improves.

    >>> ModelCheckpoint("ckpt-{epoch:02d}.striate").filepath
    'ckpt-{epoch:02d}.striate'
    """

    def __init__(
        self,
        filepath,
        monitor="val_loss",
        verbose=0,
        save_best_only=False,
        save_weights_only=False,
        mode="auto",
        save_freq="epoch",
        initial_value_threshold=None,
    ):
        super().__init__(monitor, mode, 0.0, initial_value_threshold)
        if save_freq != "epoch" and (
            isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq <= 0
        ):
            raise ValueError(
                f"ModelCheckpoint: save_freq must be 'epoch' or a positive number of "
                f"batches. Received: save_freq={save_freq!r}"
            )
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
            raise ValueError(
                f"ModelCheckpoint: cannot fill in the file name {self.filepath!r} "
                f"({type(error).__name__}: {error}). Available fields: "
                f"{', '.join(fields)}."
            ) from None
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                warnings.warn(
                    f"ModelCheckpoint: can save the best model only with "
                    f"`{self.monitor}` available; saving every time. Available metrics "
                    f"are: {', '.join(logs) or 'none'}.",
                    UserWarning,
                    stacklevel=3,
                )
            elif not self._is_improvement(current, self.best):
                if self.verbose > 0:
                    print(
                        f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {self.best:.5f}"
                    )
                return
            else:
                if self.verbose > 0:
                    best = "None" if self.best is None else f"{self.best:.5f}"
                    print(
                        f"\nEpoch {epoch + 1}: {self.monitor} improved from {best} to "
                        f"{current:.5f}, saving model to {filepath}"
                    )
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
        header = not (
            self.append and os.path.exists(self.filename) and os.path.getsize(self.filename) > 0
        )
        if self._file is not None and not self._file.closed:
            self._file.close()
        self._file = open(
            self.filename,
            "a" if self.append else "w",
            newline="",  # noqa: SIM115
            encoding="utf-8",
        )
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
