"""The Keras models the interop tests build (Keras 3, torch backend): the article's model, the
Keras MNIST convnet (with Dropout), a BatchNormalization model, a functional toy ResNet with two
`add` blocks, and one model with every layer striate has."""

import numpy as np


def article(keras):
    L = keras.layers
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            L.Conv2D(6, 2),
            L.Activation("relu"),
            L.MaxPooling2D(2),
            L.Flatten(),
            L.Dense(10),
            L.Activation("softmax"),
        ]
    )


def convnet(keras):
    L = keras.layers
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            L.Conv2D(8, 3, activation="relu"),
            L.MaxPooling2D(2),
            L.Conv2D(16, 3, strides=2, padding="same", activation="relu"),
            L.MaxPooling2D(2),
            L.Flatten(),
            L.Dropout(0.5),
            L.Dense(10, activation="softmax"),
        ]
    )


def batchnorm(keras):
    L = keras.layers
    return keras.Sequential(
        [
            keras.Input((12, 12, 3)),
            L.Conv2D(6, 3, padding="same", use_bias=False),
            L.BatchNormalization(),
            L.ReLU(),
            L.AveragePooling2D(3, strides=2),  # (Keras-torch counts same-padding zeros)
            L.Flatten(),
            L.Dense(16),
            L.BatchNormalization(scale=False),
            L.Dense(4, activation="softmax"),
        ]
    )


def resnet(keras):
    """Layers named so that names and weights-file groups disagree (conv2d_1 in layers/conv2d)."""
    L = keras.layers
    inputs = keras.Input((10, 10, 3), name="pixels")
    x = L.Conv2D(8, 3, padding="same", activation="relu", name="conv2d_1")(inputs)
    for block in range(2):
        y = L.Conv2D(8, 3, padding="same", name=f"dense_{block}")(x)
        y = L.BatchNormalization(name=f"conv2d_{block + 7}")(y)
        y = L.Activation("relu")(y)
        y = L.Conv2D(8, 3, padding="same", name=f"block{block}_b")(y)
        x = L.Add(name=f"add_{block}")([x, y])
    x = L.GlobalAveragePooling2D()(x)
    outputs = L.Dense(5, activation="softmax", name="conv2d")(x)
    return keras.Model(inputs, outputs, name="toy_resnet")


def every_layer(keras):
    L = keras.layers
    inputs = keras.Input((12, 12, 3))
    x = L.Rescaling(1 / 2.0, offset=0.1)(inputs)
    x = L.Normalization(mean=[0.1, 0.2, 0.3], variance=[1.0, 2.0, 3.0])(x)
    for layer in (
        L.RandomFlip(),
        L.RandomRotation(0.1),
        L.RandomZoom(0.1),
        L.RandomTranslation(0.1, 0.1),
        L.RandomContrast(0.1),
        L.RandomBrightness(0.1),
        L.RandomCrop(12, 12),
        L.Resizing(14, 14),
        L.CenterCrop(10, 10),
        L.ZeroPadding2D(1),
        L.Conv2D(4, 3, activation="relu", dilation_rate=1),
        L.BatchNormalization(),
        L.DepthwiseConv2D(3, padding="same"),
        L.SeparableConv2D(4, 3, padding="same"),
        L.Conv2DTranspose(4, 3, padding="same"),
        L.PReLU(),
        L.LayerNormalization(),
        L.SpatialDropout2D(0.1),
    ):
        x = layer(x)
    a, b = L.MaxPooling2D()(x), L.AveragePooling2D(2)(x)
    x = L.Add()([a, b])
    x = L.Concatenate()([x, a])
    x = L.Subtract()([x, L.Concatenate()([a, b])])
    for layer in (
        L.UpSampling2D(),
        L.Cropping2D(1),
        L.Permute((2, 1, 3)),
        L.ReLU(),
        L.LeakyReLU(),
        L.ELU(),
    ):
        x = layer(x)
    g, h = L.GlobalAveragePooling2D()(x), L.GlobalMaxPooling2D()(x)
    x = L.Maximum()([L.Average()([L.Multiply()([g, h]), g]), h])
    x = L.Minimum()([x, g])
    x = L.Flatten()(L.Reshape((8, 1))(x))
    x = L.Dense(5)(L.Dropout(0.2)(x))
    outputs = L.Softmax()(L.Activation("tanh")(x))
    return keras.Model(inputs, outputs)


MODELS = {
    "article": article,
    "convnet": convnet,
    "batchnorm": batchnorm,
    "resnet": resnet,
    "every_layer": every_layer,
}


def trained(keras, name, seed=0):
    """The model after two small fit steps (so BatchNorm's moving statistics are not 0/1)."""
    keras.utils.set_random_seed(seed)
    model = MODELS[name](keras)
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (16, *model.input_shape[1:])).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, model.output_shape[-1], 16))
    model.compile("adam", "categorical_crossentropy")
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    return model


def images(model, count, seed=1):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, (count, *model.input_shape[1:])).astype("float32")
