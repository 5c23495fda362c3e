"""`striate serve` and `LiveView` through their HTTP API with http.client: no browser needed."""

import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib

import numpy as np
import pytest

pytest.importorskip("PIL")
from serving import digit_model, floats, png, request, stroke_png

from striate.callbacks import LiveView
from striate.see import inspect_model, receptive_field
from striate.serve import serve
from striate.serve.explorer import shades


@pytest.fixture(scope="module")
def server():
    model = digit_model()
    with serve(model) as running:
        yield running


def run(server, body, digit=False):
    status, result = request(server.port, "POST", "/api/run" + ("?digit=1" if digit else ""), body)
    assert status == 200, result
    return result


def test_run_matches_predict_and_see(server):
    model = server.explorer.model
    result = run(server, stroke_png(), digit=True)
    x = floats(result["input"]["values"]).reshape(result["input"]["shape"])
    expected = model.predict(x[None], verbose=0)[0]
    np.testing.assert_allclose(result["probabilities"], expected, rtol=0, atol=1e-6)
    assert result["top"][0] == int(np.argmax(expected))
    inspection = inspect_model(model, x)
    assert [layer["shape"] for layer in result["layers"]] == [
        list(layer.output_shape[1:]) for layer in model.layers
    ]
    for mine, record in zip(result["layers"], inspection.layers):
        np.testing.assert_array_equal(floats(mine["values"]), record.output.ravel())
        assert mine["dead"] == pytest.approx(np.mean(record.output == 0))
    assert "pre" in result["layers"][0] and "pre" not in result["layers"][1]


def test_png_upload_equals_striate_predict(server, tmp_path, capsys):
    from striate.cli import main

    model = server.explorer.model
    path = tmp_path / "model.striate"
    model.save(path)
    picture = np.random.default_rng(0).integers(0, 256, (40, 30)).astype(np.uint8)
    (tmp_path / "x.png").write_bytes(png(picture))
    assert main(["predict", str(path), str(tmp_path / "x.png"), "--json", "--top", "1"]) == 0
    predicted = json.loads(capsys.readouterr().out)[0]["probabilities"]
    result = run(server, png(picture))
    np.testing.assert_allclose(result["probabilities"], predicted, rtol=0, atol=1e-6)


def test_pictures_are_striate_see_gray_bytes(server):
    mpl = pytest.importorskip("matplotlib")
    from striate.see import feature_map_images

    gray = mpl.colormaps["gray"]
    index = np.arange(256)
    np.testing.assert_array_equal(shades(index / 256.0 + 1e-9), gray(index, bytes=True)[:, 0])
    values = np.random.default_rng(1).random(10_000)
    np.testing.assert_array_equal(shades(values), gray(values, bytes=True)[:, 0])
    result = run(server, stroke_png(), digit=True)
    x = floats(result["input"]["values"]).reshape(result["input"]["shape"])
    record = inspect_model(server.explorer.model, x).layers[0]
    import base64

    mine = np.frombuffer(base64.b64decode(result["layers"][0]["pictures"]), np.uint8)
    mine = mine.reshape(result["layers"][0]["picture_shape"])
    for channel, image in feature_map_images(record):
        np.testing.assert_array_equal(mine[channel], gray(image, bytes=True)[..., 0])


def test_field_and_walkthroughs(server):
    model = server.explorer.model
    result = run(server, stroke_png(), digit=True)
    x = floats(result["input"]["values"]).reshape(result["input"]["shape"])
    inspection = inspect_model(model, x)
    for layer, row, col in [(0, 5, 7), (1, 3, 4), (2, 0, 6), (2, 6, 6)]:
        status, field = request(server.port, "GET", f"/api/field?layer={layer}&row={row}&col={col}")
        assert status == 200, field
        assert field["field"] == list(receptive_field(model, layer, (row, col)))
    for layer, channel, row, col in [(0, 3, 5, 7), (2, 1, 0, 6), (2, 2, 6, 0)]:
        path = f"/api/walk?layer={layer}&filter={channel}&row={row}&col={col}"
        status, walk = request(server.port, "GET", path)
        assert status == 200, walk
        unit = inspection.layers[layer].pre_activation[row, col, channel]
        assert walk["sum"] + walk["bias"] == pytest.approx(unit, abs=1e-5)
        products = np.array(walk["values"]) * np.array(walk["kernel"])
        np.testing.assert_allclose(walk["products"], products, rtol=1e-12)
        assert walk["activated"] == pytest.approx(
            inspection.layers[layer].output[row, col, channel], abs=1e-5
        )
    status, walk = request(server.port, "GET", "/api/walk?layer=1&filter=2&row=4&col=5")
    assert status == 200, walk
    window = inspection.layers[0].output[8:10, 10:12, 2]
    first = np.unravel_index(np.argmax(window), window.shape)  # striate's tie rule: the first
    assert walk["argmax"] == list(first)
    assert walk["total"] == pytest.approx(inspection.layers[1].output[4, 5, 2])


