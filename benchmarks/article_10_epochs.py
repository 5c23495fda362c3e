"""The article's program (raw pixels, Adam, batch 32, validation on the test set) for 10 epochs
on full Fashion-MNIST, in striate or Keras 3 (torch backend): epoch time, loss and val_acc.

    python benchmarks/article_10_epochs.py striate [EPOCHS] [INIT.npz]
    KERAS_BACKEND=torch python benchmarks/article_10_epochs.py keras [EPOCHS] [INIT.npz]

With INIT.npz both start from the same weights: striate writes its initial weights there when
the file does not exist, and either framework loads them when it does.
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from workloads import read_idx  # noqa: E402


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("framework", choices=("striate", "keras"))
    parser.add_argument("epochs", type=int, nargs="?", default=10)
    parser.add_argument(
        "init",
        nargs="?",
        default=None,
        metavar="INIT.npz",
        help="initial weights: written by striate if missing, else loaded",
    )
    args = parser.parse_args()
    framework, epochs = args.framework, args.epochs
    x = read_idx("train-images-idx3-ubyte.gz")[..., None]
    y = read_idx("train-labels-idx1-ubyte.gz")
    xt = read_idx("t10k-images-idx3-ubyte.gz")[..., None]
    yt = read_idx("t10k-labels-idx1-ubyte.gz")
    if framework == "keras":
        os.environ.setdefault("KERAS_BACKEND", "torch")
        import keras
        import torch

        torch.set_num_threads(2)
        keras.utils.set_random_seed(0)
        layers, models = keras.layers, keras.models
    else:
        import striate

        striate.utils.set_random_seed(0)
        layers, models = striate.layers, striate.models
    model = models.Sequential()
    model.add(layers.Conv2D(6, 2, input_shape=(28, 28, 1)))
    model.add(layers.Activation("relu"))
    model.add(layers.MaxPool2D(2))
    model.add(layers.Flatten())
    model.add(layers.Dense(10))
    model.add(layers.Activation("softmax"))
    init = args.init
    if init and os.path.exists(init):
        with np.load(init) as saved:
            model.set_weights([saved[f"w{i}"] for i in range(len(saved.files))])
    elif init:
        np.savez(init, **{f"w{i}": w for i, w in enumerate(model.get_weights())})
    if os.environ.get("SHUFFLE_SEED"):  # another batch order from the same start
        (keras if framework == "keras" else striate).utils.set_random_seed(
            int(os.environ["SHUFFLE_SEED"])
        )
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["acc"])
    for epoch in range(epochs):
        start = time.perf_counter()
        history = model.fit(x, y, batch_size=32, epochs=1, verbose=0, validation_data=(xt, yt))
        logs = {k: v[0] for k, v in history.history.items()}
        print(
            f"{framework} epoch {epoch + 1}: {time.perf_counter() - start:.2f}s "
            f"loss {logs['loss']:.4f} acc {logs['acc']:.4f} val_loss {logs['val_loss']:.4f} "
            f"val_acc {logs['val_acc']:.4f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
