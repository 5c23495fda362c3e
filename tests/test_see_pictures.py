"""striate.see pictures: the numbers drawn come from the model (rendered headless with Agg)."""

import json
import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib")
Image = pytest.importorskip("PIL.Image")

from striate import see
from striate.layers import (
    Activation,
    AveragePooling2D,
    Conv2D,
    Dense,
    Flatten,
    MaxPool2D,
)
from striate.layers.base import reset_names
from striate.models import Sequential
from striate.ops import pool as pool_ops
from striate.ops.conv import conv2d
from striate.see import draw, terminal


def small_model():
    reset_names()
    model = Sequential(
        [
            Conv2D(4, 3, input_shape=(10, 10, 1), activation="relu"),
            MaxPool2D(2),
            Conv2D(3, 2, padding="same"),
            Activation("relu"),
            AveragePooling2D(2, padding="same"),
            Flatten(),
            Dense(5),
            Activation("softmax"),
        ]
    )
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(0, 0.5, w.shape) for w in model.get_weights()])
    return model


def digit(seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (10, 10, 1)).astype(np.float32)


def images_by_label(fig):
    return {ax.get_label(): ax.images[0].get_array() for ax in all_axes(fig) if ax.images}


def all_axes(fig):
    axes = list(fig.axes)
    for sub in getattr(fig, "subfigs", []):
        axes += all_axes(sub)
    return axes


def gif_frames(path):
    with Image.open(path) as image:
        return image.n_frames


# -- the convolution and pooling walkthroughs ----------------------------------------------
def test_article_walkthrough_sums_and_frames(tmp_path):
    walk = see.article_conv_walkthrough()
    assert walk.steps[0].total == 4
    assert walk.steps[0].products.sum() == 4
    expected = conv2d(see.ARTICLE_INPUT[None, ..., None], see.ARTICLE_KERNEL[..., None, None]).data[
        0, ..., 0
    ]
    np.testing.assert_array_equal(walk.output, expected)
    assert [s.total for s in walk.steps] == expected.ravel().tolist()
    assert walk.formulas == ("floor((5 - 3) / 1) + 1 = 3",) * 2
    path = walk.save(tmp_path / "conv.gif")
    assert gif_frames(path) == 9  # one frame per kernel position


def test_stride_and_padding_walkthrough(tmp_path):
    walk = see.article_conv_walkthrough(strides=2, padding="same")
    expected = conv2d(
        see.ARTICLE_INPUT[None, ..., None],
        see.ARTICLE_KERNEL[..., None, None],
        strides=2,
        padding="same",
    ).data[0, ..., 0]
    np.testing.assert_array_equal(walk.output, expected)
    assert walk.pads == ((1, 1), (1, 1)) and walk.padded.shape[:2] == (7, 7)
    assert walk.formulas[0] == "floor((5 + 2 - 3) / 2) + 1 = 3"
    assert len(walk.steps) == 9 and walk.steps[0].corner == (0, 0)
    assert walk.steps[0].values[0].tolist() == [[0], [0], [0]]  # the padding row
    with Image.open(walk.save(tmp_path / "same.png")) as image:
        assert image.format == "PNG"


def test_layer_walkthrough_equals_the_model(tmp_path):
    model = small_model()
    x = digit()
    inspection = model.inspect(x)
    for layer, source in [(0, inspection.input), (2, inspection.layers[1].output)]:
        kernel = model.layers[layer].kernel.data
        for f in range(kernel.shape[-1]):
            walk = see.layer_conv_walkthrough(
                model, layer, x, filter_index=f, positions=[(0, 0), (2, 3)]
            )
            record = inspection.layers[layer]
            pre = record.pre_activation if record.pre_activation is not None else record.output
            np.testing.assert_allclose(walk.output, pre[..., f], rtol=1e-5, atol=1e-6)
            for step in walk.steps:  # sum of the drawn products + bias = the layer's output
                total = step.products.sum() + walk.bias
                assert total == pytest.approx(float(pre[step.position + (f,)]), abs=1e-5)
        assert walk.padded.shape[2] == source.shape[2]
    relu_walk = see.layer_conv_walkthrough(model, "conv2d", x, 1)
    np.testing.assert_allclose(
        relu_walk.activated, inspection.layers[0].output[..., 1], rtol=1e-5, atol=1e-6
    )
    assert len(relu_walk.steps) == 8 * 8
    path = see.layer_conv_walkthrough(model, 2, x, 0, positions=[(1, 1), (1, 2), (3, 3)]).save(
        tmp_path / "layer.gif"
    )
    assert gif_frames(path) == 3
    with pytest.raises(TypeError, match="is not a Conv2D"):
        see.layer_conv_walkthrough(model, 1, x)
    with pytest.raises(ValueError, match=r"position \(4, 4\) is outside the 4x4 output"):
        see.layer_conv_walkthrough(model, 2, x, 0, positions=[(4, 4)])
    with pytest.raises(ValueError, match="has 4 filters"):
        see.layer_conv_walkthrough(model, 0, x, filter_index=4)


