"""The live browser explorer: `serve(model)` shows any image model in a local web page, and
`striate.callbacks.LiveView` streams training to one.

The server is the standard library's (`server.py`); the page is plain JavaScript from the
package's `static/` folder (no build step, nothing fetched from the internet); every number it
shows comes from `striate.see` (`explorer.py`), so the page and `striate predict`/`show` agree.

>>> from striate.layers import Conv2D, Dense, Flatten
>>> from striate.models import Sequential
>>> model = Sequential([Conv2D(2, 3, input_shape=(8, 8, 1)), Flatten(), Dense(3)])
>>> with serve(model) as server:
...     server.url.startswith("http://127.0.0.1:")
True
"""

import os
import threading
import warnings

from striate.serve.server import LOOPBACK, EventHub, RequestError, Server

__all__ = ["EventHub", "RequestError", "Server", "serve"]


def serve(model, port=0, host="127.0.0.1", browser=False, path=None, watch=False):
    """Serve the explorer of `model` and return the running Server (`.stop()` ends it).

    Args:
        model: an image model (height, width, channels input), or a model file's path.
        port: the port (0: a free one). host: the address to listen on; anything but loopback
            warns (the page has no login: anyone who reaches the port can use it).
        browser: open the page in the default browser.
        path: the model file (for `watch`); taken from `model` when that is a path.
        watch: reload the model when the file at `path` changes (a `model` event tells the page).
    """
    from striate.serve.explorer import Explorer

    try:
        import PIL  # noqa: F401  (uploads and drawings are decoded by Pillow)
    except ImportError:
        raise ImportError(
            "serve: the explorer reads images with Pillow, which is not installed: "
            "pip install 'striate[serve]'"
        ) from None
    if isinstance(model, (str, os.PathLike)):
        from striate.models import load_model

        path, model = os.fspath(model), load_model(model)
    if not model.built:
        model.build()
    if len(model.input_shape) != 4:
        raise ValueError(
            f"serve: the explorer shows image models (height, width, channels). "
            f"Received: input shape {model.input_shape}."
        )
    if host not in LOOPBACK:
        warnings.warn(
            f"serve: listening on {host}: the explorer has no login, so anyone who can reach "
            f"this address can use it",
            RuntimeWarning,
            stacklevel=2,
        )
    explorer = Explorer(model, getattr(model, "metadata", None))
    hub = EventHub(capacity=100)
    server = Server(explorer.routes(), "explorer.html", host=host, port=port, hub=hub)
    server.explorer = explorer
    server.start()
    if watch:
        if path is None:
            raise ValueError("serve: watch=True needs the model file's path. Received: path=None")
        threading.Thread(target=_watch, args=(server, path), daemon=True).start()
    if browser:
        import webbrowser

        webbrowser.open(server.url)
    return server


def _watch(server, path, every=0.5):
    """Reload the model whenever the file's modification time changes."""
    from striate.models import load_model

    def stamp():
        try:
            info = os.stat(path)
            return (info.st_mtime_ns, info.st_size)
        except OSError:
            return None

    seen = stamp()
    while not server.stopping.wait(every):
        now = stamp()
        if now is None or now == seen:
            continue
        seen = now
        try:
            model = load_model(path)
        except Exception as error:  # a half-written file: the next change tries again
            server.hub.publish("error", {"message": f"cannot reload {path}: {error}"})
            continue
        server.explorer.reload(model, getattr(model, "metadata", None))
        server.hub.publish("model", {"path": os.path.basename(path)})
