"""Progress output: one live line on a terminal, one final line per epoch in a log."""

import io
import re

from striate.models.progress import Progbar, format_duration, format_per_step


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_terminal_redraws_one_line_with_eta_then_finishes(monkeypatch):
    stream = FakeTerminal()
    bar = Progbar(1875, verbose=1, stream=stream)
    bar.redraw_interval = 0
    for step in (1, 900, 1875):
        bar.update(step, {"loss": 4.033, "acc": 0.7424})
    bar.finish({"loss": 4.033, "acc": 0.7424, "val_loss": 3.5352, "val_acc": 0.7746})
    out = stream.getvalue()
    assert out.count("\n") == 1 and out.endswith("\n")
    frames = out.split("\r")[1:]
    assert len(frames) == 4
    assert re.match(r"   1/1875 \[\.{30}\] - ETA: \d+s - acc: ", frames[0])
    assert " 900/1875 [" in frames[1] and "acc: 0.7424 - loss: 4.0330" in frames[1]
    assert re.fullmatch(
        r"1875/1875 \[={30}\] - \d+s \d+us/step - acc: 0\.7424 - loss: 4\.0330 - "
        r"val_acc: 0\.7746 - val_loss: 3\.5352\s*\n",
        frames[3],
    )


def test_log_gets_only_the_final_line():
    stream = io.StringIO()
    bar = Progbar(50, verbose=1, stream=stream)
    for step in range(1, 51):
        bar.update(step, {"loss": 1.0})
    bar.finish({"loss": 1.0})
    assert "\r" not in stream.getvalue() and stream.getvalue().count("\n") == 1


def test_verbose_0_prints_nothing():
    stream = FakeTerminal()
    bar = Progbar(5, verbose=0, stream=stream)
    bar.update(5, {})
    bar.finish({"loss": 1.0})
    assert stream.getvalue() == ""


def test_formats():
    assert format_duration(10.4) == "10s"
    assert format_duration(75) == "1:15"
    assert format_per_step(0.000175) == "175us/step"
    assert format_per_step(0.005) == "5ms/step"