@pytest.mark.parametrize("mode, op", [("max", pool_ops.max_pool2d), ("avg", pool_ops.avg_pool2d)])
@pytest.mark.parametrize(
    "size, strides, padding", [(2, None, "valid"), (3, 2, "same"), ((2, 3), 1, "valid")]
)
def test_pool_walkthrough_equals_the_op(mode, op, size, strides, padding):
    x = np.random.default_rng(2).normal(size=(7, 6))
    walk = see.pool_walkthrough(x, size, strides, padding, mode)
    expected = op(x[None, ..., None], size, strides, padding).data[0, ..., 0]
    np.testing.assert_allclose(walk.output, expected, rtol=1e-12)
    assert len(walk.steps) == expected.size
    for step in walk.steps:
        if mode == "max":
            r, c = step.argmax
            assert step.values[r, c, 0] == step.total == np.nanmax(step.values)


def test_pool_frames_and_layer_pool(tmp_path):
    walk = see.pool_walkthrough(see.POOL_EXAMPLE)
    assert walk.output.tolist() == [[6, 8], [3, 4]]
    assert gif_frames(walk.save(tmp_path / "pool.gif")) == 4  # one frame per window
    model = small_model()
    x = digit(3)
    inspection = model.inspect(x)
    for index in (1, 4):
        for channel in range(model.layers[index].output_shape[-1]):
            walk = see.layer_pool_walkthrough(model, index, x, channel)
            np.testing.assert_allclose(
                walk.output, inspection.layers[index].output[..., channel], rtol=1e-5, atol=1e-7
            )
    with pytest.raises(TypeError, match="not a pooling layer"):
        see.layer_pool_walkthrough(model, 0, x)


def test_walkthrough_png_is_one_frame(tmp_path):
    path = see.save(see.article_conv_walkthrough(), tmp_path / "first.png")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size[0] > 400


# -- still pictures -----------------------------------------------------------------------------
def test_feature_map_pixels_are_the_normalized_activations(tmp_path):
    model = small_model()
    x = digit(1)
    inspection = model.inspect(x)
    fig = see.feature_maps(inspection)
    shown = images_by_label(fig)
    for record in inspection.layers:
        if record.spatial:
            for c in range(record.shape[-1]):
                a = record.output[..., c].astype(np.float64)
                expected = (a - a.min()) / (a.max() - a.min()) if a.max() > a.min() else 0 * a
                np.testing.assert_allclose(shown[f"{record.name}/{c}"], expected, atol=1e-12)
        else:
            v = record.output.astype(np.float64)
            np.testing.assert_allclose(
                shown[f"{record.name}/vector"][0], (v - v.min()) / (v.max() - v.min()), atol=1e-12
            )
    np.testing.assert_allclose(shown["input/0"], draw.normalize(x[..., 0]))
    path = see.save(fig, tmp_path / "maps.png")
    with Image.open(path) as image:
        assert image.format == "PNG"


def test_feature_map_png_pixels(tmp_path):
    """Read a rendered map back: a map that is 0 on the left half and 1 on the right is black
    then white in the PNG."""
    reset_names()
    model = Sequential([Conv2D(1, 1, input_shape=(4, 4, 1), use_bias=False)])
    model.set_weights([np.ones((1, 1, 1, 1))])
    x = np.zeros((4, 4, 1))
    x[:, 2:] = 5
    fig = see.feature_maps(model, x, layers=["conv2d"])
    ax = next(a for a in all_axes(fig) if a.get_label() == "conv2d/0")
    path = see.save(fig, tmp_path / "map.png")
    with Image.open(path) as image:
        gray = np.asarray(image.convert("L"), dtype=float)
    box = ax.get_window_extent()
    height = gray.shape[0]
    rows = slice(int(height - (box.y0 + box.y1) / 2), int(height - box.y0) - 3)  # below the label
    left = gray[rows, int(box.x0) + 3 : int((box.x0 + box.x1) / 2) - 3]
    right = gray[rows, int((box.x0 + box.x1) / 2) + 3 : int(box.x1) - 3]
    assert left.max() < 10 and right.min() > 245


def test_filters_show_the_kernels():
    model = small_model()
    name, images = see.filter_images(model)
    kernel = model.layers[0].kernel.data
    assert name == "conv2d" and images.shape == (4, 1, 3, 3)
    for f in range(4):
        np.testing.assert_allclose(images[f, 0], draw.normalize(kernel[:, :, 0, f]))
    shown = images_by_label(see.filters(model))
    assert sorted(shown) == [f"conv2d/{f}" for f in range(4)]
    np.testing.assert_allclose(shown["conv2d/2"], images[2, 0])
    deep = images_by_label(see.filters(model, "conv2d_1"))["conv2d_1/mosaic"]
    kernels = see.filter_images(model, 2)[1]  # (3 filters, 4 input channels, 2, 2)
    assert deep.shape == (3 * 3 - 1, 4 * 3 - 1)
    for f in range(3):  # row f, column c of the mosaic: filter f on input channel c
        for c in range(4):
            np.testing.assert_allclose(deep[3 * f : 3 * f + 2, 3 * c : 3 * c + 2], kernels[f, c])
    assert deep.mask[2].all() and deep.mask[:, 2].all()  # the lines between tiles
    with pytest.raises(TypeError, match="not a Conv2D"):
        see.filters(model, 1)


