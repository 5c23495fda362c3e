"""The data-parallel pieces of `fit` (hooked from `models/training.py` when a strategy is active).

- Shards: each rank reads only its share. Arrays: global batch `s` is `order[s*B:(s+1)*B]` (the
  one-process batch, from the same permutation on every rank); rank `r` takes its contiguous
  part `[r*b//N, (r+1)*b//N)` of its `b` samples. A `PyDataset` or a sized iterable: rank `r`
  takes batches `r, r+N, r+2N...` (its batches are already made: the global batch is then N of
  them). A rank with nothing in a step (a short last batch) still joins its Allreduce with zero.
- One step: local loss and gradients; the gradients times the local sample count go into one
  buffer with two more numbers (the sample count and a bad-loss flag); one `Allreduce` sums it;
  divided by the global count it is the one-process gradient of the whole global batch, which
  the optimizer applies as usual on every rank.
"""

import functools
import math
import time
import warnings

import numpy as np

from striate import backend
from striate.callbacks import Callback, CSVLogger, ModelCheckpoint
from striate.models import data_adapters


class ShardedArrays:
    """An `ArrayAdapter`'s batches, this rank's share of each."""

    kind = "arrays"
    one_shot = False

    def __init__(self, adapter, strategy):
        self.adapter, self.strategy = adapter, strategy
        self.num_batches = adapter.num_batches

    def bounds(self, start, stop):
        count, rank, size = stop - start, self.strategy.rank, self.strategy.size
        return start + count * rank // size, start + count * (rank + 1) // size

    def iterator(self):
        a, strategy = self.adapter, self.strategy
        strategy.sync_rng()
        order = backend.rng().permutation(a.n) if a.shuffle else None
        strategy.decorrelate_rng()
        rows = math.ceil(a.batch_size / strategy.size)
        readers = [data_adapters.BatchReader(x, rows, a.float_type) for x in a.xs]
        for step in range(self.num_batches):
            lo, hi = self.bounds(step * a.batch_size, min((step + 1) * a.batch_size, a.n))
            if lo == hi:
                yield None
                continue
            if order is None:
                xs = [reader.read(start=lo, stop=hi) for reader in readers]
                ys = [y if y is None else y[lo:hi] for y in a.ys]
                weight = data_adapters.take(a.sample_weight, slice(lo, hi))
            else:
                indices = order[lo:hi]
                xs = [reader.read(indices) for reader in readers]
                ys = [y if y is None else y[indices] for y in a.ys]
                weight = data_adapters.take(a.sample_weight, indices)
            yield (xs if a.multi_in else xs[0]), (ys if a.multi_out else ys[0]), weight

    def on_epoch_end(self):
        pass


class ShardedBatches:
    """A `PyDataset` (only this rank's batches are fetched) or a sized iterable: batches
    `rank, rank + size, ...`; None where this rank has none in a step."""

    one_shot = False

    def __init__(self, adapter, strategy):
        if adapter.num_batches is None or adapter.one_shot:
            raise ValueError(
                f"fit under MPIStrategy: the data must say how many batches it holds so that "
                f"every rank takes the same number of steps; give arrays, a PyDataset, or an "
                f"iterable with len(). Received: a {adapter.kind}."
            )
        self.adapter, self.strategy, self.kind = adapter, strategy, adapter.kind
        self.num_batches = math.ceil(adapter.num_batches / strategy.size)
        if getattr(adapter, "dataset", None) is None and strategy.size > 1:
            warnings.warn(
                f"fit under MPIStrategy: every rank reads every batch of this {adapter.kind} "
                f"and trains on 1 in {strategy.size}; a PyDataset (or arrays, or "
                f"image_dataset_from_directory's dataset before .map) is read only in part.",
                UserWarning,
                stacklevel=5,
            )

    def iterator(self):
        rank, size, total = self.strategy.rank, self.strategy.size, self.adapter.num_batches
        self.strategy.sync_rng()
        self.strategy.decorrelate_rng()
        dataset = getattr(self.adapter, "dataset", None)
        if dataset is not None:  # a PyDataset: fetch only this rank's batches
            for step in range(self.num_batches):
                index = step * size + rank
                yield dataset[index] if index < total else None
            return
        batches = iter(self.adapter.iterator())
        for step in range(self.num_batches):
            mine = None
            for index in range(step * size, min((step + 1) * size, total)):
                batch = next(batches, None)
                if index == step * size + rank:
                    mine = batch
            yield mine

    def peek(self):
        return self.adapter.peek()

    def on_epoch_end(self):
        self.adapter.on_epoch_end()


