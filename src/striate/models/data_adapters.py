"""The data `fit`, `evaluate` and `predict` take, one adapter per kind, and the epochs drawn
from them.

Kinds: arrays (an ndarray, or a list/tuple/dict of them for a model with several inputs),
a `PyDataset` (Keras 3's: `__len__`, `__getitem__(index)`, `on_epoch_end`, batches fetched
ahead by `workers` threads or processes, kept in order), a generator or any other iterator
(one pass, shared by the epochs), and any other iterable of batches (`iter(data)` afresh each
epoch; `len(data)`, when defined, is the number of batches). A batch is `(x, y)`,
`(x, y, sample_weight)`, or for `predict` `x` or `(x,)`.

Every adapter has `num_batches` (an int, or None when the data does not know) and
`iterator()`, a fresh iterator of batches; `Epochs` draws each epoch from them as Keras 3's
`EpochIterator` does (`steps_per_epoch`, data that runs dry). Arrays stay on the fast path of
`ArrayAdapter`: batches gathered and cast into two buffers reused every step.
"""

import concurrent.futures
import inspect
import itertools
import math
import warnings

import numpy as np

from striate import backend

# How long `fit` waits for a batch a worker is fetching before it gives up (a stuck worker).
BATCH_TIMEOUT = 600.0

RAN_DRY = (
    "Your input ran out of data; interrupting training. Make sure that your dataset or "
    "generator can generate at least `steps_per_epoch * epochs` batches."
)


