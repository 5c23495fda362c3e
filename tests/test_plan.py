"""Sequential's execution plan (striate.models.plan): the rewritten steps give the outputs and
gradients of running the layers one by one, within float rounding (the fused op's GEMMs have other
heights: tests/rounding.py), and the plan follows changes to the model."""

import numpy as np
import pytest
from rounding import assert_equal_within_rounding

from striate import zoo
from striate.layers import Activation, Conv2D, Dense, Flatten, Input, MaxPool2D
from striate.models import Sequential
from striate.models.plan import describe, execution_plan, layers_in_block_order
from striate.tensor import Tensor


def one_by_one(model, x, training=False):
    """The layers one by one; a Conv2D that the plan fuses with its pooling sums its kernel
    gradient in the same (block) pixel order as the fused op."""
    blocks = layers_in_block_order(model._execution_plan())
    out = x
    for layer in model.layers:
        options = {"pixel_order": "blocks"} if layer in blocks else {}
        out = layer.call(out, training=training, **options)
    return out


def outputs_and_gradients(model, run, x, g):
    """(output, input gradient, every weight gradient) for upstream gradient g."""
    for weight in model.weights:
        weight.grad = None
    inputs = Tensor(x.copy(), requires_grad=True)
    out = run(model, inputs)
    out.backward(g)
    return [out.data, inputs.grad] + [weight.grad for weight in model.trainable_weights]


def plan_call(model, x):
    return model.call(x)


MODELS = {
    # Conv2D -> Activation('relu') -> 2x2 pool: fused conv + pool, then the ReLU (27x27 conv).
    "article": lambda shape: zoo.article(shape),
    # Conv2D(relu) -> 2x2 pool twice: fused, with a 3x3 conv taking an input gradient.
    "convnet": lambda shape: Sequential(
        [
            Input(shape=shape),
            Conv2D(8, 3, activation="relu"),
            MaxPool2D(2),
            Conv2D(16, 3, activation="relu"),
            MaxPool2D(2),
            Flatten(),
            Dense(5),
        ]
    ),
    # A linear conv before the pool (no ReLU), and a 'same' conv.
    "linear": lambda shape: Sequential(
        [Input(shape=shape), Conv2D(4, 3, padding="same"), MaxPool2D(2), Flatten(), Dense(3)]
    ),
    # The ReLU moves after pools that are not fused: 3x3 windows, stride 1, 'same' padding.
    "moved": lambda shape: Sequential(
        [
            Input(shape=shape),
            Conv2D(4, 2, activation="relu"),
            MaxPool2D(3, strides=1),
            Activation("relu"),
            MaxPool2D(2, padding="same"),
            Flatten(),
            Dense(3),
        ]
    ),
}


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_plan_equals_layers_one_by_one_within_rounding(name, dtype):
    rng = np.random.default_rng(0)
    shape = (11, 12, 2) if name != "article" else (28, 28, 1)
    model = MODELS[name](shape)
    for layer in model.layers:
        layer.dtype = dtype
    model.build((None,) + shape)
    for weight in model.weights:
        weight.data = rng.standard_normal(weight.data.shape).astype(dtype)
    # Small integers, many of them zero: tied maxima and windows whose max is <= 0 everywhere.
    x = rng.integers(-2, 3, (4,) + shape).astype(dtype)
    model.call(Tensor(x))  # builds the plan
    g = rng.standard_normal(model.call(Tensor(x)).shape).astype(dtype)
    fused = outputs_and_gradients(model, plan_call, x, g)
    unfused = outputs_and_gradients(model, one_by_one, x, g)
    assert len(fused) == len(unfused) == 2 + len(model.trainable_weights)
    for what, got, want in zip(
        ["output", "input gradient", *model.trainable_weights], fused, unfused
    ):
        assert_equal_within_rounding(got, want, what=str(what))


def test_plans_of_the_zoo_models():
    article = zoo.article()
    conv, relu, pool, flatten, dense, softmax = (layer.name for layer in article.layers)
    assert describe(article._execution_plan()) == [
        f"{conv} + {relu} + {pool}, relu",
        flatten,
        dense,
        softmax,
    ]
    convnet = zoo.convnet()
    conv1, pool1, conv2, pool2, flatten, dropout, dense = (layer.name for layer in convnet.layers)
    assert describe(convnet._execution_plan()) == [
        f"{conv1} + {pool1}, relu",
        f"{conv2} + {pool2}, relu",
        flatten,
        dropout,
        dense,
    ]
    lenet = zoo.lenet5()  # average pooling: nothing to rewrite
    assert describe(lenet._execution_plan()) == [layer.name for layer in lenet.layers]