def test_probabilities_and_saliency_come_from_the_model():
    model = small_model()
    x = digit(4)
    fig = see.probabilities(model, x, true_label=1)
    bars = [p.get_height() for p in all_axes(fig)[1].patches]
    np.testing.assert_allclose(bars, model.predict(x[None], verbose=0)[0], rtol=1e-6)
    inspection = model.inspect(x, class_index=3)
    heat = see.saliency_map(inspection)
    np.testing.assert_array_equal(heat, np.abs(inspection.input_gradient).max(axis=-1))
    shown = images_by_label(see.saliency(inspection))
    np.testing.assert_array_equal(shown["saliency"], heat)
    with pytest.raises(ValueError, match="class_index"):
        see.saliency_map(model.inspect(x))


def test_receptive_field_picture_draws_the_field():
    model = small_model()
    fig = see.receptive_field_picture(model, digit(), 2, (1, 2))
    field = see.receptive_field(model, 2, (1, 2))
    assert tuple(field) == (2, 4, 8, 10)
    rect = all_axes(fig)[0].patches[0]
    assert (rect.get_x(), rect.get_y()) == (field.left - 0.5, field.top - 0.5)
    assert (rect.get_width(), rect.get_height()) == (field.size[1], field.size[0])


def test_history_csv_json_and_curves(tmp_path):
    csv_path = tmp_path / "log.csv"
    csv_path.write_text("epoch,acc,loss,val_acc,val_loss\n0,0.5,1.2,0.4,1.4\n1,0.7,0.8,0.6,1.0\n")
    history = see.load_history(csv_path)
    assert history == {
        "acc": [0.5, 0.7],
        "loss": [1.2, 0.8],
        "val_acc": [0.4, 0.6],
        "val_loss": [1.4, 1.0],
    }
    json_path = tmp_path / "history.json"
    json_path.write_text(json.dumps({"history": history}))
    assert see.load_history(json_path) == history
    fig = see.training_curves(history)
    lines = {line.get_label(): list(line.get_ydata()) for ax in fig.axes for line in ax.lines}
    assert lines == history
    with pytest.raises(ValueError, match="not numeric"):
        see.load_history({"loss": ["a"]})
    with pytest.raises(FileNotFoundError):
        see.load_history(tmp_path / "missing.csv")


def test_confusion_matrix_and_most_confused():
    y_true = [0, 0, 1, 1, 1, 2, 2, 2, 2]
    y_pred = [0, 1, 1, 2, 2, 2, 0, 2, 2]
    matrix = see.confusion_matrix(y_true, y_pred)
    assert matrix.tolist() == [[1, 1, 0], [0, 1, 2], [1, 0, 3]]
    assert see.most_confused(matrix) == [(1, 2, 2), (0, 1, 1), (2, 0, 1)]
    fig = see.confusion_picture(y_true, y_pred)
    np.testing.assert_array_equal(images_by_label(fig)["confusion"], matrix)
    listing = "\n".join(t.get_text() for t in fig.axes[1].texts)
    assert "1 -> 2: 2" in listing


# -- terminal, imports, files ------------------------------------------------------------------
def test_terminal_blocks_follow_the_values():
    text = terminal.blocks(np.array([[0.0, 0.25, 0.5], [0.75, 1.0, 1.0]]))
    assert text.split("\n") == ["··░░▒▒", "▓▓████"]
    colored = terminal.blocks(np.array([[0.0], [1.0]]), color=True)
    assert "38;2;0;0;0m" in colored and "48;2;255;255;255m▀" in colored
    inspection = small_model().inspect(digit())
    text = terminal.feature_maps_text(inspection, max_channels=2)
    assert "conv2d (Conv2D) (8, 8, 4)" in text and "ch 1" in text and "ch 2" not in text
    assert "0.000" not in terminal.bars([0.1, 0.9]).split("\n")[1]


def test_missing_matplotlib_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"pip install 'striate\[see\]'"):
        draw.matplotlib()
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match=r"striate\[see\]"):
        draw.pil_image()


def test_saving_is_atomic_and_checks_the_extension(tmp_path):
    fig = see.training_curves({"loss": [1, 0.5]})
    with pytest.raises(ValueError, match="use .png"):
        see.save(fig, tmp_path / "curves.txt")
    with pytest.raises(ValueError, match="use .gif"):
        see.article_conv_walkthrough().save(tmp_path / "conv.txt")
    with pytest.raises(FileNotFoundError):
        see.save(fig, tmp_path / "no" / "curves.png")
    assert list(tmp_path.iterdir()) == []
