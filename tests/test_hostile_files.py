"""Hostile model files: every crafted or broken file ends in ModelFileError naming the file and
what is wrong, under a 1 GiB address-space limit, never another exception or a memory blow-up."""

import json
import math
import re
import zipfile

import numpy as np
import pytest
from hostile import npy_bytes, patch_headers, rewrite, run_cases, u16, u32

from striate.layers import Conv2D, Dense, Flatten
from striate.layers.base import reset_names
from striate.models import Sequential

METADATA = {
    "dataset": "digits",
    "class_names": ["a", "b", "c"],
    "preprocessing": {
        "scale": 1 / 255,
        "color_mode": "grayscale",
        "image_size": [6, 6],
        "interpolation": "bilinear",
    },
    "seed": 3,
    "validation_split": 0.2,
}


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    reset_names()
    model = Sequential(
        [Conv2D(2, 3, input_shape=(6, 6, 1)), Flatten(), Dense(3, activation="softmax")]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["acc"])
    rng = np.random.default_rng(0)
    model.fit(rng.random((8, 6, 6, 1), np.float32), rng.integers(0, 3, 8), epochs=1, verbose=0)
    model.metadata = METADATA
    path = tmp_path_factory.mktemp("hostile") / "good.striate"
    model.save(path)
    return path


def _meta(**changes):
    def edit(document):
        document["metadata"] = {**METADATA, **changes}

    return edit


def _pre(**changes):
    def edit(document):
        document["metadata"] = {
            **METADATA,
            "preprocessing": {**METADATA["preprocessing"], **changes},
        }

    return edit


def _layer(index, **changes):
    def edit(document):
        document["model"]["config"]["layers"][index]["config"].update(changes)

    return edit


def _model_json(good, target, text, deflate=True):
    return rewrite(good, target, json_text=text, deflate=("model.json",) if deflate else ())


def _json_bomb(good, target):
    """A few hundred KB that inflate to 40 MB of [{},{},...]: refused before inflating."""
    return _model_json(good, target, "[" + "{}," * 13_000_000 + "{}]")


def _json_items(good, target):
    """Under the byte limit, over the item limit: refused before parsing."""
    return _model_json(good, target, "[" + "{}," * 3_000_000 + "{}]", deflate=False)


def _understated(good, target):
    """model.json's headers say 100 bytes; its deflated stream holds 50 MB."""
    path = _model_json(good, target, '{"a": "' + "x" * 50_000_000 + '"}')
    return patch_headers(path, "model.json", local={22: u32(100)}, central={24: u32(100)})


def _ratio_bomb(good, target):
    """A weights member saying it inflates 400 MB from a tiny stream (zeros deflate ~1000:1)."""
    content = npy_bytes(np.zeros(100_000_000, np.float32))
    return rewrite(
        good, target, replace={"weights/00000.npy": content}, deflate=("weights/00000.npy",)
    )


def _encrypted(good, target):
    path = rewrite(good, target)
    return patch_headers(path, "weights/00000.npy", local={6: u16(1)}, central={8: u16(1)})


def _zip_version(good, target):
    """A zip 'version needed to extract' of 9.9: zipfile raises NotImplementedError."""
    path = rewrite(good, target)
    return patch_headers(path, "weights/00001.npy", local={4: u16(99)}, central={6: u16(99)})


def _bad_utf8_name(good, target):
    """A member name flagged UTF-8 (bit 11) that is not: zipfile raises UnicodeDecodeError."""
    path = rewrite(good, target)
    return patch_headers(
        path,
        "weights/00001.npy",
        local={6: u16(0x800), 30: b"\xff"},
        central={8: u16(0x800), 46: b"\xff"},
    )


def _npy(name, data):
    return lambda good, target: rewrite(good, target, replace={name: data})


def _edit(edit):
    return lambda good, target: rewrite(good, target, edit=edit)


def _text(text):
    return lambda good, target: _model_json(good, target, text, deflate=False)


_KERNEL = npy_bytes(np.zeros((3, 3, 1, 2), np.float32))
_NAN_KERNEL = npy_bytes(np.full((3, 3, 1, 2), np.nan, np.float32))
_HEADER_END = _KERNEL.index(b"\n") + 1

