"""The explorer and the live view in a real browser: Debian's Chromium driven by Playwright.

Skipped (with the reason) where chromium or playwright is missing, and failed then under
CI=true: CI installs both (.ci/run). Playwright is pointed at the system Chromium; never run
`playwright install`. The screenshots in the README are written here, to docs/images/.
"""

import os
import shutil
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

pytest.importorskip("PIL")
from serving import digit_model, png

from striate.callbacks import LiveView
from striate.see import feature_map_images, inspect_model, receptive_field
from striate.serve import serve

pytestmark = [pytest.mark.browser, pytest.mark.slow]
IMAGES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "images")
FLAGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _missing(what):
    message = f"browser tests need {what}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}, and CI must run them (.ci/run installs them)")
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        _missing("Debian's chromium (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright (pip install 'striate[test]')")
    with sync_playwright() as driver:
        try:
            launched = driver.chromium.launch(executable_path=chromium, headless=True, args=FLAGS)
        except Exception as error:
            pytest.fail(f"playwright could not start {chromium}: {error}")
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    # bypass_csp: the tests' own wait_for_function predicates are evaluated strings, which the
    # page's Content-Security-Policy (no eval) refuses
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, bypass_csp=True)
    opened = context.new_page()
    errors = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert not errors, errors


def _draw_one(page):
    box = page.locator("#draw").bounding_box()
    x = box["x"] + box["width"] / 2
    page.mouse.move(x, box["y"] + 40)
    page.mouse.down()
    for step in range(1, 11):
        page.mouse.move(x + step, box["y"] + 40 + step * 20)
    page.mouse.up()
    page.click("#predict")
    page.wait_for_selector("#probs .bar")


def _bars(page):
    return page.eval_on_selector_all(
        "#probs .bar",
        "bars => bars.map(b => [Number(b.dataset.index), b.querySelector('.value').textContent])",
    )


def _pixels(page, selector):
    data = page.eval_on_selector(
        selector,
        "c => Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)",
    )
    return np.array(data, np.uint8)


def _check_probabilities(page, model, x):
    expected = model.predict(x[None], verbose=0)[0]
    bars = _bars(page)
    assert len(bars) == len(expected)
    assert bars[0][0] == int(np.argmax(expected))  # the top class first
    for index, text in bars:
        assert abs(float(text) - expected[index]) <= 5.001e-5, (index, text, expected[index])


def test_draw_predict_maps_and_units(page):
    mpl = pytest.importorskip("matplotlib")
    model = digit_model()
    with serve(model) as server:
        page.goto(server.url)
        _draw_one(page)
        x = server.explorer.last
        _check_probabilities(page, model, x)
        inspection = inspect_model(model, x)
        # feature-map pixels: byte for byte what striate.see draws (gray, per-map min/max)
        channel, image = feature_map_images(inspection.layers[0])[3]
        expected = mpl.colormaps["gray"](image, bytes=True).reshape(-1)
        drawn = _pixels(page, 'canvas[data-kind="out"][data-layer="0"][data-channel="3"]')
        np.testing.assert_array_equal(drawn, expected)
        assert (drawn[3::4] == 255).all()
        # click a conv unit: its receptive field and the walkthrough's sum + bias
        for layer, channel, row, col in [(0, 3, 5, 9), (2, 1, 3, 2)]:
            _click_unit(page, layer, channel, row, col)
            _check_unit(page, model, inspection, layer, channel, row, col)
        page.keyboard.press("ArrowRight")
        page.wait_for_function("document.querySelector('#field-box').dataset.field !== undefined")
        _wait_field(page, model, 2, (3, 3))
        _check_unit(page, model, inspection, 2, 1, 3, 3)
        # a pooling unit: the highlighted cell is the window's first maximum
        _click_unit(page, 1, 2, 4, 5)
        page.wait_for_selector('#walk .walk[data-kind="max"]')
        window = inspection.layers[0].output[8:10, 10:12, 2]
        first = np.unravel_index(np.argmax(window), window.shape)
        argmax = page.get_attribute("#walk .walk", "data-argmax")
        assert argmax == f"{first[0]},{first[1]}"


def _click_unit(page, layer, channel, row, col):
    selector = f'canvas[data-kind="out"][data-layer="{layer}"][data-channel="{channel}"]'
    scale = float(page.get_attribute(selector, "data-scale"))
    page.click(selector, position={"x": (col + 0.5) * scale, "y": (row + 0.5) * scale})


def _wait_field(page, model, layer, position):
    field = ",".join(str(v) for v in receptive_field(model, layer, position))
    page.wait_for_function(
        f"document.querySelector('#field-box').dataset.field === '{field}' && "
        f"document.querySelector('#walk .walk') !== null"
    )


def _check_unit(page, model, inspection, layer, channel, row, col):
    _wait_field(page, model, layer, (row, col))
    page.wait_for_selector('#walk .walk[data-kind="conv"]')
    walk = page.locator("#walk .walk")
    total = float(walk.get_attribute("data-sum")) + float(walk.get_attribute("data-bias"))
    unit = inspection.layers[layer].pre_activation[row, col, channel]
    assert abs(total - unit) <= 1e-5
    shown = float(page.get_attribute("#walk", "data-value"))
    assert abs(shown - inspection.layers[layer].output[row, col, channel]) <= 1e-6


