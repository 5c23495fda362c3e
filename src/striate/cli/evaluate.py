"""`striate evaluate MODEL`: the loss and metrics of a saved model on a dataset's test split."""

import json
import os

import numpy as np

from striate.cli.common import (
    COLOR_BY_CHANNELS,
    DATASETS,
    UserError,
    add_parser,
    add_threads_option,
    int_option,
    is_folder_dataset,
    load_dataset,
    load_folder,
    load_model_file,
    preprocess,
)

EXAMPLES = """examples:
  striate evaluate article-digits.striate          on the test split of the dataset it was
                                                   trained on (for an image folder: the same
                                                   20% validation subset)
  striate evaluate lenet5-mnist.striate --dataset fashion-mnist
  striate evaluate photos.striate --dataset test-photos/      every image of another folder
  striate evaluate article-digits.striate --json   {"loss": ..., "acc": ..., "samples": 360, ...}
"""


def register(commands):
    parser = add_parser(
        commands, "evaluate", "print a saved model's loss and metrics on a dataset", EXAMPLES
    )
    parser.add_argument(
        "model", metavar="MODEL", help="a model file written by striate train or model.save"
    )
    parser.add_argument(
        "--dataset",
        metavar="NAME_OR_FOLDER",
        default=None,
        help=f"{', '.join(DATASETS)}, or a folder with one subfolder per class "
        f"(default: the dataset the model was trained on)",
    )
    parser.add_argument("--batch-size", type=int_option(1), default=32)
    parser.add_argument(
        "--skip-unreadable",
        action="store_true",
        help="image folders: skip (with a warning naming it) a file or folder "
        "that cannot be read, instead of stopping",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    add_threads_option(parser)
    parser.set_defaults(handler=run)


def run(args):
    model = load_model_file(args.model)
    meta = model.metadata
    preprocessing = meta.get("preprocessing", {})
    dataset = args.dataset or meta.get("dataset")
    if dataset is None:
        raise UserError(f"{args.model} does not record its dataset; choose one with --dataset")
    if args.batch_size < 1:
        raise UserError("--batch-size must be 1 or more")
    x, y, description = _data(args, model, dataset, meta)
    if not model.compiled:
        model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["acc"])
    with np.errstate(over="ignore", invalid="ignore"):  # a non-finite result is an error below
        results = model.evaluate(
            preprocess(x, preprocessing), y, batch_size=args.batch_size, verbose=0
        )
    names = ["loss"] + [name for name, _ in model.metrics]
    scores = dict(zip(names, (float(v) for v in np.atleast_1d(results))))
    if not all(np.isfinite(list(scores.values()))):
        raise UserError(
            f"the {' and '.join(k for k, v in scores.items() if not np.isfinite(v))} "
            f"of {args.model} on {description} is not finite: the model's outputs "
            f"overflow or are NaN on these inputs"
        )
    if args.json:
        print(json.dumps({**scores, "samples": len(x), "dataset": description}))
    else:
        print(
            " - ".join(f"{name}: {value:.4f}" for name, value in scores.items())
            + f" on {len(x)} images of {description}"
        )


def _data(args, model, dataset, meta):
    """(x uint8, y, description) to evaluate on."""
    if not is_folder_dataset(dataset):
        (_, _), (x, y) = load_dataset(dataset)
        return x, y, f"the {dataset} test split"
    shape = model.input_shape[1:]
    pre = meta.get("preprocessing", {})
    image_size = pre.get("image_size", shape[:2])
    color_mode = pre.get("color_mode") or COLOR_BY_CHANNELS.get(shape[-1])
    if color_mode is None:
        raise UserError(f"the model's input {shape} is not an image; give a named --dataset")
    if args.dataset is None:  # the folder it was trained on: its validation subset again
        if "seed" not in meta:
            raise UserError(f"{args.model} does not record the seed of its validation split")
        data = load_folder(
            dataset,
            image_size,
            color_mode,
            meta["seed"],
            "validation",
            not args.json,
            meta.get("validation_split", 0.2),
            args.skip_unreadable,
        )
        return data.x, data.y, f"the validation subset of {dataset}"
    data = load_folder(
        dataset,
        image_size,
        color_mode,
        None,
        subset=None,
        verbose=not args.json,
        skip_unreadable=args.skip_unreadable,
    )
    known = meta.get("class_names")
    if known is None:
        return data.x, data.y, dataset
    unknown = [name for name in data.class_names if name not in known]
    if unknown:
        raise UserError(
            f"{dataset} has classes the model does not know: {', '.join(unknown)} "
            f"(it knows {', '.join(known)})"
        )
    labels = np.array([known.index(name) for name in data.class_names])[data.y]
    return data.x, labels, os.path.normpath(dataset)
