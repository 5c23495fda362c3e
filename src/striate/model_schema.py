"""What a model's `metadata` and input may be: the schema `striate.saving` checks on save and on
load, so that the CLI never trusts a file's claims as they come (types, ranges, finiteness), and
the limits on the sizes a file may make `predict` and `evaluate` allocate.

metadata (every key optional; other keys are the user's own and kept as they are):
    dataset: str; class_names: distinct str, one per output (two for a single sigmoid output);
    preprocessing: {scale: finite number > 0, color_mode: 'grayscale' | 'rgb' | 'rgba',
    image_size: [height, width] matching the input, interpolation: a resize filter name};
    seed: int in [0, 2**32); validation_split: number in (0, 1).
"""

import math
import numbers

MAX_INPUT_VALUES = 2**24  # values in one input sample (4096x4096x1, 2364x2364x3)
MAX_CLASSES = 1_000_000  # class names in metadata
MAX_NAME_LENGTH = 4096  # characters in a class name or a dataset name (a path)


def check_input_shape(shape, where):
    """`shape` (without the batch axis) as a tuple of positive ints within MAX_INPUT_VALUES."""
    shape = tuple(shape)
    if not shape or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in shape):
        raise ValueError(f"{where}: the input shape must be positive ints. Received: {shape!r}")
    values = math.prod(shape)
    if values > MAX_INPUT_VALUES:
        raise ValueError(
            f"{where}: an input of shape {shape} has {values} values, over the limit "
            f"of {MAX_INPUT_VALUES} per sample (MAX_INPUT_VALUES)."
        )
    return shape


def check_metadata(metadata, input_shape, outputs):
    """Raise ValueError naming the first field of `metadata` that is not as the schema says.

    `input_shape` is the model's input without the batch axis; `outputs` its output units."""
    from striate.datasets.images import COLOR_MODES, INTERPOLATIONS

    if not isinstance(metadata, dict):
        raise ValueError(f"metadata must be a JSON object. Received: {_short(metadata)}")
    if "dataset" in metadata:
        _text(metadata["dataset"], "metadata['dataset']")
    if "class_names" in metadata:
        names = metadata["class_names"]
        where = "metadata['class_names']"
        if not isinstance(names, list) or not 0 < len(names) <= MAX_CLASSES:
            raise ValueError(
                f"{where} must be a list of 1 to {MAX_CLASSES} names. Received: {_short(names)}"
            )
        for name in names:
            _text(name, where + " items")
        if len(set(names)) != len(names):
            raise ValueError(f"{where} must be distinct. Received: {_short(names)}")
        if len(names) != outputs and not (outputs == 1 and len(names) == 2):
            raise ValueError(
                f"{where} has {len(names)} names but the model has {outputs} "
                f"outputs. Received: {_short(names)}"
            )
    if "seed" in metadata:
        seed = metadata["seed"]
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
            raise ValueError(
                f"metadata['seed'] must be an int in [0, 2**32). Received: {_short(seed)}"
            )
    if "validation_split" in metadata:
        split = metadata["validation_split"]
        if not _real(split) or not 0 < split < 1:
            raise ValueError(
                f"metadata['validation_split'] must be a number in (0, 1). "
                f"Received: {_short(split)}"
            )
    if "preprocessing" not in metadata:
        return
    pre = metadata["preprocessing"]
    if not isinstance(pre, dict):
        raise ValueError(
            f"metadata['preprocessing'] must be a JSON object. Received: {_short(pre)}"
        )
    where = "metadata['preprocessing']"
    if "scale" in pre and (not _real(pre["scale"]) or not 0 < pre["scale"] < math.inf):
        raise ValueError(
            f"{where}['scale'] must be a finite number > 0. Received: {_short(pre['scale'])}"
        )
    image = len(input_shape) == 3
    if "color_mode" in pre:
        mode = pre["color_mode"]
        if not isinstance(mode, str) or mode not in COLOR_MODES:
            raise ValueError(
                f"{where}['color_mode'] must be one of {sorted(COLOR_MODES)}. "
                f"Received: {_short(mode)}"
            )
        if not image or COLOR_MODES[mode][1] != input_shape[-1]:
            raise ValueError(
                f"{where}['color_mode'] {mode!r} does not fit the model's input "
                f"shape {tuple(input_shape)}."
            )
    if "image_size" in pre:
        size = pre["image_size"]
        if not image or not isinstance(size, (list, tuple)) or list(size) != list(input_shape[:2]):
            expected = list(input_shape[:2]) if image else "no image_size (not an image model)"
            raise ValueError(
                f"{where}['image_size'] must be the model's input size "
                f"{expected}. Received: {_short(size)}"
            )
    if "interpolation" in pre and (
        not isinstance(pre["interpolation"], str) or pre["interpolation"] not in INTERPOLATIONS
    ):
        raise ValueError(
            f"{where}['interpolation'] must be one of {sorted(INTERPOLATIONS)}. "
            f"Received: {_short(pre['interpolation'])}"
        )


def _real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def check_name(value, where):
    """A name a terminal shows: a string of 1 to MAX_NAME_LENGTH printable characters (no control
    characters, so a file cannot move the cursor or recolor the terminal of who reads it)."""
    if (
        not isinstance(value, str)
        or not 0 < len(value) <= MAX_NAME_LENGTH
        or not value.isprintable()
    ):
        raise ValueError(
            f"{where} must be a string of 1 to {MAX_NAME_LENGTH} printable "
            f"characters. Received: {_short(value)}"
        )


_text = check_name


def _short(value):
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
