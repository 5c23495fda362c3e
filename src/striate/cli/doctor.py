"""`striate doctor MODEL --dataset NAME`: a short diagnostic fit with the training doctor
watching closely, then its report: every finding (what it saw, why it matters, the fix) and
each layer's gradient norms, update ratios, dead and saturated units from the first to the last
check. The model file, if one is given, is not changed."""

import json
import os

from striate.cli.common import (
    DATASETS,
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
    load_dataset,
    load_model_file,
    preprocess,
)

EXAMPLES = """examples:
  striate doctor article --dataset fashion-mnist --raw-pixels
      the article's model on raw 0-255 pixels: the doctor names the input range and the fix
  striate doctor article-digits.striate --dataset digits
  striate doctor my_model.py --dataset cifar10 --samples 5000 --health health.json
  striate show health health.json --out health.png
"""


def register(commands):
    from striate.zoo import MODELS

    parser = add_parser(
        commands,
        "doctor",
        "run a short diagnostic fit and report why a model is not learning",
        EXAMPLES,
    )
    parser.add_argument(
        "model",
        metavar="MODEL",
        help=f"a model file, an architecture ({', '.join(sorted(MODELS))}) or a .py file "
        f"defining build_model(input_shape, classes)",
    )
    parser.add_argument("--dataset", default="digits", help=f"one of {', '.join(DATASETS)}")
    parser.add_argument(
        "--samples",
        type=int_option(1),
        default=3000,
        help="training samples for the diagnostic fit (default 3000)",
    )
    parser.add_argument("--epochs", type=int_option(1, 1000), default=1)
    parser.add_argument("--batch-size", type=int_option(1), default=32)
    parser.add_argument(
        "--raw-pixels",
        action="store_true",
        help="feed 0-255 pixels unscaled (default: the model file's scaling, else x / 255)",
    )
    parser.add_argument(
        "--checks",
        type=int_option(1, 10_000),
        default=20,
        help="sampled checks per epoch (default 20)",
    )
    parser.add_argument("--health", metavar="FILE", help="write the health record as JSON")
    parser.add_argument("--seed", type=int_option(0, MAX_SEED), default=0)
    parser.add_argument("--verbose", type=int, choices=(0, 1), default=1, help="progress bar")
    parser.set_defaults(handler=run)
    add_threads_option(parser)


def run(args):
    from striate import utils
    from striate.callbacks import Doctor
    from striate.doctor import report

    dataset_module(args.dataset)  # the one-line "unknown dataset" error
    if args.health and os.path.isdir(args.health):
        raise UserError(f"--health {args.health} is a folder; give a file name such as h.json")
    utils.set_random_seed(args.seed)
    model, scale = _model(args)
    (x_train, y_train), _ = load_dataset(args.dataset)
    x = preprocess(x_train[: args.samples], {"scale": 1.0 if args.raw_pixels else scale})
    y = y_train[: args.samples]
    if tuple(model.input_shape[1:]) != x.shape[1:]:
        raise UserError(
            f"the model takes inputs of shape {tuple(model.input_shape[1:])}, the dataset "
            f"{args.dataset} has images of shape {x.shape[1:]}"
        )
    if not model.compiled:
        model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["acc"])
    steps = -(-len(x) // args.batch_size)
    doctor = Doctor(verbose=0, every=max(1, steps // args.checks))
    print(
        f"Diagnostic fit: {len(x)} {args.dataset} samples, {args.epochs} epoch(s), "
        f"batch size {args.batch_size}, a check every {doctor.every} steps"
    )
    model.fit(
        x,
        y,
        batch_size=args.batch_size,
        epochs=args.epochs,
        verbose=args.verbose,
        callbacks=[doctor],
    )
    print()
    print(report(doctor.health))
    if args.health:
        try:
            with open(args.health, "w", encoding="utf-8") as handle:
                json.dump(doctor.health, handle)
        except OSError as error:
            raise UserError(f"--health {args.health}: {error.strerror or error}") from None
        print(f"Wrote the health record to {args.health} (striate show health {args.health})")


def _model(args):
    """(model, input scale): a model file as saved (its own scaling), or a new architecture."""
    if os.path.isfile(args.model) and not args.model.endswith(".py"):
        model = load_model_file(args.model)
        scale = model.metadata.get("preprocessing", {}).get("scale", 1 / 255)
        return model, float(scale)
    build, name = architecture(args.model)
    classes = len(class_names(args.dataset))
    return build_model(build, name, SHAPES[args.dataset], classes), 1 / 255
