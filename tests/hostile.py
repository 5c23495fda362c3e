"""Helpers of the hostile-input tests: run cases in a subprocess under an address-space limit and
a timeout, and craft model files (zip members and headers) byte by byte."""

import json
import os
import subprocess
import sys
import textwrap
import zipfile

import numpy as np

import striate

MEMORY_LIMIT = 2**30  # RLIMIT_AS of every hostile case: numpy and BLAS fit in well under it
TIMEOUT = 120

_PREAMBLE = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))

def report(case, call):
    try:
        value = call()
        outcome = {{"case": case, "type": None, "message": repr(value)[:300],
                   "value": value if isinstance(value, dict) else None}}
    except MemoryError:
        outcome = {{"case": case, "type": "MemoryError", "message": "over the memory limit"}}
    except BaseException as error:
        outcome = {{"case": case, "type": type(error).__name__, "message": str(error)[:3000]}}
    print("CASE " + json.dumps(outcome), flush=True)


def cli(case, *args):
    import contextlib, io
    from striate.cli import main
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            status = main([str(a) for a in args])
        except SystemExit as exit:
            status = exit.code
    return {{"status": status, "stderr": err.getvalue()}}
"""


def run_cases(body, cwd=None, limit=MEMORY_LIMIT, timeout=TIMEOUT):
    """Run `body` (which calls report(case, callable)) in a fresh Python under `limit` bytes of
    address space; returns ({case: {"type", "message"}}, the CompletedProcess)."""
    code = _PREAMBLE.format(limit=limit) + textwrap.dedent(body)
    env = dict(os.environ)
    source = os.path.dirname(os.path.dirname(os.path.abspath(striate.__file__)))
    env["PYTHONPATH"] = os.pathsep.join([source] + [p for p in [env.get("PYTHONPATH")] if p])
    env.setdefault("STRIATE_NUM_THREADS", "1")
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=env,
        check=False,
    )
    outcomes = {}
    for line in result.stdout.splitlines():
        if line.startswith("CASE "):
            outcome = json.loads(line[5:])
            outcomes[outcome.pop("case")] = outcome
    return outcomes, result


def cli_outcomes(cases, cwd):
    """Run each `striate` command line of `cases` ({name: [args]}) in one limited subprocess;
    returns {name: {"status", "stderr"}}."""
    body = "".join(
        f"report({name!r}, lambda: cli({name!r}, *{list(map(str, args))!r}))\n"
        for name, args in cases.items()
    )
    outcomes, result = run_cases(body, cwd=cwd)
    assert set(outcomes) == set(cases), result.stderr[-3000:]
    parsed = {}
    for name, outcome in outcomes.items():
        assert outcome["type"] is None, (name, outcome)
        parsed[name] = outcome["value"]
    return parsed


# -- crafting model files -------------------------------------------------------------------
def npy_bytes(array):
    import io

    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


def members(path):
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def rewrite(source, target, edit=None, replace=None, drop=(), deflate=(), json_text=None):
    """A copy of model file `source` at `target` with model.json edited by `edit(document)` (or
    replaced by `json_text`), members replaced by `replace` ({name: bytes}), some dropped, some
    deflated."""
    content = members(source)
    if edit is not None:
        document = json.loads(content["model.json"])
        edit(document)
        content["model.json"] = json.dumps(document).encode()
    if json_text is not None:
        content["model.json"] = json_text if isinstance(json_text, bytes) else json_text.encode()
    content.update(replace or {})
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in content.items():
            if name not in drop:
                method = zipfile.ZIP_DEFLATED if name in deflate else zipfile.ZIP_STORED
                archive.writestr(zipfile.ZipInfo(name), data, compress_type=method)
    return target


def patch_headers(path, name, local=None, central=None):
    """Overwrite fields of member `name`'s local and central headers: {offset: bytes}, offsets
    from each header's start (local: 4 version, 6 flags, 8 method, 18 csize, 22 size;
    central: 6 version, 8 flags, 10 method, 20 csize, 24 size, 46 name)."""
    content = bytearray(open(path, "rb").read())
    with zipfile.ZipFile(path) as archive:
        start = archive.getinfo(name).header_offset
    for offset, value in (local or {}).items():
        content[start + offset : start + offset + len(value)] = value
    position = content.index(b"PK\x01\x02")
    while True:
        length = int.from_bytes(content[position + 28 : position + 30], "little")
        if content[position + 46 : position + 46 + length] == name.encode():
            for offset, value in (central or {}).items():
                content[position + offset : position + offset + len(value)] = value
            break
        position = content.index(b"PK\x01\x02", position + 4)
    open(path, "wb").write(bytes(content))
    return path


def u16(value):
    return int(value).to_bytes(2, "little")


def u32(value):
    return int(value).to_bytes(4, "little")


def png_header(width, height, mode_bytes=b"\x08\x00"):
    """A PNG that says it is width x height grayscale, with a tiny (wrong) image stream: what a
    decompression bomb looks like to a reader that checks sizes before decoding."""
    import zlib

    def chunk(kind, data):
        return (
            len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")
        )

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + mode_bytes + b"\x00\x00\x00"
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 1000))
        + chunk(b"IEND", b"")
    )
