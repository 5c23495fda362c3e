"""Saves that go wrong: killed with SIGKILL midway, on a full disk. The previous file is never
lost, the error names the path, and the temporaries a killed save leaves are cleaned by the next
save to that folder (only ours, only stale ones)."""

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from striate import model_archive
from striate.layers import Dense
from striate.models import Sequential, load_model


def _model(units=8, inputs=4):
    return Sequential([Dense(units, input_shape=(inputs,))])


def test_stale_temporaries_of_ours_are_removed_on_the_next_save(tmp_path):
    path = tmp_path / "m.striate"
    old, fresh = tmp_path / ".m.striate.abcd_123.tmp", tmp_path / ".m.striate.zzzz9999.tmp"
    others = [
        tmp_path / ".other.striate.abcd1234.tmp",
        tmp_path / ".m.striate.toolongname.tmp",
        tmp_path / "m.striate.abcd1234.tmp",
        tmp_path / ".m.striate.abcd1234.tmp.keep",
    ]
    for file in [old, fresh, *others]:
        file.write_bytes(b"x" * 100)
    stale = time.time() - model_archive.STALE_TEMPORARY_SECONDS - 60
    for file in [old, *others]:
        os.utime(file, (stale, stale))
    folder_link = tmp_path / ".m.striate.link0000.tmp"
    folder_link.symlink_to(tmp_path)
    os.utime(folder_link, (stale, stale), follow_symlinks=False)
    _model().save(path)
    left = set(os.listdir(tmp_path))
    assert old.name not in left  # ours and stale: removed
    assert fresh.name in left  # ours but recent (a save in progress elsewhere): kept
    assert all(file.name in left for file in others)  # not our naming: never touched
    assert folder_link.name in left  # not a plain file: never touched
    load_model(path)


_SAVER = """
import sys
import numpy as np
from striate.layers import Dense
from striate.models import Sequential
model = Sequential([Dense(2000, input_shape=(2000,))])
path = sys.argv[1]
model.save(path)
print("first", flush=True)
while True:
    model.set_weights([w + 1 for w in model.get_weights()])
    model.save(path)
"""


@pytest.mark.slow  # a few SIGKILLs of a process saving 16 MB again and again
def test_a_save_killed_at_any_moment_never_loses_the_previous_file(tmp_path):
    path = tmp_path / "m.striate"
    for delay in (0.05, 0.2, 0.45):
        process = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(_SAVER), str(path)],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert process.stdout.readline().strip() == "first"
            time.sleep(delay)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=60)
        model = load_model(path)  # always the last complete save, never a partial one
        kernel = model.get_weights()[0]
        assert kernel.shape == (2000, 2000) and np.isfinite(kernel).all()
    litter = [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]
    stale = time.time() - model_archive.STALE_TEMPORARY_SECONDS - 60
    for name in litter:
        os.utime(tmp_path / name, (stale, stale))
    _model().save(path)
    assert os.listdir(tmp_path) == ["m.striate"]


@contextlib.contextmanager
def _tiny_disk(folder, size="256k"):
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs to fill needs root")
    os.makedirs(folder, exist_ok=True)
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_full_disk_names_the_path_and_keeps_the_previous_file(tmp_path):
    with _tiny_disk(tmp_path / "disk") as disk:
        path = disk / "m.striate"
        small = _model()
        small.save(path)
        before = path.read_bytes()
        with pytest.raises(
            OSError,
            match=r"cannot save the model to '.*disk/m.striate': no "
            r"space left on the device of '.*disk'.*previous file "
            r"there is unchanged; the model is still in memory",
        ):
            _model(units=20000, inputs=8).save(path)  # 640 KB on a 256 KB disk
        assert path.read_bytes() == before
        assert os.listdir(disk) == ["m.striate"]  # no temporary left behind


@pytest.mark.slow  # trains the article model for an epoch in a subprocess
def test_striate_train_on_a_full_disk_saves_to_the_temporary_folder_and_says_so(tmp_path):
    with _tiny_disk(tmp_path / "disk", size="64k") as disk:
        (disk / "filler").write_bytes(b"\0" * (60 * 1024))
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "striate.cli",
                "train",
                "--dataset",
                "digits",
                "--epochs",
                "0",
                "--out",
                str(disk / "m.striate"),
                "--verbose",
                "0",
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    assert result.returncode == 2, result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert "no space left" in line and "disk/m.striate" in line, line
    spare = line.split("saved it to ")[1].split(" instead")[0]
    try:
        assert load_model(spare).metadata["dataset"] == "digits"
    finally:
        os.remove(spare)
