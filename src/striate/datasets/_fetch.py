"""Find a dataset's files: local directories first, then the cache, then checksummed mirrors.

Search order for every dataset:

1. ``path=`` (a directory) if given, the directory in the dataset's environment variable
   (e.g. ``STRIATE_MNIST_DIR``), then system directories (Debian's ``/usr/share/datasets/...``).
   A directory is used when it holds every file, gzip-compressed or not; it is trusted as is.
2. The cache, ``$STRIATE_HOME/datasets/<name>``, else ``$XDG_CACHE_HOME/striate/datasets/<name>``,
   else ``~/.cache/striate/datasets/<name>``. Cached files are checked against their SHA-256.
3. Mirrors, in order: the ``mirrors=`` argument, else ``$STRIATE_DATASET_MIRRORS`` (comma-separated
   base URLs), else the dataset's defaults. A download goes to a temporary file beside its
   destination and is renamed into place only once its SHA-256 matches, so a partial or corrupt
   download never lands in the cache.
4. Otherwise :class:`DatasetUnavailableError` lists every URL tried with its failure, the files
   needed and the places that work.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DatasetUnavailableError", "Source", "cache_dir", "fetch", "find_local", "local_dirs"]

MIRRORS_ENV = "STRIATE_DATASET_MIRRORS"
TIMEOUT_S = 30
_CHUNK = 1 << 20
_USER_AGENT = "striate-datasets/0.1 (Python urllib)"


class DatasetUnavailableError(OSError):
    """No local copy of a dataset was found and no mirror could deliver it.

    Attributes:
        dataset: the dataset's title, e.g. ``"MNIST"``.
        attempts: ``[(url, reason), ...]`` for every download tried, in order.
        files: the file names needed.
        places: the places where putting the files works, as sentences.
    """

    def __init__(self, message, dataset="", attempts=(), files=(), places=()):
        super().__init__(message)
        self.dataset = dataset
        self.attempts = list(attempts)
        self.files = list(files)
        self.places = list(places)


@dataclass(frozen=True)
class Source:
    """Where a dataset's files live: names, checksums, mirrors, local places."""

    name: str  # cache sub-directory, e.g. "fashion-mnist"
    title: str  # for messages, e.g. "Fashion-MNIST"
    files: tuple[str, ...]  # download names, e.g. "train-images-idx3-ubyte.gz"
    sha256: Mapping[str, str]  # download name -> SHA-256 hex digest
    mirrors: tuple[str, ...]  # base URLs; the file name is appended
    env_var: str  # names a directory holding the files
    system_dirs: tuple[str, ...] = ()
    install_hint: str = ""  # how to fill system_dirs, e.g. an apt-get line
    files_note: str = "gzip-compressed, or the same names without .gz"  # other accepted forms


def cache_dir(name: str) -> Path:
    """The cache directory of one dataset (not created here).

    Args:
        name: the dataset's cache name, e.g. ``"mnist"``.

    Returns:
        ``$STRIATE_HOME/datasets/<name>`` if STRIATE_HOME is set, else
        ``$XDG_CACHE_HOME/striate/datasets/<name>``, else ``~/.cache/striate/datasets/<name>``.

    Example:
        >>> cache_dir("mnist").parts[-2:]
        ('datasets', 'mnist')
    """
    home = os.environ.get("STRIATE_HOME")
    if home:
        return Path(home).expanduser() / "datasets" / name
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "striate" / "datasets" / name


def local_dirs(source: Source, path=None) -> list[Path]:
    """The existing directories to search before the cache, in order: path=, env var, system."""
    candidates = []
    if path is not None:
        candidates.append(Path(path).expanduser())
    if os.environ.get(source.env_var):
        candidates.append(Path(os.environ[source.env_var]).expanduser())
    candidates.extend(Path(d) for d in source.system_dirs)
    return [d for d in candidates if d.is_dir()]


def _local_names(name: str) -> tuple[str, ...]:
    """A file's accepted names in a local directory: itself, then its un-gzipped name."""
    return (name, name.removesuffix(".gz")) if name.endswith(".gz") else (name,)


def find_local(source: Source, path=None) -> dict[str, Path] | None:
    """Find a local directory holding every file of a dataset.

    Args:
        source: the dataset.
        path: an extra directory searched first, or None.

    Returns:
        ``{download name: path on disk}`` from the first directory holding all files, else None.
    """
    for directory in local_dirs(source, path):
        found = {}
        for name in source.files:
            hits = [directory / n for n in _local_names(name) if (directory / n).is_file()]
            if hits:
                found[name] = hits[0]
        if len(found) == len(source.files):
            return found
    return None


