"""fit, evaluate and predict on data given as batches (striate.models.data_adapters): a
generator, a PyDataset (workers 1 and 3, threads and processes), any iterable with or without a
length; every kind trains to the same weights as the same batches given as arrays; Keras's
steps_per_epoch, validation_freq, initial_epoch, class_weight, sample_weight; and an error
naming the batch for every kind of bad batch."""

import io
import threading
import warnings

import numpy as np
import pytest

import striate
from striate import layers
from striate.models import data_adapters
from striate.models.progress import Progbar
from striate.utils import PyDataset

RNG = np.random.default_rng(0)
X = RNG.normal(size=(40, 4)).astype("float32")
Y = RNG.integers(0, 3, 40)
BATCHES = [(X[i : i + 8], Y[i : i + 8]) for i in range(0, 40, 8)]


def model(metrics=("accuracy",), input_shape=(4,)):
    striate.utils.set_random_seed(1)
    stack = [layers.Dense(5, activation="relu"), layers.Dense(3, activation="softmax")]
    net = striate.Sequential(([layers.Input(input_shape)] if input_shape else []) + stack)
    net.compile("adam", "sparse_categorical_crossentropy", metrics=list(metrics))
    return net


def weights_after(data, **kwargs):
    net = model()
    history = net.fit(data, verbose=0, **kwargs)
    return net.get_weights(), history.history


def from_arrays(epochs=2):
    return weights_after(X, y=Y, batch_size=8, epochs=epochs, shuffle=False)


def assert_same(a, b):
    assert len(a[0]) == len(b[0])
    for u, v in zip(a[0], b[0]):
        np.testing.assert_array_equal(u, v)
    assert a[1] == b[1]


class Batches(PyDataset):
    def __init__(self, batches=BATCHES, **kwargs):
        super().__init__(**kwargs)
        self.batches = batches
        self.epochs_ended = 0

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, index):
        return self.batches[index]

    def on_epoch_end(self):
        self.epochs_ended += 1


class Lazy:
    """The protocol of a lazy dataset (image_dataset_from_directory's): a fresh pass per
    `iter`, and a length."""

    def __init__(self, batches=BATCHES, sized=True):
        self.batches, self.sized = batches, sized

    def __iter__(self):
        return iter(self.batches)

    def __len__(self):
        if not self.sized:
            raise TypeError("no length")
        return len(self.batches)


def generator(epochs=2, batches=BATCHES):
    for _ in range(epochs):
        yield from batches


def test_a_generator_trains_as_the_same_batches_given_as_arrays():
    assert_same(weights_after(generator(), epochs=2, steps_per_epoch=5), from_arrays())


@pytest.mark.parametrize("workers", [1, 3])
def test_a_pydataset_trains_as_arrays_with_any_number_of_workers(workers):
    data = Batches(workers=workers, max_queue_size=2)
    assert_same(weights_after(data, epochs=2), from_arrays())
    assert data.epochs_ended == 2


def test_a_pydataset_with_worker_processes_trains_as_arrays(monkeypatch):
    monkeypatch.setattr(data_adapters, "BATCH_TIMEOUT", 60.0)  # bounded, should a fork hang
    data = Batches(workers=2, use_multiprocessing=True)
    assert_same(weights_after(data, epochs=1), from_arrays(1))


def test_any_iterable_is_iterated_afresh_each_epoch_with_or_without_a_length():
    assert_same(weights_after(Lazy(), epochs=2), from_arrays())
    assert_same(weights_after(Lazy(sized=False), epochs=2), from_arrays())