def test_plan_follows_changes_to_the_model():
    model = Sequential(
        [
            Input(shape=(8, 8, 1)),
            Conv2D(2, 3, activation="relu", name="c"),
            MaxPool2D(2, name="p"),
            Flatten(name="f"),
        ]
    )
    x = np.ones((1, 8, 8, 1), np.float32)
    model(x)
    assert describe(model._execution_plan()) == ["c + p, relu", "f"]
    assert layers_in_block_order(model._execution_plan()) == [model.layers[0]]
    model.layers[0].activation = Activation("tanh").activation
    assert describe(model._execution_plan()) == ["c", "p", "f"]  # tanh: no fusion
    assert layers_in_block_order(model._execution_plan()) == []
    model.pop()
    model.pop()
    assert describe(model._execution_plan()) == ["c"]
    model.add(Flatten(name="g"))
    assert describe(model._execution_plan()) == ["c", "g"]


def test_inspect_still_sees_each_layer_output():
    rng = np.random.default_rng(1)
    model = zoo.article()
    x = rng.integers(0, 255, (28, 28, 1)).astype(np.float32)
    model.predict(x[None], verbose=0)  # the plan is built and used
    inspection = model.inspect(x)
    out = Tensor(x[None])
    for record, layer in zip(inspection.layers, model.layers):
        out = layer.call(out)
        np.testing.assert_array_equal(record.output, out.data[0])
    assert inspection.layers[1].output.shape == (27, 27, 6)  # the ReLU before pooling


def test_the_plan_never_changes_a_layer():
    model = zoo.article()
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    before = [dict(vars(layer)) for layer in model.layers]
    for _ in range(2):
        for loss in (None, model.loss):
            execution_plan(model.layers, loss)
    after = [dict(vars(layer)) for layer in model.layers]
    assert after == before


def test_a_conv2d_that_overrides_call_is_not_fused():
    class Doubled(Conv2D):
        def call(self, inputs, training=False, pixel_order="rows"):
            return super().call(inputs, training, pixel_order)

    plain = [Conv2D(2, 3, activation="relu", name="c"), MaxPool2D(2, name="p")]
    assert describe(execution_plan(plain)) == ["c + p, relu"]
    doubled = [Doubled(2, 3, activation="relu", name="d"), MaxPool2D(2, name="p")]
    assert doubled[0].fusions == frozenset() and plain[0].fusions
    assert describe(execution_plan(doubled)) == ["d", "p"]


@pytest.mark.parametrize("loss", ["sparse_categorical_crossentropy", "categorical_crossentropy"])
@pytest.mark.parametrize("end", ["activation", "dense_softmax"])
def test_softmax_and_cross_entropy_are_one_step(loss, end, crossentropy_rule):
    rng = np.random.default_rng(2)
    last = (
        [Dense(4), Activation("softmax")]
        if end == "activation"
        else [Dense(4, activation="softmax")]
    )
    model = Sequential([Input(shape=(6,)), Dense(5, activation="relu")] + last)
    model.compile(loss=loss, optimizer="sgd")
    names = [layer.name for layer in model.layers]
    fused_step = f"{names[-1]} (softmax) + {loss}"
    expected = (
        names[:-1] + [fused_step]
        if end == "activation"
        else [names[0], f"{names[1]} (without activation)", fused_step]
    )
    assert describe(model._execution_plan(model.loss)) == expected
    assert describe(model._execution_plan()) == names  # inference: the layers as they are
    # Unsaturated inputs: the same loss and gradients as the clipped loss of the probabilities
    # computed layer by layer and backpropagated through the softmax.
    x = rng.standard_normal((8, 6)).astype(np.float32)
    labels = rng.integers(0, 4, 8)
    y = labels if loss.startswith("sparse") else np.eye(4, dtype=np.float32)[labels]

    def loss_and_gradients(run):
        for weight in model.weights:
            weight.grad = None
        value, outputs = run()
        value.backward()
        return value.data, outputs, [w.grad for w in model.trainable_weights]

    def unfused():
        outputs = one_by_one(model, Tensor(x))
        return model.loss(y, outputs), outputs.data

    fused = loss_and_gradients(lambda: model.call_with_loss(Tensor(x), y, training=True))
    plain = loss_and_gradients(unfused)
    assert np.array_equal(fused[1], plain[1])
    if crossentropy_rule == "keras3":  # the clipped loss of the same probabilities
        assert fused[0] == plain[0]
    else:  # from the logits: the same loss within rounding, where nothing is clipped
        np.testing.assert_allclose(fused[0], plain[0], rtol=1e-6)
    for got, want in zip(fused[2], plain[2]):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    assert model.loss.fuses_softmax
