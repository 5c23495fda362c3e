"""Seeing inside functional models: every layer call's output and gradient, checked against
independent oracles (the same graph cut at that tensor, and float64 finite differences)."""

import numpy as np
import pytest

import striate
from striate import backend, layers


@pytest.fixture
def float64():
    previous = backend.floatx()
    backend.set_floatx("float64")
    yield
    backend.set_floatx(previous)


def residual(end_with_activation=False, channels=2):
    inputs = striate.Input(shape=(6, 6, channels), name="img")
    x = layers.Conv2D(3, 3, padding="same", activation="relu", name="conv")(inputs)
    skip = layers.Conv2D(3, 1, name="skip")(inputs)
    x = layers.add([x, skip], name="add")
    x = layers.concatenate([x, inputs], name="concat")
    x = layers.MaxPooling2D(2, name="pool")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    if end_with_activation:
        x = layers.Dense(4, name="logits")(x)
        outputs = layers.Activation("softmax", name="probs")(x)
    else:
        outputs = layers.Dense(4, activation="softmax", name="probs")(x)
    model = striate.Model(inputs, outputs, name="residual")
    rng = np.random.default_rng(3)
    model.set_weights([rng.normal(0, 0.7, w.shape) for w in model.get_weights()])
    return model, inputs


def test_each_record_is_the_output_of_the_graph_cut_at_that_layer():
    model, inputs = residual()
    x = np.random.default_rng(0).random((6, 6, 2)).astype("float32")
    result = model.inspect(x)
    names = [record.name for record in result.layers]
    assert names == ["conv", "skip", "add", "concat", "pool", "gap", "probs"]
    for record in result.layers:
        layer = model.get_layer(record.name)
        assert model.layers[record.index] is layer
        cut = striate.Model(inputs, layer._inbound_nodes[0].outputs[0])
        np.testing.assert_allclose(record.output, cut.predict(x[None], verbose=0)[0], rtol=1e-6)
    assert result.layer("conv").pre_activation is not None  # before its relu


@pytest.mark.parametrize("end_with_activation", [False, True])
def test_input_gradient_is_the_logits_derivative_by_finite_differences(
    float64, end_with_activation
):
    model, _ = residual(end_with_activation)
    x = np.random.default_rng(1).random((6, 6, 2))
    result = model.inspect(x, class_index=2)
    logits_model = striate.Model(model.inputs[0], model.get_layer("gap").output)
    kernel, bias = model.get_layer("logits" if end_with_activation else "probs").get_weights()

    def logit(image):
        return float((logits_model.predict(image[None], verbose=0) @ kernel + bias)[0, 2])

    assert result.score == pytest.approx(logit(x), rel=1e-12)
    h, numeric = 1e-6, np.zeros_like(x)
    for index in np.ndindex(x.shape):
        bump = np.zeros_like(x)
        bump[index] = h
        numeric[index] = (logit(x + bump) - logit(x - bump)) / (2 * h)
    np.testing.assert_allclose(result.input_gradient, numeric, rtol=1e-6, atol=1e-9)
    # the residual's two branches both feed the input: each record has its gradient
    assert all(record.gradient is not None for record in result.layers[:-1])


def test_a_subclassed_model_is_refused_with_a_reason():
    class Net(striate.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    model = Net()
    model.build((None, 3))
    with pytest.raises(ValueError, match=r"is a subclassed model: its calls are Python code"):
        model.inspect(np.zeros(3))


def test_receptive_field_of_a_residual_graph_is_the_box_of_pixels_that_move_the_unit(float64):
    from striate.see import layer_fields, receptive_field

    inputs = striate.Input(shape=(11, 11, 1))
    a = layers.Conv2D(2, 3, strides=2, padding="same", name="a")(inputs)
    a = layers.Conv2D(2, 3, padding="same", name="b")(a)
    skip = layers.Conv2D(2, 1, strides=2, name="skip")(inputs)
    out = layers.add([a, skip], name="join")
    out = layers.Conv2D(1, 2, name="last")(out)
    model = striate.Model(inputs, out)
    rng = np.random.default_rng(0)
    model.set_weights([rng.uniform(0.5, 1.5, w.shape) for w in model.get_weights()])
    x = rng.random((1, 11, 11, 1))
    base = model.predict(x, verbose=0)
    for position in [(0, 0), (2, 3), (4, 4)]:
        moved = np.zeros((11, 11), bool)
        for pixel in np.ndindex(11, 11):
            bumped = x.copy()
            bumped[(0, *pixel, 0)] += 1.0
            moved[pixel] = (
                model.predict(bumped, verbose=0)[(0, *position, 0)] != base[(0, *position, 0)]
            )
        rows, cols = np.nonzero(moved)
        expected = (rows.min(), cols.min(), rows.max() + 1, cols.max() + 1)
        assert tuple(receptive_field(model, "last", position)) == expected, position
    sizes = {f.name: f.size for f in layer_fields(model)}
    assert sizes["skip"] == (1, 1) and sizes["a"] == (3, 3) and sizes["b"] == (7, 7)
    assert sizes["join"] == (7, 7) and sizes["last"] == (9, 9)  # 7 + (2 - 1) * jump 2


def test_walkthroughs_of_a_layer_inside_a_graph_read_that_layers_own_input():
    from striate.see.walk import layer_conv_walkthrough, layer_pool_walkthrough

    model, _ = residual()
    x = np.random.default_rng(2).random((6, 6, 2)).astype("float32")
    inspection = model.inspect(x)
    walk = layer_conv_walkthrough(model, "skip", x, filter_index=1)
    np.testing.assert_allclose(walk.output, inspection.layer("skip").output[..., 1], rtol=1e-5)
    pool = layer_pool_walkthrough(model, "pool", x, channel=4)  # a channel from the concat
    np.testing.assert_allclose(pool.output, inspection.layer("pool").output[..., 4], rtol=1e-6)


def test_the_show_command_draws_a_functional_model_file(tmp_path, monkeypatch, capsys):
    pytest.importorskip("matplotlib")
    from PIL import Image

    from striate.cli import main

    model, _ = residual(channels=1)
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.save(tmp_path / "residual.striate")
    image = (np.random.default_rng(4).random((6, 6)) * 255).astype("uint8")
    Image.fromarray(image).save(tmp_path / "x.png")
    monkeypatch.chdir(tmp_path)
    for args in (
        ["maps"],
        ["field", "--layer", "pool", "--position", "1,2"],
        ["conv", "--layer", "skip", "--position", "1,1"],
        ["pool", "--layer", "pool", "--position", "0,0"],
        ["saliency"],
        ["filters", "--layer", "conv"],
    ):
        out = f"{args[0]}.{'gif' if args[0] in ('conv', 'pool') else 'png'}"
        command = ["show", *args, "--model", "residual.striate", "--image", "x.png", "--out", out]
        if args[0] == "filters":
            command.remove("--image"), command.remove("x.png")
        assert main(command) == 0, args
        assert out in capsys.readouterr().out
    assert main(["show", "summary", "--model", "residual.striate"]) == 0
    assert "add of its inputs -> (6, 6, 3)" in capsys.readouterr().out  # conv + skip
