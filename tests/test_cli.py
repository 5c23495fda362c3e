"""The `striate` command end to end, in subprocesses: train on the real digits and on an image
folder the test draws, then predict, evaluate and summarize, and every user mistake as one line."""

import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
import pytest

pytest.importorskip("PIL")
pytest.importorskip("sklearn")
from PIL import Image, ImageDraw

from striate import zoo
from striate.datasets import digits
from striate.datasets.digit_photo import mnist_like
from striate.datasets.images import load_image
from striate.layers import Dense
from striate.models import Sequential, load_model

SCALE = np.float32(1 / 255)


def _keeps_metadata():
    model = Sequential([Dense(1, input_shape=(1,))])
    model.metadata = {"class_names": ["a"]}
    path = os.path.join(tempfile.mkdtemp(), "m.striate")
    model.save(path)
    return getattr(load_model(path), "metadata", None) == {"class_names": ["a"]}


needs_metadata = pytest.mark.skipif(
    not _keeps_metadata(), reason="striate.saving does not keep model.metadata yet"
)


def cli(cwd, *args, ok=True):
    result = subprocess.run(
        [sys.executable, "-m", "striate.cli", *map(str, args)],
        cwd=cwd,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if ok:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A folder holding a model trained by `striate train` on the digits, and test images."""
    root = tmp_path_factory.mktemp("cli")
    result = cli(
        root, "train", "--dataset", "digits", "--epochs", 2, "--seed", 0, "--out", "digits.striate"
    )
    (_, _), (x_test, y_test) = digits.load_data()
    for i in range(3):
        Image.fromarray(x_test[i]).save(root / f"digit{i}.png")
    return root, result, x_test[..., None], y_test


@pytest.mark.slow  # train/predict/evaluate subprocess runs
def test_train_shows_progress_and_saves(work):
    root, result, _, _ = work
    assert "Total params: 580" in result.stdout
    assert "Epoch 2/2" in result.stdout and "val_acc" in result.stdout
    assert re.search(
        r"test loss \d\.\d{4} - test acc \d\.\d{4} on 360 digits images", result.stdout
    )
    assert result.stdout.rstrip().endswith("Saved the model to digits.striate")
    assert load_model(root / "digits.striate").input_shape == (None, 8, 8, 1)


@pytest.mark.slow  # train/predict/evaluate subprocess runs
def test_predict_matches_model_predict(work):
    root, _, x_test, _ = work
    model = load_model(root / "digits.striate")
    expected = model.predict(x_test[:3] * SCALE, verbose=0)
    images = [f"digit{i}.png" for i in range(3)]
    found = json.loads(cli(root, "predict", "digits.striate", *images, "--json").stdout)
    assert [item["image"] for item in found] == images
    for item, row in zip(found, expected):
        assert item["probabilities"] == pytest.approx(row.tolist(), rel=1e-5, abs=1e-7)
        assert [t["index"] for t in item["top"]] == np.argsort(-row)[:3].tolist()
        assert [t["class"] for t in item["top"]] == [str(t["index"]) for t in item["top"]]
    table = cli(root, "predict", "digits.striate", "digit0.png", "--top", "2").stdout
    lines = table.splitlines()
    best = int(np.argmax(expected[0]))
    assert lines[0] == "digit0.png" and lines[1].split() == ["rank", "class", "probability"]
    assert lines[2].split() == ["1", str(best), f"{expected[0][best]:.4f}"]
    assert len(lines) == 4


@pytest.mark.slow  # train/predict/evaluate subprocess runs
def test_evaluate_matches_model_evaluate(work):
    root, _, x_test, y_test = work
    model = load_model(root / "digits.striate")
    loss, acc = model.evaluate(x_test * SCALE, y_test, verbose=0)
    out = cli(root, "evaluate", "digits.striate", "--dataset", "digits").stdout
    assert out.strip() == (
        f"loss: {loss:.4f} - acc: {acc:.4f} on 360 images of the digits test split"
    )
    for threads in (1, 3):  # the same numbers on any number of threads
        assert (
            cli(
                root, "evaluate", "digits.striate", "--dataset", "digits", "--threads", threads
            ).stdout
            == out
        )
    found = json.loads(
        cli(root, "evaluate", "digits.striate", "--dataset", "digits", "--json").stdout
    )
    assert found["loss"] == pytest.approx(loss, rel=1e-6) and found["acc"] == acc
    assert found["samples"] == 360


@needs_metadata
@pytest.mark.slow  # train/predict/evaluate subprocess runs
def test_evaluate_defaults_to_the_training_dataset(work):
    root = work[0]
    assert (
        cli(root, "evaluate", "digits.striate").stdout
        == cli(root, "evaluate", "digits.striate", "--dataset", "digits").stdout
    )
    summary = cli(root, "summary", "digits.striate").stdout
    assert "Trained on: digits" in summary and "Classes: 0, 1, 2, 3" in summary


@pytest.mark.slow  # train/predict/evaluate subprocess runs
def test_summary_of_a_file_and_of_architectures(work):
    root = work[0]
    model = load_model(root / "digits.striate")
    assert (
        f"Total params: {model.count_params():,}" in cli(root, "summary", "digits.striate").stdout
    )
    assert "Total params: 61,706" in cli(root, "summary", "lenet5").stdout
    shaped = cli(root, "summary", "lenet5", "--input-shape", "32,32,3", "--classes", 100).stdout
    assert "Total params: 90,776" in shaped and "(None, 100)" in shaped
    assert "Total params: 580" in cli(root, "summary", "article", "--input-shape", "8x8x1").stdout


@pytest.mark.slow  # train/predict/evaluate subprocess runs
def test_train_predict_evaluate_an_image_folder(tmp_path):
    for label, shape in enumerate(["circle", "square"]):
        os.makedirs(tmp_path / "shapes" / shape)
        for i in range(10):
            image = Image.new("RGB", (24, 24), (250, 250, 240))
            box = [3 + i % 4, 4, 18 + i % 4, 19]
            draw = ImageDraw.Draw(image)
            (draw.ellipse if label == 0 else draw.rectangle)(box, fill=(20, 20 * i, 90))
            image.save(tmp_path / "shapes" / shape / f"{i}.png")
    result = cli(
        tmp_path,
        "train",
        "--dataset",
        "shapes",
        "--image-size",
        "16,16",
        "--color-mode",
        "grayscale",
        "--epochs",
        1,
        "--seed",
        3,
    )
    assert (
        "Found 20 files belonging to 2 classes.\nUsing 16 files for training.\n"
        "Using 4 files for validation."
    ) in result.stdout
    assert "validation acc" in result.stdout
    assert "Saved the model to article-shapes.striate" in result.stdout
    model = load_model(tmp_path / "article-shapes.striate")
    assert model.input_shape == (None, 16, 16, 1) and model.output_shape == (None, 2)
    image = tmp_path / "shapes" / "square" / "3.png"
    found = json.loads(cli(tmp_path, "predict", "article-shapes.striate", image, "--json").stdout)
    pixels = load_image(image, (16, 16), "grayscale")[None] * SCALE
    expected = model.predict(pixels, verbose=0)[0]
    assert found[0]["probabilities"] == pytest.approx(expected.tolist(), rel=1e-5, abs=1e-7)
    if _keeps_metadata():
        assert {t["class"] for t in found[0]["top"]} == {"circle", "square"}
        out = cli(tmp_path, "evaluate", "article-shapes.striate").stdout
        assert out.rstrip().endswith(
            f"on 4 images of the validation subset of {tmp_path / 'shapes'}"
        )


@pytest.mark.slow  # train/predict/evaluate subprocess runs
def test_train_a_model_file_and_predict_a_digit_photo(work, tmp_path):
    (tmp_path / "my_net.py").write_text(
        "from striate.layers import Dense, Flatten, Input\n"
        "from striate.models import Sequential\n\n"
        "def build_model(input_shape, classes):\n"
        "    return Sequential([Input(shape=input_shape), Flatten(),\n"
        "                       Dense(classes, activation='softmax')])\n"
    )
    result = cli(
        tmp_path,
        "train",
        "--model",
        "my_net.py",
        "--dataset",
        "digits",
        "--epochs",
        1,
        "--verbose",
        0,
    )
    assert "Saved the model to my_net-digits.striate" in result.stdout
    assert len(load_model(tmp_path / "my_net-digits.striate").layers) == 2

    model = zoo.lenet5()
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    model.save(tmp_path / "lenet.striate")
    photo = Image.new("L", (300, 400), 235)
    ImageDraw.Draw(photo).line([(150, 60), (160, 330)], fill=30, width=18)
    photo.save(tmp_path / "one.jpg")
    found = json.loads(
        cli(tmp_path, "predict", "lenet.striate", "one.jpg", "--digit-photo", "--json").stdout
    )
    pixels = mnist_like(Image.open(tmp_path / "one.jpg"))[None, ..., None] * SCALE
    expected = model.predict(pixels, verbose=0)[0]
    assert found[0]["probabilities"] == pytest.approx(expected.tolist(), rel=1e-5, abs=1e-7)


@pytest.fixture(scope="module")
def mistakes(work):
    root = work[0]
    (root / "notimg.png").write_text("hello")
    (root / "fake.striate").write_text("not a model")
    (root / "nobuild.py").write_text("x = 1\n")
    (root / "broken.py").write_text("def build_model(:\n")
    os.makedirs(root / "empty_folder", exist_ok=True)
    Sequential([Dense(3, input_shape=(64,))]).save(root / "dense.striate")
    data = (root / "digit0.png").read_bytes()
    (root / "cut.png").write_bytes(data[: len(data) // 2])
    return root


# One subprocess each (~0.5 s): four stay in the quick tier, the rest run in the full suite.
SLOW = pytest.mark.slow


@pytest.mark.parametrize(
    "args, expected",
    [
        (["train", "--dataset", "nope"], "unknown dataset 'nope'"),
        pytest.param(
            ["train", "--dataset", "no_such_folder/"], "no such folder: no_such_folder/", marks=SLOW
        ),
        pytest.param(["train", "--dataset", "empty_folder"], "has no class subfolders", marks=SLOW),
        pytest.param(
            ["train", "--model", "nope"],
            "unknown model 'nope'; choose one of article, convnet",
            marks=SLOW,
        ),
        pytest.param(["train", "--model", "missing.py"], "no such file: missing.py", marks=SLOW),
        pytest.param(
            ["train", "--model", "nobuild.py", "--dataset", "digits"],
            "does not define build_model",
            marks=SLOW,
        ),
        pytest.param(
            ["train", "--model", "broken.py", "--dataset", "digits"],
            "broken.py, line 1",
            marks=SLOW,
        ),
        pytest.param(
            ["train", "--model", "lenet5", "--dataset", "digits"], "at least 12x12", marks=SLOW
        ),
        pytest.param(
            ["train", "--dataset", "digits", "--out", "nodir/m.striate"],
            "does not exist",
            marks=SLOW,
        ),
        pytest.param(
            ["train", "--dataset", "digits", "--image-size", "9,9"],
            "are for image folders",
            marks=SLOW,
        ),
        pytest.param(["train", "--epochs", "x"], "invalid int value: 'x'", marks=SLOW),
        (["predict", "missing.striate", "digit0.png"], "no such file: missing.striate"),
        pytest.param(
            ["predict", "fake.striate", "digit0.png"], "not a striate model file", marks=SLOW
        ),
        pytest.param(
            ["predict", "digits.striate", "missing.png"], "no such file: missing.png", marks=SLOW
        ),
        pytest.param(
            ["predict", "digits.striate", "notimg.png"], "notimg.png is not an image", marks=SLOW
        ),
        pytest.param(
            ["predict", "digits.striate", "cut.png"], "cannot read image cut.png", marks=SLOW
        ),
        pytest.param(
            ["predict", "dense.striate", "digit0.png"],
            "input (None, 64) is not an image",
            marks=SLOW,
        ),
        pytest.param(
            ["predict", "digits.striate", "digit0.png", "--digit-photo"],
            "takes 8x8x1 images",
            marks=SLOW,
        ),
        pytest.param(
            ["predict", "digits.striate", "digit0.png", "--top", "0"],
            "--top must be 1 or more",
            marks=SLOW,
        ),
        pytest.param(["predict", "digits.striate"], "required: IMAGE", marks=SLOW),
        pytest.param(
            ["evaluate", "digits.striate", "--dataset", "nope"],
            "unknown dataset 'nope'",
            marks=SLOW,
        ),
        (["evaluate", "fake.striate"], "not a striate model file"),
        (["summary", "nope"], "unknown model 'nope'"),
        pytest.param(["summary", "missing.striate"], "no such file: missing.striate", marks=SLOW),
        pytest.param(
            ["summary", "lenet5", "--input-shape", "28,28"],
            "3 positive integers like 28,28,1",
            marks=SLOW,
        ),
        pytest.param(["summary", "lenet5", "--input-shape", "8,8,1"], "at least 12x12", marks=SLOW),
        pytest.param(
            ["train", "--dataset", "digits", "--threads", "0"],
            "--threads must be 1 or more",
            marks=SLOW,
        ),
    ],
)
def test_user_mistakes_are_one_line(mistakes, args, expected):
    result = cli(mistakes, *args, ok=False)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"striate {args[0]}: error: ")
    assert expected in lines[0]


@pytest.mark.parametrize(
    "command",
    ["train", *(pytest.param(c, marks=SLOW) for c in ("predict", "evaluate", "summary"))],
)
def test_help_has_examples(command, tmp_path):
    out = cli(tmp_path, command, "--help").stdout
    assert "examples:" in out and f"striate {command} " in out


def test_one_model_file_loader_for_every_subcommand(tmp_path):
    from striate.cli import common, show_session

    (tmp_path / "fake.striate").write_text("not a model")
    with pytest.raises(common.UserError, match=r"^no such file: .*missing\.striate$"):
        common.load_model_file(str(tmp_path / "missing.striate"))
    with pytest.raises(common.UserError, match="not a striate model file"):
        common.load_model_file(str(tmp_path / "fake.striate"))
    Sequential([Dense(3, input_shape=(4,))]).save(tmp_path / "m.striate")
    assert common.load_model_file(str(tmp_path / "m.striate")).metadata == {}
    assert show_session.load_model_file is common.load_model_file  # `show` loads the same way
