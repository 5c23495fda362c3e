"""Callbacks: Keras's stopping and learning-rate rules (checked against Keras itself when it is
installed), and each callback's effect on a real `fit` on small synthetic data."""

import csv
import os
import types

import numpy as np
import pytest

import striate
from striate.callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    LearningRateScheduler,
    ModelCheckpoint,
    ReduceLROnPlateau,
    TerminateOnNaN,
)
from striate.layers import Dense
from striate.layers.base import reset_names
from striate.models import Sequential, load_model
from striate.optimizers import SGD, Adam


# -- callback-only simulation (no training), the same for striate and Keras --------------------
class FakeModel:
    """Just what the monitoring callbacks touch: stop_training, weights, optimizer.lr."""

    def __init__(self, learning_rate=0.1):
        self.stop_training = False
        self.optimizer = types.SimpleNamespace(learning_rate=learning_rate)
        self.current = 0

    def get_weights(self):
        return [np.array(float(self.current))]

    def set_weights(self, arrays):
        self.current = float(arrays[0])


def simulate(callback, values, key="val_loss"):
    """Feed `values` as the epochs' logs; return (last epoch run, final 'weights', lrs)."""
    model = FakeModel()
    callback.set_model(model)
    callback.on_train_begin({})
    rates = []
    for epoch, value in enumerate(values):
        model.current = epoch  # the "weights" after epoch `epoch` are the number epoch
        callback.on_epoch_begin(epoch, {})
        callback.on_epoch_end(epoch, {key: value})
        rates.append(round(float(model.optimizer.learning_rate), 12))
        if model.stop_training:
            break
    callback.on_train_end({})
    return epoch, model.current, rates


SEQUENCES = [
    [1.0, 0.9, 0.95, 0.97, 0.85, 0.99, 1.0, 1.1, 1.2],
    [1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
    [0.5, 0.6, 0.4, 0.45, 0.44, 0.43, 0.42, 0.5, 0.6, 0.7],
    [3.0, 2.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
]
EARLY_STOPPING = [
    {"patience": 0},
    {"patience": 2},
    {"patience": 2, "min_delta": 0.02},
    {"patience": 1, "baseline": 0.45},
    {"patience": 1, "start_from_epoch": 3},
    {"patience": 2, "mode": "max"},
    {"patience": 3, "restore_best_weights": True},
    {"patience": 1, "restore_best_weights": True, "start_from_epoch": 2},
]
REDUCE_LR = [
    {"patience": 1},
    {"patience": 2, "factor": 0.5, "cooldown": 1},
    {"patience": 0, "min_lr": 0.02, "factor": 0.5},
    {"patience": 1, "mode": "max", "min_delta": 0.05},
]


def test_early_stopping_pinned_cases():
    # Keras 3.15: patience=2 on [1.0, 0.9, 0.95, 0.97, ...] stops at epoch index 3
    assert simulate(EarlyStopping(patience=2), SEQUENCES[0])[0] == 3
    # a flat sequence is no improvement; patience=0 stops at epoch 1 (never at epoch 0)
    assert simulate(EarlyStopping(patience=0), SEQUENCES[1])[0] == 1
    # restore_best_weights: the weights of the best epoch (index 4: 0.85) come back
    stopper = EarlyStopping(patience=3, restore_best_weights=True)
    assert simulate(stopper, SEQUENCES[0])[:2] == (7, 4)


def test_reduce_lr_pinned_case():
    rates = simulate(ReduceLROnPlateau(patience=1, factor=0.5), SEQUENCES[1])[2]
    assert rates == [0.1, 0.05, 0.025, 0.0125, 0.00625, 0.003125]


def test_stopping_and_lr_rules_match_keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    for values in SEQUENCES:
        for settings in EARLY_STOPPING:
            ours = simulate(EarlyStopping(**settings), values)
            theirs = simulate(keras.callbacks.EarlyStopping(**settings), values)
            assert ours == theirs, (values, settings)
        for settings in REDUCE_LR:
            ours = simulate(ReduceLROnPlateau(**settings), values)
            theirs = simulate(keras.callbacks.ReduceLROnPlateau(**settings), values)
            assert ours == theirs, (values, settings)


def test_mode_auto_and_argument_errors():
    assert EarlyStopping("val_acc").monitor_op is np.greater
    assert EarlyStopping("val_accuracy").monitor_op is np.greater
    assert EarlyStopping("val_loss").monitor_op is np.less
    assert ReduceLROnPlateau("mae").monitor_op is np.less
    with pytest.raises(ValueError, match="mode must be 'auto', 'min' or 'max'.*maximum"):
        EarlyStopping(mode="maximum")
    with pytest.raises(ValueError, match="factor must be in"):
        ReduceLROnPlateau(factor=1.0)
    with pytest.raises(ValueError, match="save_freq"):
        ModelCheckpoint("m.striate", save_freq=0)
    with pytest.raises(TypeError, match="schedule must be a function"):
        LearningRateScheduler(0.1)


# -- real fits ---------------------------------------------------------------------------------
def data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8)).astype(np.float32)
    return x, (x[:, 0] + 0.3 * rng.normal(size=n) > 0).astype(np.int64)


