"""The container of model files: a plain zip of `model.json` and `.npy` members, written
atomically and read defensively (no pickle, every header checked before any data is read).
`striate.saving` decides what goes in it."""

import contextlib
import errno
import json
import math
import os
import re
import tempfile
import time
import zipfile
import zlib

import numpy as np

JSON_MEMBER = "model.json"
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"

# What a file may make the loader inflate, parse or allocate, checked before it does so.
MAX_JSON_BYTES = 16 * 2**20  # model.json, inflated
MAX_JSON_ITEMS = 1_000_000  # values (objects, arrays, elements) in model.json
MAX_JSON_DEPTH = 64  # nesting of objects and arrays in model.json
MAX_JSON_INT_DIGITS = 80  # an int in model.json (random-generator states need 39 digits)
MAX_COMPRESSION_RATIO = 100  # a deflated member may inflate to this many times its size
MAX_MEMBERS = 100_000  # members in the zip
STALE_TEMPORARY_SECONDS = 3600  # a `.NAME.*.tmp` of ours this old is left by a killed save
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


class ModelFileError(ValueError):
    """A model file that cannot be read or written: names the path, the problem and the fix."""

    def __init__(self, path, problem, fix=""):
        self.path = os.fspath(path)
        super().__init__(f"Model file {self.path!r}: {problem}" + (f" {fix}" if fix else ""))


def write_archive(filepath, document, arrays, overwrite):
    """Write the zip to a temporary file beside `filepath`, fsync it, then os.replace it."""
    path = os.fspath(filepath)
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path) or not os.path.isdir(folder):
        problem = "is a folder." if os.path.isdir(path) else f"{folder!r} does not exist."
        raise ModelFileError(path, problem, "Give a file in an existing folder (os.makedirs).")
    if not overwrite and os.path.exists(path):
        raise ModelFileError(path, "already exists.", "Pass overwrite=True to replace it.")
    try:
        text = json.dumps(document, allow_nan=False, default=_json_default, indent=1)
    except (TypeError, ValueError) as error:
        raise ValueError(f"save: the model's settings cannot be written as JSON: {error}") from None
    remove_stale_temporaries(path)
    try:
        handle, temporary = tempfile.mkstemp(
            dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp"
        )
    except OSError as error:
        raise _write_error(path, error) from None
    try:
        with os.fdopen(handle, "wb") as file:
            with zipfile.ZipFile(file, "w", zipfile.ZIP_STORED) as archive:
                archive.writestr(JSON_MEMBER, text)
                for name, array in arrays.items():
                    _write_array(archive, name, np.asarray(array))
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        if isinstance(error, OSError):
            raise _write_error(path, error) from None
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable (POSIX)
        directory = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def _write_error(path, error):
    """An OSError of a save that names the file, says nothing was replaced and what to do."""
    full = getattr(error, "errno", None) in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
    problem = (
        f"no space left on the device of {os.path.dirname(os.path.abspath(path))!r}"
        if full
        else (error.strerror or str(error))
    )
    message = (
        f"cannot save the model to {path!r}: {problem}. Nothing was written and any "
        f"previous file there is unchanged; the model is still in memory: free some space, "
        f"or save it elsewhere with model.save(other_path). ({error})"
    )
    if error.errno is None:
        return type(error)(message)
    return type(error)(error.errno, message)


def remove_stale_temporaries(path, age=STALE_TEMPORARY_SECONDS):
    """Delete `.NAME.xxxxxxxx.tmp` files beside `path` (our own naming) older than `age` seconds:
    what a save killed before its rename leaves. Returns the names removed."""
    folder = os.path.dirname(os.path.abspath(path))
    ours = re.compile(r"\." + re.escape(os.path.basename(path)) + r"\.[a-z0-9_]{8}\.tmp")
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        with contextlib.suppress(OSError):
            if (
                ours.fullmatch(entry.name)
                and entry.is_file(follow_symlinks=False)
                and now - entry.stat(follow_symlinks=False).st_mtime > age
            ):
                os.remove(entry.path)
                removed.append(entry.name)
    return removed


def _write_array(archive, name, array):
    with archive.open(name, "w", force_zip64=array.nbytes > 2**30) as member:
        np.lib.format.write_array(member, array, allow_pickle=False)


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{value!r} of type {type(value).__name__} is not JSON-serializable")


