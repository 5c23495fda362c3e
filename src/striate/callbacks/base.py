"""The callback protocol: `Callback`, the `History` every `fit` returns, and `CallbackList`."""


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


class LambdaCallback(Callback):
    """A callback from functions (Keras's): `on_epoch_end=lambda epoch, logs: ...` and the
    same for on_epoch_begin, on_train_begin/end (`logs`), on_train_batch_begin/end and
    on_batch_begin/end (`batch, logs`)."""

    HOOKS = (
        "on_epoch_begin",
        "on_epoch_end",
        "on_train_begin",
        "on_train_end",
        "on_train_batch_begin",
        "on_train_batch_end",
        "on_batch_begin",
        "on_batch_end",
    )

    def __init__(self, **functions):
        super().__init__()
        unknown = sorted(set(functions) - set(self.HOOKS))
        if unknown:
            raise TypeError(
                f"LambdaCallback: unknown hook(s) {unknown}; the hooks are {list(self.HOOKS)}."
            )
        for hook, function in functions.items():
            if function is not None:
                if not callable(function):
                    raise TypeError(
                        f"LambdaCallback: {hook} must be callable. Received: {function!r}"
                    )
                setattr(self, hook, function)


class History(Callback):
    """Records each epoch's logs: `history.history['val_acc']` is a list, one value per epoch.
    `health`: what the training doctor measured (`striate.callbacks.Doctor`), or None."""

    def __init__(self):
        super().__init__()
        self.epoch = []
        self.history = {}
        self.health = None

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
                raise TypeError(
                    f"fit: callbacks must be striate.callbacks.Callback instances. "
                    f"Received: {callback!r}"
                )
            callback.set_model(model)
            callback.set_params(params)

    def call(self, hook, *args):
        for callback in self.callbacks:
            getattr(callback, hook)(*args)

    def has_batch_hooks(self):
        """True if some callback overrides a per-batch hook (so `fit` must build batch logs)."""
        hooks = ("on_train_batch_begin", "on_batch_begin", "on_train_batch_end", "on_batch_end")
        return any(
            getattr(getattr(callback, hook), "__func__", None) is not getattr(Callback, hook)
            for callback in self.callbacks
            for hook in hooks
        )
