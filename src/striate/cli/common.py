"""What the subcommands share: examples, the user-error type, datasets, model files, images."""

import argparse
import inspect
import os
import sys
import traceback

import numpy as np

from striate.datasets.images import COLOR_MODES

EXAMPLES = """examples:
  striate train --dataset digits --epochs 5       the article's CNN, offline (sklearn's digits)
  striate train --model lenet5 --dataset fashion-mnist --epochs 10
  striate train --model convnet --dataset photos/ --image-size 64,64
                                                  your own images: one subfolder per class
  striate predict article-digits.striate seven.png
  striate evaluate article-digits.striate
  striate summary lenet5 --input-shape 32,32,3
  striate run examples/article.py                 the article's program, with its summary shown
  striate convert article-digits.striate digits.keras     Keras 3's file (or .onnx, .striate)
  striate export from_keras.keras --onnx model.onnx       an ONNX graph for other runtimes
"""

DATASETS = ("digits", "mnist", "fashion-mnist", "cifar10")
SHAPES = {
    "digits": (8, 8, 1),
    "mnist": (28, 28, 1),
    "fashion-mnist": (28, 28, 1),
    "cifar10": (32, 32, 3),
}
FOLDER_VALIDATION_SPLIT = 0.2
COLOR_BY_CHANNELS = {channels: name for name, (_, channels) in COLOR_MODES.items()}
CHANNELS_BY_COLOR = {name: channels for name, (_, channels) in COLOR_MODES.items()}
MAX_MODEL_WEIGHTS = 2**28  # weight values of a model the CLI builds (1 GiB of float32)
MAX_SEED = 2**32 - 1
MAX_THREADS = 1024
_STRIATE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class UserError(Exception):
    """A mistake on the command line: printed as one line, exit status 2, no traceback."""


class UserCodeError(Exception):
    """An error in the user's own code (a model .py, a script): printed with the user's own
    traceback frames only, exit status 1."""


def user_traceback(error, headline):
    """`headline`, then the traceback of `error` without striate's frames, as Python prints it."""
    if isinstance(error, SyntaxError):
        text = "".join(traceback.format_exception_only(type(error), error))
        return f"{headline}\n{text}".rstrip("\n")
    frames = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if not os.path.abspath(frame.filename).startswith(_STRIATE + os.sep)
    ]
    text = "".join(traceback.format_exception_only(type(error), error))
    if frames:
        text = (
            "Traceback (most recent call last):\n" + "".join(traceback.format_list(frames)) + text
        )
    return f"{headline}\n{text}".rstrip("\n")


def int_option(low, high=None):
    """An argparse type: an int in [low, high], else a one-line usage error saying the range."""

    def parse(text):
        value = int(text)  # a ValueError: argparse's "invalid int value: 'x'"
        if value < low or (high is not None and value > high):
            span = f"{low} or more" if high is None else f"from {low} to {high}"
            raise argparse.ArgumentTypeError(f"must be {span}. Received: {value}")
        return value

    parse.__name__ = "int"
    return parse


def one_line_errors(parser):
    """Usage mistakes as one line pointing at --help (argparse prints the whole usage)."""

    def error(message):
        parser.exit(2, f"{parser.prog}: error: {message} (see '{parser.prog} --help')\n")

    parser.error = error
    return parser


def add_parser(commands, name, help_text, examples=EXAMPLES):
    """A subcommand's parser whose usage mistakes are one line too, pointing at --help."""
    parser = commands.add_parser(
        name,
        help=help_text,
        description=help_text,
        epilog=examples,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return one_line_errors(parser)


def add_threads_option(parser):
    """`--threads N`: how many threads fit/evaluate/predict use (results do not change)."""
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        metavar="N",
        help="threads to run on (default: $STRIATE_NUM_THREADS, else every "
        "core this process may use); the numbers are the same for any N",
    )


def apply_threads_option(args):
    from striate import parallel

    if getattr(args, "threads", None) is not None:
        if not 1 <= args.threads <= MAX_THREADS:
            raise UserError(
                f"--threads must be 1 or more (at most {MAX_THREADS}). Received: {args.threads}"
            )
        parallel.set_num_threads(args.threads)