def crafted(path, problem):
    return ModelFileError(
        path,
        f"cannot be read (damaged, or not written by this striate): {problem}",
        "Save the model again with model.save(...), or upgrade striate if a newer one wrote it.",
    )


@contextlib.contextmanager
def open_archive(filepath):
    """Open the zip and parse model.json; turn every low-level failure into ModelFileError."""
    path = os.fspath(filepath)
    if not os.path.exists(path):
        raise ModelFileError(
            path,
            "does not exist.",
            "Check the path, or save a model there first with model.save(path).",
        )
    if os.path.isdir(path):
        raise ModelFileError(path, "is a folder, not a model file.")
    with open(path, "rb") as file:
        start = file.read(8)
    if start == _HDF5_MAGIC:
        raise ModelFileError(
            path,
            "is an HDF5 file (a Keras .h5 model?), not a striate model.",
            "Give a file written by model.save(...).",
        )
    if not start.startswith(b"PK"):
        raise ModelFileError(
            path,
            "is not a striate model file (it is not a zip archive).",
            "Give a file written by model.save(...) or model.save_weights(...).",
        )
    try:
        with zipfile.ZipFile(path) as archive:
            _check_members(path, archive)
            data = read_member(path, archive, JSON_MEMBER, MAX_JSON_BYTES, "MAX_JSON_BYTES")
            document = _parse_json(path, data)
            yield archive, document
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as error:
        raise ModelFileError(
            path,
            f"is truncated or corrupted ({type(error).__name__}: {error}).",
            "Save the model again; a partial copy or download cannot be read.",
        ) from None
    except MemoryError:
        raise crafted(path, "reading it needs more memory than this process may use.") from None
    except Exception as error:  # anything else a crafted file provokes is still a file error
        raise crafted(path, f"{type(error).__name__}: {error}") from error


def _check_members(path, archive):
    """Names, methods, encryption and compression ratios, from the zip's directory alone."""
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise crafted(
            path, f"it has {len(infos)} members, over the limit of {MAX_MEMBERS} (MAX_MEMBERS)."
        )
    names = [info.filename for info in infos]
    if JSON_MEMBER not in names:
        keras = " (a Keras .keras file?)" if "config.json" in names else ""
        raise ModelFileError(
            path,
            f"is a zip archive without {JSON_MEMBER}, so not a striate model file{keras}.",
            "Give a file written by model.save(...).",
        )
    for info in infos:
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise crafted(
                path,
                f"member {info.filename} is compressed with zip method "
                f"{info.compress_type}; striate files use stored (0) or "
                f"deflated (8) members.",
            )
        if info.flag_bits & 0x1:
            raise crafted(path, f"member {info.filename} is encrypted; striate files never are.")
        limit = info.compress_size * MAX_COMPRESSION_RATIO + 2**16
        if info.compress_type == zipfile.ZIP_DEFLATED and info.file_size > limit:
            raise crafted(
                path,
                f"member {info.filename} says it inflates from "
                f"{info.compress_size} to {info.file_size} bytes, over the limit "
                f"of {MAX_COMPRESSION_RATIO} times (MAX_COMPRESSION_RATIO).",
            )
        if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
            raise crafted(
                path,
                f"member {info.filename} is stored (not compressed) in "
                f"{info.compress_size} bytes but says it holds {info.file_size}.",
            )


