"""Callbacks with Keras's names, arguments and behaviour. `History` is attached to every `fit`.

Those that watch a logged value (`EarlyStopping`, `ReduceLROnPlateau`, `ModelCheckpoint`) share
Keras's rule: an improvement is `value + min_delta < best` ('min') or `value - min_delta > best`
('max'); a missing key warns and lists the keys that are there.
"""

from striate.callbacks.base import Callback, CallbackList, History, LambdaCallback
from striate.callbacks.doctor import Doctor
from striate.callbacks.files import CSVLogger, ModelCheckpoint
from striate.callbacks.live import LiveView
from striate.callbacks.monitor import (
    EarlyStopping,
    LearningRateScheduler,
    MonitorCallback,
    ReduceLROnPlateau,
    TerminateOnNaN,
)

__all__ = [
    "CSVLogger",
    "Callback",
    "CallbackList",
    "Doctor",
    "EarlyStopping",
    "History",
    "LambdaCallback",
    "LearningRateScheduler",
    "LiveView",
    "ModelCheckpoint",
    "MonitorCallback",
    "ReduceLROnPlateau",
    "TerminateOnNaN",
]
