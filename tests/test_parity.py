"""Parity with real peers: the same weights give the same predictions as Keras 3 and PyTorch, and
the same losses and weights after several epochs of SGD, Adam and RMSprop on the same batches."""

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
torch = pytest.importorskip("torch")

import striate
from striate import zoo
from striate.layers import (
    AveragePooling2D,
    BatchNormalization,
    Conv2D,
    Dense,
    GlobalAveragePooling2D,
    MaxPool2D,
)
from striate.models import Sequential

pytestmark = pytest.mark.slow  # parity with Keras and PyTorch

SHAPE = (12, 12, 1)


def keras_twin(model):
    """The same architecture in Keras, built from striate's layer configs."""
    twin = keras.Sequential([keras.Input(shape=model.input_shape[1:])])
    for layer in model.layers:
        config = {
            k: v
            for k, v in layer.get_config().items()
            if k not in ("dtype", "batch_input_shape", "name")
        }
        twin.add(getattr(keras.layers, type(layer).__name__).from_config(config))
    twin.set_weights(model.get_weights())
    return twin


def data(n=96, seed=0, scale=True):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(n,) + SHAPE).astype(np.uint8)
    y = rng.integers(0, 10, size=n)
    # make the labels learnable: the class is the brightest of ten fixed regions
    regions = rng.standard_normal((10,) + SHAPE)
    y = np.argmax(np.einsum("nhwc,khwc->nk", x / 255.0, regions), axis=1)
    return (x / np.float32(255) if scale else x), y


def mixed_model():
    return Sequential(
        [
            Conv2D(4, 3, padding="same", activation="relu", input_shape=SHAPE),
            BatchNormalization(),
            MaxPool2D(2),
            Conv2D(6, (2, 3), strides=(1, 2), activation="tanh"),
            AveragePooling2D(2, padding="same"),
            GlobalAveragePooling2D(),
            Dense(10, activation="softmax"),
        ]
    )


@pytest.mark.parametrize(
    "make", [lambda: zoo.article(SHAPE), lambda: zoo.convnet((16, 16, 1)), mixed_model]
)
def test_same_weights_same_predictions_as_keras(make):
    striate.utils.set_random_seed(0)
    model = make()
    x = np.random.default_rng(1).random((20,) + model.input_shape[1:]).astype(np.float32)
    ours = model.predict(x, verbose=0)
    theirs = keras_twin(model).predict(x, verbose=0)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6)


def test_same_weights_same_predictions_as_pytorch():
    striate.utils.set_random_seed(0)
    model = zoo.convnet((16, 16, 1))
    w = model.get_weights()
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 3),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 64, 3),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
    )
    head = torch.nn.Linear(64 * 2 * 2, 10)
    with torch.no_grad():
        net[0].weight.copy_(torch.from_numpy(w[0].transpose(3, 2, 0, 1)))
        net[0].bias.copy_(torch.from_numpy(w[1]))
        net[3].weight.copy_(torch.from_numpy(w[2].transpose(3, 2, 0, 1)))
        net[3].bias.copy_(torch.from_numpy(w[3]))
        head.weight.copy_(torch.from_numpy(w[4].T))
        head.bias.copy_(torch.from_numpy(w[5]))
    x = np.random.default_rng(2).random((8, 16, 16, 1)).astype(np.float32)
    with torch.no_grad():
        features = net(torch.from_numpy(x.transpose(0, 3, 1, 2)))
        # flatten channels-last, as Keras and striate do
        logits = head(features.permute(0, 2, 3, 1).reshape(8, -1))
        theirs = torch.softmax(logits, dim=1).numpy()
    np.testing.assert_allclose(model.predict(x, verbose=0), theirs, rtol=1e-4, atol=1e-6)


OPTIMIZERS = {
    "sgd": (lambda lib: lib.optimizers.SGD(learning_rate=0.05)),
    "sgd_nesterov": (
        lambda lib: lib.optimizers.SGD(learning_rate=0.02, momentum=0.9, nesterov=True)
    ),
    "sgd_momentum": (lambda lib: lib.optimizers.SGD(learning_rate=0.02, momentum=0.9)),
    "adam": (lambda lib: lib.optimizers.Adam(learning_rate=0.003)),
    "rmsprop": (lambda lib: lib.optimizers.RMSprop(learning_rate=0.002)),
    "rmsprop_centered_momentum": (
        lambda lib: lib.optimizers.RMSprop(learning_rate=0.001, momentum=0.5, centered=True)
    ),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize(
    "make", [lambda: zoo.article(SHAPE), mixed_model], ids=["article", "mixed"]
)
def test_training_matches_keras(name, make, crossentropy_rule):
    """Scaled pixels: nothing is clipped, so both cross-entropy rules match Keras 3."""
    striate.utils.set_random_seed(3)
    model = make()
    twin = keras_twin(model)
    x, y = data()
    model.compile(
        loss="sparse_categorical_crossentropy", optimizer=OPTIMIZERS[name](striate), metrics=["acc"]
    )
    twin.compile(
        loss="sparse_categorical_crossentropy", optimizer=OPTIMIZERS[name](keras), metrics=["acc"]
    )
    ours = model.fit(
        x, y, batch_size=16, epochs=3, shuffle=False, verbose=0, validation_data=(x[:32], y[:32])
    )
    theirs = twin.fit(
        x, y, batch_size=16, epochs=3, shuffle=False, verbose=0, validation_data=(x[:32], y[:32])
    )
    for key in ("loss", "val_loss", "acc", "val_acc"):
        np.testing.assert_allclose(
            ours.history[key], theirs.history[key], rtol=2e-4, atol=1e-5, err_msg=key
        )
    for a, b in zip(model.get_weights(), twin.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=2e-5)


def test_article_on_raw_pixels_matches_keras_including_clipping(keras3_crossentropy):
    """Raw 0-255 pixels saturate the softmax, so Keras's clip decides which samples learn:
    Keras 3's rule (`striate.backend.set_crossentropy('keras3')`) gives Keras 3's numbers."""
    striate.utils.set_random_seed(5)
    model = zoo.article(SHAPE)
    twin = keras_twin(model)
    x, y = data(64, scale=False)
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["acc"])
    twin.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["acc"])
    ours = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    theirs = twin.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    assert ours.history["loss"][0] > 1.0  # saturated: the clip is active
    np.testing.assert_allclose(ours.history["loss"], theirs.history["loss"], rtol=1e-3)
    for a, b in zip(model.get_weights(), twin.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)


def test_adam_first_steps_match_keras_numbers():
    """KERAS.md: three Adam steps with g = -2e-6 move a weight by 3.874e-4, 8.595e-4, 1.382e-3
    (PyTorch's epsilon placement would give 9.5e-4 first)."""
    variable = striate.Tensor(np.zeros(1, dtype=np.float32), requires_grad=True)
    optimizer = striate.optimizers.Adam()
    moved = []
    for _ in range(3):
        variable.grad = np.full(1, -2e-6, dtype=np.float32)  # g found from KERAS.md
        optimizer.apply([variable])
        moved.append(float(variable.data[0]))
    np.testing.assert_allclose(moved, [3.874e-4, 8.595e-4, 1.382e-3], rtol=2e-3)