# (case, how to craft it from the good file, what the ModelFileError says)
CASES = [
    # memory that a small file controls
    ("json bomb", _json_bomb, r"model.json says it inflates .*MAX_COMPRESSION_RATIO"),
    (
        "json too big",
        lambda good, target: _model_json(good, target, " " * 17_000_000, False),
        r"model.json says it holds 17000000 bytes, over the limit of 16777216 bytes "
        r"\(MAX_JSON_BYTES\)",
    ),
    ("json items", _json_items, r"over the limit of 1000000 \(MAX_JSON_ITEMS\)"),
    ("json depth", _text("[" * 100_000 + "]" * 100_000), r"MAX_JSON_DEPTH"),
    ("understated size", _understated, r"truncated or corrupted in model.json.*CRC"),
    ("ratio bomb", _ratio_bomb, r"inflates from \d+ to 400000128 bytes.*MAX_COMPRESSION_RATIO"),
    (
        "huge input shape",
        _edit(lambda d: d["model"]["config"].update(input_shape=[None, 60000, 60000, 1])),
        r"MAX_INPUT_VALUES",
    ),
    ("huge units", _edit(_layer(2, units=10**6)), r"more than the \d+ bytes of weights its file"),
    (
        "absurd units",
        _text('{"format": "striate.model", "x": ' + "9" * 4000 + "}"),
        r"MAX_JSON_INT_DIGITS",
    ),
    ("units 10**50", _edit(_layer(2, units=10**50)), r"units must be at most .*MAX_WEIGHT"),
    ("huge filters", _edit(_layer(0, filters=2**40)), r"filters must be at most"),
    ("huge kernel", _edit(_layer(0, kernel_size=[2**20, 2**20])), r"bad config|does not fit"),
    ("huge image_size", _edit(_pre(image_size=[60000, 60000])), r"image_size'\] must be"),
    # exceptions that used to escape ModelFileError
    (
        "cut npy header",
        _npy("weights/00000.npy", _KERNEL[:40]),
        r"weights/00000.npy is not a "
        r"valid .npy",
    ),
    (
        "npy header no newline",
        _npy("weights/00000.npy", _KERNEL[: _HEADER_END - 1]),
        r"not a valid .npy",
    ),
    (
        "npy version 3",
        _npy("weights/00000.npy", b"\x93NUMPY\x03\x00" + _KERNEL[8:]),
        r"not a valid .npy",
    ),
    ("encrypted member", _encrypted, r"weights/00000.npy is encrypted"),
    ("zip version", _zip_version, r"weights/00001.npy.*NotImplementedError|version"),
    ("invalid utf-8 name", _bad_utf8_name, r"UnicodeDecodeError|utf-8"),
    ("mixed dtypes", _edit(_layer(2, dtype="float64")), r"mix dtypes \['float32', 'float64'\]"),
    ("model.json not utf-8", _text(b'{"a": "\xff"}'), r"model.json is not valid UTF-8"),
    (
        "trailing data",
        _npy("weights/00000.npy", _KERNEL + b"\0" * 16),
        r"holds 16 bytes of trailing data after the 72 bytes its header says",
    ),
    (
        "short data",
        _npy("weights/00000.npy", _KERNEL[:-8]),
        r"holds 64 bytes of data; its "
        r"header says 72",
    ),
    ("nan weights", _npy("weights/00000.npy", _NAN_KERNEL), r"NaN or infinite"),
    (
        "object npy",
        _npy(
            "weights/00001.npy",
            b"\x93NUMPY\x01\x00v\x00{'descr': '|O', "
            b"'fortran_order': False, 'shape': (2,), }" + b" " * 54 + b"\n",
        ),
        r"never objects|not a valid .npy",
    ),
    ("infinity in json", _text('{"format": "striate.model", "x": Infinity}'), r"not a finite"),
    ("1e999 in json", _text('{"format": "striate.model", "x": 1e999}'), r"not finite"),
    ("empty json", _text(""), r"not valid JSON"),
    (
        "input shape strings",
        _edit(lambda d: d["model"]["config"].update(input_shape=[None, "6", 6, 1])),
        r"input_shape .* positive ints",
    ),
    (
        "input shape float",
        _edit(lambda d: d["model"]["config"].update(input_shape=[None, 6.5, 6, 1])),
        r"positive ints",
    ),
    (
        "epsilon nan string",
        _edit(lambda d: d["model"]["config"]["layers"][0]["config"].update(kernel_size="x")),
        r"layer 0 \(Conv2D\) has a bad config",
    ),
    # metadata trusted as it came
    ("class_names int", _edit(_meta(class_names=5)), r"class_names'\] must be a list"),
    ("class_names ints", _edit(_meta(class_names=[1, 2, 3])), r"class_names'\] items must be"),
    (
        "class_names count",
        _edit(_meta(class_names=["a", "b"])),
        r"has 2 names but the model "
        r"has 3 outputs",
    ),
    ("class_names duplicate", _edit(_meta(class_names=["a", "a", "b"])), r"must be distinct"),
    ("class_names empty name", _edit(_meta(class_names=["a", "", "b"])), r"items must be"),
    ("preprocessing string", _edit(_meta(preprocessing="x")), r"preprocessing'\] must be a JSON"),
    ("scale null", _edit(_pre(scale=None)), r"scale'\] must be a finite number > 0"),
    ("scale string", _edit(_pre(scale="0.5")), r"scale'\] must be a finite number"),
    ("scale zero", _edit(_pre(scale=0)), r"scale'\] must be a finite number > 0"),
    ("scale bool", _edit(_pre(scale=True)), r"scale'\] must be"),
    ("color_mode cmyk", _edit(_pre(color_mode="cmyk")), r"color_mode'\] must be one of"),
    ("color_mode mismatch", _edit(_pre(color_mode="rgb")), r"does not fit the model's input"),
    ("image_size short", _edit(_pre(image_size=[6])), r"image_size'\] must be"),
    ("image_size strings", _edit(_pre(image_size=["6", "6"])), r"image_size'\] must be"),
    ("interpolation", _edit(_pre(interpolation=3)), r"interpolation'\] must be one of"),
    ("dataset int", _edit(_meta(dataset=5)), r"dataset'\] must be a string"),
    ("dataset list", _edit(_meta(dataset=["a"])), r"dataset'\] must be a string"),
    ("dataset escape codes", _edit(_meta(dataset="\x1b[2J\x1b[31mok")), r"printable"),
    ("class name newline", _edit(_meta(class_names=["a", "b\nc", "d"])), r"printable"),
    (
        "layer name escape codes",
        _edit(_layer(0, name="conv\x1b[2J")),
        r"the name of layer 0 must "
        r"be .*printable",
    ),
    (
        "model name escape codes",
        _edit(lambda d: d["model"]["config"].update(name="m\x07")),
        r"the model's name must be",
    ),
    ("seed string", _edit(_meta(seed="x")), r"seed'\] must be an int"),
    ("seed negative", _edit(_meta(seed=-1)), r"seed'\] must be an int in \[0, 2\*\*32\)"),
    ("seed huge", _edit(_meta(seed=2**40)), r"seed'\] must be an int"),
    ("validation_split 2", _edit(_meta(validation_split=2)), r"validation_split'\] must be"),
    ("metadata list", _edit(lambda d: d.update(metadata=[1])), r"metadata must be a JSON object"),
]


