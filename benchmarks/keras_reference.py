"""Keras 3 (torch backend) on the same workloads, to choose the accuracy thresholds of the
end-to-end tests and to compare with striate. Usage:
    KERAS_BACKEND=torch python benchmarks/keras_reference.py article 10
    KERAS_BACKEND=torch python benchmarks/keras_reference.py convnet-subset 1
"""

import gzip
import os
import sys
import time

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(2)
ROOT = "/usr/share/datasets/fashion-mnist"


def idx(name):
    with gzip.open(f"{ROOT}/{name}", "rb") as handle:
        raw = handle.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def main():
    workload, epochs = sys.argv[1], int(sys.argv[2])
    keras.utils.set_random_seed(int(os.environ.get("SEED", "0")))
    x, y = idx("train-images-idx3-ubyte.gz")[..., None], idx("train-labels-idx1-ubyte.gz")
    xt, yt = idx("t10k-images-idx3-ubyte.gz")[..., None], idx("t10k-labels-idx1-ubyte.gz")
    L = keras.layers
    if workload.startswith("article"):
        model = keras.Sequential(
            [
                keras.Input((28, 28, 1)),
                L.Conv2D(6, 2),
                L.Activation("relu"),
                L.MaxPool2D(2),
                L.Flatten(),
                L.Dense(10),
                L.Activation("softmax"),
            ]
        )
        batch = 32
        if workload == "article-scaled":
            x, xt = x / np.float32(255), xt / np.float32(255)
    else:
        model = keras.Sequential(
            [
                keras.Input((28, 28, 1)),
                L.Conv2D(32, 3, activation="relu"),
                L.MaxPool2D(2),
                L.Conv2D(64, 3, activation="relu"),
                L.MaxPool2D(2),
                L.Flatten(),
                L.Dropout(0.5),
                L.Dense(10, activation="softmax"),
            ]
        )
        x, xt = x / np.float32(255), xt / np.float32(255)
        batch = 128
        if workload == "convnet-subset":
            x, y = x[:20000], y[:20000]
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["acc"])
    for epoch in range(epochs):
        start = time.perf_counter()
        history = model.fit(x, y, batch_size=batch, epochs=1, verbose=0, validation_data=(xt, yt))
        seconds = time.perf_counter() - start
        print(
            f"{workload} epoch {epoch + 1}: {seconds:.1f}s "
            f"loss {history.history['loss'][0]:.4f} acc {history.history['acc'][0]:.4f} "
            f"val_acc {history.history['val_acc'][0]:.4f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
