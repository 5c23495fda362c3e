"""`LiveView`: a local web page that shows training as it runs (curves, first-layer filters,
predictions on a few fixed images), pushed to the browser as Server-Sent Events.

Only the training thread touches the model: at a batch's or an epoch's end it copies what the
page needs (the logs as floats; at most every `every` seconds, the first Conv2D's kernels) into
the server's event buffer, as JSON text. The server threads only send that text, so a slow or
closed page never waits on, stops or breaks training.
"""

import threading
import time

import numpy as np

from striate.callbacks.base import Callback


class LiveView(Callback):
    """Serve a page that streams training: `fit(..., callbacks=[LiveView()])`.

    Args:
        port: the port (0: a free one). host: where to listen (127.0.0.1).
        every: seconds between two snapshots of the filters (a quarter of it between two
            batch points); epochs are always sent.
        probe: (x, y) of a few validation images whose predictions the page shows each epoch
            (x as the model takes it; y integer labels), or None.
        class_names: names for the probe's classes (default: their indices).
        keep_open: keep serving after training ends (call `stop()` to end it).
        verbose: print the page's address when training starts.

    >>> view = LiveView(every=1.0)
    >>> view
    <LiveView not started>
    """

    def __init__(
        self,
        port=0,
        host="127.0.0.1",
        every=1.0,
        probe=None,
        class_names=None,
        keep_open=False,
        verbose=True,
    ):
        super().__init__()
        if not isinstance(every, (int, float)) or every < 0:
            raise ValueError(f"LiveView: every must be seconds >= 0. Received: every={every!r}")
        self.port, self.host, self.every = port, host, float(every)
        self.probe = None if probe is None else (np.asarray(probe[0]), np.asarray(probe[1]))
        self.class_names = class_names
        self.keep_open, self.verbose = keep_open, verbose
        self.server = None
        self._epoch, self._last_batch, self._last_filters = 0, 0.0, 0.0
        self._lock = threading.Lock()

    @property
    def url(self):
        return None if self.server is None else self.server.url

    def start(self):
        """Start serving (on_train_begin does it); returns the page's address."""
        from striate.serve.server import EventHub, Server

        if self.server is None:
            self.hub = EventHub(capacity=10_000)
            self.server = Server({}, "live.html", host=self.host, port=self.port, hub=self.hub)
            self.server.start()
        return self.server.url

    def close(self, after=0):
        """Keep serving `after` more seconds (Ctrl-C ends the wait), then stop."""
        try:
            if after and self.server is not None:
                print(f"The live view stays at {self.url} for {after} s (Ctrl-C ends it)")
                time.sleep(after)
        finally:
            self.stop()

    def stop(self):
        """Stop serving (open pages keep what they show)."""
        if self.server is not None:
            self.server.stop()
            self.server = None

    # -- hooks (the training thread) --------------------------------------------------------------
    def on_train_begin(self, logs=None):
        url = self.start()
        if self.verbose:
            print(f"Live view of training at {url}", flush=True)
        begin = {"params": _plain(self.params), "model": self.model.name}
        if self.probe is not None:
            x, y = self.probe
            begin["probe"] = {
                "shape": list(x.shape),
                "pictures": _probe_pictures(x),
                "labels": [int(v) for v in y.reshape(len(y), -1)[:, 0]],
            }
        names = self.class_names
        begin["class_names"] = None if names is None else [str(n) for n in names]
        self.hub.publish("begin", begin)
        self._filters(force=True)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        now = time.monotonic()
        if now - self._last_batch < self.every / 4:
            return
        self._last_batch = now
        point = {"epoch": self._epoch, "batch": batch, "logs": _floats(logs)}
        self.hub.publish("batch", point)
        self._filters()

    def on_epoch_end(self, epoch, logs=None):
        data = {"epoch": epoch, "logs": _floats(logs), "learning_rate": _learning_rate(self.model)}
        self.hub.publish("epoch", data)
        self._filters(force=True)
        if self.probe is not None:
            outputs = self.model.predict(self.probe[0], verbose=0)
            self.hub.publish(
                "probe",
                {
                    "epoch": epoch,
                    "predicted": [int(i) for i in np.argmax(outputs, axis=-1)],
                    "confidence": [float(p) for p in np.max(outputs, axis=-1)],
                },
            )

    def on_train_end(self, logs=None):
        self.hub.publish("end", {"epochs": self._epoch + 1})
        if not self.keep_open:  # soon, not now: the streams' next wake-up sends "end" first
            server, self.server = self.server, None
            threading.Timer(0.6, server.stop).start()

    def _filters(self, force=False):
        now = time.monotonic()
        if not force and now - self._last_filters < self.every:
            return
        self._last_filters = now
        from striate.layers.conv import Conv2D
        from striate.see import filter_images
        from striate.serve.explorer import pictures

        index = next((i for i, m in enumerate(self.model.layers) if isinstance(m, Conv2D)), None)
        if index is None:
            return
        _, images = filter_images(self.model, index)
        images = images[:64, :3]
        tiles = images.reshape(-1, *images.shape[2:])
        self.hub.publish(
            "filters",
            {
                "epoch": self._epoch,
                "shape": list(images.shape),
                "pictures": pictures([(None, tile) for tile in tiles]),
            },
        )

    def __repr__(self):
        return f"<LiveView {self.url or 'not started'}>"


def _floats(logs):
    return {key: float(value) for key, value in (logs or {}).items()}


def _plain(params):
    return {k: v for k, v in (params or {}).items() if isinstance(v, (int, float, str, type(None)))}


def _learning_rate(model):
    try:
        return float(model.optimizer.learning_rate)
    except (TypeError, ValueError, AttributeError):
        return None


def _probe_pictures(x):
    """The probe images as 0..1 pictures, one per image (channels averaged for more than 3)."""
    from striate.see.draw import normalize
    from striate.serve.explorer import pictures

    x = np.asarray(x, np.float64)
    gray = x.mean(axis=-1) if x.ndim == 4 else x
    return pictures([(None, normalize(image)) for image in gray])