def resolve_mirrors(source: Source, mirrors=None) -> list[str]:
    """Base URLs to try, ending in '/': mirrors=, else $STRIATE_DATASET_MIRRORS, else defaults."""
    if mirrors is None:
        env = os.environ.get(MIRRORS_ENV, "")
        mirrors = env.split(",") if env.strip() else source.mirrors
    if isinstance(mirrors, str):
        mirrors = [mirrors]
    return [m.strip().rstrip("/") + "/" for m in mirrors if m.strip()]


def fetch(
    source: Source,
    *,
    path=None,
    mirrors: Sequence[str] | str | None = None,
    checksums: Mapping[str, str] | None = None,
    progress: bool = True,
) -> dict[str, Path]:
    """Locate a dataset's files, downloading the missing ones into the cache.

    Args:
        source: the dataset (file names, default mirrors, environment variable, ...).
        path: a directory to search first, or None.
        mirrors: base URLs to try in order instead of ``$STRIATE_DATASET_MIRRORS`` or the
            defaults; ``[]`` means no downloads.
        checksums: ``{file name: SHA-256 hex}``; defaults to ``source.sha256`` (the published
            values). Every downloaded or cached file must match.
        progress: draw a progress bar on stderr while downloading.

    Returns:
        ``{download name: path on disk}`` for every file in ``source.files``.

    Raises:
        DatasetUnavailableError: no local copy, and some file could not be downloaded.
        FileNotFoundError: ``path`` is given but is not a directory.

    Example:
        >>> from striate.datasets import fashion_mnist
        >>> files = fetch(fashion_mnist.SOURCE)  # doctest: +SKIP
        >>> sorted(files)[0]  # doctest: +SKIP
        't10k-images-idx3-ubyte.gz'
    """
    if path is not None and not Path(path).expanduser().is_dir():
        raise FileNotFoundError(
            f"{source.title}: path= must be an existing directory holding "
            f"{', '.join(source.files)}. Received: path={os.fspath(path)!r}."
        )
    found = find_local(source, path)
    if found is not None:
        return found
    checksums = source.sha256 if checksums is None else checksums
    cache = cache_dir(source.name)
    found = {}
    for name in source.files:
        cached = cache / name
        if cached.is_file():
            if _sha256_file(cached) == checksums[name].lower():
                found[name] = cached
            elif progress:
                print(f"{cached} fails its SHA-256 check; downloading it again.", file=sys.stderr)
    missing = [name for name in source.files if name not in found]
    if not missing:
        return found
    bases = resolve_mirrors(source, mirrors)
    attempts = []
    unreachable = set()  # mirrors that could not be connected to are not tried for later files
    for name in missing:
        for base in bases:
            if base in unreachable:
                continue
            url = base + name
            try:
                cache.mkdir(parents=True, exist_ok=True)
                found[name] = _download(url, cache / name, checksums[name], progress)
                break
            except (_DownloadFailed, OSError) as exc:
                reason = str(exc) if isinstance(exc, _DownloadFailed) else _describe(exc)
                attempts.append((url, reason))
                if getattr(exc, "unreachable", False):
                    unreachable.add(base)
                if progress:
                    print(f"Could not download {url}: {reason}", file=sys.stderr)
        else:
            raise _unavailable(source, path, attempts, name)
    return found


def _unavailable(source, path, attempts, failed_name) -> DatasetUnavailableError:
    cache = cache_dir(source.name)
    env = os.environ.get(source.env_var)
    places = []
    if path is not None:
        places.append(f"{os.fspath(path)} (the path= you passed)")
    env_note = f"now {env!r}" if env else "not set"
    places.append(f"a directory named by ${source.env_var} ({env_note})")
    for directory in source.system_dirs:
        hint = f" ({source.install_hint})" if source.install_hint else ""
        places.append(f"{directory}{hint}")
    places.append(
        f"{cache} (the download cache: files there must match the published SHA-256; "
        f"move it with $STRIATE_HOME or $XDG_CACHE_HOME)"
    )
    tried = "\n".join(f"  {url}\n    -> {reason}" for url, reason in attempts) or (
        f"  nothing: no mirrors were given (mirrors=[] or ${MIRRORS_ENV} empty)"
    )
    files = "\n".join(f"  {name}" for name in source.files)
    message = (
        f"{source.title} is not available: no local copy was found and no mirror delivered "
        f"{failed_name}.\n\nDownloads tried:\n{tried}\n\n"
        f"Files needed{f' ({source.files_note})' if source.files_note else ''}:\n"
        f"{files}\n\nPut them in any one of these places (or pass their directory as "
        f"load_data(path=...)) and call load_data() again:\n"
        + "\n".join(f"  - {p}" for p in places)
        + f"\nor set ${MIRRORS_ENV} to comma-separated base URLs that serve them."
    )
    return DatasetUnavailableError(message, source.title, attempts, source.files, places)


