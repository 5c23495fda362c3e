"""The article's program (examples/article.py) runs on striate, word for word but its imports,
and prints the numbers of its summary table."""

import gzip
import os
import struct
import subprocess
import sys

import numpy as np
import pytest
from conftest import require_real_data

from striate.datasets import fashion_mnist
from striate.layers import Activation, Conv2D, Dense, Flatten, MaxPool2D
from striate.models import Sequential

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARTICLE = os.path.join(ROOT, "examples", "article.py")


def write_idx(path, array):
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


# The article's code, line for line as it prints it ("An intuitive guide to Convolutional Neural
# Networks", pinned here so the test reads nothing outside the repository), and its summary table.
ARTICLE_CODE = [
    "img_shape = (28,28,1)",
    "model = Sequential()",
    "model.add(Conv2D(6,2,input_shape=img_shape))",
    "model.add(Activation('relu'))",
    "model.add(MaxPool2D(2))",
    "model.add(Flatten())",
    "model.add(Dense(10))",
    "model.add(Activation('softmax'))",
    "model.summary",
    "model.compile(loss='sparse_categorical_crossentropy', optimizer = 'adam', metrics=['acc'])",
    "from keras.datasets import mnist",
    "(x_train, y_train), (x_test, y_test) = mnist.load_data()",
    "x_train = np.expand_dims(x_train,-1)",
    "x_test = np.expand_dims(x_test,-1)",
    "model.fit(x_train, y_train, batch_size=32, epochs=10, validation_data=(x_test,y_test))",
]
ARTICLE_SUMMARY = [  # (output shape, parameters) per layer, then the totals
    ("(None, 27, 27, 6)", "30"),
    ("(None, 27, 27, 6)", "0"),
    ("(None, 13, 13, 6)", "0"),
    ("(None, 1014)", "0"),
    ("(None, 10)", "10,150"),
    ("(None, 10)", "0"),
]
ARTICLE_TOTALS = ["Total params: 10,180", "Trainable params: 10,180", "Non-trainable params: 0"]


def assert_article_summary(text):
    """The summary table in `text` has the article's shapes, parameter counts and totals."""
    rows = []
    for line in text.splitlines():
        if "(None," in line:
            start = line.index("(None,")
            rows.append((line[start : line.index(")", start) + 1], line.split()[-1]))
    assert rows == ARTICLE_SUMMARY
    for total in ARTICLE_TOTALS:
        assert total in text, total


def test_article_model_summary_has_the_articles_numbers(capsys):
    model = Sequential()
    for layer in [
        Conv2D(6, 2, input_shape=(28, 28, 1)),
        Activation("relu"),
        MaxPool2D(2),
        Flatten(),
        Dense(10),
        Activation("softmax"),
    ]:
        model.add(layer)
    model.summary()
    assert_article_summary(capsys.readouterr().out)


def test_article_program_is_the_article_word_for_word():
    with open(ARTICLE) as handle:
        program = handle.read().splitlines()
    for line in ARTICLE_CODE:
        assert line.replace("keras", "striate") in program, line
    assert not any("keras" in line for line in program if not line.startswith("#"))


@pytest.mark.slow  # trains 10 epochs in a subprocess
def test_article_program_runs_and_prints_its_summary(tmp_path):
    """MNIST cannot be downloaded here: a Fashion-MNIST subset stands in, in MNIST's format."""
    require_real_data()
    (x, y), (xt, yt) = fashion_mnist.load_data()
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", x[:3000])
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", y[:3000])
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", xt[:500])
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", yt[:500])
    env = dict(os.environ, STRIATE_MNIST_DIR=str(tmp_path), STRIATE_DATASET_MIRRORS="")
    result = subprocess.run(
        [sys.executable, "-m", "striate.cli", "run", ARTICLE],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert_article_summary(out)
    assert "Epoch 10/10" in out and "val_acc" in out
    assert out.count("94/94 [") == 10  # one line per epoch in a log, no flood
    assert "History(epochs=10" in out
