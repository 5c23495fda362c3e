"""Subclassing: a user's `Layer` (build, add_weight, call, get_config) and `Model` (__init__ and
call); sub-layers and weights held in attributes, lists, tuples and dicts are tracked; `training`
reaches the layers called inside and is passed only to a `call` that takes it; output shapes
come from running `call` symbolically."""

import numpy as np
import pytest
from resnet34 import resnet34

import striate
from striate import layers


@pytest.fixture(autouse=True)
def fresh_names():
    striate.backend.clear_session()
    striate.utils.set_random_seed(0)


class Scale(layers.Layer):
    """y = x * w + b, with w and b per channel (Keras's custom-layer tutorial shape)."""

    def __init__(self, init=1.0, **kwargs):
        super().__init__(**kwargs)
        self.init = init

    def build(self, input_shape):
        self.w = self.add_weight(
            shape=(input_shape[-1],), initializer="ones", trainable=True, name="w"
        )
        self.b = self.add_weight(shape=(input_shape[-1],), initializer="zeros", name="b")

    def call(self, inputs):
        return striate.ops.merging.add([striate.ops.merging.multiply([inputs, self.w]), self.b])

    def get_config(self):
        return {**super().get_config(), "init": self.init}


class Block(layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.pair = (layers.Dense(units), layers.Dense(units))
        self.by_name = {"drop": layers.Dropout(0.5)}
        self.seen_training = []

    def call(self, inputs, training=None):
        self.seen_training.append(training)
        x = self.by_name["drop"](self.pair[0](inputs))
        return layers.add([x, self.pair[1](inputs)])


class Net(striate.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.blocks = [Block(6), Block(6)]
        self.scale = Scale()
        self.out = layers.Dense(3, activation="softmax")

    def call(self, inputs, training=None):
        x = inputs
        for block in self.blocks:
            x = block(x)
        return self.out(self.scale(x))


def test_custom_layer_weights_shapes_config_and_training():
    scale = Scale(name="scale")
    x = striate.Input(shape=(4,))
    y = scale(x)
    assert y.shape == (None, 4) and scale.output_shape == (None, 4)
    assert [w.name for w in scale.weights] == ["scale/w", "scale/b"]
    assert scale.count_params() == 8 and len(scale.trainable_weights) == 2
    assert scale.get_config()["init"] == 1.0 and scale.get_config()["name"] == "scale"
    model = striate.Model(x, layers.Dense(2)(y))
    model.compile(optimizer="adam", loss="mse")
    rng = np.random.default_rng(0)
    model.fit(rng.random((16, 4)), rng.random((16, 2)), epochs=2, verbose=0)
    assert not np.array_equal(scale.get_weights()[0], np.ones(4))
    assert Scale()(np.ones((2, 3), np.float32)).data.shape == (2, 3)


def test_sub_layers_in_attributes_lists_tuples_and_dicts_are_tracked():
    block = Block(5)
    block(np.ones((2, 4), np.float32))
    assert len(block.weights) == 4 and block.count_params() == 2 * (4 * 5 + 5)
    block.trainable = False
    assert block.trainable_weights == [] and not block.pair[0].trainable
    net = Net()
    assert net.layers[0] is net.blocks[0] and net.layers[-1] is net.out


def test_subclassed_model_builds_symbolically_and_trains():
    net = Net(name="net")
    assert not net.built
    assert net.build((None, 4)) == (None, 3)
    assert net.count_params() == 2 * (2 * (4 * 6 + 6) - 24 + 36) + 12 + 21
    assert net.blocks[1].output_shape == (None, 6) and net.scale.output_shape == (None, 6)
    text = repr(net.summary)
    assert 'Model: "net"' in text and "block_1 (Block)" in text and "(None, 6)" in text
    rng = np.random.default_rng(1)
    x, y = rng.random((32, 4)).astype(np.float32), rng.integers(0, 3, 32)
    net.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["acc"])
    before = net.evaluate(x, y, verbose=0)[0]
    net.blocks[0].seen_training.clear()
    net.fit(x, y, batch_size=8, epochs=5, verbose=0)
    assert net.blocks[0].seen_training[0] is True  # fit's training flag reached the block
    assert net.evaluate(x, y, verbose=0)[0] < before
    assert net.predict(x, verbose=0).shape == (32, 3)
    assert net(x).data.shape == (32, 3)


def test_subclassed_model_as_a_layer_and_the_model_file(tmp_path):
    net = Net()
    inputs = striate.Input(shape=(4,))
    outer = striate.Model(inputs, layers.Dense(2)(net(inputs)))
    assert outer.count_params() == net.count_params() + 8
    outer.save(tmp_path / "outer.striate")  # Net is not registered: loading must name it
    with pytest.raises(ValueError, match="Unknown layer class 'Net'.*register_serializable"):
        striate.saving.load_model(tmp_path / "outer.striate")
    loaded = striate.saving.load_model(tmp_path / "outer.striate", custom_objects={"Net": Net})
    x = np.random.default_rng(0).random((3, 4)).astype(np.float32)
    np.testing.assert_array_equal(loaded(x).data, outer(x).data)


def test_call_that_needs_numbers_is_run_on_zeros_for_its_shape():
    class Doubler(layers.Layer):
        def call(self, inputs):
            return striate.Tensor(np.concatenate([inputs.data, inputs.data], axis=-1))

    y = Doubler()(striate.Input(shape=(3,)))
    assert y.shape == (None, 6)


def test_resnet34_counts_gerons_21306826_parameters():
    model = resnet34(striate)
    assert model.build((None, 224, 224, 3)) == (None, 10)
    assert model.count_params() == 21_306_826
    assert "Total params: 21,306,826" in repr(model.summary)


def test_mask_is_never_passed_since_no_image_layer_makes_one_as_keras_passes_none():
    # Keras passes `mask` only to a call that takes it, and only when the inputs carry one
    # (Embedding(mask_zero=True), Masking): no striate layer makes a mask, so a call that takes
    # `mask` sees its default, as it would in Keras on images.
    seen = []

    class Masked(layers.Layer):
        def call(self, inputs, training=None, mask=None):
            seen.append((training, mask))
            return inputs

    model = striate.Sequential([striate.Input((3,)), Masked(), layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.zeros((4, 3)), np.zeros((4, 2)), verbose=0)
    model.predict(np.zeros((2, 3)), verbose=0)
    assert (True, None) in seen and (False, None) in seen
    assert all(mask is None for _, mask in seen)
