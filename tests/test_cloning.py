"""clone_model, to_json / model_from_json, save_model: the same architecture with new weights,
classes by name only."""

import json

import numpy as np
import pytest

import striate
from striate import layers


def functional():
    inputs = striate.Input((6, 6, 1))
    x = layers.Conv2D(3, 3, padding="same", activation="relu")(inputs)
    x = layers.add([x, layers.Conv2D(3, 1)(inputs)])
    x = layers.GlobalAveragePooling2D()(x)
    return striate.Model(inputs, layers.Dense(2, activation="softmax")(x), name="res")


@pytest.mark.parametrize(
    "make",
    [
        functional,
        lambda: striate.Sequential(
            [striate.Input((6, 6, 1)), layers.Conv2D(2, 3), layers.Flatten(), layers.Dense(2)]
        ),
    ],
)
def test_a_clone_has_the_architecture_and_new_weights(make):
    model = make()
    clone = striate.models.clone_model(model)
    assert type(clone) is type(model) and clone is not model
    assert [type(a) for a in clone.layers] == [type(b) for b in model.layers]
    assert clone.count_params() == model.count_params()
    assert any(not np.array_equal(a, b) for a, b in zip(clone.get_weights(), model.get_weights()))
    clone.set_weights(model.get_weights())
    x = np.random.default_rng(0).random((3, 6, 6, 1)).astype("float32")
    np.testing.assert_array_equal(clone.predict(x, verbose=0), model.predict(x, verbose=0))
    again = striate.models.model_from_json(model.to_json())
    assert again.count_params() == model.count_params()


def test_model_from_json_finds_classes_by_name_only(tmp_path):
    text = functional().to_json()
    section = json.loads(text)
    section["module"] = "os"
    with pytest.raises(ValueError, match="never imports a module a config names"):
        striate.models.model_from_json(json.dumps(section))
    section = json.loads(text)
    section["config"]["layers"][1]["class_name"] = "Popen"
    with pytest.raises(ValueError, match="Unknown layer class 'Popen'"):
        striate.models.model_from_json(json.dumps(section))
    with pytest.raises(ValueError, match="input_tensors and clone_function are not supported"):
        striate.models.clone_model(functional(), clone_function=lambda layer: layer)
    model = functional()
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    striate.models.save_model(model, tmp_path / "m.striate")
    assert striate.models.load_model(tmp_path / "m.striate").count_params() == model.count_params()
