"""`striate train`: train a ready-made model on a dataset, with Keras-style progress."""

import numpy as np

from striate.cli.common import DATASETS, add_parser, load_dataset


def register(commands):
    from striate.zoo import MODELS

    parser = add_parser(commands, "train", "train a model on a dataset")
    parser.add_argument("--model", choices=sorted(MODELS), default="article")
    parser.add_argument("--dataset", default="mnist", help=f"one of {', '.join(DATASETS)}")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--raw-pixels", action="store_true",
                        help="feed 0-255 pixels unscaled, as the article does (default: x / 255)")
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1)
    parser.set_defaults(handler=run)


def run(args):
    from striate import utils, zoo

    if args.seed is not None:
        utils.set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = load_dataset(args.dataset)
    classes = int(max(y_train.max(), y_test.max())) + 1
    model = zoo.MODELS[args.model](x_train.shape[1:], classes)
    if not args.raw_pixels:
        # Raw 0-255 pixels (as the article feeds them) saturate the softmax; Keras's clipped
        # cross-entropy then gives many samples no gradient at all. Scaled pixels learn reliably.
        x_train, x_test = x_train / np.float32(255), x_test / np.float32(255)
    model.summary()
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["acc"])
    model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs,
              validation_data=(x_test, y_test), verbose=args.verbose)
    loss, acc = model.evaluate(x_test, y_test, verbose=0)
    print(f"test loss {loss:.4f} - test acc {acc:.4f} on {len(x_test)} {args.dataset} images")
