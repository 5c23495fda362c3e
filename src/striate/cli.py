"""The `striate` command: `striate train` and `striate run SCRIPT`."""

import argparse
import ast
import sys

import numpy as np

EXAMPLES = """examples:
  striate train --dataset digits                 train the article's CNN offline (sklearn digits)
  striate train --dataset fashion-mnist --epochs 10
  striate train --model convnet --dataset mnist --batch-size 128
  striate run examples/article.py                the article's program, with its summary shown
"""

DATASETS = ("digits", "mnist", "fashion-mnist")


class UserError(Exception):
    """A mistake on the command line: printed as one line, exit status 2, no traceback."""


def load_dataset(name):
    """(x_train, y_train), (x_test, y_test) with a channel axis, as uint8 pixels."""
    from striate.datasets import digits, fashion_mnist, mnist

    loaders = {"digits": digits, "mnist": mnist, "fashion-mnist": fashion_mnist}
    if name not in loaders:
        raise UserError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    (x_train, y_train), (x_test, y_test) = loaders[name].load_data()
    return (np.expand_dims(x_train, -1), y_train), (np.expand_dims(x_test, -1), y_test)


def command_train(args):
    from striate import utils, zoo

    if args.seed is not None:
        utils.set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = load_dataset(args.dataset)
    classes = int(max(y_train.max(), y_test.max())) + 1
    model = zoo.MODELS[args.model](x_train.shape[1:], classes)
    if args.model == "convnet":  # the convnet is trained on pixels / 255, the article on raw ones
        x_train, x_test = x_train / np.float32(255), x_test / np.float32(255)
    model.summary()
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["acc"])
    model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs,
              validation_data=(x_test, y_test), verbose=args.verbose)
    loss, acc = model.evaluate(x_test, y_test, verbose=0)
    print(f"test loss {loss:.4f} - test acc {acc:.4f} on {len(x_test)} {args.dataset} images")


def command_run(args):
    """Run a script as a notebook runs cells: each top-level bare expression's value is shown."""
    try:
        with open(args.script, encoding="utf-8") as handle:
            source = handle.read()
    except OSError as error:
        raise UserError(f"cannot read {args.script}: {error.strerror}") from None
    tree = ast.parse(source, args.script)
    namespace = {"__name__": "__main__", "__file__": args.script}
    sys.argv = [args.script] + args.script_args
    for statement in tree.body:
        if isinstance(statement, ast.Expr) and not (
                isinstance(statement.value, ast.Constant) and isinstance(statement.value.value, str)):
            code = compile(ast.Expression(statement.value), args.script, "eval")
            value = eval(code, namespace)
            if value is not None:
                print(repr(value))
        else:
            exec(compile(ast.Module([statement], []), args.script, "exec"), namespace)  # noqa: S102


def build_parser():
    from striate.zoo import MODELS

    parser = argparse.ArgumentParser(
        prog="striate", description="A fast CNN framework on NumPy that you can see inside.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train a model on a dataset", epilog=EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    train.add_argument("--model", choices=sorted(MODELS), default="article")
    train.add_argument("--dataset", default="mnist", help=f"one of {', '.join(DATASETS)}")
    train.add_argument("--epochs", type=int, default=10)
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument("--seed", type=int, default=None)
    train.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1)
    train.set_defaults(handler=command_train)
    run = commands.add_parser("run", help="run a script, showing bare expressions as a notebook "
                                          "does", epilog=EXAMPLES,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("script")
    run.add_argument("script_args", nargs=argparse.REMAINDER)
    run.set_defaults(handler=command_run)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        args.handler(args)
    except UserError as error:
        print(f"striate {args.command}: error: {error}", file=sys.stderr)
        return 2
    except (OSError, ImportError) as error:
        print(f"striate {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
