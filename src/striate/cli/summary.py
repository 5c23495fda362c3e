"""`striate summary MODEL_OR_ARCH`: the layer table of a model file, an architecture or a .py
file."""

import os

from striate.cli.common import (
    UserError,
    add_parser,
    architecture,
    build_model,
    int_option,
    load_model_file,
    parse_ints,
)
from striate.model_schema import MAX_CLASSES

EXAMPLES = """examples:
  striate summary article-digits.striate          a saved model, with what it was trained on
  striate summary lenet5                          an architecture, for 28x28x1 inputs
  striate summary lenet5 --input-shape 32,32,3 --classes 100
  striate summary my_model.py --input-shape 64,64,3
      my_model.py defines build_model(input_shape, classes)
"""


def register(commands):
    from striate.zoo import MODELS

    parser = add_parser(
        commands,
        "summary",
        "print the layers, output shapes and parameter counts of a model",
        EXAMPLES,
    )
    parser.add_argument(
        "target",
        metavar="MODEL_OR_ARCH",
        help=f"a model file, an architecture ({', '.join(sorted(MODELS))}) or a "
        f".py file defining build_model(input_shape, classes)",
    )
    parser.add_argument(
        "--input-shape",
        metavar="H,W,C",
        default=None,
        help="for an architecture: the input shape (default: 28,28,1)",
    )
    parser.add_argument(
        "--classes",
        type=int_option(1, MAX_CLASSES),
        default=None,
        help="for an architecture: the number of classes (default: 10)",
    )
    parser.set_defaults(handler=run)


def run(args):
    target = args.target
    if os.path.isfile(target) and not target.endswith(".py"):
        if args.input_shape or args.classes:
            raise UserError(
                "--input-shape and --classes are for architectures; a model file has its own"
            )
        model = load_model_file(target)
        model.summary()
        meta = model.metadata
        if meta.get("dataset"):
            print(f"Trained on: {meta['dataset']}")
        if meta.get("class_names"):
            print(f"Classes: {', '.join(meta['class_names'])}")
        pre = meta.get("preprocessing")
        if pre:
            height, width = pre.get("image_size", ("?", "?"))
            print(
                f"Input: {pre.get('color_mode', '?')} {height}x{width} images, pixels x "
                f"{pre.get('scale', 1):.6g}"
            )
        return
    build, name = architecture(target)
    input_shape = parse_ints(args.input_shape or "28,28,1", 3, "--input-shape")
    classes = 10 if args.classes is None else args.classes
    if classes < 1:
        raise UserError(f"--classes must be 1 or more. Received: {classes}")
    build_model(build, name, input_shape, classes).summary()
