"""Hostile command lines, images and user code: each `striate` run ends with one clear error line
(plus the user's own traceback frames for errors in the user's code) and a non-zero status, under
a 1 GiB address-space limit; never a striate traceback, a silent NaN or a memory blow-up."""

import os
import re
import warnings

import numpy as np
import pytest
from hostile import cli_outcomes, png_header
from PIL import Image

from striate.layers import Conv2D, Dense, Flatten
from striate.layers.base import reset_names
from striate.models import Sequential

USER_CODE = {
    "raises_at_import.py": "import os\n\nraise RuntimeError('no GPU here')\n",
    "build_raises.py": (
        "def build_model(input_shape, classes):\n    return helper()\n\n\n"
        "def helper():\n    raise KeyError('oops')\n"
    ),
    "noargs.py": "def build_model():\n    pass\n",
    "syntax.py": "x = 1\ny = (2 +\nprint(x)\n",
    "script_raises.py": "from striate.layers import Dense\n\nDense(units=-1)\n",
    "nul.py": "x = 1\0\n",
}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile_cli")
    reset_names()
    model = Sequential(
        [Conv2D(2, 3, input_shape=(6, 6, 1)), Flatten(), Dense(3, activation="softmax")]
    )
    model.metadata = {
        "dataset": "digits",
        "class_names": ["a", "b", "c"],
        "preprocessing": {"scale": 1 / 255, "color_mode": "grayscale", "image_size": [6, 6]},
    }
    model.save(root / "six.striate")
    Sequential([Flatten(input_shape=(28, 28, 1)), Dense(10, activation="softmax")]).save(
        root / "mnist.striate"
    )
    (root / "bomb.png").write_bytes(png_header(13000, 13000))
    Image.fromarray(np.full((6, 6), np.nan, np.float32)).save(root / "nan.png", format="TIFF")
    Image.fromarray(np.full((6, 6), 200, np.uint8)).save(root / "ok.png")
    for name in ("a", "b", "c"):
        os.makedirs(root / "nanfolder" / name)
        Image.fromarray(np.full((6, 6), 9, np.uint8)).save(root / "nanfolder" / name / "1.png")
    (root / "nanfolder" / "b" / "2.png").write_bytes((root / "nan.png").read_bytes())
    for name in ("a", "b", "c"):
        os.makedirs(root / "okfolder" / name)
        Image.fromarray(np.full((6, 6), 250, np.uint8)).save(root / "okfolder" / name / "1.png")
    model.set_weights([np.full_like(w, 3e38) for w in model.get_weights()])
    model.save(root / "overflow.striate")  # finite weights whose outputs overflow
    for name, text in USER_CODE.items():
        (root / name).write_text(text)
    for name in ("a\nb", "c"):
        os.makedirs(root / "newline" / name)
        for i in range(5):
            Image.fromarray(np.full((6, 6), i, np.uint8)).save(root / "newline" / name / f"{i}.png")
    (root / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (root / "binary.csv").write_bytes(bytes(range(128, 256)) * 100)
    (root / "ints.json").write_text("[1, 2]")
    (root / "text.csv").write_text("epoch,loss\n0,abc\n")
    with open(root / "huge.csv", "wb") as file:  # sparse: 65 MB that take no disk
        file.truncate(65 * 2**20)
    return root


EXAMPLE = ["show", "conv", "--example", "--out", "x.gif"]
# (case, command line, what the one error line says); each exits non-zero
ONE_LINE = [
    (
        "summary huge input",
        ["summary", "lenet5", "--input-shape", "100000,100000,3"],
        "--input-shape 100000,100000,3 is too large: over the limit of 16777216",
    ),
    ("summary classes 0", ["summary", "lenet5", "--classes", "0"], "must be from 1 to 1000000"),
    ("summary classes huge", ["summary", "lenet5", "--classes", "1000000000"], "from 1 to"),
    ("stride 0", EXAMPLE + ["--stride", "0"], "--stride: must be from 1 to 16. Received: 0"),
    ("stride negative", EXAMPLE + ["--stride", "-2"], "--stride: must be from 1 to 16"),
    ("duration negative", EXAMPLE + ["--duration", "-5"], "--duration: must be from 10 to 65535"),
    ("duration zero", EXAMPLE + ["--duration", "0"], "--duration: must be from 10"),
    ("max-frames 0", ["show", "pool", "--example", "--max-frames", "0"], "--max-frames: must be"),
    ("channel negative", EXAMPLE + ["--channel", "-1"], "--channel: must be 0 or more"),
    ("field channel negative", ["show", "field", "--channel", "-1"], "--channel: must be 0 or"),
    ("position negative", EXAMPLE + ["--position=-1,2"], "ROW and COL must be 0 or more"),
    ("index negative", ["show", "maps", "--index", "-1"], "--index: must be 0 or more"),
    ("size 0", ["show", "maps", "--size", "0"], "--size: must be from 1 to 1024"),
    ("size huge", ["show", "maps", "--size", "100000"], "--size: must be from 1 to 1024"),
    ("seed negative", ["show", "maps", "--seed", "-1"], "--seed: must be from 0 to 4294967295"),
    ("train-epochs negative", ["show", "maps", "--train-epochs", "-1"], "--train-epochs: must"),
    ("max-channels 0", ["show", "maps", "--max-channels", "0"], "--max-channels: must be"),
    ("filter negative", ["show", "conv", "--filter", "-3"], "--filter: must be 0 or more"),
    ("limit 0", ["show", "confusion", "--limit", "0"], "--limit: must be 1 or more"),
    ("train epochs negative", ["train", "--epochs", "-1"], "--epochs: must be 0 or more"),
    ("train batch 0", ["train", "--batch-size", "0"], "--batch-size: must be 1 or more"),
    ("train seed negative", ["train", "--seed", "-1"], "--seed: must be from 0 to 4294967295"),
    ("train seed huge", ["train", "--seed", str(2**40)], "--seed: must be from 0 to"),
    ("evaluate batch 0", ["evaluate", "six.striate", "--batch-size", "0"], "--batch-size: must"),
    ("predict top 0", ["predict", "six.striate", "ok.png", "--top", "0"], "--top must be 1"),
    ("threads 0", ["predict", "six.striate", "ok.png", "--threads", "0"], "--threads must be 1"),
    ("threads huge", ["predict", "six.striate", "ok.png", "--threads", "100000"], "at most 1024"),
    (
        "evaluate overflow",
        ["evaluate", "overflow.striate", "--dataset", "okfolder"],
        "on okfolder is not finite: the model's outputs overflow or are NaN",
    ),
    ("history too deep", ["show", "curves", "deep.json"], "deep.json is not valid JSON"),
    ("history binary", ["show", "curves", "binary.csv"], "binary.csv is not a text file"),
    ("history list of ints", ["show", "curves", "ints.json"], "one dict per epoch"),
    ("history text", ["show", "curves", "text.csv"], "the column 'loss' is not numeric"),
    (
        "history huge",
        ["show", "curves", "huge.csv"],
        "huge.csv holds 68157440 bytes, over the limit of 67108864",
    ),
    (
        "predict overflow",
        ["predict", "overflow.striate", "ok.png"],
        "the outputs of overflow.striate for ok.png are not finite",
    ),
    (
        "conv channel out of range",
        [
            "show",
            "conv",
            "--model",
            "six.striate",
            "--channel",
            "5",
            "--out",
            "x.gif",
            "--position",
            "0,0",
        ],
        "has 1 channels. Received: channel=5",
    ),
    (
        "field channel out of range",
        ["show", "field", "--model", "six.striate", "--channel", "9", "--out", "x.png"],
        "has 2 channels. Received: channel=9",
    ),
    (
        "maps bomb",
        ["show", "maps", "--model", "six.striate", "--image", "bomb.png", "--terminal"],
        "bomb.png is 13000x13000 = 169000000 pixels, over the limit",
    ),
    ("predict bomb", ["predict", "six.striate", "bomb.png"], "over the limit of 67108864"),
    (
        "digit photo bomb",
        ["predict", "mnist.striate", "bomb.png", "--digit-photo"],
        "MAX_IMAGE_PIXELS",
    ),
    ("predict nan image", ["predict", "six.striate", "nan.png"], "nan.png: the image holds NaN"),
    (
        "evaluate nan folder",
        ["evaluate", "six.striate", "--dataset", "nanfolder"],
        "2.png: the image holds NaN or infinite pixel values",
    ),
    (
        "class folder with a newline",
        ["train", "--dataset", "newline", "--image-size", "6,6", "--seed", "1"],
        "(so nothing was trained): metadata",
    ),
    (
        "model .py without args",
        ["train", "--model", "noargs.py", "--dataset", "digits"],
        "build_model in noargs.py must take (input_shape, classes). Received: build_model()",
    ),
]
# (case, command line, the user's file and line shown, the error's last line)
USER_ERRORS = [
    (
        "model .py raises at import",
        ["train", "--model", "raises_at_import.py", "--dataset", "digits"],
        'raises_at_import.py", line 3',
        "RuntimeError: no GPU here",
    ),
    (
        "build_model raises",
        ["train", "--model", "build_raises.py", "--dataset", "digits"],
        'build_raises.py", line 6, in helper',
        "KeyError: 'oops'",
    ),
    (
        "summary build_model raises",
        ["summary", "build_raises.py"],
        'build_raises.py", line 2, in build_model',
        "KeyError: 'oops'",
    ),
    (
        "run syntax error",
        ["run", "syntax.py"],
        'syntax.py", line 2',
        "SyntaxError: '(' was never closed",
    ),
    (
        "run script raises",
        ["run", "script_raises.py"],
        'script_raises.py", line 3',
        "units must be a positive int. Received: units=-1",
    ),
    (
        "run a file with a nul",
        ["run", "nul.py"],
        "nul.py has a syntax error",
        "SyntaxError: source code string cannot contain null bytes",
    ),
]


@pytest.mark.slow  # ~45 command lines in one limited subprocess (~3 s)
def test_every_hostile_command_line_ends_in_one_clear_line(root):
    cases = {case: args for case, args, _ in ONE_LINE}
    cases.update({case: args for case, args, _, _ in USER_ERRORS})
    outcomes = cli_outcomes(cases, root)
    wrong = []
    for case, args, expected in ONE_LINE:
        status, lines = outcomes[case]["status"], outcomes[case]["stderr"].strip().splitlines()
        if (
            status in (0, None)
            or len(lines) != 1
            or expected not in lines[0]
            or not lines[0].startswith(f"striate {args[0]}")
        ):
            wrong.append((case, status, outcomes[case]["stderr"]))
    for case, _, frame, last in USER_ERRORS:
        status, text = outcomes[case]["status"], outcomes[case]["stderr"]
        frames = re.findall(r'File "([^"]+)"', text)
        striate_frames = [f for f in frames if f"{os.sep}striate{os.sep}" in f]
        if (
            status != 1
            or frame not in text
            or not text.strip().splitlines()[-1].endswith(last)
            or striate_frames
        ):
            wrong.append((case, status, text))
    assert not wrong, "\n\n".join(map(str, wrong))
    syntax = outcomes["run syntax error"]["stderr"]
    assert "    y = (2 +\n        ^\n" in syntax  # the line and the caret, as Python shows them


def test_an_unreadable_class_folder_fails_or_is_skipped_with_a_warning(root, monkeypatch):
    from striate.datasets import image_folder as images

    walk = os.walk

    def walk_failing_on_b(top, onerror=None, **kwargs):
        if top.endswith(os.sep + "b") and onerror is not None:
            error = PermissionError(13, "Permission denied")
            error.filename = top
            onerror(error)
            return iter(())
        return walk(top, onerror=onerror, **kwargs)

    monkeypatch.setattr(images.os, "walk", walk_failing_on_b)
    folder = str(root / "nanfolder")
    with pytest.raises(
        ValueError,
        match=r"cannot list the folder .*nanfolder/b \(Permission "
        r"denied\).*on_unreadable='skip'",
    ):
        images.load_image_folder(folder, (6, 6), "grayscale", verbose=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = images.load_image_folder(
            folder, (6, 6), "grayscale", verbose=False, shuffle=False, on_unreadable="skip"
        )
    assert any("nanfolder/b" in str(w.message) and "skipped" in str(w.message) for w in caught)
    assert data.class_names == ["a", "b", "c"] and sorted(data.y.tolist()) == [0, 2]


def test_an_unreadable_image_is_skipped_with_a_warning_that_names_it(root):
    from striate.datasets import image_folder as images

    with pytest.warns(UserWarning, match=r"nanfolder/b/2.png: the image holds NaN.*skipped"):
        data = images.load_image_folder(
            root / "nanfolder",
            (6, 6),
            "grayscale",
            shuffle=False,
            verbose=False,
            on_unreadable="skip",
        )
    assert len(data.x) == 3 and not any(p.endswith("2.png") for p in data.file_paths)


def test_image_sizes_past_the_pixel_limit_are_refused_before_allocating(root):
    from striate.datasets import image_folder, images

    with pytest.raises(ValueError, match=r"image_size \(60000, 60000\) is over the limit"):
        images.load_image(root / "ok.png", (60000, 60000))
    with pytest.raises(ValueError, match="MAX_IMAGE_PIXELS"):
        image_folder.load_image_folder(root / "okfolder", (2**20, 2**20), verbose=False)


def test_batch_norm_refuses_non_finite_hyperparameters():
    from striate.layers import BatchNormalization

    for epsilon in (float("nan"), float("inf"), 1e300, -1e-3, 0, "1e-3", None, True):
        with pytest.raises(ValueError, match="finite epsilon > 0"):
            BatchNormalization(epsilon=epsilon)
    for momentum in (float("nan"), float("inf"), 1.0, "0.9"):
        with pytest.raises(ValueError, match="momentum"):
            BatchNormalization(momentum=momentum)


def test_absurd_layer_sizes_are_value_errors_not_overflow_or_memory_errors():
    for make in (
        lambda: Dense(10**3999),
        lambda: Conv2D(2**40, 3),
        lambda: Dense(10**9).build_for((None, 10**6)),
        lambda: Conv2D(2**16, 2**10).build_for((None, 2**10, 2**10, 3)),
    ):
        with pytest.raises(ValueError, match="MAX_WEIGHT_VALUES"):
            make()
