"""What the serve tests share: small image models, PNG bytes, and an HTTP client that says
exactly which headers and body it sends."""

import http.client
import io
import json

import numpy as np

from striate import utils
from striate.layers import Conv2D, Dense, Flatten, MaxPool2D
from striate.models import Sequential


def digit_model(classes=10, shape=(28, 28, 1), seed=3):
    """conv 3x3 relu -> max pool -> conv 3x3 relu (stride 2, same) -> dense softmax."""
    utils.set_random_seed(seed)
    model = Sequential(
        [
            Conv2D(6, 3, input_shape=shape, activation="relu"),
            MaxPool2D(2),
            Conv2D(4, 3, strides=2, padding="same", activation="relu"),
            Flatten(),
            Dense(classes, activation="softmax"),
        ]
    )
    model.build()
    for weight in model.weights:  # biases too, so that sums + bias are checked
        weight.data[...] = np.random.default_rng(seed).normal(0, 0.3, weight.data.shape)
    model.metadata = {}
    return model


def png(array):
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(array, np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def stroke_png(size=(120, 120)):
    """A black vertical stroke on white paper (a "1")."""
    image = np.full(size, 255, np.uint8)
    image[15:105, 55:67] = 0
    return png(image)


def request(port, method, path, body=None, headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        answer = connection.getresponse()
        data = answer.read()
    finally:
        connection.close()
    kind = answer.getheader("Content-Type", "")
    return answer.status, json.loads(data) if kind.startswith("application/json") else data


def floats(text):
    import base64

    return np.frombuffer(base64.b64decode(text), dtype="<f4")
