"""Sequential: structure, summary, compile/fit/evaluate/predict, errors, reproducibility."""

import io
import re
import warnings

import numpy as np
import pytest
from rounding import assert_equal_within_rounding

import striate
from striate import parallel
from striate.layers import Activation, Conv2D, Dense, Dropout, Flatten, Input, MaxPool2D
from striate.layers.base import reset_names
from striate.models import Sequential


def article_model(shape=(28, 28, 1)):
    reset_names()
    model = Sequential()
    model.add(Conv2D(6, 2, input_shape=shape))
    model.add(Activation("relu"))
    model.add(MaxPool2D(2))
    model.add(Flatten())
    model.add(Dense(10))
    model.add(Activation("softmax"))
    return model


def toy_data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    x = rng.integers(0, 128, size=(n, 8, 8, 1))
    x[y == 1, :4] += 120  # class 1: a bright top half
    return x.astype(np.uint8), y


def test_article_summary_numbers():
    model = article_model()
    out = io.StringIO()
    model.summary(print_fn=lambda text: out.write(text))
    text = out.getvalue()
    for expected in [
        "conv2d (Conv2D)",
        "(None, 27, 27, 6)",
        "(None, 13, 13, 6)",
        "(None, 1014)",
        "(None, 10)",
        "10,150",
        "Total params: 10,180",
        "Trainable params: 10,180",
        "Non-trainable params: 0",
        "max_pooling2d (MaxPooling2D)",
        "activation_1",
    ]:
        assert expected in text, expected
    assert re.search(r"conv2d \(Conv2D\)\s+\(None, 27, 27, 6\)\s+30\b", text)
    # `model.summary` without the call, as the article writes it, shows the table too
    assert "Total params: 10,180" in repr(model.summary)
    assert model.count_params() == 10180


def test_input_layer_and_list_constructor():
    model = Sequential(
        [
            Input(shape=(8, 8, 1)),
            Conv2D(4, 3, padding="same"),
            Flatten(),
            Dense(3, activation="softmax"),
        ]
    )
    assert model.output_shape == (None, 3)
    assert [w.shape for w in model.get_weights()] == [(3, 3, 1, 4), (4,), (256, 3), (3,)]


def test_kernel_too_big_fails_at_add_with_arithmetic():
    model = Sequential()
    with pytest.raises(
        ValueError,
        match=r"Conv2D 'conv2d\w*': kernel 30x30 does not fit input "
        r"28x28 with padding 'valid'\. Output size would be "
        r"floor\(\(28 - 30\) / 1\) \+ 1 = -1",
    ):
        model.add(Conv2D(6, 30, input_shape=(28, 28, 1)))


def test_pool_too_big_fails_at_add():
    model = Sequential([Conv2D(2, 3, input_shape=(4, 4, 1))])
    with pytest.raises(ValueError, match=r"MaxPooling2D .*pool window 3x3 does not fit input 2x2"):
        model.add(MaxPool2D(3))


def test_fit_before_compile():
    model = article_model((8, 8, 1))
    x, y = toy_data()
    with pytest.raises(ValueError, match="compile"):
        model.fit(x, y)


def test_unknown_names_suggest_closest():
    model = article_model((8, 8, 1))
    with pytest.raises(ValueError, match=r"Unknown optimizer 'adma'\. Did you mean 'adam'\?"):
        model.compile(loss="sparse_categorical_crossentropy", optimizer="adma")
    with pytest.raises(ValueError, match=r"Unknown loss .*Did you mean 'sparse_categorical_cross"):
        model.compile(loss="sparse_categorical_crossentropi", optimizer="adam")
    with pytest.raises(ValueError, match=r"Unknown metric 'acurracy'\. Did you mean 'accuracy'"):
        model.compile(loss="mse", optimizer="adam", metrics=["acurracy"])
    with pytest.raises(ValueError, match=r"Unknown activation 'rleu'\. Did you mean 'relu'"):
        Activation("rleu")


def test_input_errors():
    model = article_model((8, 8, 1))
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["acc"])
    x, y = toy_data()
    with pytest.raises(ValueError, match=r"same number of samples.*64 samples, y with 63"):
        model.fit(x, y[:-1], verbose=0)
    with pytest.raises(
        ValueError,
        match=r"expects input shape \(None, 8, 8, 1\)\. Received: x of "
        r"shape \(64, 8, 8\)\. Add the channel axis",
    ):
        model.fit(x[..., 0], y, verbose=0)
    with pytest.raises(ValueError, match="empty"):
        model.fit(x[:0], y[:0], verbose=0)
    with pytest.raises(TypeError, match="numeric"):
        model.fit(np.array([["a"] * 64]).T.reshape(64, 1, 1, 1), y, verbose=0)
    bad = y.copy()
    bad[5] = 12
    with pytest.raises(ValueError, match=r"label 12.*out of range.*10 classes"):
        model.fit(x, bad, verbose=0)
    with pytest.raises(ValueError, match="categorical_crossentropy"):
        model.fit(x, np.eye(10)[y], verbose=0)
    with pytest.raises(ValueError, match="expects input shape"):
        model.predict(np.zeros((2, 9, 9, 1)), verbose=0)