def model(optimizer=None, seed=0):
    reset_names()
    striate.utils.set_random_seed(seed)
    net = Sequential(
        [Dense(4, activation="relu", input_shape=(8,)), Dense(2, activation="softmax")]
    )
    net.compile(
        optimizer=optimizer or SGD(0.1), loss="sparse_categorical_crossentropy", metrics=["acc"]
    )
    return net


class Inject(Callback):
    """Overwrite a logged value with a scripted sequence (so later callbacks see it)."""

    def __init__(self, key, values):
        super().__init__()
        self.key, self.values = key, values

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.values[epoch]


class Recorder(Callback):
    def __init__(self):
        super().__init__()
        self.weights, self.batches = [], 0

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())

    def on_batch_end(self, batch, logs=None):  # Keras's older hook name still works
        self.batches += 1


def same(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_early_stopping_restores_best_weights_same_as_best_checkpoint(tmp_path):
    net, recorder = model(), Recorder()
    values = [1.0, 0.5, 0.7, 0.8, 0.9, 0.3]
    best_file = tmp_path / "best.striate"
    stopper = EarlyStopping(patience=2, restore_best_weights=True)
    history = net.fit(
        *data(),
        epochs=6,
        batch_size=8,
        verbose=0,
        validation_data=data(8, 1),
        callbacks=[
            Inject("val_loss", values),
            recorder,
            ModelCheckpoint(best_file, save_best_only=True, save_weights_only=True),
            stopper,
        ],
    )
    assert history.epoch == [0, 1, 2, 3] and history.history["val_loss"] == values[:4]
    assert (stopper.stopped_epoch, stopper.best_epoch, recorder.batches) == (3, 1, 16)
    assert same(net.get_weights(), recorder.weights[1])
    assert not same(net.get_weights(), recorder.weights[3])
    saved = model(seed=5)
    saved.load_weights(best_file)
    assert same(saved.get_weights(), net.get_weights())


def test_early_stopping_warns_listing_available_keys():
    with pytest.warns(
        UserWarning,
        match=r"`val_loss`, which is not available\. Available "
        r"metrics are: loss, acc\. Pass validation_data",
    ):
        history = model().fit(*data(), epochs=2, verbose=0, callbacks=[EarlyStopping()])
    assert len(history.epoch) == 2


def test_model_checkpoint_best_only_writes_on_improvement(tmp_path):
    pattern = str(tmp_path / "ckpt-{epoch:02d}-{val_loss:.2f}.striate")
    net = model()
    net.fit(
        *data(),
        epochs=4,
        verbose=0,
        validation_data=data(8, 1),
        callbacks=[
            Inject("val_loss", [1.0, 0.5, 0.7, 0.4]),
            ModelCheckpoint(pattern, save_best_only=True),
        ],
    )
    assert sorted(os.listdir(tmp_path)) == [
        "ckpt-01-1.00.striate",
        "ckpt-02-0.50.striate",
        "ckpt-04-0.40.striate",
    ]
    loaded = load_model(tmp_path / "ckpt-04-0.40.striate")
    assert same(loaded.get_weights(), net.get_weights()) and loaded.compiled
    folder = tmp_path / "acc"
    model().fit(
        *data(),
        epochs=3,
        verbose=0,
        validation_data=data(8, 1),
        callbacks=[
            Inject("val_acc", [0.5, 0.4, 0.6]),
            ModelCheckpoint(
                str(folder / "{epoch}.striate"),
                monitor="val_acc",
                save_best_only=True,
                save_weights_only=True,
            ),
        ],
    )
    assert sorted(os.listdir(folder)) == ["1.striate", "3.striate"]  # folder made as needed


def test_model_checkpoint_every_epoch_every_n_batches_and_bad_pattern(tmp_path):
    net = model()
    net.fit(
        *data(),
        epochs=2,
        batch_size=8,
        verbose=0,
        callbacks=[
            ModelCheckpoint(tmp_path / "last.striate"),
            ModelCheckpoint(
                str(tmp_path / "b{epoch}-{batch}.striate"), save_freq=2, save_weights_only=True
            ),
        ],
    )
    assert sorted(os.listdir(tmp_path)) == [
        "b1-2.striate",
        "b1-4.striate",
        "b2-2.striate",
        "b2-4.striate",
        "last.striate",
    ]
    assert same(load_model(tmp_path / "last.striate").get_weights(), net.get_weights())
    with pytest.raises(ValueError, match=r"cannot fill in the file name.*val_los.*val_loss"):
        model().fit(
            *data(),
            epochs=1,
            verbose=0,
            validation_data=data(8, 1),
            callbacks=[ModelCheckpoint(str(tmp_path / "{val_los:.2f}.striate"))],
        )


def test_csv_logger_content_and_append(tmp_path):
    path = tmp_path / "log.csv"
    net = model()
    history = net.fit(
        *data(), epochs=3, verbose=0, validation_data=data(8, 1), callbacks=[CSVLogger(path)]
    )
    with open(path, newline="") as file:
        rows = list(csv.reader(file))
    assert rows[0] == ["epoch", "acc", "loss", "val_acc", "val_loss"]
    assert [int(row[0]) for row in rows[1:]] == [0, 1, 2]
    for column, key in enumerate(rows[0][1:], start=1):
        assert [float(row[column]) for row in rows[1:]] == history.history[key]
    net.fit(
        *data(),
        epochs=2,
        verbose=0,
        validation_data=data(8, 1),
        callbacks=[CSVLogger(path, append=True)],
    )
    text = path.read_text()
    assert text.count("epoch,") == 1 and len(text.splitlines()) == 6
    semi = tmp_path / "semi.csv"
    model().fit(*data(), epochs=1, verbose=0, callbacks=[CSVLogger(semi, separator=";")])
    assert semi.read_text().splitlines()[0] == "epoch;acc;loss"


def test_learning_rate_scheduler_sets_rate_and_logs_it():
    net = model(SGD(0.01))
    history = net.fit(
        *data(),
        epochs=3,
        verbose=0,
        callbacks=[LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1))],
    )
    assert history.history["learning_rate"] == [0.1, 0.05, 0.1 / 3]
    assert net.optimizer.learning_rate == 0.1 / 3
    net.fit(*data(), epochs=1, verbose=0, callbacks=[LearningRateScheduler(lambda epoch: 0.5)])
    assert net.optimizer.learning_rate == 0.5
    with pytest.raises(ValueError, match="finite number >= 0. Received: 'fast'"):
        net.fit(
            *data(),
            epochs=1,
            verbose=0,
            callbacks=[LearningRateScheduler(lambda epoch, lr: "fast")],
        )


