"""Model files of functional, nested and subclassed models: save + load predicts identically and
fit resumes exactly (optimizer and random state); classes come only from striate's list, the
registry or `custom_objects`, and a file never causes an import."""

import json
import sys
import zipfile

import numpy as np
import pytest

import striate
from striate import layers
from striate.metrics import SparseTopKCategoricalAccuracy
from striate.models import Model, Sequential
from striate.saving import ModelFileError, load_model, register_serializable


@pytest.fixture(autouse=True)
def fresh_names():
    striate.backend.clear_session()
    striate.utils.set_random_seed(0)


@register_serializable(package="TestSaving")
class Scale(layers.Layer):
    """y = x * w + b per channel, with a seeded dropout of its own inside."""

    def __init__(self, rate=0.1, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate
        self.drop = layers.Dropout(rate, seed=5)

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="w")
        self.b = self.add_weight(shape=(input_shape[-1],), initializer="zeros", name="b")

    def call(self, inputs, training=None):
        scaled = striate.ops.merging.multiply([inputs, self.w])
        return self.drop(striate.ops.merging.add([scaled, self.b]), training=training)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate}


@register_serializable(package="TestSaving")
class Net(striate.Model):
    def __init__(self, units=6, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.flatten = layers.Flatten()
        self.hidden = layers.Dense(units, activation="relu")
        self.scale = Scale(0.25)
        self.out = layers.Dense(3, activation="softmax")

    def call(self, inputs, training=None):
        return self.out(self.scale(self.hidden(self.flatten(inputs))))

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def resnet():
    inputs = striate.Input(shape=(8, 8, 1), name="image")
    x = layers.Conv2D(4, 3, padding="same", use_bias=False)(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    for _ in range(2):
        y = layers.Conv2D(4, 3, padding="same")(x)
        y = layers.BatchNormalization()(y)
        y = layers.Activation("relu")(y)
        x = layers.add([x, y])
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.3, seed=2)(x)
    return Model(inputs, layers.Dense(3, activation="softmax")(x), name="toy_resnet")


def nested():
    base = Sequential(
        [layers.Conv2D(3, 3, activation="relu", input_shape=(8, 8, 1)), layers.Flatten()],
        name="base",
    )
    inputs = striate.Input(shape=(8, 8, 1))
    x = base(inputs)
    x = layers.Dropout(0.2)(x)
    return Model(inputs, layers.Dense(3, activation="softmax")(x), name="head")


def subclassed():
    net = Net(units=5, name="net")
    net.build((None, 8, 8, 1))
    return net


def data(n=24, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 8, 8, 1)).astype(np.float32), rng.integers(0, 3, size=n)


@pytest.fixture(params=[resnet, nested, subclassed], ids=["resnet", "nested", "subclassed"])
def make(request):
    return request.param


def compiled(make):
    striate.utils.set_random_seed(42)
    striate.backend.clear_session()
    model = make()
    model.compile(
        optimizer=striate.optimizers.Adam(0.01),
        loss=striate.losses.SparseCategoricalCrossentropy(),
        metrics=["acc", SparseTopKCategoricalAccuracy(k=2, name="top2")],
    )
    return model


@pytest.mark.slow  # over 1 s (the quick tier stays under a minute)
def test_save_load_predicts_identically(tmp_path, make):
    model = compiled(make)
    x, y = data()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    model.save(tmp_path / "m.striate")
    loaded = load_model(tmp_path / "m.striate")
    assert type(loaded) is type(model) and loaded.count_params() == model.count_params()
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    for a, b in zip(loaded.optimizer.state_arrays(), model.optimizer.state_arrays()):
        np.testing.assert_array_equal(a, b)
    assert [name for name, _ in loaded.metrics] == ["acc", "top2"]
    assert loaded.metrics[1][1].get_config() == model.metrics[1][1].get_config()


@pytest.mark.slow  # trains 3 epochs twice
def test_fit_resumes_exactly(tmp_path, make):
    x, y = data(40)

    def fit(model, epochs, initial_epoch=0):
        return model.fit(
            x, y, batch_size=8, epochs=epochs, initial_epoch=initial_epoch, verbose=0
        ).history

    straight = compiled(make)
    expected = fit(straight, 2)
    model = compiled(make)
    first = fit(model, 1)
    model.save(tmp_path / "resume.striate")
    striate.utils.set_random_seed(123)  # disturb the shared generator
    loaded = load_model(tmp_path / "resume.striate")
    second = fit(loaded, 2, initial_epoch=1)
    for key in expected:
        assert first[key] + second[key] == expected[key], key
    for a, b in zip(loaded.get_weights(), straight.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_two_inputs_two_outputs_round_trip(tmp_path):
    image, extra = striate.Input(shape=(8, 8, 1), name="image"), striate.Input((3,), name="e")
    x = layers.Flatten()(layers.Conv2D(2, 3)(image))
    x = layers.concatenate([x, layers.Dense(4)(extra)])
    shared = layers.Dense(5, activation="relu", name="shared")
    a, b = shared(x), shared(layers.Dense(72 + 4)(x))
    model = Model([image, extra], [layers.Dense(2)(a), layers.Softmax()(b)], name="two")
    model.save(tmp_path / "two.striate")
    loaded = load_model(tmp_path / "two.striate")
    assert loaded.get_config() == model.get_config()
    rng = np.random.default_rng(3)
    inputs = [rng.normal(size=(4, 8, 8, 1)).astype(np.float32), rng.normal(size=(4, 3))]
    for mine, theirs in zip(model(inputs), loaded(inputs)):
        np.testing.assert_array_equal(mine.data, theirs.data)
    for mine, theirs in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(mine, theirs)


def test_loss_with_arguments_is_kept(tmp_path):
    model = Sequential([layers.Dense(3, input_shape=(4,))])
    loss = striate.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer="sgd", loss=loss)
    model.save(tmp_path / "m.striate")
    loaded = load_model(tmp_path / "m.striate")
    assert loaded.loss.get_config() == loss.get_config()
    assert loaded.loss.get_config()["from_logits"] is True