def test_the_progress_bar_knows_the_steps_when_the_data_has_a_length(capsys):
    model().fit(Lazy(), epochs=1, verbose=2)
    assert "5/5 - " in capsys.readouterr().out
    model().fit(generator(1), epochs=1, verbose=2)  # unknown until the end
    assert "5/5 - " in capsys.readouterr().out
    params = {}

    class Spy(striate.callbacks.Callback):
        def on_train_begin(self, logs=None):
            params.update(self.params)

    model().fit(generator(1), epochs=1, verbose=0, callbacks=[Spy()])
    assert params["steps"] is None
    out = io.StringIO()
    bar = Progbar(None, verbose=1, stream=out)
    bar.dynamic = True
    bar.update(3, {"loss": 1.0})
    assert "3/Unknown" in out.getvalue()


def test_evaluate_and_predict_take_batches():
    net = model()
    net.fit(X, Y, batch_size=8, epochs=1, verbose=0)
    expected = net.evaluate(X, Y, batch_size=8, verbose=0)
    assert net.evaluate(Batches(), verbose=0) == pytest.approx(expected, rel=1e-6)
    assert net.evaluate(generator(1), verbose=0) == pytest.approx(expected, rel=1e-6)
    assert net.evaluate(generator(1), steps=2, verbose=0) == pytest.approx(
        net.evaluate(X[:16], Y[:16], batch_size=8, verbose=0), rel=1e-6
    )
    predicted = net.predict(X, batch_size=8, verbose=0)
    for data in (Batches(), (x for x, _ in BATCHES), ((x,) for x, _ in BATCHES)):
        np.testing.assert_array_equal(net.predict(data, verbose=0), predicted)
    np.testing.assert_array_equal(net.predict(Batches(), steps=2, verbose=0), predicted[:16])
    np.testing.assert_array_equal(net.predict(X, batch_size=8, steps=2, verbose=0), predicted[:16])


def test_a_batch_as_a_list_is_a_tuple_as_in_keras():
    lists = [[x, y] for x, y in BATCHES]
    assert_same(weights_after(Lazy(lists), epochs=2), from_arrays())


def test_an_unbuilt_model_is_built_from_the_first_batch_of_a_generator():
    net = model(input_shape=None)
    net.fit(generator(1), epochs=1, verbose=0)
    assert net.input_shape == (None, 4) and net.count_params() == 43