def test_model_description_and_a_37_class_rgb_model():
    model = digit_model(classes=37, shape=(16, 16, 3))
    model.metadata = {"class_names": [f"c{i}" for i in range(37)]}
    with serve(model) as running:
        status, info = request(running.port, "GET", "/api/model")
        assert status == 200
        assert len(info["class_names"]) == 37 and info["input_shape"] == [16, 16, 3]
        assert info["layers"][0]["filters"]["shape"] == [6, 3, 3, 3]
        assert info["layers"][2]["strides"] == [2, 2] and info["layers"][2]["padding"] == "same"
        rgb = np.random.default_rng(2).integers(0, 256, (20, 24, 3)).astype(np.uint8)
        result = run(running, png(rgb))
        assert len(result["probabilities"]) == 37 and result["input"]["shape"] == [16, 16, 3]
        status, answer = request(running.port, "POST", "/api/run?digit=1", png(rgb))
        assert status == 400 and "one-channel" in answer["error"]


def _png_header(width, height):
    def chunk(kind, data):
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def test_bad_requests_get_clear_4xx_and_the_server_keeps_serving(server):
    port = server.port
    cases = [
        ("POST", "/api/run", b"not an image at all", {}, 415, "not an image"),
        ("POST", "/api/run", _png_header(30000, 30000), {}, 413, "limit of"),
        ("POST", "/api/run", _png_header(5000, 5000), {}, 413, "5000x5000"),
        ("POST", "/api/run", b"", {}, 400, "needs the image"),
        ("GET", "/", None, {"Host": f"evil.example:{port}"}, 403, "Host"),
        ("POST", "/api/run", b"x", {"Origin": "http://evil.example"}, 403, "Origin"),
        ("GET", "/api/field?layer=../../etc/passwd&row=0&col=0", None, {}, 400, "layer"),
        ("GET", "/api/field?layer=/etc/passwd&row=0&col=0", None, {}, 400, "integer"),
        ("GET", "/api/field?layer=99&row=0&col=0", None, {}, 400, "from 0 to 4"),
        ("GET", "/api/field?layer=0&row=999&col=0", None, {}, 400, "outside"),
        ("GET", "/api/walk?layer=3&filter=0&row=0&col=0", None, {}, 400, "no walkthrough"),
        ("GET", "/../../etc/passwd", None, {}, 404, "no such page"),
        ("GET", "/static/../saving.py", None, {}, 404, "no such page"),
        ("GET", "/static/../server.py", None, {}, 404, "no such page"),
        ("GET", "/api/sample?index=0", None, {}, 404, "no dataset"),
    ]
    for method, path, body, headers, status, words in cases:
        got, answer = request(port, method, path, body, headers)
        assert (got, words in answer["error"]) == (status, True), (path, answer)
    # a 20 MiB body is refused from its Content-Length, before it is read
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        raw.sendall(
            f"POST /api/run HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Length: {20 << 20}\r\n\r\n".encode()
        )
        assert raw.recv(100).startswith(b"HTTP/1.1 413")
    assert request(port, "GET", "/api/model")[0] == 200
    assert request(port, "GET", "/", headers={"Host": f"localhost:{port}"})[0] == 200


def test_walk_needs_an_input_first():
    with serve(digit_model()) as running:
        status, answer = request(running.port, "GET", "/api/walk?layer=0&filter=0&row=0&col=0")
        assert status == 409 and "run an input first" in answer["error"]


def _events(port, until, timeout=20):
    """(kind, data) of the SSE stream until an event of kind `until` arrives."""
    connection = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    connection.sendall(f"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    stream, events, kind = connection.makefile("rb"), [], None
    try:
        for line in stream:
            line = line.decode().rstrip("\n")
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                events.append((kind, json.loads(line[6:])))
                if kind == until:
                    return events
    finally:
        connection.close()
    return events


@pytest.mark.slow  # over 1 s (the quick tier stays under a minute)
def test_watch_reloads_a_rewritten_model_file(tmp_path):
    path = tmp_path / "m.striate"
    model = digit_model()
    model.save(path)
    with serve(str(path), watch=True) as running:
        before = run(running, stroke_png(), digit=True)["probabilities"]
        got = []
        reader = threading.Thread(target=lambda: got.extend(_events(running.port, "model")))
        reader.start()
        time.sleep(0.3)
        digit_model(seed=7).save(path)
        start = time.monotonic()
        reader.join(10)
        assert got and got[-1][0] == "model" and time.monotonic() - start < 2.5
        after = run(running, stroke_png(), digit=True)["probabilities"]
        assert not np.allclose(before, after)


def test_stop_returns_quickly_with_a_stream_open():
    running = serve(digit_model())
    connection = socket.create_connection(("127.0.0.1", running.port), timeout=5)
    connection.sendall(
        f"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:{running.port}\r\n\r\n".encode()
    )
    time.sleep(0.2)
    start = time.monotonic()
    running.stop()
    assert time.monotonic() - start < 2
    connection.close()


def test_live_view_streams_the_history_and_survives_a_closed_page():
    model = digit_model(shape=(8, 8, 1))
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["acc"])
    rng = np.random.default_rng(0)
    x, y = rng.random((64, 8, 8, 1)).astype(np.float32), rng.integers(0, 10, 64)
    live = LiveView(every=0.0, probe=(x[:4], y[:4]), keep_open=True, verbose=False)
    live.start()
    got = []
    reader = threading.Thread(target=lambda: got.extend(_events(live.server.port, "end")))
    reader.start()
    closed = socket.create_connection(("127.0.0.1", live.server.port))  # a page that goes away
    closed.sendall(
        f"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:{live.server.port}\r\n\r\n".encode()
    )
    closed.close()
    history = model.fit(
        x, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0, callbacks=[live]
    )
    reader.join(20)
    live.stop()
    epochs = [data for kind, data in got if kind == "epoch"]
    assert [e["epoch"] for e in epochs] == [0, 1, 2]
    for key, values in history.history.items():
        np.testing.assert_allclose([e["logs"][key] for e in epochs], values, rtol=0, atol=1e-6)
    kinds = {kind for kind, _ in got}
    assert {"begin", "batch", "filters", "probe", "end"} <= kinds
    filters = [data["pictures"] for kind, data in got if kind == "filters"]
    assert filters[0] != filters[-1]