def parse_ints(text, count, what):
    """'28,28,1' or '28x28x1' as a tuple of `count` positive ints."""
    parts = text.replace("x", ",").split(",")
    try:
        values = tuple(int(part) for part in parts)
    except ValueError:
        values = ()
    if len(values) != count or min(values) < 1:
        example = ",".join(["28", "28", "1"][:count])
        raise UserError(
            f"{what} must be {count} positive integers like {example}. Received: {text!r}"
        )
    from striate.model_schema import MAX_INPUT_VALUES, check_input_shape

    try:
        check_input_shape(values + (1,) * (3 - count), what)
    except ValueError:
        raise UserError(
            f"{what} {text} is too large: over the limit of {MAX_INPUT_VALUES} "
            f"values per image (striate.model_schema.MAX_INPUT_VALUES)"
        ) from None
    return values


# -- datasets -----------------------------------------------------------------------------------
def dataset_module(name):
    """The striate.datasets module of a dataset name (`fashion-mnist` -> fashion_mnist)."""
    from striate.datasets import cifar10, digits, fashion_mnist, mnist

    modules = {"digits": digits, "mnist": mnist, "fashion-mnist": fashion_mnist, "cifar10": cifar10}
    if name not in modules:
        raise UserError(
            f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}, or give "
            f"a folder of images with one subfolder per class"
        )
    return modules[name]


def class_names(name):
    """The class names of a dataset, label order, as its module in striate.datasets gives them."""
    return list(dataset_module(name).CLASS_NAMES)


def load_dataset(name):
    """(x_train, y_train), (x_test, y_test) with a channel axis, as uint8 pixels."""
    (x_train, y_train), (x_test, y_test) = dataset_module(name).load_data()
    if x_train.ndim == 3:
        x_train, x_test = np.expand_dims(x_train, -1), np.expand_dims(x_test, -1)
    return (x_train, y_train.reshape(-1)), (x_test, y_test.reshape(-1))


def is_folder_dataset(name):
    return os.path.isdir(name) or os.sep in name or "/" in name or name.startswith(".")


def load_folder(
    folder,
    image_size,
    color_mode,
    seed,
    subset="both",
    verbose=True,
    split=FOLDER_VALIDATION_SPLIT,
    skip_unreadable=False,
):
    """An image folder as (train, validation) ImageDatasets for subset='both', else one."""
    from striate.datasets.image_folder import load_image_folder

    load_folder_errors(folder)
    split = split if subset else None
    try:
        return load_image_folder(
            folder,
            tuple(image_size),
            color_mode,
            validation_split=split,
            subset=subset,
            seed=seed,
            verbose=verbose,
            on_unreadable="skip" if skip_unreadable else "error",
        )
    except ValueError as error:
        message = str(error).removeprefix("load_image_folder: ")
        raise UserError(message.removeprefix("image_dataset_from_directory: ")) from None


def open_folder(folder, image_size, color_mode, seed, batch_size, skip_unreadable=False):
    """An image folder as lazy (train, validation) datasets of `batch_size` batches, split as
    `load_folder` splits it (the same files for the same seed), decoded batch by batch."""
    from striate.datasets.image_dataset import image_dataset_from_directory

    load_folder_errors(folder)
    try:
        return image_dataset_from_directory(
            folder,
            color_mode=color_mode,
            batch_size=batch_size,
            image_size=tuple(image_size),
            seed=seed,
            validation_split=FOLDER_VALIDATION_SPLIT,
            subset="both",
            on_unreadable="skip" if skip_unreadable else "error",
        )
    except ValueError as error:
        raise UserError(str(error).removeprefix("image_dataset_from_directory: ")) from None


def load_folder_errors(folder):
    """The UserError for a --dataset that is not a folder."""
    if not os.path.isdir(folder):
        raise UserError(
            f"no such folder: {folder}"
            if not os.path.exists(folder)
            else f"{folder} is a file; --dataset takes a dataset name or a folder of "
            f"images with one subfolder per class"
        )


def preprocess(x, preprocessing):
    """uint8 pixels as the model's float32 input: times `scale` (1/255 unless --raw-pixels)."""
    return x.astype(np.float32) * np.float32(preprocessing.get("scale", 1 / 255))


