"""The training doctor (`striate.doctor`, `striate.callbacks.Doctor`): each pathology it must
name, no false alarm on healthy training, training bit for bit the same with it on, its CLI."""

import json
import warnings

import numpy as np
import pytest

import striate
from striate import layers
from striate.callbacks import Doctor
from striate.cli import main
from striate.doctor import DoctorWarning, report


def images(n=256, size=12, seed=0):
    """Raw 0-255 uint8 images with labels a small convnet can learn (bright left or right)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 120, (n, size, size, 1)).astype(np.uint8)
    y = rng.integers(0, 4, n)
    for i, label in enumerate(y):
        x[i, :, label * size // 4 : (label + 1) * size // 4] += 100
    return x, y


def article(size=12):
    return striate.Sequential(
        [
            layers.Input((size, size, 1)),
            layers.Conv2D(6, 2),
            layers.Activation("relu"),
            layers.MaxPool2D(2),
            layers.Flatten(),
            layers.Dense(4),
            layers.Activation("softmax"),
        ]
    )


def train(model, x, y, optimizer="adam", loss="sparse_categorical_crossentropy", **fit):
    """(history, findings by kind, the DoctorWarnings) of one fit."""
    model.compile(loss=loss, optimizer=optimizer, metrics=["acc"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(x, y, batch_size=32, verbose=0, **fit)
    said = [str(w.message) for w in caught if issubclass(w.category, DoctorWarning)]
    health = history.health or {"findings": []}
    return history, {f["kind"]: f for f in health["findings"]}, said


def test_raw_pixels_warn_once_naming_the_range_and_the_fix():
    striate.utils.set_random_seed(0)
    x, y = images()
    model = article()
    history, found, said = train(model, x, y, epochs=2)
    assert len(said) == 1, said  # one block, not a flood
    assert "Inputs range 0..2" in said[0] and f"Conv2D '{model.layers[0].name}'" in said[0]
    assert "divide by 255" in said[0] and "Rescaling(1/255)" in said[0]
    assert found["input_range"]["sure"] and found["input_range"]["step"] == -1


def test_scaled_pixels_give_no_warning():
    striate.utils.set_random_seed(0)
    x, y = images()
    history, found, said = train(article(), x / np.float32(255), y, epochs=2)
    assert said == [] and not [f for f in found.values() if f["sure"]], found
    assert history.health["checks"] and history.health["overhead"] >= 0


def test_rescaling_layer_counts_as_scaled():
    x, y = images()
    scaled = striate.Sequential(
        [layers.Input((12, 12, 1)), layers.Rescaling(1 / 255)] + article().layers
    )
    _, found, said = train(scaled, x, y)
    assert "input_range" not in found and said == []


def test_adam_at_learning_rate_10_is_reported_exploding_before_any_nan():
    striate.utils.set_random_seed(0)
    x, y = images()
    history, found, said = train(
        article(), x / np.float32(255), y, optimizer=striate.optimizers.Adam(10.0), epochs=2
    )
    assert found["learning_rate"]["sure"] and "far above" in found["learning_rate"]["seen"]
    assert found["exploding"]["step"] == 0  # the first step, before the loss can turn NaN
    assert "times their size" in found["exploding"]["seen"]


def test_deep_sigmoid_stack_is_reported_vanishing():
    striate.utils.set_random_seed(0)
    x, y = images()
    stack = [layers.Input((12, 12, 1)), layers.Flatten()]
    stack += [layers.Dense(32, activation="sigmoid") for _ in range(10)]
    model = striate.Sequential(stack + [layers.Dense(4, activation="softmax")])
    _, found, said = train(model, x / np.float32(255), y, optimizer="sgd")
    assert found["vanishing"]["layer"] == model.layers[1].name
    assert any("vanish" in s for s in said)


def test_conv_with_a_large_negative_bias_is_reported_with_its_dead_share():
    striate.utils.set_random_seed(0)
    x, y = images()
    model = striate.Sequential(
        [
            layers.Input((12, 12, 1)),
            layers.Conv2D(8, 3, activation="relu"),
            layers.Flatten(),
            layers.Dense(4, activation="softmax"),
        ]
    )
    model.layers[0].bias.data[:6] = -50.0
    _, found, said = train(model, x / np.float32(255), y)
    dead = found["dead_units"]
    assert dead["layer"] == model.layers[0].name and dead["sure"]
    assert dead["seen"].startswith("75% of the units")


def test_softmax_with_a_from_logits_loss_is_reported_before_the_first_step():
    x, y = images(64)
    model = striate.Sequential(
        [layers.Input((12, 12, 1)), layers.Flatten(), layers.Dense(4, activation="softmax")]
    )
    loss = striate.losses.SparseCategoricalCrossentropy(from_logits=True)
    _, found, said = train(model, x / np.float32(255), y, loss=loss)
    assert found["activation_loss"]["step"] == -1 and "from_logits=True" in said[0]


def test_labels_of_one_class_and_a_learning_rate_of_zero_that_never_moves_the_loss():
    x, y = images(128)
    model = striate.Sequential(
        [layers.Input((12, 12, 1)), layers.Flatten(), layers.Dense(4, activation="softmax")]
    )
    _, found, _ = train(model, x / np.float32(255), np.full_like(y, 2))
    assert "class 2" in found["labels"]["seen"]
    model.compile(loss="sparse_categorical_crossentropy", optimizer=striate.optimizers.SGD(0.0))
    doctor = Doctor(patience=8)
    with pytest.warns(DoctorWarning, match="has not moved"):
        model.fit(x / np.float32(255), y, batch_size=32, epochs=3, verbose=0, callbacks=[doctor])
    assert {f.kind for f in doctor.findings} >= {"learning_rate", "plateau"}


def test_a_nan_is_traced_to_the_layer_that_made_it():
    x, y = images(64)
    model = striate.Sequential(
        [
            layers.Input((12, 12, 1)),
            layers.Flatten(),
            layers.Dense(8),
            layers.Activation("exponential"),
            layers.Dense(4, activation="softmax"),
        ]
    )
    model.build((None, 12, 12, 1))
    model.layers[1].kernel.data[:] = 1e3
    _, found, _ = train(model, x / np.float32(255), y)
    assert "the loss became" in model.stop_reason
    assert found["nonfinite"]["layer"] == model.layers[2].name
    assert "activation" in found["nonfinite"]["seen"]


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_off_with_fit_doctor_false_or_the_environment(how, monkeypatch):
    x, y = images(64)
    if how == "environment":
        monkeypatch.setenv("STRIATE_DOCTOR", "0")
    history, _, said = train(article(), x, y, **({"doctor": False} if how == "argument" else {}))
    assert history.health is None and said == []
    model = article()
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    with pytest.raises(TypeError, match="doctor must be True or False"):
        model.fit(x, y, doctor="yes", verbose=0)


def test_training_is_bit_for_bit_the_same_with_the_doctor_checking_every_step():
    x, y = images(96)
    weights = []
    for callbacks in ([Doctor(every=1, verbose=2)], None):
        striate.utils.set_random_seed(3)
        model = striate.Sequential(
            [
                layers.Input((12, 12, 1)),
                layers.Conv2D(4, 3, use_bias=False),
                layers.BatchNormalization(),
                layers.Activation("relu"),
                layers.Flatten(),
                layers.Dropout(0.3),
                layers.Dense(4, activation="softmax"),
            ]
        )
        model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
        model.fit(
            x / np.float32(255),
            y,
            batch_size=16,
            epochs=2,
            verbose=0,
            callbacks=callbacks,
            doctor=callbacks is not None,
        )
        weights.append([w.data.copy() for w in model.weights])
    for with_doctor, without in zip(*weights):
        np.testing.assert_array_equal(with_doctor, without)


def test_report_and_errors():
    assert "no problem found" in report({"checks": [], "findings": []})
    with pytest.raises(ValueError, match="verbose must be 0, 1 or 2"):
        Doctor(verbose=3)
    with pytest.raises(ValueError, match="budget"):
        Doctor(budget=0)


@pytest.mark.slow  # a CLI run that trains (about 1 s)
def test_cli_doctor_reports_and_show_health_draws(tmp_path, capsys):
    pytest.importorskip("sklearn")
    health = tmp_path / "health.json"
    code = main(
        [
            "doctor",
            "article",
            "--dataset",
            "digits",
            "--raw-pixels",
            "--samples",
            "300",
            "--verbose",
            "0",
            "--health",
            str(health),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and "Inputs range 0..255" in out and "Per layer" in out
    assert json.loads(health.read_text())["checks"]
    pytest.importorskip("matplotlib")
    assert main(["show", "health", str(health), "--out", str(tmp_path / "h.png")]) == 0
    assert (tmp_path / "h.png").stat().st_size > 1000
    assert main(["show", "health", str(tmp_path / "missing.json")]) == 2
    assert main(["doctor", "article", "--dataset", "nope"]) == 2
    assert main(["doctor", "article", "--dataset", "digits", "--health", str(tmp_path)]) == 2
    assert "--health" in capsys.readouterr().err


@pytest.mark.slow  # a CLI training run
def test_cli_train_warns_as_fit_does_and_writes_the_health_record(tmp_path, capsys):
    pytest.importorskip("sklearn")
    health, out = tmp_path / "health.json", str(tmp_path / "m.striate")
    args = ["train", "--dataset", "digits", "--epochs", "1", "--verbose", "0", "--out", out]
    with pytest.warns(DoctorWarning, match="Inputs range 0..255"):
        assert main(args + ["--raw-pixels", "--health", str(health)]) == 0
    assert json.loads(health.read_text())["findings"][0]["kind"] == "input_range"
    with warnings.catch_warnings():
        warnings.simplefilter("error", DoctorWarning)
        assert main(args) == 0  # pixels / 255: nothing to say
        assert main(args + ["--raw-pixels", "--no-doctor"]) == 0


def test_clipped_share_warns_under_keras3s_rule_and_is_a_note_under_logits(crossentropy_rule):
    striate.utils.set_random_seed(0)
    x, y = images()
    _, found, said = train(article(), x, y)
    clipped = found["clipped"]
    assert clipped["sure"] == (crossentropy_rule == "keras3")
    assert "probability under 1e-07" in clipped["seen"]
    assert ("clipped" in said[0]) == (crossentropy_rule == "keras3")
