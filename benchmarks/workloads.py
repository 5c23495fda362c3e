"""One benchmark run in this process: `python workloads.py FRAMEWORK WORKLOAD [--samples N]`.

Prints one JSON line: {"seconds": ..., "setup_rss_mb": ...}. Run by benchmarks/run.py in a fresh
subprocess per measurement, so each framework's peak memory is its own.

Workloads (BENCHMARKS.md), Fashion-MNIST from /usr/share/datasets/fashion-mnist:
  article  Conv2D(6,2) -> ReLU -> MaxPool2D(2) -> Flatten -> Dense(10) -> softmax, raw pixels,
           Adam, batch 32, one epoch
  convnet  Keras's simple MNIST convnet, pixels / 255, Adam, batch 128, one epoch
  predict  inference on the 10,000 test images, batch 1,000, both models
  resnet   a functional ResNet (issue 12): Conv/BN/ReLU stem of 16 filters, two residual blocks
           of 16 (`add` skips), a stride-2 Conv/BN/ReLU to 32, one residual block of 32,
           GlobalAveragePooling2D, Dense(10) softmax; pixels / 255, Adam, batch 128, one epoch
           on the first RESNET_SAMPLES images (at most)
"""

import argparse
import gzip
import json
import os
import resource
import sys
import time

import numpy as np

DATA = os.environ.get("STRIATE_FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")


def read_idx(name):
    path = os.path.join(DATA, name)
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as handle:
        raw = handle.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(samples):
    x = read_idx("train-images-idx3-ubyte.gz")[:samples, :, :, None]
    y = read_idx("train-labels-idx1-ubyte.gz")[:samples].astype(np.int64)
    xt = read_idx("t10k-images-idx3-ubyte.gz")[:, :, :, None]
    return x, y, xt


RESNET_SAMPLES = 10000


def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- striate --------------------------------------------------------------------------------
def striate_models():
    from striate import zoo

    return zoo.article(), zoo.convnet()


def keras_api_train(article, convnet, workload, x, y):
    """One epoch of `workload` through the Keras API (striate's and Keras's are the same)."""
    model, batch = (article, 32) if workload == "article" else (convnet, 128)
    if workload == "convnet":
        x = x / np.float32(255)
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["acc"])
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
    return time.perf_counter() - start


def keras_api_predict(article, convnet, xt):
    """Both models on the test images through the Keras API."""
    start = time.perf_counter()
    article.predict(xt, batch_size=1000, verbose=0)
    convnet.predict(xt / np.float32(255), batch_size=1000, verbose=0)
    return time.perf_counter() - start


def striate_train(workload, x, y):
    import striate

    striate.utils.set_random_seed(0)
    if workload == "resnet":
        return keras_api_resnet(striate, x, y)
    return keras_api_train(*striate_models(), workload, x, y)


def functional_resnet(lib, shape=(28, 28, 1)):
    """The resnet workload through the Keras functional API (striate's and Keras's)."""
    layers = lib.layers

    def conv_bn(x, filters, strides=1, relu=True):
        x = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        return layers.Activation("relu")(x) if relu else x

    def block(x, filters):
        y = conv_bn(conv_bn(x, filters), filters, relu=False)
        return layers.Activation("relu")(layers.add([x, y]))

    inputs = lib.Input(shape)
    x = block(block(conv_bn(inputs, 16), 16), 16)
    x = block(conv_bn(x, 32, strides=2), 32)
    x = layers.GlobalAveragePooling2D()(x)
    return lib.Model(inputs, layers.Dense(10, activation="softmax")(x))


def keras_api_resnet(lib, x, y):
    model = functional_resnet(lib)
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["acc"])
    x, y = x[:RESNET_SAMPLES] / np.float32(255), y[:RESNET_SAMPLES]
    start = time.perf_counter()
    model.fit(x, y, batch_size=128, epochs=1, verbose=0)
    return time.perf_counter() - start


def striate_predict(xt):
    return keras_api_predict(*striate_models(), xt)


