"""What the subcommands share: the examples text, the user-error type, dataset loading."""

import argparse

import numpy as np

EXAMPLES = """examples:
  striate train --dataset digits                 train the article's CNN offline (sklearn digits)
  striate train --dataset fashion-mnist --epochs 10
  striate train --model convnet --dataset mnist --batch-size 128
  striate run examples/article.py                the article's program, with its summary shown
"""

DATASETS = ("digits", "mnist", "fashion-mnist", "cifar10")


class UserError(Exception):
    """A mistake on the command line: printed as one line, exit status 2, no traceback."""


def add_parser(commands, name, help_text, examples=EXAMPLES):
    return commands.add_parser(name, help=help_text, description=help_text, epilog=examples,
                               formatter_class=argparse.RawDescriptionHelpFormatter)


def load_dataset(name):
    """(x_train, y_train), (x_test, y_test) with a channel axis, as uint8 pixels."""
    from striate.datasets import cifar10, digits, fashion_mnist, mnist

    loaders = {"digits": digits, "mnist": mnist, "fashion-mnist": fashion_mnist,
               "cifar10": cifar10}
    if name not in loaders:
        raise UserError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    (x_train, y_train), (x_test, y_test) = loaders[name].load_data()
    if x_train.ndim == 3:
        x_train, x_test = np.expand_dims(x_train, -1), np.expand_dims(x_test, -1)
    return (x_train, y_train.reshape(-1)), (x_test, y_test.reshape(-1))
