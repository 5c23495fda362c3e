"""Keras-style progress output that behaves in a terminal, a notebook and a CI log.

On a terminal (or in a notebook) `verbose=1` redraws one line per epoch with a bar, ETA,
time per step and running metrics; elsewhere (a CI log, a pipe) it prints only the final line of
each epoch, so logs never fill with thousands of lines. `verbose=2` prints one line per epoch.
"""

import sys
import time


def is_interactive(stream):
    """True where `\\r` redraws a line: a TTY, or a Jupyter kernel."""
    if "ipykernel" in sys.modules:
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def format_duration(seconds):
    if seconds >= 3600:
        return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}"
    if seconds >= 60:
        return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
    return f"{int(round(seconds))}s"


def format_per_step(seconds):
    if seconds >= 1:
        return f"{seconds:.0f}s/step"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/step"
    return f"{seconds * 1e6:.0f}us/step"


def format_logs(logs):
    return "".join(f" - {key}: {value:.4f}" for key, value in sorted(logs.items()))


class Progbar:
    """Progress of one epoch: `update(step, logs)` as steps finish, `finish(logs)` at the end.

    >>> import io
    >>> out = io.StringIO()
    >>> bar = Progbar(3, verbose=2, stream=out)
    >>> bar.finish({"loss": 0.5})
    >>> out.getvalue().startswith("3/3 - ")
    True
    """

    width = 30
    redraw_interval = 0.05

    def __init__(self, target, verbose=1, stream=None):
        self.target = target
        self.verbose = verbose
        self.stream = stream or sys.stdout
        self.dynamic = verbose == 1 and is_interactive(self.stream)
        self.start = time.perf_counter()
        self.last_draw = 0.0
        self.last_length = 0
        self.seen = 0  # the last step `update` was given (the total when target is None)

    def update(self, step, logs):
        self.seen = step
        if not self.dynamic:
            return
        now = time.perf_counter()
        if now - self.last_draw < self.redraw_interval:
            return
        self.last_draw = now
        elapsed = now - self.start
        if self.target is None:  # data of unknown length: the count alone, as Keras
            self._draw(f"{step}/Unknown - {format_duration(elapsed)}{format_logs(logs)}", end="")
            return
        eta = elapsed / step * (self.target - step)
        self._draw(f"{self._bar(step)} - ETA: {format_duration(eta)}{format_logs(logs)}", end="")

    def finish(self, logs):
        if not self.verbose:
            return
        if self.target is None:
            self.target = self.seen
        elapsed = time.perf_counter() - self.start
        timing = f"{format_duration(elapsed)} {format_per_step(elapsed / max(self.target, 1))}"
        if self.verbose == 2:
            line = f"{self.target}/{self.target} - {timing.replace(' ', ' - ')}"
        else:
            line = f"{self._bar(self.target)} - {timing}"
        self._draw(line + format_logs(logs), end="\n")

    def _bar(self, step):
        digits = len(str(self.target))
        filled = int(self.width * step / max(self.target, 1))
        arrow = ">" if filled < self.width else "="
        bar = (
            ("=" * max(filled - 1, 0) + arrow + "." * (self.width - filled))
            if filled
            else "." * self.width
        )
        return f"{step:>{digits}}/{self.target} [{bar}]"

    def _draw(self, text, end):
        if self.dynamic:
            padding = " " * max(self.last_length - len(text), 0)
            self.stream.write("\r" + text + padding + end)
            self.last_length = len(text)
        else:
            self.stream.write(text + end)
        self.stream.flush()