# --- PyTorch eager ----------------------------------------------------------------------------
def torch_models():
    import torch
    from torch import nn

    article = nn.Sequential(
        nn.Conv2d(1, 6, 2), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1014, 10)
    )
    convnet = nn.Sequential(
        nn.Conv2d(1, 32, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dropout(0.5),
        nn.Linear(1600, 10),
    )
    return torch, article, convnet


def torch_resnet(channels=1):
    """The resnet workload in PyTorch (BatchNorm with Keras's epsilon and momentum)."""
    from torch import nn

    def conv_bn(cin, cout, stride=1, relu=True):
        parts = [
            nn.Conv2d(cin, cout, 3, stride, padding=1, bias=False),
            nn.BatchNorm2d(cout, eps=1e-3, momentum=0.01),
        ]
        return nn.Sequential(*parts, *([nn.ReLU()] if relu else []))

    class Block(nn.Module):
        def __init__(self, channels):
            super().__init__()
            self.body = nn.Sequential(
                conv_bn(channels, channels), conv_bn(channels, channels, 1, False)
            )

        def forward(self, x):
            return nn.functional.relu(x + self.body(x))

    return nn.Sequential(
        conv_bn(channels, 16), Block(16), Block(16), conv_bn(16, 32, 2), Block(32),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10),
    )  # fmt: skip


def torch_train(workload, x, y):
    torch, article, convnet = torch_models()
    torch.manual_seed(0)
    if workload == "resnet":
        x, y = x[:RESNET_SAMPLES], y[:RESNET_SAMPLES]
        article = torch_resnet()
    model, batch = (article, 32) if workload == "article" else (convnet, 128)
    if workload == "resnet":
        model, batch = article, 128
    xs = torch.from_numpy(x.transpose(0, 3, 1, 2).astype(np.float32))
    if workload in ("convnet", "resnet"):
        xs = xs / 255
    ys = torch.from_numpy(y)
    optimizer = torch.optim.Adam(model.parameters(), eps=1e-7)
    loss_fn = torch.nn.CrossEntropyLoss()
    start = time.perf_counter()
    model.train()
    order = torch.randperm(len(xs))
    for begin in range(0, len(xs), batch):
        index = order[begin : begin + batch]
        optimizer.zero_grad()
        loss = loss_fn(model(xs[index]), ys[index])
        loss.backward()
        optimizer.step()
        loss.item()
    return time.perf_counter() - start


def torch_predict(xt):
    torch, article, convnet = torch_models()
    xs = torch.from_numpy(xt.transpose(0, 3, 1, 2).astype(np.float32))
    article.eval()
    convnet.eval()
    start = time.perf_counter()
    with torch.no_grad():
        for model, scale in ((article, 1.0), (convnet, 255.0)):
            for begin in range(0, len(xs), 1000):
                torch.softmax(model(xs[begin : begin + 1000] / scale), dim=1).numpy()
    return time.perf_counter() - start


# --- Keras 3 on torch -------------------------------------------------------------------------
def keras_models():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    layers = keras.layers
    article = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Conv2D(6, 2),
            layers.Activation("relu"),
            layers.MaxPool2D(2),
            layers.Flatten(),
            layers.Dense(10),
            layers.Activation("softmax"),
        ]
    )
    convnet = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPool2D(2),
            layers.Conv2D(64, 3, activation="relu"),
            layers.MaxPool2D(2),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(10, activation="softmax"),
        ]
    )
    return keras, article, convnet


def keras_train(workload, x, y):
    keras, article, convnet = keras_models()
    keras.utils.set_random_seed(0)
    if workload == "resnet":
        return keras_api_resnet(keras, x, y)
    return keras_api_train(article, convnet, workload, x, y)


def keras_predict(xt):
    _, article, convnet = keras_models()
    return keras_api_predict(article, convnet, xt)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("framework", choices=("striate", "torch", "keras"))
    parser.add_argument("workload", choices=("article", "convnet", "predict", "resnet"))
    parser.add_argument("--samples", type=int, default=60000)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if args.framework in ("torch", "keras"):
        import torch

        torch.set_num_threads(args.threads)
    x, y, xt = load(args.samples)
    if args.workload == "predict":
        seconds = globals()[f"{args.framework}_predict"](xt[: args.samples])
    else:
        seconds = globals()[f"{args.framework}_train"](args.workload, x, y)
    print(json.dumps({"seconds": seconds, "peak_rss_mb": rss_mb()}))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
