"""A lazy dataset of batches: a fresh pass per ``iter()``, ``len()`` batches, prefetched.

:class:`Dataset` is what ``image_dataset_from_directory`` returns and what a training loop that
takes "any iterable of batches with ``__len__``" consumes. It holds no data, only a way to make a
pass: ``source()`` returns a fresh iterator of batches each time it is called (the pass's random
order is drawn then, in the caller's thread, so passes are reproducible with or without a
prefetch thread). ``map``, ``take`` and ``prefetch`` return new datasets over the same source.

Prefetching runs the pass (decoding and ``map``) on a daemon thread that stays at most ``n``
batches ahead of the consumer (a bounded queue). The thread starts at the first ``next()`` and
ends when the pass ends, raises, or is abandoned (the iterator is closed or dropped: a ``break``
out of a ``for`` loop): the consumer then tells it to stop, empties the queue and joins it.
"""

from __future__ import annotations

import itertools
import queue
import threading

import numpy as np

__all__ = ["Dataset", "from_arrays"]

DEFAULT_PREFETCH = 2  # batches decoded ahead of the consumer
_POLL_S = 0.05  # how often a blocked producer looks for the stop signal


class Dataset:
    """A re-iterable, lazy sequence of batches with a known length.

    Args:
        source: a callable with no arguments returning a fresh iterator of batches.
        length: the number of batches one pass yields (``len(dataset)``).
        prefetch: batches decoded ahead on a background thread; 0 turns the thread off.
        **attributes: kept on the dataset and its derived datasets (``class_names``,
            ``file_paths``...).

    Example:
        >>> import numpy as np
        >>> data = Dataset(lambda: iter([np.zeros(2), np.ones(2)]), 2)
        >>> [batch.tolist() for batch in data.map(lambda x: x + 1)], len(data)
        ([[1.0, 1.0], [2.0, 2.0]], 2)
    """

    def __init__(self, source, length, prefetch=DEFAULT_PREFETCH, **attributes):
        if not callable(source):
            raise TypeError(
                f"Dataset: source must be a callable returning an iterator of batches. "
                f"Received: source={source!r}"
            )
        self._source = source
        self._length = _count(length, "length")
        self._prefetch = _count(prefetch, "prefetch")
        self._attributes = dict(attributes)
        for name, value in attributes.items():
            setattr(self, name, value)

    # -- iteration ------------------------------------------------------------------------------
    def __iter__(self):
        batches = self._source()
        if not self._prefetch:
            return iter(batches)
        return _prefetched(batches, self._prefetch)

    def __len__(self):
        return self._length

    def cardinality(self):
        """The number of batches in one pass (``len(self)``), as Keras's datasets name it."""
        return self._length

    def __repr__(self):
        shown = "".join(
            f", {k}={v!r}" for k, v in self._attributes.items() if not k.startswith(("_", "file"))
        )
        return f"<Dataset batches={self._length}, prefetch={self._prefetch}{shown}>"

    # -- derived datasets -----------------------------------------------------------------------
    def _derived(self, source, length=None, prefetch=None):
        kept = {k: v for k, v in self._attributes.items() if not k.startswith("_")}
        return Dataset(
            source,
            self._length if length is None else length,
            self._prefetch if prefetch is None else prefetch,
            **kept,
        )

    def map(self, fn):
        """A dataset of ``fn(*batch)`` for tuple batches (``fn(images, labels)``), else
        ``fn(batch)``, applied batch by batch as batches are made (on the prefetch thread)."""
        if not callable(fn):
            raise TypeError(f"Dataset.map: fn must be callable. Received: fn={fn!r}")

        return self._derived(lambda: _mapped(self._source(), fn))

    def take(self, count):
        """A dataset of the first ``count`` batches of each pass (all of them for -1)."""
        if count == -1:
            return self._derived(self._source)
        count = _count(count, "count", "Dataset.take")
        return self._derived(lambda: _taken(self._source(), count), min(count, self._length))

    def prefetch(self, buffer_size=DEFAULT_PREFETCH):
        """The same dataset decoded ``buffer_size`` batches ahead on a background thread;
        0 decodes in the consumer's thread. Keras's ``AUTOTUNE`` (-1) means the default."""
        if buffer_size == -1:
            buffer_size = DEFAULT_PREFETCH
        return self._derived(
            self._source, prefetch=_count(buffer_size, "buffer_size", "Dataset.prefetch")
        )


def from_arrays(data, batch_size=32, shuffle=False, seed=None, prefetch=0):
    """A :class:`Dataset` of batches sliced from arrays held in memory.

    Args:
        data: an array, or a tuple of arrays of the same length (e.g. ``(x, y)``).
        batch_size: samples per batch (the last may be smaller); None yields single samples.
        shuffle: a new order each pass, drawn from ``seed``.
        seed: the shuffle's seed.
        prefetch: batches sliced ahead on a thread (0: none; slicing is cheap).

    Example:
        >>> import numpy as np
        >>> [y.tolist() for _, y in from_arrays((np.zeros((5, 2)), np.arange(5)), 2)]
        [[0, 1], [2, 3], [4]]
    """
    parts = data if isinstance(data, tuple) else (data,)
    if not parts or any(len(part) != len(parts[0]) for part in parts):
        raise ValueError(
            f"from_arrays: the arrays must have the same length. "
            f"Received: lengths {[len(part) for part in parts]}"
        )
    count = len(parts[0])
    if batch_size is not None and not _count(batch_size, "batch_size", "from_arrays"):
        raise ValueError("from_arrays: batch_size must be positive or None. Received: 0")
    step = batch_size or 1
    rng = np.random.default_rng(seed)

    def source():
        order = rng.permutation(count) if shuffle else np.arange(count)
        return _slices(order)

    def _slices(order):
        for start in range(0, count, step):
            chosen = order[start] if batch_size is None else order[start : start + step]
            batch = tuple(part[chosen] for part in parts)
            yield batch if isinstance(data, tuple) else batch[0]

    return Dataset(source, -(-count // step), prefetch, batch_size=batch_size)


def _count(value, name, where="Dataset"):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{where}: {name} must be a non-negative int. Received: {name}={value!r}")
    return value


def _mapped(batches, fn):
    try:
        for batch in batches:
            yield fn(*batch) if isinstance(batch, tuple) else fn(batch)
    finally:
        _close(batches)


def _taken(batches, count):
    try:
        yield from itertools.islice(batches, count)
    finally:
        _close(batches)


def _close(batches):
    close = getattr(batches, "close", None)
    if close is not None:
        close()


_DONE = object()


def _prefetched(batches, size):
    """Iterate `batches` on a daemon thread, at most `size` ahead; see the module docstring."""
    buffer = queue.Queue(maxsize=size)
    stop = threading.Event()

    def put(item):
        while not stop.is_set():
            try:
                buffer.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        try:
            for batch in batches:
                if not put((batch, None)):
                    return
            put((_DONE, None))
        except BaseException as error:  # handed to the consumer, raised there
            put((_DONE, error))
        finally:
            _close(batches)

    thread = threading.Thread(target=produce, name="striate-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            batch, error = buffer.get()
            if batch is _DONE:
                if error is not None:
                    raise error
                return
            yield batch
    finally:
        stop.set()
        while True:  # unblock a producer waiting on a full queue
            try:
                buffer.get_nowait()
            except queue.Empty:
                break
        thread.join()
