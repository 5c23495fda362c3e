"""A property-based fuzz of the model loader, with a fixed budget: whatever bytes or JSON values a
file holds, loading it is a clean load (that predicts) or a ModelFileError, never another
exception, and never over a 1 GiB address-space limit (the fuzz runs in a limited subprocess)."""

import pytest
from hostile import run_cases

pytest.importorskip("hypothesis")

_FUZZ = r'''
import io, json, os, tempfile, zipfile
import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st
from striate.layers import BatchNormalization, Conv2D, Dense, Dropout, Flatten
from striate.models import Sequential, load_model
from striate.saving import ModelFileError

folder = tempfile.mkdtemp()
good = os.path.join(folder, "good.striate")
model = Sequential([Conv2D(2, 3, input_shape=(5, 5, 1)), BatchNormalization(),
                    Dropout(0.5, seed=1), Flatten(), Dense(3, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["acc"])
model.fit(np.ones((4, 5, 5, 1), np.float32), np.arange(4) % 3, epochs=1, verbose=0)
model.metadata = {{"dataset": "d", "class_names": ["a", "b", "c"], "seed": 1,
                  "preprocessing": {{"scale": 0.5, "color_mode": "grayscale",
                                    "image_size": [5, 5]}}}}
model.save(good)
content = open(good, "rb").read()
with zipfile.ZipFile(good) as archive:
    members = {{i.filename: archive.read(i) for i in archive.infolist()}}
document = json.loads(members["model.json"])
PATHS = []

def walk(value, path):
    PATHS.append(path)
    items = value.items() if isinstance(value, dict) else enumerate(value) \
        if isinstance(value, list) else ()
    for key, item in items:
        walk(item, path + (key,))

walk(document, ())
SETTINGS = settings(max_examples={examples}, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.sampled_from(
        [0, -1, 1, 10**9, 2**31, 2**63, 60000]) | st.floats(allow_nan=False,
        allow_infinity=False) | st.text(max_size=8) | st.sampled_from(
        ["float64", "float16", "object", "Sequential", "Dense", "relu", "same", "grayscale"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.text(max_size=6), children, max_size=4), max_leaves=12)

COUNTS = {{"loaded": 0, "refused": 0}}

def check(data):
    path = os.path.join(folder, "fuzzed.striate")
    with open(path, "wb") as file:
        file.write(data)
    try:
        loaded = load_model(path)
    except ModelFileError:
        COUNTS["refused"] += 1
        return
    COUNTS["loaded"] += 1
    loaded.predict(np.zeros((2,) + loaded.input_shape[1:], np.float32), verbose=0)

def zipped(members):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()

@SETTINGS
@given(st.lists(st.tuples(st.integers(0, len(content) - 1), st.integers(0, 255)), max_size=8),
       st.integers(0, len(content)))
def bytes_fuzz(edits, cut):
    data = bytearray(content)
    for position, value in edits:
        data[position] = value
    check(bytes(data[:cut]) if cut < len(content) // 2 else bytes(data))

def value_at(path):
    value = document
    for key in path:
        value = value[key]
    return value

def twists(value):
    """Values of the wrong type or range, made from the one there."""
    return [None, [value], {{"x": value}}, str(value), -1, 0, 10**30, 2**31, 1e308, 0.5, True,
            "float64", "", [], {{}}, (value * 3 if isinstance(value, (list, str)) else value)]

@SETTINGS
@given(st.sampled_from(PATHS), st.data())
def json_fuzz(path, data):
    value = data.draw(st.sampled_from(twists(value_at(path))) | JSON)
    edited = json.loads(members["model.json"])
    if not path:
        edited = value
    else:
        target = edited
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    check(zipped({{**members, "model.json": json.dumps(edited).encode()}}))

@SETTINGS
@given(st.sampled_from(sorted(members)), st.binary(max_size=300) | st.sampled_from([
    b"", b"\x93NUMPY", b"\x93NUMPY\x01\x00\x10\x00{{'descr': '<f4'"]))
def member_fuzz(name, data):
    check(zipped({{**members, name: data}}))

DESCR = ["<f4", "<f8", "<f2", ">f4", "|O", "<i8", "V8", "<U3", "|b1", "<c8", "O", "<f4x",
         "[('a', '<f4')]"]

@SETTINGS
@given(st.sampled_from(sorted(n for n in members if n.endswith(".npy"))),
       st.sampled_from([b"\x01\x00", b"\x02\x00", b"\x03\x00", b"\x00\x09"]),
       st.sampled_from(DESCR) | st.text(max_size=6), st.booleans() | st.sampled_from(["x", 1]),
       st.lists(st.integers(-3, 2**40) | st.sampled_from([3, 2, 1, 0]), max_size=5),
       st.integers(0, 200), st.integers(0, 300))
def npy_fuzz(name, version, descr, fortran, shape, cut, size):
    text = (f"{{{{'descr': {{descr!r}}, 'fortran_order': {{fortran!r}}, "
            f"'shape': {{tuple(shape)!r}}, }}}}")
    header = text.encode("latin1", "replace")[:cut] + b"\n"
    length = len(header).to_bytes(2 if version == b"\x01\x00" else 4, "little")
    check(zipped({{**members, name: b"\x93NUMPY" + version + length + header + bytes(size)}}))

report("npy", npy_fuzz)
report("bytes", bytes_fuzz)
report("json", json_fuzz)
report("members", member_fuzz)
report("counts", lambda: COUNTS)
'''


@pytest.mark.slow  # 3 x 200 examples of the loader in a limited subprocess (~10 s)
def test_the_model_loader_fuzzed_loads_cleanly_or_raises_model_file_error():
    outcomes, result = run_cases(_FUZZ.format(examples=200), timeout=600)
    assert set(outcomes) == {"bytes", "json", "members", "npy", "counts"}, result.stderr[-3000:]
    failed = {kind: outcome for kind, outcome in outcomes.items() if outcome["type"] is not None}
    assert not failed, failed
    counts = outcomes["counts"]["value"]
    assert counts["loaded"] > 20 and counts["refused"] > 300, counts  # both paths exercised


def test_a_short_fuzz_of_the_model_loader():
    outcomes, result = run_cases(_FUZZ.format(examples=8), timeout=300)
    assert set(outcomes) == {"bytes", "json", "members", "npy", "counts"}, result.stderr[-3000:]
    assert all(outcome["type"] is None for outcome in outcomes.values()), outcomes
