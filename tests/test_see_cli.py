"""`striate show ...` through a real subprocess, writing files in tmp_path."""

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("sklearn")
Image = pytest.importorskip("PIL.Image")

from striate.cli import main


def show(tmp_path, *args):
    return subprocess.run(
        [sys.executable, "-m", "striate.cli", "show", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def frames(path):
    with Image.open(path) as image:
        return image.format, image.n_frames


@pytest.mark.slow  # subprocess
def test_article_examples_write_gifs(tmp_path):
    done = show(tmp_path, "conv", "--example", "--out", "conv.gif", "--duration", "50")
    assert done.returncode == 0, done.stderr
    assert frames(tmp_path / "conv.gif") == ("GIF", 9)
    assert "9 frames" in done.stdout
    done = show(tmp_path, "pool", "--example", "--mode", "avg", "--out", "pool.gif")
    assert done.returncode == 0, done.stderr
    assert frames(tmp_path / "pool.gif") == ("GIF", 4)


@pytest.mark.slow  # subprocess
def test_model_pictures_from_a_trained_article_model(tmp_path):
    done = show(tmp_path, "maps", "--train-epochs", "1", "--index", "3", "--out", "maps.png")
    assert done.returncode == 0, done.stderr
    assert "wrote maps.png" in done.stdout
    assert "trained 1 epochs on digits" in done.stderr
    assert frames(tmp_path / "maps.png") == ("PNG", 1)
    done = show(
        tmp_path,
        "conv",
        "--train-epochs",
        "0",
        "--layer",
        "conv2d",
        "--filter",
        "3",
        "--max-frames",
        "5",
        "--out",
        "conv.gif",
    )
    assert done.returncode == 0, done.stderr
    assert frames(tmp_path / "conv.gif") == ("GIF", 5)


def test_more_pictures_in_process(tmp_path, monkeypatch, capsys):
    """The same entry point, without a process per picture (faster)."""
    monkeypatch.chdir(tmp_path)
    for args, out in [
        (["probs", "--index", "5"], "probs.png"),
        (["saliency", "--class", "3"], "saliency.png"),
        (["field", "--layer", "2", "--position", "5,7"], "field.png"),
        (["filters"], "filters.png"),
        (["pool", "--position", "2,3", "--channel", "4"], "pool.gif"),
        (
            [
                "conv",
                "--example",
                "--stride",
                "2",
                "--padding",
                "same",
                "--position",
                "1,1",
                "--out",
                "one.gif",
            ],
            "one.gif",
        ),
    ]:
        assert (
            main(
                ["show", *args, "--train-epochs", "0"]
                if "--example" not in args
                else ["show", *args]
            )
            == 0
        )
        assert out in capsys.readouterr().out
    assert frames(tmp_path / "pool.gif") == ("GIF", 1)
    assert frames(tmp_path / "one.gif") == ("GIF", 1)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "field.png",
        "filters.png",
        "one.gif",
        "pool.gif",
        "probs.png",
        "saliency.png",
    ]


@pytest.mark.slow  # subprocess
def test_terminal_and_summary(tmp_path):
    done = show(tmp_path, "maps", "--train-epochs", "0", "--terminal", "--max-channels", "2")
    assert done.returncode == 0, done.stderr
    assert "conv2d (Conv2D) (27, 27, 6)" in done.stdout and "█" in done.stdout
    assert list(tmp_path.iterdir()) == []  # nothing written
    done = show(tmp_path, "summary", "--model", "convnet", "--train-epochs", "0")
    assert done.returncode == 0, done.stderr
    assert "floor((28 - 3) / 1) + 1 = 26" in done.stdout and "2,230,272" in done.stdout


@pytest.mark.slow  # subprocess
def test_confusion(tmp_path):
    done = show(tmp_path, "confusion", "--train-epochs", "1", "--limit", "60", "--out", "c.png")
    assert done.returncode == 0, done.stderr
    assert frames(tmp_path / "c.png") == ("PNG", 1)
    assert "true " in done.stdout and " predicted " in done.stdout  # the most-confused pairs


def test_image_file_input_and_curves_in_process(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    picture = np.zeros((40, 40), np.uint8)
    picture[8:32, 18:23] = 255  # a "1"
    Image.fromarray(picture).save(tmp_path / "one.png")
    assert main(["show", "probs", "--train-epochs", "1", "--image", "one.png", "--terminal"]) == 0
    text = capsys.readouterr().out
    assert text.count("\n") > 28 and " <" in text
    (tmp_path / "log.csv").write_text(
        "epoch,acc,loss,val_acc,val_loss\n0,0.5,1.2,0.4,1.4\n1,0.7,0.8,0.6,1.0\n"
    )
    assert main(["show", "curves", "log.csv", "--out", "curves.png"]) == 0
    assert frames(tmp_path / "curves.png") == ("PNG", 1)


@pytest.mark.slow  # subprocess
def test_user_mistakes_print_one_line(tmp_path):
    done = show(tmp_path, "maps", "--train-epochs", "0", "--index", "9999")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        (
            "striate show: error: --index 9999 is out of range: the digits test split has 360 "
            "images (0..359)"
        )
    ]


@pytest.mark.parametrize(
    "args, message",
    [
        (["curves", "missing.csv"], "no history file at missing.csv"),
        (["maps", "--model", "resnet"], "neither a model file nor one of article, convnet"),
        (["filters", "--train-epochs", "0", "--layer", "flatten"], "is not a Conv2D layer"),
        (["conv", "--example", "--position", "7,7"], "outside the 3x3 output"),
        (
            ["saliency", "--train-epochs", "0", "--class", "12"],
            "class_index must be an int in 0..9",
        ),
        (["maps", "--train-epochs", "0", "--image", "nothing.png"], "no image file at nothing.png"),
        (["curves", "log.csv", "--out", "curves.txt"], "use .png"),
    ],
)
def test_more_mistakes_in_process(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "log.csv").write_text("epoch,loss\n0,1.0\n")
    assert main(["show", *args]) != 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines
    assert lines[0].startswith("striate show: error:")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.csv"]  # nothing half-written


@pytest.mark.slow  # subprocess
def test_a_saved_model_file(tmp_path):
    from striate import zoo

    model = zoo.article((8, 8, 1), 10)
    if not hasattr(model, "save"):
        pytest.skip("model files (striate.saving) are not in this version")
    model.save(tmp_path / "tiny.striate")
    done = show(tmp_path, "maps", "--model", "tiny.striate", "--index", "0", "--out", "m.png")
    assert done.returncode == 0, done.stderr
    assert frames(tmp_path / "m.png") == ("PNG", 1)


def test_show_reports_a_file_that_is_not_a_model_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "fake.striate").write_text("not a model")
    assert main(["show", "maps", "--model", "fake.striate", "--out", "m.png"]) != 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "not a striate model file" in lines[0], lines
    assert lines[0].startswith("striate show: error:")
