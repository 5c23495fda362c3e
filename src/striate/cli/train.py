"""`striate train`: train a model on a dataset or an image folder, with Keras-style progress, and
save it with what `predict` and `evaluate` need (class names, input preprocessing, dataset)."""

import os

from striate.cli.common import (
    CHANNELS_BY_COLOR,
    COLOR_BY_CHANNELS,
    DATASETS,
    FOLDER_VALIDATION_SPLIT,
    MAX_SEED,
    SHAPES,
    UserError,
    add_parser,
    add_threads_option,
    architecture,
    build_model,
    class_names,
    dataset_module,
    int_option,
    is_folder_dataset,
    load_dataset,
    open_folder,
    parse_ints,
    preprocess,
)
from striate.model_schema import check_metadata

EXAMPLES = """examples:
  striate train --dataset digits --epochs 5       the article's CNN on sklearn's 8x8 digits
                                                  (offline); writes article-digits.striate
  striate train --model lenet5 --dataset fashion-mnist --epochs 10 --seed 0
  striate train --model convnet --dataset photos/ --image-size 64,64 --out photos.striate
      photos/cat/*.jpg, photos/dog/*.png ...: one subfolder per class; 20% of the images
      (chosen with --seed) are held out for validation
  striate train --model my_model.py --dataset cifar10
      my_model.py defines build_model(input_shape, classes) returning a striate model
  mpirun -n 2 python -m mpi4py -m striate train --dataset digits --distributed
      data parallel on 2 processes (MPI): the same result as one process, --batch-size is
      the global batch; only rank 0 prints and saves (--processes 2 runs mpirun for you)
  striate train --dataset digits --epochs 5 --live
      watch it learn in a local web page: curves, first-layer filters, a few predictions
"""


def register(commands):
    from striate.zoo import MODELS

    parser = add_parser(commands, "train", "train a model on a dataset and save it", EXAMPLES)
    parser.add_argument(
        "--model",
        default="article",
        metavar="NAME_OR_FILE",
        help=f"{', '.join(sorted(MODELS))}, or a .py file defining "
        f"build_model(input_shape, classes) (default: article)",
    )
    parser.add_argument(
        "--dataset",
        default="mnist",
        metavar="NAME_OR_FOLDER",
        help=f"{', '.join(DATASETS)}, or a folder of images with one subfolder "
        f"per class (default: mnist)",
    )
    parser.add_argument(
        "--image-size",
        metavar="H,W",
        default=None,
        help="image folders: the size images are resized to (default: 32,32)",
    )
    parser.add_argument(
        "--color-mode",
        choices=sorted(COLOR_BY_CHANNELS.values()),
        default=None,
        help="image folders: the channels images are read with (default: rgb)",
    )
    parser.add_argument("--epochs", type=int_option(0), default=10)
    parser.add_argument("--batch-size", type=int_option(1), default=32)
    parser.add_argument(
        "--seed",
        type=int_option(0, MAX_SEED),
        default=None,
        help="seed weights, shuffling and the image-folder split, for reproducible runs",
    )
    parser.add_argument(
        "--raw-pixels",
        action="store_true",
        help="feed 0-255 pixels unscaled, as the article does (default: x / 255)",
    )
    parser.add_argument(
        "--out",
        metavar="FILE",
        default=None,
        help="where to save the model (default: MODEL-DATASET.striate here)",
    )
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1)
    parser.add_argument(
        "--health",
        metavar="FILE",
        default=None,
        help="write the training doctor's record as JSON (striate show health FILE)",
    )
    parser.add_argument(
        "--no-doctor", action="store_true", help="train without the training doctor's checks"
    )
    parser.add_argument(
        "--skip-unreadable",
        action="store_true",
        help="image folders: skip (with a warning naming it) a file or folder "
        "that cannot be read, instead of stopping",
    )
    parser.add_argument(
        "--distributed",
        action="store_true",
        help="train data parallel on the processes mpirun started (needs "
        "pip install 'striate[mpi]'); --batch-size is the global batch",
    )
    parser.add_argument(
        "--processes",
        type=int_option(1),
        default=None,
        metavar="N",
        help="start N processes on this machine with mpirun and train with --distributed",
    )
    _live_options(parser)
    parser.set_defaults(handler=run)
    add_threads_option(parser)


