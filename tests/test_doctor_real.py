"""The training doctor on real training: the article's program on raw Fashion-MNIST pixels is
told why (and with x / 255 nothing is said), and every example and benchmark workload trains
without a false alarm. Slow: real data, whole epochs."""

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import require_real_data

import striate
from striate.doctor import DoctorWarning

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = [
    "functional_convnet",
    "residual_net",
    "transfer_learning",
    "custom_layer",
    "subclassed_model",
]  # examples/article.py is the raw-pixel program: tested below
SUBSET = {"EXAMPLE_SAMPLES": "3000", "EXAMPLE_TEST_SAMPLES": "1000", "EXAMPLE_EPOCHS": "1"}


def fashion(samples):
    require_real_data()
    (x, y), _ = striate.datasets.fashion_mnist.load_data()
    return np.expand_dims(x[:samples], -1), y[:samples]


def said(fit):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = fit()
    return history, [str(w.message) for w in caught if issubclass(w.category, DoctorWarning)]


def article_program(x, y):
    """The article's model and compile, word for word (examples/article.py), one epoch."""
    from striate.layers import Activation, Conv2D, Dense, Flatten, MaxPool2D
    from striate.models import Sequential

    striate.utils.set_random_seed(0)
    model = Sequential()
    model.add(Conv2D(6, 2, input_shape=(28, 28, 1)))
    model.add(Activation("relu"))
    model.add(MaxPool2D(2))
    model.add(Flatten())
    model.add(Dense(10))
    model.add(Activation("softmax"))
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["acc"])
    return said(lambda: model.fit(x, y, batch_size=32, epochs=1, verbose=0))


def test_the_article_program_on_raw_pixels_is_told_the_range_and_the_fix():
    x, y = fashion(10000)
    history, warned = article_program(x, y)
    assert len(warned) == 1 and "Inputs range 0..255 (uint8)" in warned[0], warned
    assert "divide by 255" in warned[0] and "Rescaling(1/255)" in warned[0]
    first = history.health["findings"][0]
    assert first["kind"] == "input_range" and first["epoch"] < 1
    _, warned = article_program(x / np.float32(255), y)
    assert warned == []


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_example_trains_without_a_warning(name, tmp_path):
    require_real_data()
    result = subprocess.run(
        [sys.executable, "-W", "always", str(ROOT / "examples" / f"{name}.py")],
        capture_output=True,
        text=True,
        env=dict(os.environ, **SUBSET),
        cwd=tmp_path,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "test accuracy" in result.stdout
    assert "Warning" not in result.stderr, result.stderr[-3000:]


@pytest.mark.parametrize("workload", ["article", "convnet", "resnet"])
def test_every_benchmark_workload_trains_without_a_false_alarm(workload):
    require_real_data()
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import workloads
    finally:
        sys.path.pop(0)
    x, y, _ = workloads.load(3000)
    _, warned = said(lambda: workloads.striate_train(workload, x, y))
    if workload == "article":  # raw 0-255 pixels, as the article feeds them: a true finding
        assert len(warned) == 1 and warned[0].count("\n1. Inputs range 0..255") == 1
        assert "\n2. " not in warned[0], warned
    else:
        assert warned == []