class _DownloadFailed(Exception):
    """One URL did not deliver a good file; the message says why."""

    def __init__(self, message: str, unreachable: bool = False):
        super().__init__(message)
        self.unreachable = unreachable  # the server could not be reached at all


def _describe(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        exc.close()
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return f"connection failed: {exc.reason}"
    return f"{type(exc).__name__}: {exc}"


def _download(url: str, dest: Path, sha256, progress: bool, algorithm: str = "sha256") -> Path:
    """Stream url into a temporary file beside dest; rename it to dest once its hash (`sha256`,
    by `algorithm`) matches; `sha256=None` checks only the length."""
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        digest = hashlib.new(algorithm)
        received = 0
        request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
        with os.fdopen(fd, "wb") as out:
            try:
                response = urllib.request.urlopen(request, timeout=TIMEOUT_S)
            except (OSError, ValueError, http.client.HTTPException) as exc:
                unreachable = isinstance(exc, (urllib.error.URLError, TimeoutError)) and not (
                    isinstance(exc, urllib.error.HTTPError)
                )
                raise _DownloadFailed(_describe(exc), unreachable) from exc
            with response:
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                bar = _Progress(dest.name, url, total, progress)
                try:
                    while chunk := response.read(_CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        received += len(chunk)
                        bar.update(received)
                except (OSError, http.client.HTTPException) as exc:
                    raise _DownloadFailed(f"transfer broke after {received} bytes: {exc}") from exc
                finally:
                    bar.close(received)
        if total is not None and received != total:
            raise _DownloadFailed(f"incomplete: received {received} of {total} bytes")
        actual = digest.hexdigest()
        if sha256 is not None and actual != sha256.lower():
            raise _DownloadFailed(
                f"checksum mismatch: {'SHA-256' if algorithm == 'sha256' else algorithm} "
                f"{actual} of {received} bytes, expected {sha256}"
            )
        os.replace(tmp, dest)
        tmp = None
        return dest
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _megabytes(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


class _Progress:
    """Download progress on stderr: one line redrawn with \\r on a TTY, else start and end lines."""

    def __init__(self, name: str, url: str, total: int | None, enabled: bool, width: int = 30):
        self.stream = sys.stderr
        self.enabled = enabled
        self.tty = enabled and getattr(self.stream, "isatty", lambda: False)()
        self.name, self.total, self.width = name, total, width
        self.start = self.last = time.monotonic()
        self.drawn = 0
        if self.tty:
            self._draw(0)
        elif enabled:
            size = f" ({_megabytes(total)})" if total else ""
            print(f"Downloading {url}{size}", file=self.stream, flush=True)

    def update(self, received: int) -> None:
        now = time.monotonic()
        if self.tty and now - self.last >= 0.1:
            self.last = now
            self._draw(received)

    def close(self, received: int) -> None:
        if not self.enabled:
            return
        seconds = time.monotonic() - self.start
        complete = self.total is None or received == self.total
        end = f"{'done' if complete else 'stopped'} in {seconds:.1f} s"
        if self.tty:
            self._draw(received, end)
            self.stream.write("\n")
            self.stream.flush()
        else:
            print(f"{self.name}: {_megabytes(received)} {end}", file=self.stream, flush=True)

    def _draw(self, received: int, end: str = "") -> None:
        rate = received / max(time.monotonic() - self.start, 1e-6) / 1e6
        if self.total:
            filled = min(self.width, self.width * received // self.total)
            bar = "#" * filled + "." * (self.width - filled)
            percent = min(100, 100 * received // self.total)
            text = (
                f"{self.name} [{bar}] {percent:3d}% "
                f"{_megabytes(received)}/{_megabytes(self.total)} {rate:.1f} MB/s"
            )
        else:
            text = f"{self.name} {_megabytes(received)} {rate:.1f} MB/s"
        if end:
            text += f", {end}"
        self.stream.write("\r" + text.ljust(self.drawn))
        self.stream.flush()
        self.drawn = len(text)