def test_learning_rate_scheduler_changes_adams_step():
    scheduled = model(Adam(0.001))
    scheduled.fit(
        *data(),
        epochs=1,
        batch_size=8,
        shuffle=False,
        verbose=0,
        callbacks=[LearningRateScheduler(lambda epoch, lr: lr * 10)],
    )
    direct = model(Adam(0.01))
    direct.fit(*data(), epochs=1, batch_size=8, shuffle=False, verbose=0)
    assert same(scheduled.get_weights(), direct.get_weights())
    frozen = model(Adam(0.001))
    before = frozen.get_weights()
    frozen.fit(
        *data(), epochs=1, verbose=0, callbacks=[LearningRateScheduler(lambda epoch, lr: 0.0)]
    )
    assert same(frozen.get_weights(), before)


def test_reduce_lr_on_plateau_in_fit():
    net = model(SGD(0.1))
    history = net.fit(
        *data(),
        epochs=6,
        verbose=0,
        validation_data=data(8, 1),
        callbacks=[
            Inject("val_loss", [1.0] * 6),
            ReduceLROnPlateau(patience=2, factor=0.5, min_lr=0.03),
        ],
    )
    assert history.history["learning_rate"] == [0.1, 0.1, 0.1, 0.05, 0.05, 0.03]
    assert net.optimizer.learning_rate == 0.03


