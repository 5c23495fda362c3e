"""`striate show`: the article's pictures from a model, as image files or in the terminal.

A model is a model file (`model.save(path)`) or a ready-made one (`article`, `convnet`) trained
here for `--train-epochs` on a dataset; an input is `--dataset NAME --index N` (the test split)
or `--image FILE`, converted to the model's input shape.
"""

import argparse

from striate.cli import show_pictures as pictures
from striate.cli.common import (
    DATASETS,
    MAX_SEED,
    UserError,
    add_parser,
    int_option,
    one_line_errors,
)
from striate.cli.show_session import Session

EXAMPLES = """examples:
  striate show conv --example --out conv.gif          the article's 5x5 input and 3x3 kernel
  striate show conv --example --stride 2 --padding same --out conv_same.gif
  striate show pool --example --out pool.gif          max pooling, 2x2 windows, stride 2
  striate show maps --index 3 --out maps.png          every layer's feature maps (article model)
  striate show maps --index 3 --terminal              the same, drawn with Unicode blocks
  striate show filters --model convnet --layer 2 --out filters.png
  striate show conv --layer conv2d --filter 2 --position 10,10 --out step.png
  striate show field --layer 2 --position 5,7 --out field.png
  striate show probs --image my_digit.png --invert --out probs.png
  striate show saliency --model model.striate --index 7 --out saliency.png
  striate show confusion --dataset digits --out confusion.png
  striate show curves training.csv --out curves.png   a CSVLogger file or a JSON history
  striate show summary --model convnet                 output-size arithmetic, MACs, fields
  striate show health health.json --out health.png     the doctor's record (striate doctor)
"""

WHAT = {
    "filters": "a Conv2D layer's filters as a grid",
    "maps": "every layer's feature maps for one input",
    "conv": "the convolution walkthrough (animated GIF, one frame per kernel position)",
    "pool": "the pooling walkthrough (animated GIF, one frame per window)",
    "field": "the receptive field of one unit, drawn on the input",
    "probs": "class probabilities for one input",
    "saliency": "|d class score / d pixel| over the input",
    "curves": "training curves from a CSVLogger CSV or a JSON history",
    "confusion": "the confusion matrix on a dataset's test split",
    "summary": "the detailed summary: output-size arithmetic, MACs, receptive fields",
    "health": "per-layer dead units, saturation, gradient norms and the loss over training",
}
_TERMINAL = ("maps", "filters", "probs", "saliency")


def register(commands):
    parser = add_parser(
        commands, "show", "draw what a model does: " + ", ".join(WHAT), examples=EXAMPLES
    )
    kinds = parser.add_subparsers(dest="what", required=True, metavar="PICTURE")
    for what, help_text in WHAT.items():
        sub = one_line_errors(
            kinds.add_parser(
                what,
                help=help_text,
                description=help_text,
                epilog=EXAMPLES,
                formatter_class=argparse.RawDescriptionHelpFormatter,
            )
        )
        if what == "curves":
            sub.add_argument("history", help="CSV (epoch,loss,acc,val_loss,...) or JSON file")
        elif what == "health":
            sub.add_argument("history", help="a health JSON file (striate doctor --health)")
        else:
            _model_options(sub, what)
        if what not in ("curves", "health", "summary", "filters", "confusion"):
            _input_options(sub)
        if what in ("filters", "maps", "conv", "pool", "field"):
            sub.add_argument("--layer", help="layer name or index (default: the first that fits)")
        if what in ("conv", "pool", "field"):
            sub.add_argument("--position", type=_position, help="output cell ROW,COL")
        if what in ("conv", "pool"):
            sub.add_argument(
                "--example", action="store_true", help="the article's numbers instead of a model"
            )
            sub.add_argument(
                "--stride", type=int_option(1, 16), default=None, help="(--example) stride"
            )
            sub.add_argument(
                "--padding", choices=("valid", "same"), default="valid", help="(--example) padding"
            )
            sub.add_argument(
                "--channel", type=int_option(0), default=None, help="input channel drawn"
            )
            sub.add_argument(
                "--duration",
                type=int_option(10, 65535),
                default=900,
                help="ms per GIF frame (10 to 65535)",
            )
            sub.add_argument(
                "--max-frames",
                type=int_option(1, 10_000),
                default=60,
                help="at most this many positions in a GIF (default 60)",
            )
        if what == "conv":
            sub.add_argument(
                "--filter", type=int_option(0), default=0, help="which filter (output channel)"
            )
        if what == "pool":
            sub.add_argument(
                "--mode",
                choices=("max", "avg"),
                default="max",
                help="(--example) max or average pooling",
            )
        if what == "field":
            sub.add_argument(
                "--channel", type=int_option(0), default=0, help="channel of the map drawn"
            )
        if what == "maps":
            sub.add_argument("--max-channels", type=int_option(1, 4096), default=16)
        if what == "saliency":
            sub.add_argument(
                "--class",
                dest="class_index",
                default="predicted",
                help="class index, or 'predicted' (default)",
            )
        if what == "confusion":
            sub.add_argument(
                "--limit", type=int_option(1), default=None, help="use the first N test images"
            )
        if what != "summary":
            default = f"{what}.gif" if what in ("conv", "pool") else f"{what}.png"
            sub.add_argument("--out", default=None, help=f"file to write (default {default})")
        if what in _TERMINAL:
            sub.add_argument(
                "--terminal",
                action="store_true",
                help="print with Unicode blocks instead of writing a file",
            )
            sub.add_argument(
                "--color",
                action="store_true",
                help="(--terminal) 24-bit gray half blocks instead of shades",
            )
    parser.set_defaults(handler=run)


def _model_options(sub, what):
    sub.add_argument(
        "--model",
        default="article",
        help="a model file, or 'article' / 'convnet' built and trained here",
    )
    sub.add_argument(
        "--train-epochs",
        type=int_option(0),
        default=3,
        help="epochs to train a ready-made model on --dataset (default 3; 0: untrained)",
    )
    sub.add_argument("--dataset", default="digits", help=f"one of {', '.join(DATASETS)}")
    sub.add_argument(
        "--size",
        type=int_option(1, 1024),
        default=28,
        help="input size of a ready-made model (default 28, the article's)",
    )
    sub.add_argument("--seed", type=int_option(0, MAX_SEED), default=0)
    sub.add_argument(
        "--raw-pixels",
        action="store_true",
        help="feed 0-255 pixels unscaled (default: x / 255, as `train` does)",
    )


def _input_options(sub):
    sub.add_argument("--index", type=int_option(0), default=0, help="image index in the test split")
    sub.add_argument("--image", help="an image file (PNG, JPEG...) instead of the dataset")
    sub.add_argument(
        "--invert",
        action="store_true",
        help="(--image) invert: dark ink on white paper -> light on dark",
    )


def _position(text):
    try:
        row, col = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected ROW,COL such as 3,4; got {text!r}") from None
    if row < 0 or col < 0:
        raise argparse.ArgumentTypeError(f"ROW and COL must be 0 or more; got {text!r}")
    return row, col


def run(args):
    from striate.see import draw

    if args.what in ("curves", "health"):
        return pictures.curves(args)
    if args.what in ("conv", "pool") and args.example:
        return pictures.example(args)
    if args.what != "summary" and not getattr(args, "terminal", False):
        try:
            draw.matplotlib()
        except ImportError as error:
            raise UserError(str(error)) from None
    session = Session(args)
    handler = pictures.PICTURES[args.what]
    if getattr(args, "terminal", False):
        print(handler(session, args, terminal=True))
        return None
    return handler(session, args)