def test_dropped_rgb_image_with_37_classes(page, tmp_path):
    model = digit_model(classes=37, shape=(16, 16, 3))
    model.metadata = {"class_names": [f"class {i}" for i in range(37)]}
    picture = np.random.default_rng(5).integers(0, 256, (24, 20, 3)).astype(np.uint8)
    (tmp_path / "rgb.png").write_bytes(png(picture))
    with serve(model) as server:
        page.goto(server.url)
        page.wait_for_selector("#title:not(:text('striate explorer'))")
        assert page.is_hidden("#draw-area")
        page.set_input_files("#file", str(tmp_path / "rgb.png"))
        page.wait_for_selector("#probs .bar")
        assert page.locator("#input-maps canvas").count() == 3
        assert page.locator('canvas[data-kind="out"][data-layer="0"]').count() == 6
        _check_probabilities(page, model, server.explorer.last)


def _wait_end(page, timeout=60_000):
    page.wait_for_function("window.live && window.live.ended", timeout=timeout)
    return page.evaluate(
        "({epochs: live.epochs, batches: live.batches.length, filters: live.filters})"
    )


def test_live_view_of_fit(browser, tmp_path):
    model = digit_model(shape=(8, 8, 1))
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["acc"])
    rng = np.random.default_rng(0)
    x, y = rng.random((3000, 8, 8, 1)).astype(np.float32), rng.integers(0, 10, 3000)
    live = LiveView(every=0.05, probe=(x[:8], y[:8]), keep_open=True, verbose=False)
    url = live.start()
    viewport = {"width": 1300, "height": 800}
    first = browser.new_page(bypass_csp=True, viewport=viewport)
    second = browser.new_page(bypass_csp=True, viewport=viewport)
    first.goto(url)
    done = {}

    def train():
        done["history"] = model.fit(
            x, y, epochs=3, batch_size=32, validation_split=0.2, verbose=0, callbacks=[live]
        )

    trainer = threading.Thread(target=train)
    trainer.start()
    first.wait_for_function("live.epochs.length >= 1", timeout=60_000)
    second.goto(url)  # a page opened mid-training, then reloaded: it replays what it missed
    second.wait_for_function("live.batches.length >= 1")
    second.reload()
    seen = _wait_end(first)
    again = _wait_end(second)
    trainer.join(60)
    history = done["history"].history
    assert [p["epoch"] for p in seen["epochs"]] == [0, 1, 2]
    for key, values in history.items():
        np.testing.assert_allclose([p["logs"][key] for p in seen["epochs"]], values, atol=1e-6)
    assert (len(again["epochs"]), again["batches"]) == (3, seen["batches"])
    assert seen["filters"][0]["pictures"] != seen["filters"][-1]["pictures"]
    assert first.locator("#probe canvas").count() == 8
    live.stop()
    first.close()
    second.close()


def test_striate_train_live(page, tmp_path):
    pytest.importorskip("sklearn")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "striate.cli",
            "train",
            "--dataset",
            "digits",
            "--epochs",
            "3",
            "--batch-size",
            "8",
            "--live",
            "--port",
            "0",
            "--live-keep",
            "30",
            "--verbose",
            "0",
            "--seed",
            "0",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        url = None
        deadline = time.monotonic() + 120
        while url is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if line.startswith("Live view of training at "):
                url = line.split()[-1]
            assert line or process.poll() is None, process.stderr.read()
        page.goto(url)
        seen = _wait_end(page, timeout=120_000)
        assert [p["epoch"] for p in seen["epochs"]] == [0, 1, 2]
        assert set(seen["epochs"][0]["logs"]) == {"loss", "acc", "val_loss", "val_acc"}
        assert page.locator("#epochs tr").count() == 4
        os.makedirs(IMAGES, exist_ok=True)
        page.screenshot(path=os.path.join(IMAGES, "live.png"), full_page=True)
        saved = tmp_path / "article-digits.striate"
        while not saved.exists() and process.poll() is None:
            time.sleep(0.1)
        time.sleep(0.5)
    finally:
        process.kill()
        process.communicate()
    # the trained model in the explorer: a drawn "7", a unit of the first conv layer
    with serve(str(saved)) as server:
        page.goto(server.url)
        box = page.locator("#draw").bounding_box()
        page.mouse.move(box["x"] + 70, box["y"] + 60)
        page.mouse.down()
        for x, y in [(210, 60), (200, 90), (150, 170), (120, 240)]:
            page.mouse.move(box["x"] + x, box["y"] + y, steps=8)
        page.mouse.up()
        page.click("#predict")
        page.wait_for_selector("#probs .bar")
        _click_unit(page, 0, 1, 2, 3)
        page.wait_for_selector('#walk .walk[data-kind="conv"]')
        page.screenshot(path=os.path.join(IMAGES, "explorer.png"), full_page=True)