class PyDataset:
    """Keras 3's `keras.utils.PyDataset`: a subclass defines `__len__` (the number of batches)
    and `__getitem__(index)` (one batch, `(x, y)` or `(x, y, sample_weight)` of arrays), and may
    define `on_epoch_end()`. With `workers > 1`, `fit` fetches the next batches ahead in a pool
    of threads (processes with `use_multiprocessing=True`; the dataset must then be picklable),
    at most `max_queue_size` ahead, in order.

    >>> class Squares(PyDataset):
    ...     def __len__(self):
    ...         return 2
    ...     def __getitem__(self, index):
    ...         x = np.full((3, 1), float(index))
    ...         return x, x**2
    >>> Squares().num_batches
    2
    """

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        for name, value in (("workers", workers), ("max_queue_size", max_queue_size)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(
                    f"{type(self).__name__}: {name} must be a positive int. "
                    f"Received: {name}={value!r}"
                )
        self._workers = int(workers)
        self._use_multiprocessing = bool(use_multiprocessing)
        self._max_queue_size = int(max_queue_size)

    @property
    def workers(self):
        return getattr(self, "_workers", 1)

    @property
    def use_multiprocessing(self):
        return getattr(self, "_use_multiprocessing", False)

    @property
    def max_queue_size(self):
        return getattr(self, "_max_queue_size", 10)

    @property
    def num_batches(self):
        return len(self)

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __len__.")

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__.")

    def on_epoch_end(self):
        """Called at the end of every epoch (e.g. to shuffle)."""


def _get_item(dataset, index):
    return dataset[index]


class PyDatasetAdapter:
    kind = "PyDataset"
    one_shot = False

    def __init__(self, dataset):
        self.dataset = dataset
        self.num_batches = len(dataset)

    def iterator(self):
        dataset, count = self.dataset, len(self.dataset)
        workers = dataset.workers
        if workers <= 1:
            for index in range(count):
                yield dataset[index]
            return
        pool_class = (
            concurrent.futures.ProcessPoolExecutor
            if dataset.use_multiprocessing
            else concurrent.futures.ThreadPoolExecutor
        )
        pool = pool_class(max_workers=workers)
        ahead = max(dataset.max_queue_size, workers)
        pending = {}
        try:
            for index in range(count):
                for later in range(index, min(index + ahead, count)):
                    if later not in pending:
                        pending[later] = pool.submit(_get_item, dataset, later)
                try:
                    batch = pending.pop(index).result(timeout=BATCH_TIMEOUT)
                except concurrent.futures.TimeoutError:
                    raise TimeoutError(
                        f"{type(dataset).__name__}: batch {index} was not ready after "
                        f"{BATCH_TIMEOUT:g} s ({workers} workers); a worker is stuck in "
                        f"__getitem__. Received: workers={workers}, "
                        f"use_multiprocessing={dataset.use_multiprocessing}."
                    ) from None
                yield batch
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def peek(self):
        return self.dataset[0]

    def on_epoch_end(self):
        self.dataset.on_epoch_end()


class IterableAdapter:
    """A generator or iterator (one pass) or an iterable (`iter()` afresh each epoch)."""

    def __init__(self, data):
        self.data = data
        self.one_shot = iter(data) is data
        self.kind = "generator" if inspect.isgenerator(data) else type(data).__name__
        try:
            self.num_batches = None if self.one_shot else int(len(data))
        except TypeError:
            self.num_batches = None

    def iterator(self):
        return iter(self.data)

    def peek(self):
        """The first batch (kept for the first epoch when the data is one pass)."""
        try:
            first = next(iter(self.data))
        except StopIteration:
            raise ValueError(f"The {self.kind} gave no batch: it is empty.") from None
        if self.one_shot:
            self.data = itertools.chain([first], self.data)
        return first

    def on_epoch_end(self):
        pass


class ArrayAdapter:
    """Arrays already checked: batches `(x, y, sample_weight)` by the buffers of `BatchReader`,
    shuffled by a permutation drawn when an epoch's first batch is read."""

    kind = "arrays"
    one_shot = False

    def __init__(self, xs, ys, sample_weight, batch_size, shuffle, float_type, multi_in, multi_out):
        self.xs, self.ys, self.sample_weight = xs, ys, sample_weight
        self.batch_size, self.shuffle, self.float_type = batch_size, shuffle, float_type
        self.multi_in, self.multi_out = multi_in, multi_out  # lists, or one array each
        self.n = len(xs[0])
        self.num_batches = math.ceil(self.n / batch_size)

    def iterator(self):
        n, batch_size = self.n, self.batch_size
        order = backend.rng().permutation(n) if self.shuffle else None
        readers = [BatchReader(x, batch_size, self.float_type) for x in self.xs]
        for step in range(self.num_batches):
            start, stop = step * batch_size, min((step + 1) * batch_size, n)
            if order is None:
                xs = [reader.read(start=start, stop=stop) for reader in readers]
                ys = [y if y is None else y[start:stop] for y in self.ys]
                weight = take(self.sample_weight, slice(start, stop))
            else:
                indices = order[start:stop]
                xs = [reader.read(indices) for reader in readers]
                ys = [y if y is None else y[indices] for y in self.ys]
                weight = take(self.sample_weight, indices)
            yield (xs if self.multi_in else xs[0]), (ys if self.multi_out else ys[0]), weight

    def on_epoch_end(self):
        pass


def take(weight, rows):
    """Rows of sample weights: an array, a list of them (one per output, or None) or None."""
    if isinstance(weight, list):
        return [None if w is None else w[rows] for w in weight]
    return None if weight is None else weight[rows]


def is_lazy(data):
    """True for data given as batches (not an array, list, tuple or dict of arrays)."""
    if data is None or isinstance(data, (np.ndarray, list, tuple, dict, str, bytes)):
        return False
    if isinstance(data, PyDataset):
        return True
    if hasattr(data, "__array__") or hasattr(data, "__array_interface__"):
        return False  # array-likes (a Tensor...) are arrays
    return hasattr(data, "__iter__") or hasattr(data, "__next__")


def lazy_adapter(data):
    if isinstance(data, PyDataset):
        return PyDatasetAdapter(data)
    return IterableAdapter(data)


class Epochs:
    """Draws each epoch's batches from an adapter as Keras 3's `EpochIterator`: with
    `steps_per_epoch` the epochs share one pass over the data (a new pass starts when it is
    used up); data that runs dry before `steps_per_epoch` warns and ends the epoch; a one-pass
    iterator that has no batch left stops training (`exhausted`)."""

    def __init__(self, adapter, steps_per_epoch=None, warn=True):
        self.adapter = adapter
        self.steps_per_epoch = steps_per_epoch
        self.warn = warn
        self.num_batches = adapter.num_batches
        self.current = None
        self.seen = 0
        self.exhausted = False  # a one-pass iterator that has nothing left

    @property
    def steps(self):
        """The steps in an epoch, or None when unknown (a generator without steps_per_epoch)."""
        return self.steps_per_epoch or self.num_batches

    def epoch(self):
        """Yields `(step, batch)` for one epoch."""
        limit = self.steps
        if self.current is None or self.steps_per_epoch is None:
            self.close()
            self.current, self.seen = iter(self.adapter.iterator()), 0
        step = 0
        while limit is None or step < limit:
            if self.num_batches and self.seen >= self.num_batches:
                if self.steps_per_epoch:
                    self._ran_dry()
                break
            try:
                batch = next(self.current)
            except StopIteration:
                self.current = None
                self.exhausted = self.adapter.one_shot
                if self.steps_per_epoch or step == 0:
                    self._ran_dry()
                break
            self.seen += 1
            yield step, batch
            step += 1
        if self.num_batches and self.seen >= self.num_batches:
            self.close()
        self.adapter.on_epoch_end()

    def close(self):
        """Ends the current pass (a PyDataset's worker pool with it)."""
        close = getattr(self.current, "close", None)
        if close is not None and not self.adapter.one_shot:
            close()
        self.current = None

    def _ran_dry(self):
        if self.warn:
            warnings.warn(RAN_DRY, UserWarning, stacklevel=4)


class BatchReader:
    """Reads batches of `x` as the model's float type into two buffers reused every step."""

    def __init__(self, x, batch_size, float_type):
        self.x = x
        self.float_type = float_type
        shape = (min(batch_size, len(x)),) + x.shape[1:]
        self.raw = None if x.dtype == float_type else np.empty(shape, x.dtype)
        self.floats = np.empty(shape, float_type)

    def read(self, indices=None, start=0, stop=0):
        """Rows `indices` (a 1-D int array), or the slice start:stop, as float_type."""
        x = self.x
        if indices is None:
            rows = x[start:stop]
            if self.raw is None:
                return rows  # already the float type: a view, no copy
            count = len(rows)
        else:
            count = len(indices)
        floats = self.floats[:count]
        if self.raw is None:
            np.take(x, indices, axis=0, out=floats)
            return floats
        if indices is not None:
            rows = np.take(x, indices, axis=0, out=self.raw[:count])
        np.copyto(floats, rows, casting="unsafe")
        return floats