# -- models -------------------------------------------------------------------------------------
def architecture(spec):
    """(build(input_shape, classes), short name) for a zoo name or a Python file's build_model."""
    import importlib.util

    from striate.zoo import MODELS

    if spec in MODELS:
        return MODELS[spec], spec
    looks_like_path = "/" in spec or os.sep in spec or "." in os.path.basename(spec)
    if not looks_like_path and not os.path.exists(spec):
        raise UserError(
            f"unknown model {spec!r}; choose one of {', '.join(sorted(MODELS))}, or "
            f"give a Python file defining build_model(input_shape, classes)"
        )
    if not os.path.isfile(spec):
        raise UserError(f"no such file: {spec}")
    if not spec.endswith(".py"):
        raise UserError(
            f"{spec} is not a Python file; give an architecture name "
            f"({', '.join(sorted(MODELS))}) or a .py file defining "
            f"build_model(input_shape, classes)"
        )
    stem = os.path.splitext(os.path.basename(spec))[0]
    module_spec = importlib.util.spec_from_file_location(f"striate_user_model_{stem}", spec)
    module = importlib.util.module_from_spec(module_spec)
    sys.path.insert(0, os.path.dirname(os.path.abspath(spec)))  # so it can import its neighbours
    try:
        module_spec.loader.exec_module(module)  # the user's own code, run as they asked
    except SyntaxError as error:
        raise UserError(f"{spec}, line {error.lineno}: {error.msg}") from None
    except Exception as error:
        raise UserCodeError(
            user_traceback(error, f"{spec} raised {type(error).__name__} while being imported:")
        ) from None
    finally:
        sys.path.pop(0)
    build = getattr(module, "build_model", None)
    if not callable(build):
        raise UserError(
            f"{spec} does not define build_model(input_shape, classes), the function "
            f"that returns your model"
        )

    try:
        inspect.signature(build).bind((28, 28, 1), 10)
    except TypeError:
        raise UserError(
            f"build_model in {spec} must take (input_shape, classes). Received: "
            f"build_model{inspect.signature(build)}"
        ) from None
    except ValueError:  # no signature to check (a builtin): let the call tell
        pass

    def build_checked(input_shape, classes):
        try:
            model = build(tuple(input_shape), classes)
        except (ValueError, UserError):  # a layer that does not fit: one line, as for the zoo
            raise
        except Exception as error:
            raise UserCodeError(
                user_traceback(error, f"build_model in {spec} raised {type(error).__name__}:")
            ) from None
        if not hasattr(model, "fit") or not hasattr(model, "layers"):
            raise UserError(
                f"build_model in {spec} returned {type(model).__name__}; it must "
                f"return a striate model such as Sequential([...])"
            )
        return model

    return build_checked, stem


def build_model(build, name, input_shape, classes):
    """build(input_shape, classes), with the model's own error as one line."""
    from striate.layers.base import weight_budget

    why = f"the limit of {MAX_MODEL_WEIGHTS} for a model (striate.cli.common.MAX_MODEL_WEIGHTS)"
    try:
        with weight_budget(MAX_MODEL_WEIGHTS, why):
            model = build(input_shape, classes)
            model.build((None,) + tuple(input_shape))
    except MemoryError:
        raise UserError(
            f"model {name!r} for input shape {tuple(input_shape)} needs more memory "
            f"than this process may use"
        ) from None
    except ValueError as error:
        message = str(error)
        if not message.startswith(name):
            message = f"model {name!r} does not fit input shape {tuple(input_shape)}: {message}"
        raise UserError(message) from None
    units = model.output_shape[-1]
    if units != classes:
        raise UserError(
            f"model {name!r} has {units} outputs but the dataset has {classes} "
            f"classes; build_model gets `classes` for the last Dense layer"
        )
    return model


def load_model_file(path):
    """A model file as a Sequential, with its `metadata` dict ({} if the file has none)."""
    from striate.models import load_model
    from striate.saving import ModelFileError

    if not os.path.exists(path):
        raise UserError(f"no such file: {path}")
    try:
        model = load_model(path)
    except ModelFileError as error:
        raise UserError(str(error)) from None
    if not isinstance(getattr(model, "metadata", None), dict):
        model.metadata = {}
    return model


def image_input(model, what):
    """(height, width, channels) of a model taking images, else a UserError naming `what`."""
    from striate.layers.base import format_shape

    shape = model.input_shape[1:]
    if len(shape) != 3 or shape[-1] not in COLOR_BY_CHANNELS:
        raise UserError(
            f"{what}: the model's input {format_shape(model.input_shape)} is not an "
            f"image of 1, 3 or 4 channels (height, width, channels)"
        )
    return shape


def read_image(path, image_size, color_mode, interpolation="bilinear"):
    """One image file as uint8 (height, width, channels), file problems as one line."""
    from striate.datasets.images import load_image

    try:
        return load_image(path, image_size, color_mode, interpolation)
    except FileNotFoundError:
        raise UserError(f"no such file: {path}") from None
    except (ValueError, IsADirectoryError) as error:
        raise UserError(str(error)) from None