def run(args):
    from striate.cli import train_distributed

    if getattr(args, "processes", None):
        return train_distributed.launch(args)
    if not getattr(args, "distributed", False):
        return _run(args)
    return train_distributed.run(args, _run)


def _run(args):
    import numpy as np

    from striate import utils

    if args.epochs < 0 or args.batch_size < 1:
        raise UserError("--epochs must be 0 or more and --batch-size 1 or more")
    build, model_name = architecture(args.model)
    folder = is_folder_dataset(args.dataset)
    if not folder and args.dataset not in SHAPES:
        dataset_module(args.dataset)  # the one-line "unknown dataset" error
    if not folder and (args.image_size or args.color_mode):
        raise UserError(
            f"--image-size and --color-mode are for image folders; {args.dataset} "
            f"images come in one size and color"
        )
    name = _short_name(args.dataset) if folder else args.dataset
    out = args.out or f"{model_name}-{name}.striate"
    _check_out(out)
    if args.seed is not None:
        utils.set_random_seed(args.seed)
    model = None
    if not folder:  # find out now, not after a download, that the model does not fit
        model = build_model(build, model_name, SHAPES[args.dataset], len(class_names(args.dataset)))
    data = _load(args, folder)
    shape = data["input_shape"] if folder else data["train"][0].shape[1:]
    if model is None:
        model = build_model(build, model_name, shape, len(data["class_names"]))
    preprocessing = {
        "scale": 1.0 if args.raw_pixels else 1 / 255,
        "color_mode": data["color_mode"],
        "image_size": list(shape[:2]),
        "interpolation": "bilinear",
    }
    metadata = {
        "dataset": data["dataset"],
        "class_names": data["class_names"],
        "preprocessing": preprocessing,
        **data["split"],
    }
    try:  # what save will check, checked before training rather than after
        check_metadata(metadata, model.input_shape[1:], model.output_shape[-1])
    except ValueError as error:
        raise UserError(
            f"the model file could not record what the model is trained on (so "
            f"nothing was trained): {error}"
        ) from None
    # Raw 0-255 pixels (as the article feeds them) saturate the softmax: they learn under the
    # default cross-entropy rule (from the logits), but Keras 3's clipped rule
    # (STRIATE_CROSSENTROPY=keras3) then gives many samples no gradient at all.
    if folder:
        scale = np.float32(preprocessing["scale"])
        train, test = (d.map(lambda x, y: (x * scale, y)) for d in (data["train"], data["test"]))
        train_args, test_args, count = (train,), (test,), len(data["test"].file_paths)
    else:
        (x_train, y_train), (x_test, y_test) = data["train"], data["test"]
        x_train, x_test = preprocess(x_train, preprocessing), preprocess(x_test, preprocessing)
        train_args, test_args, count = (x_train, y_train), (x_test, y_test), len(x_test)
    model.summary()
    if not model.compiled:
        model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["acc"])
    probe = next(iter(test_args[0].take(1))) if folder else (x_test, y_test)
    live = _live_view(args, probe[0], probe[1], data["class_names"])
    history = model.fit(
        *train_args,
        batch_size=None if folder else args.batch_size,
        epochs=args.epochs,
        validation_data=test_args[0] if folder else test_args,
        verbose=args.verbose,
        doctor=not args.no_doctor,
        callbacks=[live] if live else None,
    )

    results = model.evaluate(*test_args, batch_size=None if folder else args.batch_size, verbose=0)
    names = ["loss"] + [metric for metric, _ in model.metrics]
    split = "validation" if folder else "test"
    print(
        " - ".join(
            f"{split} {metric} {value:.4f}" for metric, value in zip(names, np.atleast_1d(results))
        )
        + f" on {count} {name} images"
    )
    model.metadata = metadata
    _save(model, out)
    if args.health and history.health is not None:  # after the model is safe
        _write_health(history.health, args.health)
    if live:
        live.close(after=args.live_keep)