def test_terminate_on_nan_stops_at_the_batch():
    calls = []

    def flaky(y_true, y_pred):
        calls.append(1)
        return np.full(len(y_true), np.nan if len(calls) == 2 else 0.0)

    def run(callbacks):
        calls.clear()
        net, recorder = model(), Recorder()
        net.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=[flaky])
        return net.fit(
            *data(), epochs=3, batch_size=8, verbose=0, callbacks=callbacks + [recorder]
        ), recorder

    history, recorder = run([TerminateOnNaN()])
    assert history.epoch == [0] and recorder.batches == 2 and np.isnan(history.history["flaky"][0])
    history, recorder = run([])
    assert history.epoch == [0, 1, 2] and recorder.batches == 12
    with pytest.raises(RuntimeError, match="Batch 1: invalid flaky"):
        run([TerminateOnNaN(raise_error=True)])


@pytest.mark.parametrize("bad", [-0.5, float("nan"), "fast"])
def test_a_callback_setting_an_invalid_learning_rate_gets_the_constructors_error(bad):
    class Setter(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.model.optimizer.learning_rate = bad

    error = ValueError if isinstance(bad, float) else TypeError
    with pytest.raises(error) as from_constructor:
        Adam(bad)
    net = model(Adam(0.001))
    with pytest.raises(error) as from_callback:
        net.fit(*data(), epochs=1, verbose=0, callbacks=[Setter()])
    assert str(from_callback.value) == str(from_constructor.value)
    assert "Received: learning_rate=" in str(from_callback.value)
    assert net.optimizer.learning_rate == 0.001  # unchanged


def test_lambda_callback_calls_its_functions_at_their_hooks():
    seen = []
    callback = striate.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: seen.append(("epoch", epoch, round(logs["loss"], 9))),
        on_train_batch_end=lambda batch, logs: seen.append(("batch", batch)),
        on_train_end=lambda logs: seen.append(("end",)),
    )
    model = striate.Sequential([striate.Input((2,)), striate.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(np.zeros((4, 2)), np.ones((4, 1)), batch_size=2, epochs=2, verbose=0,
                        callbacks=[callback])  # fmt: skip
    losses = [round(v, 9) for v in history.history["loss"]]
    assert seen == [("batch", 0), ("batch", 1), ("epoch", 0, losses[0])] + [
        ("batch", 0), ("batch", 1), ("epoch", 1, losses[1]), ("end",)
    ]  # fmt: skip
    with pytest.raises(TypeError, match=r"unknown hook\(s\) \['on_epoch'\]"):
        striate.callbacks.LambdaCallback(on_epoch=print)