def test_fit_learns_and_history_keys():
    striate.utils.set_random_seed(1)
    model = article_model((8, 8, 1))
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["acc"])
    x, y = toy_data(256)
    x = x.astype(np.float32) / 255
    history = model.fit(x, y, batch_size=16, epochs=15, verbose=0, validation_split=0.25)
    assert sorted(history.history) == ["acc", "loss", "val_acc", "val_loss"]
    assert len(history.history["loss"]) == 15
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["acc"][-1] > 0.8
    loss, acc = model.evaluate(x, y, verbose=0)
    assert acc > 0.8
    assert model.evaluate(x, y, verbose=0, return_dict=True)["acc"] == pytest.approx(acc)


def test_metrics_name_accuracy():
    model = article_model((8, 8, 1))
    model.compile(loss="sparse_categorical_crossentropy", optimizer="sgd", metrics=["accuracy"])
    x, y = toy_data(32)
    history = model.fit(x / 255, y, epochs=1, verbose=0, validation_data=(x / 255, y))
    assert sorted(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]


def test_epoch_loss_is_sample_weighted_mean_and_val_on_full_set():
    model = Sequential([Input(shape=(2,)), Dense(1, use_bias=False, kernel_initializer="zeros")])
    model.compile(loss="mse", optimizer=striate.optimizers.SGD(learning_rate=0.0))
    x = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    y = np.array([[1.0], [1.0], [3.0]])  # batch losses 1 (2 samples) and 9 (1 sample)
    history = model.fit(
        x, y, batch_size=2, epochs=1, shuffle=False, verbose=0, validation_data=(x, y)
    )
    assert history.history["loss"][0] == pytest.approx(11 / 3)
    assert history.history["val_loss"][0] == pytest.approx(11 / 3)


def test_seed_reproducibility():
    def run():
        striate.utils.set_random_seed(42)
        model = Sequential(
            [
                Conv2D(6, 2, input_shape=(8, 8, 1), activation="relu"),
                MaxPool2D(2),
                Flatten(),
                Dropout(0.3),
                Dense(2, activation="softmax"),
            ]
        )
        model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["acc"])
        x, y = toy_data(64)
        history = model.fit(x / 255, y, batch_size=8, epochs=2, verbose=0)
        return model.get_weights(), history.history["loss"]

    (w1, l1), (w2, l2) = run(), run()
    assert l1 == l2
    for a, b in zip(w1, w2):
        np.testing.assert_array_equal(a, b)


def test_predict_batches_match_one_call():
    model = article_model((8, 8, 1))
    x, _ = toy_data(70)
    whole = model(x.astype(np.float32)).data
    # GEMMs of 16 rows against one of 70: equal within float rounding (tests/rounding.py)
    assert_equal_within_rounding(model.predict(x, batch_size=16, verbose=0), whole)


def test_set_weights_roundtrip_and_errors():
    model = article_model((8, 8, 1))
    weights = [np.full_like(w, 0.5) for w in model.get_weights()]
    model.set_weights(weights)
    for a, b in zip(model.get_weights(), weights):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match=r"has shape \(2, 2, 1, 6\)\. Received: an array of shape"):
        model.set_weights([np.zeros((3, 3, 1, 6))] + weights[1:])
    assert model.get_layer("dense").units == 10
    with pytest.raises(ValueError, match="no layer named 'nope'"):
        model.get_layer("nope")


def test_nan_loss_stops_with_epoch_and_batch():
    def make():
        striate.utils.set_random_seed(0)
        model = Sequential([Input(shape=(2,)), Dense(1)])
        model.compile(loss="mse", optimizer="sgd")
        return model

    x = np.random.default_rng(0).standard_normal((64, 2))
    y = np.ones((64, 1))
    x[20, 0] = 1e38  # in the third batch of 8: the squared error overflows
    model = make()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(x, y, batch_size=8, epochs=3, verbose=0, shuffle=False)
    messages = [str(w.message) for w in caught]
    assert any(re.search(r"Epoch 1/3, batch 3/8: the loss became inf", m) for m in messages)
    assert history.history == {}
    # nothing is lost: the weights are those after the two good batches
    reference = make()
    reference.fit(x[:16], y[:16], batch_size=8, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_verbose_2_prints_one_line_per_epoch(capsys):
    model = article_model((8, 8, 1))
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["acc"])
    x, y = toy_data(48)
    model.fit(x, y, batch_size=16, epochs=2, verbose=2, validation_data=(x, y))
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2" and len(lines) == 4
    assert re.fullmatch(
        r"3/3 - \d+s - \d+(ms|us)/step - acc: \d\.\d{4} - loss: \d+\.\d{4} - "
        r"val_acc: \d\.\d{4} - val_loss: \d+\.\d{4}",
        lines[1],
    )


