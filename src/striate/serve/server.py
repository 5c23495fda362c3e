"""A small local web server on the standard library: JSON routes, the package's static files and
Server-Sent Events, with the defaults a loopback server needs against the browser.

`Server(routes, page)` runs `http.server.ThreadingHTTPServer` in a daemon thread (Netron's
shape). Security, each one tested in tests/test_serve_api.py:

- it binds 127.0.0.1 unless told otherwise (`host=`; the CLI warns);
- a request whose `Host` is not this server's loopback address gets 403 (DNS rebinding);
- a POST whose `Origin` is not the served origin gets 403;
- request bodies are capped (`MAX_BODY`, 413) and must say their length (411);
- static files come from a table of the package's `static/` folder made at start: nothing in a
  request is ever joined to a path (404 for anything else).

Handlers get `(query, body)` and return `(status, json-able)` or raise `RequestError` (a 4xx
with a one-line message). `EventHub` keeps the last events in a ring buffer and serves them as
SSE with `Last-Event-ID` replay; every stream wakes at least twice a second to notice `stop()`.
"""

import collections
import json
import os
import sys
import threading
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 8 << 20  # bytes a request body may hold
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
_STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


class RequestError(Exception):
    """A bad request: answered with `status` and `{"error": message}`; the server keeps going."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def static_files():
    """{url path: (bytes, content type)} of every file in the package's static folder."""
    table = {}
    for name in sorted(os.listdir(_STATIC)):
        kind = _TYPES.get(os.path.splitext(name)[1])
        if kind is not None:
            with open(os.path.join(_STATIC, name), "rb") as file:
                table["/static/" + name] = (file.read(), kind)
    return table


class EventHub:
    """The last `capacity` events, numbered from 1, for any number of SSE readers.

    >>> hub = EventHub(capacity=2)
    >>> for n in range(3): _ = hub.publish("batch", {"n": n})
    >>> [(i, kind) for i, kind, _ in hub.since(0)]
    [(2, 'batch'), (3, 'batch')]
    """

    def __init__(self, capacity=10_000):
        self._events = collections.deque(maxlen=capacity)
        self._next = 1
        self._changed = threading.Condition()

    def publish(self, kind, data):
        """Add an event (data: json-able, encoded now so later changes cannot leak in)."""
        text = json.dumps(data, separators=(",", ":"))
        with self._changed:
            event_id = self._next
            self._events.append((event_id, kind, text))
            self._next += 1
            self._changed.notify_all()
        return event_id

    def since(self, last_id):
        with self._changed:
            return [event for event in self._events if event[0] > last_id]

    def wait(self, last_id, timeout):
        """Events after `last_id`, waiting up to `timeout` seconds for one."""
        with self._changed:
            if self._next - 1 <= last_id:
                self._changed.wait(timeout)
            return [event for event in self._events if event[0] > last_id]


class Server:
    """Serve `routes` ({("GET", "/api/x"): handler}) and `page` (the file for "/") on a port.

    Args:
        routes: handlers `handler(query: dict of str, body: bytes) -> (status, json-able)`.
        page: the static file name served at "/" (e.g. "explorer.html").
        host: the address to bind (default 127.0.0.1). port: 0 picks a free one.
        hub: an EventHub served at /api/events (None: no stream).
    """

    def __init__(self, routes, page, host="127.0.0.1", port=0, hub=None):
        self.routes, self.hub, self.host = dict(routes), hub, host
        self.static = static_files()
        self.static["/"] = self.static["/static/" + page]
        self.stopping = threading.Event()
        try:
            self.httpd = ThreadingHTTPServer((host, port), _handler_class(self))
        except OSError as error:
            reason = error.strerror or str(error)
            raise OSError(f"cannot listen on {host}:{port}: {reason}") from None
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.port = self.httpd.server_address[1]
        self._thread = None

    @property
    def url(self):
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def allowed_hosts(self):
        names = set(LOOPBACK) | ({self.host} if self.host not in ("0.0.0.0", "::") else set())
        return {f"{name}:{self.port}" for name in names}

    def start(self):
        """Serve in a daemon thread; returns self."""
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self):
        """Stop serving (open streams end within half a second)."""
        self.stopping.set()
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(2)
        self.httpd.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def __repr__(self):
        return f"<Server {self.url} routes={len(self.routes)}>"


def _handler_class(server):
    class Handler(_Handler):
        owner = server

    return Handler


class _Handler(BaseHTTPRequestHandler):
    owner = None
    protocol_version = "HTTP/1.1"
    server_version = "striate"
    sys_version = ""

    def log_message(self, format, *args):  # quiet: the terminal shows training's progress
        if os.environ.get("STRIATE_SERVE_LOG"):
            sys.stderr.write("serve: " + format % args + "\n")

    def do_GET(self):
        self._answer("GET")

    def do_POST(self):
        self._answer("POST")

    def _answer(self, method):
        try:
            self._check_host(method)
            parsed = urllib.parse.urlsplit(self.path)
            path = parsed.path
            query = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
            if method == "GET" and path == "/api/events" and self.owner.hub is not None:
                return self._stream(query)
            handler = self.owner.routes.get((method, path))
            if handler is None:
                if method == "GET" and path in self.owner.static:
                    return self._send(200, *self.owner.static[path])
                raise RequestError(404, f"no such page: {path[:80]}")
            body = self._body() if method == "POST" else b""
            status, data = handler(query, body)
            self._json(status, data)
        except RequestError as error:
            self._json(error.status, {"error": str(error)}, close=error.status >= 411)
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as error:  # a bug or out of memory: one line, and the server goes on
            message = f"internal error: {type(error).__name__}: {error}"
            try:
                self._json(500, {"error": message[:500]}, close=True)
            except OSError:
                pass

    def _check_host(self, method):
        host = self.headers.get("Host", "")
        if host not in self.owner.allowed_hosts():
            raise RequestError(
                403,
                f"this server answers requests for {self.owner.url} only "
                f"(Host header check). Received: Host={host[:80]!r}",
            )
        origin = self.headers.get("Origin")
        if method == "POST" and origin is not None:
            scheme, _, rest = origin.partition("://")
            if scheme != "http" or rest not in self.owner.allowed_hosts():
                raise RequestError(
                    403, f"cross-origin request refused. Received: Origin={origin[:80]!r}"
                )

    def _body(self):
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise RequestError(411, "a POST needs a Content-Length header")
        if int(length) > MAX_BODY:
            raise RequestError(
                413, f"the request body is {int(length)} bytes, over the limit of {MAX_BODY}"
            )
        return self.rfile.read(int(length))

    def _json(self, status, data, close=False):
        payload = json.dumps(data, separators=(",", ":")).encode()
        self._send(status, payload, "application/json", close)

    def _send(self, status, payload, kind, close=False):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", "default-src 'self'; img-src 'self' data:")
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(payload)

    def _stream(self, query):
        last = self.headers.get("Last-Event-ID") or query.get("last", "0")
        last = int(last) if last.isdigit() else 0
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        hub, quiet = self.owner.hub, 0
        while not self.owner.stopping.is_set():
            events = hub.wait(last, 0.5)
            for event_id, kind, text in events:
                self.wfile.write(f"id: {event_id}\nevent: {kind}\ndata: {text}\n\n".encode())
                last = event_id
            quiet = 0 if events else quiet + 1
            if quiet >= 20:  # a comment every ~10 s notices a closed page
                self.wfile.write(b": keep-alive\n\n")
                quiet = 0
            self.wfile.flush()