def test_a_generator_that_runs_dry_warns_as_keras_and_stops():
    net = model()
    with pytest.warns(UserWarning, match="Your input ran out of data; interrupting training"):
        history = net.fit(generator(1), epochs=3, steps_per_epoch=2, verbose=0)
    assert history.epoch == [0, 1, 2]  # 2 + 2 + 1 batches: the third epoch ends short
    net = model()
    with pytest.warns(UserWarning, match="ran out of data"):
        history = net.fit(generator(1), epochs=3, verbose=0)  # one pass: nothing for epoch 2
    assert history.epoch == [0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model().fit(generator(1), epochs=1, verbose=0)  # exactly enough: no warning


def test_steps_per_epoch_shares_one_pass_of_a_dataset_between_epochs_as_keras():
    seen = []

    class Spy(Batches):
        def __getitem__(self, index):
            seen.append(index)
            return super().__getitem__(index)

    with pytest.warns(UserWarning, match="ran out of data"):
        history = model().fit(Spy(), epochs=4, steps_per_epoch=2, verbose=0)
    assert seen == [0, 1, 2, 3, 4, 0, 1] and history.epoch == [0, 1, 2, 3]


def test_steps_per_epoch_on_arrays_continues_where_the_last_epoch_stopped():
    with pytest.warns(UserWarning, match="ran out of data"):  # epoch 3 has batch 4 only
        a = weights_after(X, y=Y, batch_size=8, epochs=5, steps_per_epoch=2, shuffle=False)
    order = BATCHES[0:2] + BATCHES[2:4] + BATCHES[4:5] + BATCHES[0:2] + BATCHES[2:4]
    with pytest.warns(UserWarning, match="ran out of data"):  # 9 batches for 10 steps
        b = weights_after(iter(order), epochs=5, steps_per_epoch=2)
    np.testing.assert_array_equal(a[0][0], b[0][0])
    assert len(a[1]["loss"]) == 5


def test_validation_freq_and_initial_epoch():
    net = model()
    history = net.fit(
        X, Y, epochs=5, initial_epoch=1, validation_data=Batches(), validation_freq=2, verbose=0
    )
    assert history.epoch == [1, 2, 3, 4]
    assert len(history.history["loss"]) == 4 and len(history.history["val_loss"]) == 2
    history = model().fit(
        generator(3),
        epochs=3,
        steps_per_epoch=5,
        validation_data=(X, Y),
        validation_freq=[1, 3],
        validation_steps=1,
        verbose=0,
    )
    assert len(history.history["val_loss"]) == 2
    with pytest.raises(ValueError, match="validation_freq must be a positive int or a list"):
        model().fit(X, Y, validation_data=(X, Y), validation_freq=0, verbose=0)


def test_class_weight_is_a_sample_weight_by_class():
    weights = {0: 1.0, 1: 3.0, 2: 0.5}
    a = weights_after(X, y=Y, batch_size=8, epochs=1, shuffle=False, class_weight=weights)
    b = weights_after(
        X,
        y=Y,
        batch_size=8,
        epochs=1,
        shuffle=False,
        sample_weight=np.array([weights[int(c)] for c in Y]),
    )
    assert_same(a, b)
    c = weights_after(generator(1), epochs=1, class_weight=weights)
    assert_same(a, c)


def test_sample_weight_weights_the_loss_as_keras():
    """Keras 3: the weighted per-sample losses summed, over the batch size; the compiled
    `metrics` unweighted (Keras weights only `weighted_metrics`)."""
    net = model()
    weight = np.linspace(0.0, 2.0, 40)
    probabilities = net.predict(X, verbose=0).astype(np.float64)
    losses = -np.log(np.clip(probabilities[np.arange(40), Y], 1e-7, 1.0))
    loss = net.evaluate(X, Y, batch_size=40, sample_weight=weight, verbose=0)[0]
    assert loss == pytest.approx((losses * weight).sum() / 40, rel=1e-5)
    accuracy = net.evaluate(X, Y, batch_size=40, sample_weight=weight, verbose=0)[1]
    hits = probabilities.argmax(-1) == Y
    assert accuracy == pytest.approx(hits.mean(), rel=1e-6)  # `metrics` are not weighted


def test_a_stuck_worker_is_an_error_in_bounded_time(monkeypatch):
    release = threading.Event()

    class Stuck(Batches):
        def __getitem__(self, index):
            if index == 2:
                release.wait(10)
            return super().__getitem__(index)

    monkeypatch.setattr(data_adapters, "BATCH_TIMEOUT", 0.2)
    try:
        with pytest.raises(TimeoutError, match="Stuck: batch 2 was not ready after 0.2 s"):
            model().fit(Stuck(workers=2), epochs=1, verbose=0)
    finally:
        release.set()


def test_a_worker_error_reaches_fit():
    class Broken(Batches):
        def __getitem__(self, index):
            if index == 3:
                raise OSError("cannot read batch 3")
            return super().__getitem__(index)

    with pytest.raises(OSError, match="cannot read batch 3"):
        model().fit(Broken(workers=3), epochs=1, verbose=0)


# -- bad batches: a clear error naming the batch, before anything trains on it ------------------
def bad(batch_3):
    return [BATCHES[0], BATCHES[1], BATCHES[2], batch_3]


def fit_error(batches, kind=ValueError):
    net = model()
    before = [w.copy() for w in net.get_weights()]
    with pytest.raises(kind) as error:
        net.fit(iter(batches), epochs=1, verbose=0)
    return str(error.value), before, net


def test_a_batch_of_another_shape_names_the_batch_and_the_shapes():
    text, _, _ = fit_error(bad((np.ones((8, 5), "float32"), Y[:8])))
    assert text == (
        "fit (batch 3 of the list_iterator): Sequential 'sequential' expects input shape "
        "(None, 4). Received: x of shape (8, 5). The batches before had x of shape (8, 4)."
    )


def test_a_nan_batch_is_refused_before_its_update():
    x = X[:8].copy()
    x[2, 1] = np.nan
    text, before, net = fit_error([(x, Y[:8])])
    assert (
        "fit (batch 0 of the list_iterator): x holds NaN or infinite values, the first at " in text
    )
    for a, b in zip(before, net.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "batch, kind, message",
    [
        (
            X[:8],
            ValueError,
            "a batch must be a tuple (x, y) or (x, y, sample_weight). Received: ndarray.",
        ),
        ((X[:8].astype(str), Y[:8]), TypeError, "x must be numeric"),
        (
            (X[:8], Y[:7]),
            ValueError,
            "x and y must have the same number of samples. Received: x with 8 samples, y with 7.",
        ),
        (
            (X[:8], Y[:8] + 5),
            ValueError,
            "sparse_categorical_crossentropy: label 6 at index 0 is out of range for 3 classes",
        ),
        (
            (X[:8], Y[:8], np.ones(3)),
            ValueError,
            "sample_weight must hold one weight per sample "
            "(8). Received: sample_weight of shape (3,).",
        ),
        ((X[:8],), ValueError, "y is required for training and evaluation. Received: y=None."),
    ],
    ids=["array", "strings", "lengths", "labels", "weights", "no_y"],
)
def test_every_bad_batch_is_an_error_naming_it(batch, kind, message):
    text, _, _ = fit_error([batch], kind)
    assert text.startswith("fit (batch 0 of the list_iterator): ")
    assert message in text


def test_class_weight_naming_a_class_the_output_lacks():
    with pytest.raises(ValueError) as error:
        model().fit(X, Y, class_weight={0: 1.0, 3: 2.0}, verbose=0)
    assert str(error.value) == (
        "fit: class_weight names class 3, which the model's output does not have: it has 3 "
        "classes (0..2). Received: class_weight={0: 1.0, 3: 2.0}"
    )
    with pytest.raises(ValueError, match="class_weight and sample_weight cannot be used together"):
        model().fit(X, Y, class_weight={0: 1.0}, sample_weight=np.ones(40), verbose=0)


def test_y_given_beside_a_generator_and_validation_split_with_batches():
    with pytest.raises(ValueError, match="with data given as a generator, y and sample_weight"):
        model().fit(generator(1), Y, verbose=0)
    with pytest.raises(ValueError, match="validation_split needs arrays"):
        model().fit(Batches(), validation_split=0.2, verbose=0)
    with pytest.raises(ValueError, match="steps_per_epoch must be a positive int or None"):
        model().fit(X, Y, steps_per_epoch=0, verbose=0)


def test_pydataset_settings_are_checked():
    with pytest.raises(ValueError, match="Batches: workers must be a positive int. Received: "):
        Batches(workers=0)


def test_weighted_metrics_are_weighted_and_named_as_keras():
    net = model()
    net.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"],
                weighted_metrics=["accuracy"])  # fmt: skip
    weight = np.linspace(0.0, 2.0, 40)
    logs = net.evaluate(X, Y, batch_size=40, sample_weight=weight, verbose=0, return_dict=True)
    assert list(logs) == ["loss", "accuracy", "weighted_accuracy"]  # Keras 3.15's names
    hits = net.predict(X, verbose=0).argmax(-1) == Y
    assert logs["accuracy"] == pytest.approx(hits.mean(), rel=1e-6)
    assert logs["weighted_accuracy"] == pytest.approx(
        (hits * weight).sum() / weight.sum(), rel=1e-6
    )


@pytest.mark.slow
def test_a_torch_dataloader_trains_as_arrays():
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader, TensorDataset

    data = TensorDataset(torch.from_numpy(X), torch.from_numpy(Y))
    assert_same(weights_after(DataLoader(data, batch_size=8), epochs=2), from_arrays())