def test_verbose_1_in_a_log_is_not_a_flood(capsys):
    model = article_model((8, 8, 1))
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["acc"])
    x, y = toy_data(320)
    model.fit(x, y, batch_size=8, epochs=1, verbose=1)
    out = capsys.readouterr().out
    assert "\r" not in out
    assert out.count("\n") == 2
    assert re.search(r"40/40 \[=+\] - \d+s \d+(ms|us)/step - acc: ", out)


def test_fit_with_reused_batch_buffers_matches_a_plain_loop():
    """fit gathers each batch into buffers it reuses: the weights must be exactly those of the
    straightforward loop (fresh arrays every step), also for a first layer that keeps a view of
    its input for the backward pass (Dense) and a last batch that is shorter."""

    def make():
        striate.utils.set_random_seed(3)
        model = Sequential(
            [
                Input(shape=(8, 8, 1)),
                Flatten(),
                Dense(6, activation="relu"),
                Dense(2, activation="softmax"),
            ]
        )
        model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["acc"])
        return model

    x, y = toy_data(70)  # uint8 pixels, 70 = 4 batches of 16 + 6
    fitted = make()
    history = fitted.fit(x, y, batch_size=16, epochs=2, verbose=0)
    plain = make()
    # fit runs in a parallel region (the BLAS on one thread, ops in fixed pieces): the loop
    # does too, so that both make the same GEMMs on any machine
    with parallel.parallel_region():
        plain_loop(plain, x, y)
    for a, b in zip(fitted.get_weights(), plain.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert set(history.history) == {"loss", "acc"}


def plain_loop(plain, x, y):
    """Two epochs of 16-sample batches in the order fit draws them, fresh arrays every step."""
    from striate import backend
    from striate.tensor import Tensor

    for _ in range(2):
        order = backend.rng().permutation(len(x))
        for start in range(0, len(x), 16):
            indices = order[start : start + 16]
            loss, _ = plain.call_with_loss(
                Tensor(x[indices].astype(np.float32)), y[indices], training=True
            )
            loss.backward()
            plain.optimizer.apply(plain.trainable_weights)
            for weight in plain.trainable_weights:
                weight.grad = None


def test_predict_and_evaluate_split_big_batches(monkeypatch):
    from striate.models import training

    model = article_model((8, 8, 1))
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["acc"])
    x, y = toy_data(70)
    whole = model.predict(x, batch_size=70, verbose=0)
    scores = model.evaluate(x, y, batch_size=70, verbose=0)
    monkeypatch.setattr(training, "_INFERENCE_BYTES", 3000)  # a few samples per pass
    assert training._inference_chunk(model, 70) < 70
    assert_equal_within_rounding(model.predict(x, batch_size=70, verbose=0), whole)
    # the loss is a mean of -log p over 70 samples: each p within rounding, so the loss too
    assert_equal_within_rounding(
        np.float32(model.evaluate(x, y, batch_size=70, verbose=0)), np.float32(scores)
    )


def test_models_imports_neither_saving_nor_see_but_offers_their_tools(monkeypatch):
    """The dependency points up: striate.saving and striate.see register into models."""
    import ast
    import inspect as inspect_module

    from striate import models, saving
    from striate.see import inspect as see_inspect

    tree = ast.parse(inspect_module.getsource(models))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    names = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert not any(m.startswith(("striate.saving", "striate.see")) for m in imported if m)
    assert not {"saving", "see"} & names
    assert models._TOOLS["load_model"] is saving.load_model
    assert models._TOOLS["inspect"] is see_inspect.inspect_model
    model = Sequential([Dense(2, input_shape=(3,))])
    monkeypatch.delitem(models._TOOLS, "inspect")
    with pytest.raises(
        RuntimeError,
        match=r"Sequential.inspect: no implementation of 'inspect' "
        r"is registered; it is registered by importing "
        r"striate.see.inspect",
    ):
        model.inspect(np.ones(3))
    with pytest.raises(ValueError, match="unknown tool 'explain'"):
        models.register_tool("explain", print)


def test_optimizer_build_packs_the_weights_it_is_handed():
    model = Sequential([Input(shape=(3,)), Dense(4), Dense(2)])
    before = model.get_weights()
    weights = model.trainable_weights
    first = weights[0].data
    optimizer = striate.optimizers.Adam()
    optimizer.build(weights)
    views = [w.data for w in weights]
    assert views[0] is not first and all(v.base is views[0].base for v in views)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), before, strict=True))
    optimizer.build(weights)  # already built for them: nothing moves
    assert all(w.data is v for w, v in zip(weights, views, strict=True))
    model.set_weights(before)  # writes into the views
    assert all(w.data is v for w, v in zip(weights, views, strict=True))
    for w in weights:
        w.grad = np.ones_like(w.data)
    optimizer.apply(weights)
    assert optimizer.iterations == 1 and all(w.data is v for w, v in zip(weights, views))