class ShardedFiles:
    """A dataset of image files (`image_dataset_from_directory`): rank `r` reads only files
    `r, r+N, r+2N...` of the list, in batches of the dataset's size, in its own shuffled
    order; ranks with fewer batches join the last step with none."""

    one_shot = False

    def __init__(self, adapter, strategy):
        data, size = adapter.data, strategy.size
        count = len(data.file_paths)
        self.adapter, self.strategy, self.kind = adapter, strategy, adapter.kind
        self.own = data._subset(np.arange(strategy.rank, count, size))
        self.num_batches = len(data._subset(np.arange(0, count, size)))  # rank 0 has most

    def iterator(self):
        self.strategy.sync_rng()
        self.strategy.decorrelate_rng()
        batches = iter(self.own)
        for _ in range(self.num_batches):
            yield next(batches, None)

    def on_epoch_end(self):
        pass


def shard_training(train, strategy):
    """The `Epochs` of `fit` with this rank's share of each batch."""
    adapter = train.adapter
    data = getattr(adapter, "data", None)
    if isinstance(adapter, data_adapters.ArrayAdapter):
        sharded = ShardedArrays(adapter, strategy)
    elif callable(getattr(data, "_subset", None)) and getattr(data, "file_paths", None):
        sharded = ShardedFiles(adapter, strategy)
    else:
        sharded = ShardedBatches(adapter, strategy)
    steps = train.steps_per_epoch
    if steps is not None and not isinstance(sharded, ShardedArrays):
        steps = math.ceil(steps / strategy.size)
    return data_adapters.Epochs(sharded, steps)


def shard_validation(data, strategy):
    """Validation arrays `(x, y, weight, steps)`: this rank's contiguous part (lazy validation
    data is evaluated whole on every rank)."""
    if not isinstance(data, tuple) or isinstance(data[0], data_adapters.Epochs):
        return data
    x, y, weight, steps = data
    n = len(x[0]) if isinstance(x, list) else len(x)
    lo, hi = n * strategy.rank // strategy.size, n * (strategy.rank + 1) // strategy.size

    def part(value):
        if isinstance(value, list):
            return [v if v is None else v[lo:hi] for v in value]
        return None if value is None else value[lo:hi]

    return (part(x), part(y), part(weight), steps)


def _samples(x):
    return len(x[0]) if isinstance(x, list) else len(x)


class GradientBuffer:
    """The trained weights' gradients, packed like the optimizer packs them, plus the sample
    count and a bad-loss flag: what one Allreduce per step sums."""

    def __init__(self, variables):
        dtype = np.result_type(*[v.data.dtype for v in variables])
        sizes = [v.data.size for v in variables]
        self.buffer = np.empty(sum(sizes) + 2, dtype)
        offsets = np.cumsum([0] + sizes)
        self.views = [
            self.buffer[start:stop].reshape(v.data.shape)
            for start, stop, v in zip(offsets[:-1], offsets[1:], variables)
        ]
        self.grads = self.buffer[:-2]

    def fill(self, variables, count, bad):
        for view, variable in zip(self.views, variables):
            if count and not bad and variable.grad is not None:
                np.multiply(variable.grad, count, out=view)
            else:
                view.fill(0)
        self.buffer[-2], self.buffer[-1] = count, 1 if bad else 0


def train_epoch(strategy, model, train, checker, progbar, callback_list, epoch, epochs, doctor):
    """`training._train_epoch` over the ranks: global logs, or None when training must stop.
    (The doctor's sampled checks are not run over the ranks: only its checks at the start.)"""
    from striate.models import training

    variables = model.trained_weights("fit")
    optimizer = model.optimizer
    averages = training._averages(model)
    batch_hooks = callback_list.has_batch_hooks()
    live = strategy.agree(batch_hooks or progbar.dynamic)
    grads = GradientBuffer(variables)
    done = 0
    for step, batch in train.epoch():
        if batch_hooks:
            callback_list.call("on_train_batch_begin", step, {})
        count, bad, loss_value = 0, False, 0.0
        if batch is not None:
            x, y, weight = batch if checker is None else checker.standardize(batch, step)
            loss, outputs_, per_output = training._loss_step(model, x, y, weight, True)
            loss_value, count = float(loss.data), _samples(x)
            bad = not math.isfinite(loss_value)
            if not bad:
                loss.backward()
        grads.fill(variables, count, bad)
        began = time.perf_counter()
        strategy.allreduce(grads.buffer)
        strategy.allreduce_seconds += time.perf_counter() - began
        strategy.allreduce_calls += 1
        if grads.buffer[-1]:
            for variable in variables:
                variable.grad = None
            where = (epoch, epochs, step, train.steps)
            _stop_on_bad_loss(strategy, model, int(grads.buffer[-1]), loss_value, *where)
            return None
        np.divide(grads.grads, grads.buffer[-2], out=grads.grads)
        for variable, view in zip(variables, grads.views):
            variable.grad = view
        optimizer.apply(variables)
        for variable in variables:
            variable.grad = None
        if count:
            averages.add(loss_value, y, outputs_, weight, per_output)
        done += 1
        if live:  # collectives on every rank: rank 0 chose `live` (its callbacks are a superset)
            logs = strategy.global_averages(averages).logs()
            if batch_hooks:
                callback_list.call("on_train_batch_end", step, logs)
            progbar.update(step + 1, logs)
            model.stop_training = strategy.agree(model.stop_training)
        if model.stop_training:
            break
    if done == 0:
        return None
    strategy.average_untrained(model, variables)
    progbar.target = progbar.target or done
    return strategy.global_averages(averages).logs()