def _cli(*args, **options):
    return subprocess.Popen(
        [sys.executable, "-m", "striate.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **options,
    )


@pytest.mark.slow  # over 1 s (the quick tier stays under a minute)
def test_cli_errors_are_one_line(tmp_path):
    (tmp_path / "bad.zip").write_bytes(b"PK\x03\x04 not really")
    for name in ("nothere.striate", "bad.zip"):
        done = _cli("serve", str(tmp_path / name))
        out, err = done.communicate(timeout=60)
        assert done.returncode != 0 and err.count("\n") == 1, err
        assert err.startswith("striate serve: error:")


@pytest.mark.slow  # two subprocesses
def test_cli_serves_on_loopback_and_stops_on_ctrl_c(tmp_path):
    import signal

    path = tmp_path / "m.striate"
    digit_model().save(path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = _cli("serve", str(path), "--port", str(taken.getsockname()[1]))
        _, err = busy.communicate(timeout=60)
        assert busy.returncode == 2 and "Address already in use" in err and "--port" in err
    server = _cli("serve", str(path), "--port", "0", env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        line = server.stdout.readline()
        assert line.startswith(f"Serving {path} at http://127.0.0.1:"), line
        port = int(line.split(":")[-1].split("/")[0])
        assert request(port, "GET", "/api/model")[0] == 200
        outside = _outside_address()
        if outside is not None:
            with pytest.raises(OSError):
                socket.create_connection((outside, port), timeout=2).close()
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=2) == 130
    finally:
        server.kill()


def _outside_address():
    """An address of this host that is not loopback, or None."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("10.255.255.255", 1))
            address = probe.getsockname()[0]
    except OSError:
        return None
    return None if address.startswith("127.") else address


def test_samples_of_the_recorded_dataset():
    pytest.importorskip("sklearn")
    from striate.cli.common import load_dataset

    model = digit_model(shape=(8, 8, 1))
    model.metadata = {"dataset": "digits"}
    (_, _), (x_test, y_test) = load_dataset("digits")
    with serve(model) as running:
        status, info = request(running.port, "GET", "/api/model")
        assert info["samples"] == len(x_test)
        status, result = request(running.port, "GET", "/api/sample?index=5")
        assert status == 200 and result["label"] == int(y_test[5])
        expected = model.predict(x_test[5:6] / np.float32(255), verbose=0)[0]
        np.testing.assert_allclose(result["probabilities"], expected, atol=1e-6)
        status, answer = request(running.port, "GET", f"/api/sample?index={len(x_test)}")
        assert status == 400 and "index" in answer["error"]


def test_another_host_warns_and_is_answered_by_its_name():
    with pytest.warns(RuntimeWarning, match="no login"):
        running = serve(digit_model(), host="127.0.0.2")
    with running:
        connection = socket.create_connection(("127.0.0.2", running.port), timeout=5)
        connection.sendall(
            f"GET /api/model HTTP/1.1\r\nHost: 127.0.0.2:{running.port}\r\n\r\n".encode()
        )
        assert connection.recv(20).startswith(b"HTTP/1.1 200")
        connection.close()


def test_a_failing_handler_answers_500_and_the_server_goes_on():
    from striate.serve import Server

    def broken(query, body):
        raise KeyError("oops")

    routes = {("GET", "/api/broken"): broken, ("GET", "/api/ok"): lambda q, b: (200, q)}
    with Server(routes, "explorer.html").start() as running:
        status, answer = request(running.port, "GET", "/api/broken")
        assert status == 500 and answer["error"] == "internal error: KeyError: 'oops'"
        assert request(running.port, "GET", "/api/ok?a=1") == (200, {"a": "1"})