def _save(model, out):
    """Save, or, when that fails (a full disk), save to the temporary folder instead and say so."""
    import tempfile

    try:
        model.save(out)
    except OSError as error:
        spare = os.path.join(
            tempfile.gettempdir(), f"striate-{os.getpid()}-{os.path.basename(out)}"
        )
        try:
            model.save(spare)
        except OSError as second:
            reason = second.strerror or second
            raise UserError(
                f"{error}; saving it to {spare} failed too ({reason}): the trained model is lost"
            ) from None
        raise UserError(
            f"{error}; saved it to {spare} instead: move it where you want it"
        ) from None
    print(f"Saved the model to {out}")


def _write_health(health, path):
    import json

    try:
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(health, handle)
    except OSError as error:
        raise UserError(f"--health {path}: {error.strerror or error}") from None
    print(f"Wrote the doctor's record to {path} (striate show health {path})")


def _short_name(folder):
    return os.path.basename(os.path.abspath(folder).rstrip(os.sep)) or "images"


def _load(args, folder):
    """The data as a dict: train, test, class_names, color_mode, dataset, split."""
    if not folder:
        train, test = load_dataset(args.dataset)
        return {
            "train": train,
            "test": test,
            "class_names": class_names(args.dataset),
            "dataset": args.dataset,
            "color_mode": COLOR_BY_CHANNELS[train[0].shape[-1]],
            "split": {},
        }
    import numpy as np

    image_size = parse_ints(args.image_size or "32,32", 2, "--image-size")
    color_mode = args.color_mode or "rgb"
    seed = args.seed if args.seed is not None else int(np.random.randint(1_000_000))
    # Lazy: decoded batch by batch while training, so a folder bigger than memory trains.
    train, validation = open_folder(
        args.dataset, image_size, color_mode, seed, args.batch_size, args.skip_unreadable
    )
    return {
        "train": train,
        "test": validation,
        "input_shape": tuple(image_size) + (CHANNELS_BY_COLOR[color_mode],),
        "class_names": train.class_names,
        "dataset": os.path.abspath(args.dataset),
        "color_mode": color_mode,
        "split": {"validation_split": FOLDER_VALIDATION_SPLIT, "seed": seed},
    }


def _check_out(out):
    """Fail before training, not after, when the model cannot be saved where asked."""
    folder = os.path.dirname(os.path.abspath(out))
    if os.path.isdir(out):
        raise UserError(f"--out {out} is a folder; give a file name such as model.striate")
    if not os.path.isdir(folder):
        raise UserError(f"--out {out}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise UserError(f"--out {out}: cannot write in {folder}")


def _live_options(parser):
    from striate.cli.common import int_option

    parser.add_argument(
        "--live", action="store_true", help="show training in a local web page as it runs"
    )
    parser.add_argument(
        "--port", type=int_option(0, 65535), default=0, help="--live: the port (default: free)"
    )
    parser.add_argument(
        "--live-keep",
        type=int_option(0),
        default=0,
        metavar="SECONDS",
        help="--live: keep the page served this long after training (Ctrl-C ends it)",
    )


def _live_view(args, x_test, y_test, names):
    """The LiveView callback for --live (8 fixed test images as its probe), or None."""
    if not args.live:
        return None
    from striate.callbacks import LiveView

    live = LiveView(port=args.port, probe=(x_test[:8], y_test[:8]), class_names=names)
    live.keep_open = True
    try:
        live.start()
    except OSError as error:
        raise UserError(f"--live: {error}; choose another --port (0 picks a free one)") from None
    return live
