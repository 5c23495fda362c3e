"""What `LiveView` costs training: `fit` of the article's model with and without it, with a page
attached, alternating (A B A B ...), median seconds of each.

    .venv/bin/python benchmarks/live_overhead.py                       # Fashion-MNIST, chromium
    .venv/bin/python benchmarks/live_overhead.py --client sse          # a plain SSE reader
    .venv/bin/python benchmarks/live_overhead.py --dataset digits --epochs 5 --pairs 3

`--client browser` opens the live page in Debian's headless chromium through playwright (the
page draws every curve point and filter; the runs without LiveView have the browser open on an
empty page, since on a 2-core machine a running browser alone takes training's CPU); `sse`
reads and decodes the stream in a thread, as a page would, without the browser's own CPU use;
`none` serves with no one watching.
"""

import argparse
import os
import shutil
import statistics
import sys
import threading
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

from striate import utils  # noqa: E402
from striate.callbacks import LiveView  # noqa: E402
from striate.zoo import article  # noqa: E402


def data(name, samples):
    if name == "digits":
        from striate.datasets import digits

        (x, y), (xv, yv) = digits.load_data()
    else:
        from striate.datasets import fashion_mnist

        (x, y), (xv, yv) = fashion_mnist.load_data()
    x, xv = x[:samples, ..., None] / np.float32(255), xv[:2000, ..., None] / np.float32(255)
    return (x.astype(np.float32), y[:samples]), (xv.astype(np.float32), yv[:2000])


def one_fit(train, validation, epochs, live):
    utils.set_random_seed(0)
    model = article(train[0].shape[1:], 10)
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["acc"])
    start = time.perf_counter()
    model.fit(
        *train,
        epochs=epochs,
        batch_size=32,
        validation_data=validation,
        verbose=0,
        callbacks=[live] if live else None,
    )
    return time.perf_counter() - start


def sse_reader(url, stop):
    import http.client
    import json
    import urllib.parse

    where = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(where.hostname, where.port, timeout=30)
    connection.request("GET", "/api/events")
    stream = connection.getresponse()
    while not stop.is_set():
        line = stream.fp.readline()
        if not line:
            break
        if line.startswith(b"data: "):
            json.loads(line[6:])
    connection.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=("fashion-mnist", "digits"), default="fashion-mnist")
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--client", choices=("browser", "sse", "none"), default="browser")
    args = parser.parse_args()
    train, validation = data(args.dataset, args.samples)
    browser = driver = None
    if args.client == "browser":
        from playwright.sync_api import sync_playwright

        driver = sync_playwright().start()
        browser = driver.chromium.launch(
            executable_path=shutil.which("chromium"),
            args=["--disable-gpu", "--disable-background-networking", "--no-first-run"],
        )
    plain, watched = [], []
    one_fit(train, validation, 1, None)  # warm-up
    for _ in range(args.pairs):
        blank = browser.new_page() if browser is not None else None
        if blank is not None:  # the baseline has the browser open too, on an empty page
            blank.goto("about:blank")
        plain.append(one_fit(train, validation, args.epochs, None))
        if blank is not None:
            blank.close()
        live = LiveView(probe=(validation[0][:8], validation[1][:8]), verbose=False)
        url, stop, page, reader = live.start(), threading.Event(), None, None
        if browser is not None:
            page = browser.new_page()
            page.goto(url)
        elif args.client == "sse":
            reader = threading.Thread(target=sse_reader, args=(url, stop), daemon=True)
            reader.start()
        watched.append(one_fit(train, validation, args.epochs, live))
        stop.set()
        if page is not None:
            page.close()
        print(f"  pair: without {plain[-1]:.3f} s, with LiveView {watched[-1]:.3f} s", flush=True)
    if browser is not None:
        browser.close()
        driver.stop()
    a, b = statistics.median(plain), statistics.median(watched)
    print(
        f"{args.dataset} {len(train[0])} samples, {args.epochs} epochs, client {args.client}: "
        f"median without {a:.3f} s, with LiveView {b:.3f} s, overhead {100 * (b / a - 1):+.1f}% "
        f"(runs without: {min(plain):.3f}-{max(plain):.3f} s)"
    )


if __name__ == "__main__":
    main()
