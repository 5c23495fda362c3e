"""The article's program (examples/article.py) runs on striate, word for word but its imports,
and prints the numbers of its summary table."""

import gzip
import os
import struct
import subprocess
import sys

import numpy as np

from conftest import require_real_data
from striate.datasets import fashion_mnist

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARTICLE = os.path.join(ROOT, "examples", "article.py")


def write_idx(path, array):
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def test_article_program_is_the_article_word_for_word():
    source = os.path.join(os.path.dirname(ROOT), "shared", "seed", "article.md")
    article = open(source, encoding="utf-8").read() if os.path.exists(source) else ""
    with open(ARTICLE) as handle:
        program = handle.read()
    for line in ["model.add(Conv2D(6,2,input_shape=img_shape))", "model.add(MaxPool2D(2))",
                 "model.compile(loss='sparse_categorical_crossentropy', optimizer = 'adam', "
                 "metrics=['acc'])", "x_train = np.expand_dims(x_train,-1)",
                 "model.fit(x_train, y_train, batch_size=32, epochs=10, "
                 "validation_data=(x_test,y_test))", "model.summary"]:
        assert line in program
        assert not article or line in article
    assert "keras" not in program.replace("`keras`", "")


def test_article_program_runs_and_prints_its_summary(tmp_path):
    """MNIST cannot be downloaded here: a Fashion-MNIST subset stands in, in MNIST's format."""
    require_real_data()
    (x, y), (xt, yt) = fashion_mnist.load_data()
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", x[:3000])
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", y[:3000])
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", xt[:500])
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", yt[:500])
    env = dict(os.environ, STRIATE_MNIST_DIR=str(tmp_path), STRIATE_DATASET_MIRRORS="")
    result = subprocess.run([sys.executable, "-m", "striate.cli", "run", ARTICLE],
                            capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for number in ["(None, 27, 27, 6)", "30", "(None, 13, 13, 6)", "(None, 1014)", "10,150",
                   "Total params: 10,180", "Trainable params: 10,180", "Non-trainable params: 0"]:
        assert number in out, number
    assert "Epoch 10/10" in out and "val_acc" in out
    assert out.count("94/94 [") == 10  # one line per epoch in a log, no flood
    assert "History(epochs=10" in out