def read_member(path, archive, name, limit, limit_name):
    """A whole member, refused before inflating when it says it is over `limit` bytes; zipfile
    stops at the size the directory declares, so a member cannot inflate past it."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise crafted(path, f"the member {name} is missing.") from None
    if info.file_size > limit:
        raise crafted(
            path,
            f"{name} says it holds {info.file_size} bytes, over the limit of "
            f"{limit} bytes ({limit_name}).",
        )
    with _member_errors(path, name), archive.open(info) as member:
        data = member.read(info.file_size)
    if len(data) != info.file_size:
        raise crafted(path, f"{name} holds {len(data)} bytes; the zip says {info.file_size}.")
    return data


@contextlib.contextmanager
def _member_errors(path, name):
    """Any failure reading member `name` as a ModelFileError naming it."""
    try:
        yield
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as error:
        raise ModelFileError(
            path,
            f"is truncated or corrupted in {name} ({type(error).__name__}: {error}).",
            "Save the model again; a partial copy or download cannot be read.",
        ) from None
    except Exception as error:  # RuntimeError (encrypted), NotImplementedError, TokenError...
        raise crafted(path, f"{name}: {type(error).__name__}: {error}") from None


def _parse_json(path, data):
    """model.json as a dict, its size, item count, nesting and numbers checked first."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise crafted(path, f"{JSON_MEMBER} is not valid UTF-8: {error}") from None
    skeleton = np.frombuffer(_STRING.sub('""', text).encode("utf-8"), np.uint8)
    opens = (skeleton == ord("[")) | (skeleton == ord("{"))
    items = int(opens.sum()) + int((skeleton == ord(",")).sum())
    if items > MAX_JSON_ITEMS:
        raise crafted(
            path,
            f"{JSON_MEMBER} holds about {items} values, over the limit of "
            f"{MAX_JSON_ITEMS} (MAX_JSON_ITEMS).",
        )
    closes = (skeleton == ord("]")) | (skeleton == ord("}"))
    depth = np.cumsum(opens.astype(np.int32) - closes.astype(np.int32))
    if depth.size and int(depth.max()) > MAX_JSON_DEPTH:
        raise crafted(
            path,
            f"{JSON_MEMBER} nests {int(depth.max())} levels deep, over the limit "
            f"of {MAX_JSON_DEPTH} (MAX_JSON_DEPTH).",
        )
    try:
        document = json.loads(
            text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant
        )
    except (ValueError, RecursionError) as error:  # bad JSON, a number refused below
        raise crafted(path, f"{JSON_MEMBER} is not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise crafted(path, f"{JSON_MEMBER} is not a JSON object.")
    return document


def _parse_int(text):
    if len(text.lstrip("-")) > MAX_JSON_INT_DIGITS:
        raise ValueError(
            f"an int of {len(text)} digits, over the limit of "
            f"{MAX_JSON_INT_DIGITS} (MAX_JSON_INT_DIGITS)"
        )
    return int(text)


def _parse_float(text):
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is out of range (not finite)")
    return value


def _parse_constant(text):
    raise ValueError(f"{text} is not a finite number; striate never writes it")


def read_array(path, archive, name, shape, kinds):
    """Read one .npy member after checking its header: no objects, the expected shape, and as
    many data bytes as the header declares, no more and no less."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise crafted(path, f"the array {name} is missing.") from None
    with _member_errors(path, name), archive.open(info) as member:
        try:
            version = np.lib.format.read_magic(member)
            if version not in ((1, 0), (2, 0)):
                raise ValueError(f"unsupported .npy version {version}")
            reader = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            found_shape, fortran, dtype = reader(member)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError):
            raise  # damage, reported by _member_errors
        except Exception as error:  # ValueError, SyntaxError, tokenize.TokenError...
            raise crafted(path, f"{name} is not a valid .npy array: {error}") from None
        if dtype.hasobject or dtype.kind not in kinds or dtype.fields is not None:
            raise crafted(
                path, f"{name} has dtype {dtype}; expected kind {kinds!r}, never objects."
            )
        if tuple(found_shape) != tuple(shape):
            raise crafted(
                path, f"{name} has shape {tuple(found_shape)}; the model needs {tuple(shape)}."
            )
        size = math.prod(shape) * dtype.itemsize
        held = info.file_size - member.tell()
        if held < size:
            raise crafted(path, f"{name} holds {held} bytes of data; its header says {size}.")
        if held > size:
            raise crafted(
                path,
                f"{name} holds {held - size} bytes of trailing data after the "
                f"{size} bytes its header says.",
            )
        data = member.read(size)
        if len(data) != size:
            raise crafted(path, f"{name} holds {len(data)} bytes of data; its header says {size}.")
    array = np.frombuffer(data, dtype).reshape(shape, order="F" if fortran else "C").copy()
    if dtype.kind == "f" and not np.isfinite(array).all():
        raise crafted(
            path, f"{name} holds NaN or infinite values; a model's weights and state are finite."
        )
    return array
