"""What `striate show` draws from: the model (a file, or a ready-made one trained here) and its
input (`--image FILE`, or `--dataset NAME --index N` from the test split)."""

import os
import sys

import numpy as np

from striate.cli.common import UserError, load_dataset, load_model_file
from striate.layers.lookup import layer_index


class Session:
    """The model (loaded or trained here) and the data it needs, prepared once."""

    def __init__(self, args):
        from striate import utils

        self.args = args
        self._data = None
        utils.set_random_seed(args.seed)
        if os.path.exists(args.model):
            self.model = load_model_file(args.model)
            self.shape = tuple(self.model.input_shape[1:])
        else:
            from striate import zoo
            from striate.layers.base import reset_names

            reset_names()  # the default layer names: conv2d, max_pooling2d, ...
            if args.model not in zoo.MODELS:
                raise UserError(
                    f"--model {args.model!r} is neither a model file nor one of "
                    f"{', '.join(sorted(zoo.MODELS))}"
                )
            (x_train, y_train), (_, y_test) = self.data()
            self.shape = (args.size, args.size, x_train.shape[-1])
            classes = int(max(y_train.max(), y_test.max())) + 1
            try:
                self.model = zoo.MODELS[args.model](self.shape, classes)
            except ValueError as error:
                raise UserError(
                    f"{args.model} does not fit {args.size}x{args.size} inputs "
                    f"(try --size 28): {error}"
                ) from None
            if args.train_epochs > 0:
                self._train(x_train, y_train)

    def data(self):
        if self._data is None:
            self._data = load_dataset(self.args.dataset)
        return self._data

    def scale(self, images):
        from striate.see.inputs import fit_images

        images = fit_images(images, self.shape).astype(np.float32)
        return images if self.args.raw_pixels else images / np.float32(255)

    def _train(self, x_train, y_train):
        (_, _), (x_test, y_test) = self.data()
        model = self.model
        model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["acc"])
        model.fit(
            self.scale(x_train), y_train, batch_size=32, epochs=self.args.train_epochs, verbose=0
        )
        _, acc = model.evaluate(self.scale(x_test), y_test, verbose=0)
        print(
            f"{self.args.model}: trained {self.args.train_epochs} epochs on "
            f"{self.args.dataset} at {self.shape[0]}x{self.shape[1]}, test acc {acc:.3f}",
            file=sys.stderr,
        )

    def input(self):
        """(scaled input, true label or None) from --image or --dataset/--index."""
        args = self.args
        if args.image:
            from striate.see.inputs import load_picture

            picture = load_picture(args.image, self.shape, invert=args.invert)
            return self.scale(picture[None])[0], None
        (_, _), (x_test, y_test) = self.data()
        if not 0 <= args.index < len(x_test):
            raise UserError(
                f"--index {args.index} is out of range: the {args.dataset} test "
                f"split has {len(x_test)} images (0..{len(x_test) - 1})"
            )
        return self.scale(x_test[args.index : args.index + 1])[0], int(y_test[args.index])


def layer_of(session, args, kinds, what):
    """The layer named by --layer, or the first of `kinds`."""
    model = session.model
    if args.layer is None:
        for i, layer in enumerate(model.layers):
            if isinstance(layer, kinds):
                return i
        raise UserError(f"the model has no {what} layer")
    key = int(args.layer) if args.layer.lstrip("-").isdigit() else args.layer
    try:
        index = layer_index(model.layers, key, "--layer")
    except ValueError as error:
        raise UserError(str(error)) from None
    if not isinstance(model.layers[index], kinds):
        raise UserError(
            f"--layer {args.layer}: {model.layers[index].describe()} is not a {what} layer"
        )
    return index