def _stop_on_bad_loss(strategy, model, bad_ranks, loss_value, epoch, epochs, step, steps):
    model.stop_training = True
    model.stop_reason = (
        f"Epoch {epoch + 1}/{epochs}, batch {step + 1}/{steps or '?'}: the loss became "
        f"infinite or NaN on {bad_ranks} of {strategy.size} processes (on rank "
        f"{strategy.rank}: {loss_value}). Training stopped before this batch's update on every "
        f"process, so the weights are those after batch {step}. Try a lower learning rate or "
        f"scaled inputs (e.g. x / 255)."
    )
    if strategy.rank == 0:
        print(flush=True)  # end the progress line before the warning
        warnings.warn(model.stop_reason, RuntimeWarning, stacklevel=5)


def evaluation_logs(strategy, averages, prefix):
    """Validation logs over every rank's shard."""
    return strategy.global_averages(averages).logs(prefix)


class _Synchronise(Callback):
    """First in `fit`'s callbacks: rank 0's weights, optimizer state and generator to every
    rank once the optimizer is built (Horovod's BroadcastGlobalVariablesCallback)."""

    def __init__(self, strategy):
        super().__init__()
        self.strategy = strategy

    def on_train_begin(self, logs=None):
        self.strategy.broadcast_training_state(self.model)


class _Agree(Callback):
    """Last in `fit`'s callbacks: rank 0's `stop_training` (EarlyStopping...) on every rank."""

    def __init__(self, strategy):
        super().__init__()
        self.strategy = strategy

    def on_epoch_end(self, epoch, logs=None):
        self.model.stop_training = self.strategy.agree(self.model.stop_training)


def prepare(strategy, train, validation_data, verbose, callbacks, batch_size):
    """What `fit` runs on this rank: `(train, validation_data, verbose, callbacks, run_epoch,
    val_logs)`: the shards; this module's epoch and global validation logs; callbacks that
    start every rank from rank 0's state and stop them together. On ranks other than 0: no
    progress, no callback output and no file-writing callback (ModelCheckpoint, CSVLogger, or
    any with `rank_zero_only = True`)."""
    train = shard_training(train, strategy)
    if validation_data is not None:
        validation_data = shard_validation(validation_data, strategy)
    run_epoch = functools.partial(train_epoch, strategy)
    val_logs = functools.partial(evaluation_logs, strategy, prefix="val_")
    callbacks = _rank_callbacks(strategy, list(callbacks or []))
    callbacks = [_Synchronise(strategy)] + callbacks + [_Agree(strategy)]
    if strategy.rank:
        verbose = 0
    elif verbose:
        share = "its share" if isinstance(train.adapter, ShardedArrays) else "one batch"
        global_batch = batch_size if share == "its share" else batch_size * strategy.size
        print(
            f"Data parallel on {strategy.size} processes (MPI): each step trains {share} of "
            f"a global batch of {global_batch} on every process.",
            flush=True,
        )
    return train, validation_data, verbose, callbacks, run_epoch, val_logs


def _rank_callbacks(strategy, callbacks):
    if strategy.rank == 0:
        return callbacks
    kept = []
    for callback in callbacks:
        if isinstance(callback, (ModelCheckpoint, CSVLogger)) or getattr(
            callback, "rank_zero_only", False
        ):
            continue
        if hasattr(callback, "verbose"):
            callback.verbose = 0
        kept.append(callback)
    return kept
