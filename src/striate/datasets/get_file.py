"""Keras 3's ``get_file``: download a file once into the cache, check its hash, extract it.

The download goes through the datasets' own downloader (``_fetch._download``): into a temporary
file beside the target, renamed into place only once its length and hash match, so a broken or
corrupt download never lands in the cache. Archives are extracted safely (no member may land
outside the extraction folder; tar's "data" filter: no links out, no devices).
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import urllib.parse
import warnings
import zipfile
from pathlib import Path

from striate.datasets import _fetch

__all__ = ["get_file"]


def get_file(
    fname=None,
    origin=None,
    untar=False,
    md5_hash=None,
    file_hash=None,
    cache_subdir="datasets",
    hash_algorithm="auto",
    extract=False,
    archive_format="auto",
    cache_dir=None,
    force_download=False,
):
    """Download `origin` into ``cache_dir/cache_subdir/fname`` unless it is there already.

    As ``keras.utils.get_file``: ``fname`` defaults to the last part of the URL's path; a cached
    file is reused unless ``force_download`` or its hash does not match ``file_hash``;
    ``hash_algorithm`` "auto" takes a 64-digit hash for SHA-256, else MD5 (``md5_hash`` is the
    legacy MD5 argument). With ``extract`` (or ``untar``) the archive is saved as
    ``fname`` (``fname + "_archive"`` when fname has no ".") and unpacked into
    ``<fname without extension>_extracted`` (or ``fname``), whose path is returned.

    Args:
        fname: the file's name in the cache (no folder), or None for the URL's.
        origin: the URL.
        untar: legacy: extract as a tar archive.
        md5_hash: legacy: the file's MD5.
        file_hash: the file's expected SHA-256 or MD5 hex digest, or None.
        cache_subdir: the folder under ``cache_dir``; an absolute path is used as is.
        hash_algorithm: "auto", "sha256" or "md5".
        extract: unpack the archive after downloading it.
        archive_format: "auto" (tar then zip), "tar", "zip", a list of them, or None.
        cache_dir: None for striate's home (``$STRIATE_HOME``, else
            ``$XDG_CACHE_HOME/striate``, else ``~/.cache/striate``).
        force_download: download even when the cached file is good.

    Returns:
        The path of the file (or of the extraction folder), a str.

    Raises:
        ValueError: no origin, a fname with a folder, or a download whose hash does not match
            (nothing is left in the cache then); OSError: the download failed, with the reason.
    """
    if origin is None:
        raise ValueError("get_file: give origin, the URL of the file. Received: origin=None")
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    if hash_algorithm not in ("auto", "sha256", "md5"):
        raise ValueError(
            f"get_file: hash_algorithm must be 'auto', 'sha256' or 'md5'. "
            f"Received: hash_algorithm={hash_algorithm!r}"
        )
    algorithm = _algorithm(hash_algorithm, file_hash)
    base = Path(cache_dir).expanduser() if cache_dir is not None else _home()
    folder = base / cache_subdir
    folder.mkdir(parents=True, exist_ok=True)
    given = fname
    fname = os.fspath(fname) if fname else ""
    if not fname:
        fname = os.path.basename(urllib.parse.urlsplit(origin).path)
        if not fname:
            raise ValueError(
                f"get_file: cannot take a file name from the URL; give fname. "
                f"Received: origin={origin!r}"
            )
    elif os.sep in fname or "/" in fname:
        raise ValueError(
            f"get_file: fname is a file name, not a path (cache_dir sets the folder). "
            f"Received: fname={fname!r}"
        )
    extraction = None
    if extract or untar:
        if given and "." in fname:
            target = folder / fname
            extraction = folder / f"{fname[: fname.find('.')]}_extracted"
        else:
            target, extraction = folder / f"{fname}_archive", folder / fname
    else:
        target = folder / fname
    download = force_download or not target.exists()
    if not download and file_hash is not None and _hash(target, algorithm) != file_hash.lower():
        print(
            f"A local file was found, but its {algorithm} hash does not match {file_hash}; "
            f"downloading it again."
        )
        download = True
    if download:
        print(f"Downloading data from {origin}")
        try:
            _fetch._download(origin, target, file_hash, True, algorithm)
        except _fetch._DownloadFailed as error:
            if "checksum mismatch" in str(error):
                raise ValueError(
                    f"get_file: the file downloaded from {origin} is corrupted or not the one "
                    f"expected: {error}"
                ) from None
            raise OSError(f"get_file: could not download {origin}: {error}") from None
    if extraction is None:
        return str(target)
    if not _extract(target, extraction, "tar" if untar else archive_format):
        warnings.warn(
            f"get_file: could not extract {target} (not a tar or zip archive).", stacklevel=2
        )
    return str(extraction)


def _home():
    return _fetch.cache_dir("x").parent.parent


def _algorithm(hash_algorithm, file_hash):
    if hash_algorithm == "sha256" or (
        hash_algorithm == "auto" and file_hash is not None and len(file_hash) == 64
    ):
        return "sha256"
    return "md5"


def _hash(path, algorithm):
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _extract(archive, folder, archive_format):
    """Unpack `archive` into `folder` as Keras's ``extract_archive``; False if no format fits."""
    if archive_format is None:
        return False
    if archive_format == "auto":
        archive_format = ["tar", "zip"]
    if isinstance(archive_format, str):
        archive_format = [archive_format]
    for kind in archive_format:
        is_archive = tarfile.is_tarfile if kind == "tar" else zipfile.is_zipfile
        if kind not in ("tar", "zip") or not is_archive(archive):
            continue
        folder.mkdir(parents=True, exist_ok=True)
        if kind == "tar":
            with tarfile.open(archive) as tar:
                tar.extractall(folder, filter="data")
        else:
            with zipfile.ZipFile(archive) as zipped:
                root = folder.resolve()
                for member in zipped.namelist():
                    if not (root / member).resolve().is_relative_to(root):
                        raise ValueError(
                            f"get_file: {archive} holds {member!r}, outside the folder it is "
                            f"extracted to; refusing to extract it"
                        )
                zipped.extractall(folder)
        return True
    return False