@pytest.mark.slow  # builds ~100 MB of crafted files, then loads them under a memory limit
def test_every_crafted_model_file_is_a_clean_model_file_error(good, tmp_path):
    paths = {}
    for index, (case, craft, _) in enumerate(CASES):
        paths[case] = str(craft(good, tmp_path / f"case{index}.striate"))
    body = "from striate.models import load_model\n" + "".join(
        f"report({case!r}, lambda: load_model({path!r}))\n" for case, path in paths.items()
    )
    outcomes, result = run_cases(body)
    assert set(outcomes) == set(paths), result.stderr[-3000:]
    wrong = [
        (case, expected, outcomes[case])
        for case, _, expected in CASES
        if outcomes[case]["type"] != "ModelFileError"
        or paths[case] not in outcomes[case]["message"]
        or not re.search(expected, outcomes[case]["message"])
    ]
    assert not wrong, "\n".join(map(str, wrong))


def test_the_good_file_loads_with_its_metadata(good):
    from striate.models import load_model

    assert load_model(good).metadata == METADATA


def test_limits_are_named_constants():
    from striate import model_archive, model_schema
    from striate.datasets import _idx, images
    from striate.layers import base

    limits = [
        model_archive.MAX_JSON_BYTES,
        model_archive.MAX_JSON_ITEMS,
        model_archive.MAX_JSON_DEPTH,
        model_archive.MAX_COMPRESSION_RATIO,
        model_archive.MAX_MEMBERS,
        model_schema.MAX_INPUT_VALUES,
        base.MAX_WEIGHT_VALUES,
        images.MAX_IMAGE_PIXELS,
        _idx.MAX_IDX_BYTES,
    ]
    assert all(isinstance(limit, int) and limit > 0 for limit in limits)
    assert math.prod([60000, 60000]) > model_schema.MAX_INPUT_VALUES


def test_save_refuses_metadata_that_load_would_refuse(tmp_path):
    model = Sequential([Dense(2, input_shape=(3,))])
    for metadata, message in [
        ({"class_names": ["a"]}, "has 1 names but the model has 2"),
        ({"preprocessing": {"scale": float("nan")}}, "finite number"),
        ({"seed": -1}, "seed"),
    ]:
        model.metadata = metadata
        with pytest.raises(ValueError, match=f"save: .*{message}"):
            model.save(tmp_path / "m.striate")


def test_too_many_members_and_a_stored_member_that_lies(good, tmp_path, monkeypatch):
    from striate import model_archive
    from striate.models import load_model
    from striate.saving import ModelFileError

    lying = patch_headers(
        rewrite(good, tmp_path / "lying.striate"),
        "weights/00001.npy",
        local={22: u32(10**6)},
        central={24: u32(10**6)},
    )
    with pytest.raises(ModelFileError, match="stored .* says it holds 1000000"):
        load_model(lying)
    monkeypatch.setattr(model_archive, "MAX_MEMBERS", 50)
    many = tmp_path / "many.striate"
    with zipfile.ZipFile(many, "w") as archive:
        archive.writestr("model.json", json.dumps({"format": "striate.model"}))
        for i in range(51):
            archive.writestr(f"x{i}", b"")
    with pytest.raises(ModelFileError, match="MAX_MEMBERS"):
        load_model(many)
