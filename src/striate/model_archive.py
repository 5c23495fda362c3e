"""The container of model files: a plain zip of `model.json` and `.npy` members, written
atomically and read defensively (no pickle, every header checked before any data is read).
`striate.saving` decides what goes in it."""

import contextlib
import json
import os
import tempfile
import zipfile
import zlib

import numpy as np

JSON_MEMBER = "model.json"
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


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
    handle, temporary = tempfile.mkstemp(
        dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp"
    )
    try:
        with os.fdopen(handle, "wb") as file:
            with zipfile.ZipFile(file, "w", zipfile.ZIP_STORED) as archive:
                archive.writestr(JSON_MEMBER, text)
                for name, array in arrays.items():
                    _write_array(archive, name, np.asarray(array))
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable (POSIX)
        directory = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


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
            names = archive.namelist()
            if JSON_MEMBER not in names:
                keras = " (a Keras .keras file?)" if "config.json" in names else ""
                raise ModelFileError(
                    path,
                    f"is a zip archive without {JSON_MEMBER}, so not a striate model file{keras}.",
                    "Give a file written by model.save(...).",
                )
            for info in archive.infolist():  # zipfile cannot read the other methods
                if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                    raise crafted(
                        path,
                        f"member {info.filename} is compressed with zip method "
                        f"{info.compress_type}; striate files use stored (0) or "
                        f"deflated (8) members.",
                    )
            if archive.getinfo(JSON_MEMBER).file_size > 64 * 2**20:
                raise crafted(path, f"{JSON_MEMBER} is larger than 64 MiB.")
            try:
                document = json.loads(archive.read(JSON_MEMBER).decode("utf-8"))
            except ValueError as error:  # bad JSON, bad UTF-8, an int too long to parse
                raise crafted(path, f"{JSON_MEMBER} is not valid JSON: {error}") from None
            if not isinstance(document, dict):
                raise crafted(path, f"{JSON_MEMBER} is not a JSON object.")
            yield archive, document
    except ModelFileError:
        raise
    except (
        zipfile.BadZipFile,
        zlib.error,
        EOFError,
        OSError,
        RecursionError,
    ) as error:
        raise ModelFileError(
            path,
            f"is truncated or corrupted ({type(error).__name__}: {error}).",
            "Save the model again; a partial copy or download cannot be read.",
        ) from None


def read_array(path, archive, name, shape, kinds):
    """Read one .npy member after checking its header: no objects, the expected shape."""
    try:
        member = archive.open(name)
    except KeyError:
        raise crafted(path, f"the array {name} is missing.") from None
    with member:
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
        except (ValueError, TypeError, SyntaxError) as error:
            raise crafted(path, f"{name} is not a valid .npy array: {error}") from None
        if dtype.hasobject or dtype.kind not in kinds or dtype.fields is not None:
            raise crafted(
                path, f"{name} has dtype {dtype}; expected kind {kinds!r}, never objects."
            )
        if tuple(found_shape) != tuple(shape):
            raise crafted(
                path, f"{name} has shape {tuple(found_shape)}; the model needs {tuple(shape)}."
            )
        size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        data = member.read(size)
        if len(data) != size or member.read(1):
            raise crafted(path, f"{name} holds {len(data)} bytes of data; its header says {size}.")
    return np.frombuffer(data, dtype).reshape(shape, order="F" if fortran else "C").copy()