def test_file_names_registered_classes_and_never_a_module(tmp_path):
    subclassed().save(tmp_path / "net.striate")
    with zipfile.ZipFile(tmp_path / "net.striate") as archive:
        text = archive.read("model.json").decode()
    document = json.loads(text)
    assert document["model"]["registered_name"] == "TestSaving>Net"
    assert document["model"]["config"]["units"] == 5
    assert '"module"' not in text


def rewrite(path, out, edit):
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    document = json.loads(members["model.json"])
    edit(document)
    members["model.json"] = json.dumps(document).encode()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out


def test_unregistered_class_says_how_to_register(tmp_path):
    class Local(layers.Layer):
        def call(self, inputs):
            return inputs

    inputs = striate.Input(shape=(3,))
    model = Model(inputs, layers.Dense(2)(Local()(inputs)))
    model.save(tmp_path / "local.striate")
    with pytest.raises(
        ModelFileError,
        match=r"Unknown layer class 'Local'.*register_serializable\(package='Custom'\).*"
        r"custom_objects=\{'Local': Local\}",
    ):
        load_model(tmp_path / "local.striate")
    loaded = load_model(tmp_path / "local.striate", custom_objects={"Local": Local})
    np.testing.assert_array_equal(loaded.get_weights()[0], model.get_weights()[0])
    with pytest.raises(ValueError, match="Unknown layer class 'Local'"):
        Model.from_config(model.get_config())


@pytest.mark.parametrize("where", ["layer", "model"])
def test_a_file_naming_a_module_is_refused_and_imports_nothing(tmp_path, where):
    path = tmp_path / "r.striate"
    resnet().save(path)
    module = "striate_never_imported_module"

    def edit(document):
        entry = document["model"]["config"]["layers"][1] if where == "layer" else document["model"]
        entry.update(module=module, class_name="system", registered_name=None)

    crafted = rewrite(path, tmp_path / "crafted.striate", edit)
    before = set(sys.modules)
    with pytest.raises(ModelFileError, match=f"names the module '{module}'.*never imports"):
        load_model(crafted)
    assert set(sys.modules) == before
    with pytest.raises(ValueError, match="never imports"):
        config = resnet().get_config()
        config["layers"][1]["module"] = "os"
        Model.from_config(config)


def test_custom_init_arguments_without_get_config_is_keras_error(tmp_path):
    class Shift(layers.Layer):
        def __init__(self, amount, **kwargs):
            super().__init__(**kwargs)
            self.amount = amount

        def call(self, inputs):
            return inputs

    inputs = striate.Input(shape=(3,))
    model = Model(inputs, Shift(2)(inputs))
    with pytest.raises(
        NotImplementedError,
        match=r"Layer Shift has arguments \['amount'\] in `__init__\(\)` and therefore must "
        r"override `get_config\(\)`",
    ):
        model.save(tmp_path / "shift.striate")


def test_registry_lookups():
    assert striate.saving.get_registered_object("TestSaving>Scale") is Scale
    assert striate.saving.get_registered_name(Scale) == "TestSaving>Scale"
    assert striate.saving.get_registered_name(layers.Dense) == "Dense"
    assert striate.saving.get_registered_object("Nope", custom_objects={"Nope": 1}) == 1
    with pytest.raises(ValueError, match="package must be a non-empty string without '>'"):
        register_serializable(package="a>b")


def test_serialize_and_deserialize_keras_object():
    layer = Scale(0.5, name="s")
    entry = striate.saving.serialize_keras_object(layer)
    assert entry["registered_name"] == "TestSaving>Scale" and entry["config"]["rate"] == 0.5
    again = striate.saving.deserialize_keras_object(entry)
    assert type(again) is Scale and again.get_config() == layer.get_config()
    entry = striate.saving.serialize_keras_object(layers.Dense(2, name="d"))
    assert striate.saving.deserialize_keras_object(entry).get_config()["units"] == 2


@pytest.mark.slow  # over 1 s (the quick tier stays under a minute)
@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda c: c["layers"][1]["config"].update(dtype="object"), "dtype 'object'"),
        (lambda c: c.pop("input_layers"), "'Functional' config has no"),
        (lambda c: c["layers"][1].update(class_name="Lambda"), "Unknown layer class 'Lambda'"),
        (
            lambda c: c["layers"][1].update(registered_name="os>system"),
            "Unknown layer class 'os>system'",
        ),
        (lambda c: c["layers"][2]["inbound_nodes"].clear(), "cannot be assembled"),
    ],
)
def test_crafted_functional_files(tmp_path, edit, message):
    resnet().save(tmp_path / "r.striate")
    crafted = rewrite(
        tmp_path / "r.striate", tmp_path / "c.striate", lambda d: edit(d["model"]["config"])
    )
    with pytest.raises(ModelFileError, match=message):
        load_model(crafted)


def test_sequential_with_a_registered_layer_and_a_nested_sequential(tmp_path):
    inner = Sequential([layers.Dense(4, activation="relu", input_shape=(3,))], name="inner")
    model = Sequential([inner, Scale(0.0), layers.Dense(2)], name="outer")
    model.build((None, 3))
    model.save(tmp_path / "s.striate")
    loaded = load_model(tmp_path / "s.striate")
    assert [type(layer) for layer in loaded.layers] == [Sequential, Scale, layers.Dense]
    x = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
